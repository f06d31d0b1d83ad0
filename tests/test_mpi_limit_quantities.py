"""Rank independence of the limit-study quantities: run under `mpirun -n 2` (make test-mpi).
The per-node diagnostics integrated over the mesh, the ill-prepared perturbation and a short
`limit_history` (vacuum, entropy split, both time-integration paths) on COMM_WORLD are compared
with the same computation on COMM_SELF."""

import numpy as np
import pytest
from mpi4py import MPI

from fem_fhn import kernels
from fem_fhn.kinetic import APSplitting, KineticFHN, suggest_grid
from fem_fhn.kinetic.diagnostics import NODE_FIELDS, integrate, node_diagnostics
from fem_fhn.kinetic.limit import HISTORY_COLUMNS, limit_history
from fem_fhn.kinetic.perturbation import perturbation_shape, perturbed_moments
from fem_fhn.macro import WeightedNonlocalFHN
from fem_fhn.mesh import NodalMesh
from fem_fhn.nonlocal_ import NonlocalLaplacian, make_operator
from fem_fhn.params import FHNParameters
from fem_fhn.timestepping import make_integrator

pytestmark = pytest.mark.mpi
COMM = MPI.COMM_WORLD
PARAMS = FHNParameters()
GRID = suggest_grid(PARAMS, n_v=24, n_w=12)


def study(comm, eps: float, diffusion: float) -> dict[str, np.ndarray]:
    """Totals of the node diagnostics at t = 0, the perturbation's parts and a short history."""
    nodes = NodalMesh.load("interval", comm)
    psi = kernels.Gaussian(width=1.0, dim=1, strength=2.0)
    op = make_operator(nodes.coords, nodes.masses, psi, comm=comm)
    rho0 = nodes.density("max(0, cos(pi*x/10))")  # vacuum on x >= 5
    V0 = nodes.field("-0.5 + 1.5/(1 + exp((x - 3)/0.5))")
    W0 = nodes.field("-0.2 + 0.05*x")
    p = perturbed_moments(
        nodes.masses, rho0, V0, W0, perturbation_shape(nodes.coords, comm), 0.2, comm
    )
    kinetic = KineticFHN(nodes, PARAMS, op, GRID, eps, p.rho, diffusion=diffusion)
    f0 = kinetic.state(p.V, p.W, 0.3, 0.2)
    nodal = node_diagnostics(f0, GRID, p.rho)
    out = {name: np.array([integrate(nodes.masses, nodal[name], comm)]) for name in NODE_FIELDS}
    out["perturbation"] = np.array([p.rho_part, p.moment_part])
    macro = WeightedNonlocalFHN(NonlocalLaplacian(op, rho0), PARAMS)
    stepper = APSplitting(0.5 * kinetic.max_stable_dt())
    integrator = make_integrator(stepper.macro_limit, stepper.dt)
    times = np.array([0.0, 0.05, 0.1])
    history = limit_history(
        kinetic, stepper, f0, macro, integrator, macro.state(V0, W0), times, nodes.masses, 0.5
    )
    drift = comm.allreduce(stepper.last_drift_nodes)  # the trapezoid path runs iff drift > 0
    assert (drift > 0) == (diffusion > 0)
    return {**out, **history}


@pytest.mark.parametrize("eps,diffusion", [(1e-3, 0.0), (0.5, 0.5)], ids=["remap", "drift"])
def test_limit_quantities_rank_independent(eps, diffusion):
    assert COMM.size == 2
    distributed = study(COMM, eps, diffusion)
    serial = study(MPI.COMM_SELF, eps, diffusion) if COMM.rank == 0 else None
    error = 0.0
    if COMM.rank == 0:
        assert set(HISTORY_COLUMNS) <= set(serial)
        assert serial["int_dissipation"][-1] > 0 and serial["entropy_rho0_le_eta"][-1] > 0
        for name, value in serial.items():
            scale = np.maximum(np.abs(value), 1e-300)
            error = max(error, float(np.max(np.abs(distributed[name] - value) / scale)))
    error = COMM.bcast(error)
    assert error <= 1e-11, error
