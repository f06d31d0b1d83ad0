"""Output observers: nearest-node probes and thinned writers."""

import numpy as np
from mpi4py import MPI

from fem_fhn._fenics import dolfinx
from fem_fhn.io import Every, Probe, nearest_node
from fem_fhn.mesh import NodalMesh
from fem_fhn.simulation import Output


def test_probe_records_values_at_the_nearest_nodes():
    nodes = NodalMesh.from_mesh(dolfinx.mesh.create_unit_square(MPI.COMM_SELF, 4, 4))
    i, owner, where = nearest_node(MPI.COMM_SELF, nodes.coords, [0.26, 0.74])
    assert owner == 0 and np.allclose(where, [0.25, 0.75]) and np.allclose(nodes.coords[i], where)
    probe = Probe(nodes, [[0.26, 0.74], [1.0]])  # a short point is padded with zeros
    x, y = nodes.coords.T
    for t in (0.0, 1.0):
        probe(Output(t, 0, int(t), {"V": x + 10 * y + t, "W": 0 * x}))
    np.testing.assert_allclose(probe.values, [[7.75, 1.0], [8.75, 2.0]])
    assert probe.times == [0.0, 1.0]


def test_every_calls_each_kth_and_the_last():
    calls = []
    thinned = Every(lambda output: calls.append(output.t), k=3, n=7)
    for index in range(8):
        thinned(Output(0.5 * index, index, index, {}))
    assert calls == [0.0, 1.5, 3.0, 3.5]
    # a restarted run counts by the output's number, not by calls
    calls.clear()
    for index in range(4, 8):
        thinned(Output(0.5 * index, index, index, {}))
    assert calls == [3.0, 3.5]


def test_probe_writer_appends_every_field_at_each_output(tmp_path):
    from fem_fhn.io import ProbeWriter

    nodes = NodalMesh.from_mesh(dolfinx.mesh.create_unit_square(MPI.COMM_SELF, 4, 4))
    x, y = nodes.coords.T
    writer = ProbeWriter(nodes, [[0.26, 0.74], [1.0, 0.0]], ("V", "W"), tmp_path / "probes.csv")
    for t in (0.0, 0.5):
        writer(Output(t, int(10 * t), int(2 * t), {"V": x + t, "W": 2 * y}))
    writer.close()
    rows = np.genfromtxt(tmp_path / "probes.csv", delimiter=",", names=True)
    assert rows.dtype.names == ("t", "step", "V0", "W0", "V1", "W1")
    np.testing.assert_array_equal(rows["t"], [0.0, 0.5])
    np.testing.assert_allclose(rows["V0"], [0.25, 0.75])
    np.testing.assert_allclose(rows["W0"], [1.5, 1.5])
    np.testing.assert_allclose(rows["W1"], [0.0, 0.0])
    assert writer.where == [[0.25, 0.75], [1.0, 0.0]]
