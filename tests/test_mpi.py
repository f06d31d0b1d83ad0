"""Rank independence: run under `mpirun -n 2` (make test-mpi); each test compares a computation
distributed over COMM_WORLD with the same computation on COMM_SELF."""

import numpy as np
import pytest
from mpi4py import MPI

from fem_fhn import kernels
from fem_fhn.macro import NonlocalFHN
from fem_fhn.mesh import NodalMesh
from fem_fhn.nonlocal_ import NonlocalLaplacian, make_operator
from fem_fhn.parallel import to_global_order
from fem_fhn.params import FHNParameters
from fem_fhn.timestepping import make_integrator

pytestmark = pytest.mark.mpi
COMM = MPI.COMM_WORLD


def block(array, comm=COMM):
    """This rank's contiguous block of a global array."""
    bounds = np.linspace(0, len(array), comm.size + 1).astype(int)
    return array[bounds[comm.rank] : bounds[comm.rank + 1]]


def agree(distributed: np.ndarray, reference: np.ndarray) -> float:
    """Max |difference| over ranks (every rank gets the same number)."""
    return COMM.allreduce(float(np.abs(distributed - reference).max(initial=0.0)), op=MPI.MAX)


@pytest.mark.parametrize(
    "psi",
    [kernels.Gaussian(width=0.2, dim=3), kernels.Exponential(width=0.1, dim=3)],
    ids=["gauss", "exp"],
)
def test_dense_operator_rank_independent(psi):
    rng = np.random.default_rng(7)
    points, weights, u = rng.random((301, 3)), rng.random(301), rng.standard_normal(301)
    serial = make_operator(points, weights, psi, comm=MPI.COMM_SELF).apply(u)
    op = make_operator(block(points), block(weights), psi, comm=COMM)
    assert op.n_global == 301
    scale = np.abs(serial).max()
    assert agree(op.apply(block(u)), block(serial)) <= 1e-12 * scale


def macro_final(comm, scheme, rho0="1.0 if x > 0.5 else 0.2", t_end=3.0):
    nodes = NodalMesh.load("folded", comm)
    psi = kernels.Gaussian(width=0.06, dim=2, strength=20.0)
    op = make_operator(nodes.coords, nodes.masses, psi, comm=comm)
    model = NonlocalFHN(NonlocalLaplacian(op, nodes.density(rho0)), FHNParameters())
    V0 = nodes.field("1.0 if x < 0.25 else -0.69248")
    y0 = model.state(V0, np.full(nodes.n_owned, -0.36042))
    integrator = make_integrator(scheme, 0.02, rtol=1e-7, atol=1e-9)
    _, y, _ = integrator.advance(model, 0.0, y0, t_end)
    return [to_global_order(comm, nodes.global_index, y[i]) for i in range(2)]


@pytest.mark.parametrize("scheme,tol", [("ssprk3", 1e-10), ("rk4", 1e-10), ("adaptive", 1e-6)])
def test_macro_solver_rank_independent(scheme, tol):
    distributed = macro_final(COMM, scheme)
    serial = macro_final(MPI.COMM_SELF, scheme) if COMM.rank == 0 else None
    error = (
        max(np.abs(d - s).max() for d, s in zip(distributed, serial, strict=True))
        if COMM.rank == 0
        else 0
    )
    error = COMM.bcast(error)
    assert error <= tol, error


def test_run_command_rank_independent(tmp_path_factory):
    """The whole `fem-fhn run` pipeline (config → mesh → model → writers) on 2 ranks vs 1."""
    from fem_fhn.config import parse_config
    from fem_fhn.runner import run

    text = {
        "mesh": {"source": "disc_holes"},
        "rho0": {"value": "1.0 if x > 0 else 0.0"},
        "kernel": {"type": "gaussian", "width": 0.15, "strength": 2.0},
        "initial": {"V": "tanh((x + 0.3)/0.1)", "W": "0.1*y"},
        "time": {"t_end": 1.0, "dt": 0.05, "n_outputs": 4, "scheme": "rk4"},
        "solver": {"form": "Z"},
        "output": {"png": False, "gif": False, "progress": False},
    }
    root = COMM.bcast(str(tmp_path_factory.mktemp("run")) if COMM.rank == 0 else None)
    config = parse_config(text)
    distributed = run(config, f"{root}/mpi", comm=COMM)
    assert distributed["ranks"] == COMM.size
    if COMM.rank == 0:
        serial = run(config, f"{root}/serial", comm=MPI.COMM_SELF)
        for key, value in serial["final"].items():
            assert distributed["final"][key] == pytest.approx(value, rel=1e-10, abs=1e-12), key
    COMM.barrier()


def test_jump_on_nodes_rank_independent():
    """Initial data and stimulus with jumps exactly on mesh nodes (the strip's boundary lines
    x = 0, y = 0, y = 1 and the node at (0.2, 0)) take the same value at those nodes on every
    partition: the state after building equals the serial one exactly, after a few time
    steps to round-off."""
    from fem_fhn.config import parse_config
    from fem_fhn.runner import build

    text = {
        "mesh": {"source": "strip"},
        "kernel": {"type": "gaussian", "width": 0.1},
        "initial": {
            "V": "1.0 if x < 0.2 else -0.69248",
            "W": "0.5 if x > 0 and y > 0 else -0.36042",
        },
        "stimulus": {"I": "0.3 if y < 1 and t < 1 else 0.0"},
        "time": {"t_end": 0.1, "dt": 0.01, "n_outputs": 1, "scheme": "rk4"},
        "output": {"progress": False},
    }
    config = parse_config(text)

    def state(comm):
        setup = build(config, comm)
        nodes = setup.nodes
        x, y = nodes.coords.T
        jumps = (x == 0.2) | (x == 0.0) | (y == 0.0) | (y == 1.0)
        on_jump = comm.allreduce(int(np.count_nonzero(jumps)))
        _, y, _ = setup.integrator.advance(setup.model, 0.0, setup.y0, 0.1)
        index = nodes.global_index
        return on_jump, [to_global_order(comm, index, u[i]) for u in (setup.y0, y) for i in (0, 1)]

    on_jump, distributed = state(COMM)
    assert on_jump >= 400  # the jumps lie on lines of nodes
    serial = state(MPI.COMM_SELF)[1] if COMM.rank == 0 else None
    if COMM.rank == 0:
        for d, s in zip(distributed[:2], serial[:2], strict=True):
            assert np.array_equal(d, s)  # initial data: identical
        scale = max(np.abs(s).max() for s in serial)
        for d, s in zip(distributed[2:], serial[2:], strict=True):
            assert np.abs(d - s).max() <= 1e-12 * scale
    COMM.barrier()
