"""The network on a surface on 2 ranks (mpirun -n 2): neurons sampled on the triangles of an
icosphere, their moments, the particle files, a noisy IMEX run and `compare` (network against
the kinetic and nonlocal models) equal the same computations on COMM_SELF (positions bitwise,
states, moments and distances to round-off)."""

import json
from pathlib import Path

import meshio
import numpy as np
import pytest
from mpi4py import MPI
from test_mpi_network import advance_noisy

from fem_fhn import kernels
from fem_fhn.mesh import NodalMesh
from fem_fhn.network import (
    NetworkFHN,
    initial_state,
    radius_for,
    sample_particles,
)
from fem_fhn.parallel import to_global_order
from fem_fhn.params import FHNParameters
from fem_fhn.studies import compare
from fem_fhn.surface import icosphere, surface_mesh

pytestmark = pytest.mark.mpi
COMM = MPI.COMM_WORLD
SPHERE = icosphere(3)
PSI = kernels.Gaussian(width=0.3, dim=2, strength=2.0)


def run(comm, out_dir=None):
    """Sample 1 500 neurons from ρ0 = 1 + z/2 on the sphere, run a noisy IMEX network to t = 1;
    everything in global order (particles by id, nodes by input index) on rank 0."""
    nodes = NodalMesh.from_mesh(surface_mesh(SPHERE, comm))
    rho0 = nodes.density("1 + 0.5*z")
    particles = sample_particles(nodes, rho0, 1500, seed=3)
    assert comm.allreduce(int(particles.n_owned > 0), op=MPI.MIN) == 1  # every rank owns some
    radius = radius_for(nodes, rho0, 1500)
    model = NetworkFHN.from_particles(particles, FHNParameters(), PSI, eps=0.05, radius=radius)
    y0 = initial_state(particles, "tanh(3*z)", 0.1, spread=(0.1, 0.05), seed=4)
    y = advance_noisy(particles, model, y0, out_dir)
    fields = model.fields_of(y)

    def by_id(values):
        return to_global_order(comm, particles.global_id, values)

    def by_node(values):
        return to_global_order(comm, nodes.global_index, values)

    return by_id(particles.positions), by_id(y.T), by_node(fields["V"]), by_node(fields["rho"])


def test_network_on_a_sphere_does_not_depend_on_the_ranks(tmp_path_factory):
    assert COMM.size == 2
    root = COMM.bcast(str(tmp_path_factory.mktemp("sphere")) if COMM.rank == 0 else None)
    positions, y, V, rho = run(COMM, root)
    verdict = None
    if COMM.rank == 0:
        serial = run(MPI.COMM_SELF)
        cloud = meshio.read(f"{root}/particles_00000.vtu")
        verdict = {
            "positions": bool(np.array_equal(positions, serial[0])),  # bitwise
            "file": bool(np.array_equal(cloud.points, positions))
            and bool(np.array_equal(cloud.point_data["v"], y[:, 0])),
            "states": float(np.abs(y - serial[1]).max()),
            "range": float(np.ptp(y[:, 0])),
            "moments": max(np.abs(V - serial[2]).max(), np.abs(rho - serial[3]).max()),
        }
    verdict = COMM.bcast(verdict, root=0)
    assert verdict["positions"] and verdict["file"] and verdict["range"] > 1.0
    assert verdict["states"] < 1e-12 and verdict["moments"] < 1e-12


COMPARE = """
[mesh]
source = "sphere.obj"
[rho0]
value = "1 + 0.3*z"
[kernel]
type = "gaussian"
width = 0.5
[initial]
V = "-0.5 + 1.5/(1 + exp(-z/0.3))"
W = "-0.2 + 0.05*x"
[kinetic]
eps = 0.05
n_v = 16
n_w = 8
sigma_v = 0.2
sigma_w = 0.1
[network]
eps = 0.05
neighbours = 20
[time]
t_end = 0.1
dt = 0.005
scheme = "imex-ars222"
n_outputs = 2
"""


def test_compare_on_a_sphere_does_not_depend_on_the_ranks(tmp_path_factory):
    assert COMM.size == 2
    root = COMM.bcast(str(tmp_path_factory.mktemp("cmp")) if COMM.rank == 0 else None)
    folder = Path(root)
    if COMM.rank == 0:
        small = icosphere(2)
        meshio.write_points_cells(
            str(folder / "sphere.obj"), small.vertices, [("triangle", small.triangles)]
        )
        (folder / "compare.toml").write_text(COMPARE)
    COMM.barrier()
    result = compare(folder / "compare.toml", [200, 800], folder / "two", COMM)
    verdict = None
    if COMM.rank == 0:
        serial = compare(folder / "compare.toml", [200, 800], folder / "one", MPI.COMM_SELF)
        written = json.loads((folder / "two" / "compare.json").read_text())
        verdict = {
            "radius": float(np.abs(np.subtract(result["radius"], serial["radius"])).max()),
            "sup": max(
                float(np.abs(np.subtract(result["sup"][k], serial["sup"][k])).max())
                for k in ("macro", "kinetic")
            ),
            "file": written["sup"] == result["sup"],
            "size": min(min(serial["sup"][k]) for k in ("macro", "kinetic")),
        }
    verdict = COMM.bcast(verdict, root=0)
    assert verdict["file"] and verdict["size"] > 0.05
    assert verdict["radius"] < 1e-14 and verdict["sup"] < 1e-12
