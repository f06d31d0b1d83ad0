"""The local model's IMEX stepper on 2 ranks against the same run on one rank."""

import numpy as np
import pytest
from mpi4py import MPI

from fem_fhn._fenics import dolfinx
from fem_fhn.macro.local_rd import LocalFHN
from fem_fhn.mesh import NodalMesh
from fem_fhn.parallel import to_global_order
from fem_fhn.params import FHNParameters
from fem_fhn.timestepping import IMEXRungeKutta

pytestmark = pytest.mark.mpi
COMM = MPI.COMM_WORLD


def local_final(comm, solver, mass):
    nodes = NodalMesh.from_mesh(dolfinx.mesh.create_unit_square(comm, 24, 24))
    x, y = nodes.coords[:, 0], nodes.coords[:, 1]
    rho0 = 1 + 0.3 * x * y
    model = LocalFHN(nodes, FHNParameters(), 0.02, rho0, mass=mass, linear_solver=solver)
    y0 = model.state(np.tanh((0.3 - x) / 0.1), 0.1 * y)
    _, final, _ = IMEXRungeKutta(0.05, "imex-ars222").advance(model, 0.0, y0, 2.0)
    fields = [to_global_order(comm, nodes.global_index, final[i]) for i in range(2)]
    return np.stack(fields) if fields[0] is not None else None


@pytest.mark.parametrize("mass", ["lumped", "consistent"])
@pytest.mark.parametrize("solver", ["cholesky", "mumps", "cg"])
def test_local_stepper_rank_independent(solver, mass):
    """Direct solves: round-off (≤ 1e-12); strict CG (rtol 1e-12): ≤ 1e-10."""
    assert COMM.size == 2
    distributed = local_final(COMM, solver, mass)
    serial = local_final(MPI.COMM_SELF, solver, mass) if COMM.rank == 0 else None
    error = float(np.abs(distributed - serial).max()) if COMM.rank == 0 else None
    error = COMM.bcast(error)
    assert error <= (1e-10 if solver == "cg" else 1e-12), error
