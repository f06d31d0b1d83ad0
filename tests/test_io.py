"""Output observers: nearest-node probes and thinned writers."""

import numpy as np
from mpi4py import MPI

from fem_fhn._fenics import dolfinx
from fem_fhn.io import Every, Probe, nearest_node
from fem_fhn.mesh import NodalMesh


def test_probe_records_values_at_the_nearest_nodes():
    nodes = NodalMesh.from_mesh(dolfinx.mesh.create_unit_square(MPI.COMM_SELF, 4, 4))
    i, owner, where = nearest_node(MPI.COMM_SELF, nodes.coords, [0.26, 0.74])
    assert owner == 0 and np.allclose(where, [0.25, 0.75]) and np.allclose(nodes.coords[i], where)
    probe = Probe(nodes, [[0.26, 0.74], [1.0]])  # a short point is padded with zeros
    x, y = nodes.coords.T
    for t in (0.0, 1.0):
        probe(t, np.stack([x + 10 * y + t, 0 * x]), 0)
    np.testing.assert_allclose(probe.values, [[7.75, 1.0], [8.75, 2.0]])
    assert probe.times == [0.0, 1.0]


def test_every_calls_each_kth_and_the_last():
    calls = []
    thinned = Every(lambda t, y, step: calls.append(t), k=3, n=7)
    for t in range(8):
        thinned(float(t), None, t)
    assert calls == [0.0, 3.0, 6.0, 7.0]
