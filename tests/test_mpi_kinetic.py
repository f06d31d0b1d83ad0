"""Rank independence of the kinetic model: run under `mpirun -n 2` (make test-mpi); each test
compares the kinetic moments distributed over COMM_WORLD with the same run on COMM_SELF, node by
node in the input (global) node order."""

import numpy as np
import pytest
from mpi4py import MPI

from fem_fhn import kernels
from fem_fhn.kinetic import APSplitting, KineticFHN, suggest_grid
from fem_fhn.mesh import NodalMesh
from fem_fhn.nonlocal_ import make_operator
from fem_fhn.parallel import to_global_order
from fem_fhn.params import FHNParameters

pytestmark = pytest.mark.mpi
COMM = MPI.COMM_WORLD
PARAMS = FHNParameters()
GRID = suggest_grid(PARAMS, n_v=24, n_w=12)


def kinetic_final(comm, eps, diffusion, scheme, t_end=0.3):
    """Moments (global node order, on rank 0) after a short run on the bundled interval."""
    nodes = NodalMesh.load("interval", comm)
    psi = kernels.Gaussian(width=1.0, dim=1, strength=2.0)
    op = make_operator(nodes.coords, nodes.masses, psi, comm=comm)
    rho0 = nodes.density("1.0 + 0.5*cos(pi*x/5)")
    model = KineticFHN(nodes, PARAMS, op, GRID, eps, rho0, diffusion=diffusion)
    V0 = nodes.field("-0.5 + 1.5/(1 + exp((x - 3)/0.5))")
    W0 = nodes.field("-0.2 + 0.05*x")
    f0 = model.state(V0, W0, 0.3, 0.2)
    stepper = APSplitting(0.5 * model.max_stable_dt(), scheme)
    _, f, _ = stepper.advance(model, 0.0, f0, t_end)
    assert f.min() >= 0
    fields = model.fields_of(f)
    mass = comm.allreduce(float(np.abs(fields["rho"] - rho0).max(initial=0.0)), op=MPI.MAX)
    assert mass <= 1e-12
    drift = comm.allreduce(stepper.last_drift_nodes)
    return {k: to_global_order(comm, nodes.global_index, v) for k, v in fields.items()}, drift


@pytest.mark.parametrize(
    "eps,diffusion,scheme,mode",
    [
        (1e-6, 0.0, "ssprk2", "remap"),
        (0.5, 0.5, "ssprk3", "drift"),
        (float("inf"), 0.0, "ssprk2", "none"),
    ],
    ids=["stiff-remap", "drift", "no-relaxation"],
)
def test_kinetic_moments_rank_independent(eps, diffusion, scheme, mode):
    distributed, drift = kinetic_final(COMM, eps, diffusion, scheme)
    if mode == "drift":
        assert drift == 201
    elif mode == "remap":
        assert drift == 0
    serial = kinetic_final(MPI.COMM_SELF, eps, diffusion, scheme)[0] if COMM.rank == 0 else None
    error = 0.0
    if COMM.rank == 0:
        for name, value in serial.items():
            scale = max(1.0, np.abs(value).max())
            error = max(error, np.abs(distributed[name] - value).max() / scale)
    error = COMM.bcast(error)
    assert error <= 1e-12, error
