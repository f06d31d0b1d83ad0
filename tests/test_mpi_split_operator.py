"""Split operator under MPI: run under `mpirun -n 2` (make test-mpi). Each rank passes its own
points; its rows are compared with the serial dense operator (error measure
‖K̃u − Ku‖∞ ≤ tol · max_i Σ_j |Ψ_ij| w_j |u_j|) and with the split operator run serially."""

import functools

import numpy as np
import pytest
from mpi4py import MPI
from operator_checks import partition_probes as probes

from fem_fhn import kernels
from fem_fhn.nonlocal_ import NonlocalLaplacian
from fem_fhn.nonlocal_.dense import DenseOperator
from fem_fhn.nonlocal_.split import SplitOperator

pytestmark = pytest.mark.mpi
COMM = MPI.COMM_WORLD
SELF = MPI.COMM_SELF
TOLS = (1e-4, 1e-6, 1e-8)
NEAR = {1: 40, 2: 64, 3: 1000}


def cusp_profile(r):
    return np.exp(-r / 0.05) * (1 + np.cos(r / 0.05))


def split_kernels(dim: int) -> dict:
    support = (0.3, 0.35, 1.0)[dim - 1]
    return {
        "exponential": kernels.Exponential(width=0.05, dim=dim),
        "indicator": kernels.Indicator(width=support, dim=dim),
        "custom": kernels.Custom(cusp_profile, dim=dim, width=0.05, support=support),
    }


def worst(value: float) -> float:
    return COMM.allreduce(float(value), op=MPI.MAX)


@functools.cache
def cloud(dim: int):
    n = {1: 1200, 2: 1600, 3: 2000}[dim]
    rng = np.random.default_rng(41 + dim)
    return rng.random((n, dim)), rng.random(n) + 0.1


def mine(n: int) -> slice:
    bounds = np.linspace(0, n, COMM.size + 1).astype(int)
    return slice(bounds[COMM.rank], bounds[COMM.rank + 1])


CASES = [(dim, name) for dim in (1, 2, 3) for name in ("exponential", "indicator", "custom")]


@pytest.mark.parametrize("dim,name", CASES, ids=[f"{d}d-{n}" for d, n in CASES])
def test_split_rank_independent(dim, name):
    assert COMM.size == 2
    points, weights = cloud(dim)
    psi = split_kernels(dim)[name]
    own = mine(len(points))
    reference = DenseOperator(points, weights, psi, SELF)
    u = probes(points)
    exact = reference.apply(u)
    scale = (np.abs(reference.matrix) @ np.abs(u)).max(axis=0)
    for tol in TOLS:
        op = SplitOperator(points[own], weights[own], psi, COMM, tol=tol, neighbours=NEAR[dim])
        assert op.n_global == len(points) and op.far is not None
        out = op.apply(u[own])
        ratio = worst(np.max(np.abs(out - exact[own]).max(axis=0, initial=0.0) / scale))
        assert 0.0 < ratio <= tol, (tol, ratio)
        serial = SplitOperator(points, weights, psi, SELF, tol=tol, neighbours=NEAR[dim])
        assert worst(np.abs(out - serial.apply(u)[own]).max()) <= 1e-12 * np.abs(exact).max()


def test_laplacian_of_a_constant_is_zero_on_two_ranks():
    assert COMM.size == 2
    points, weights = cloud(2)
    own = mine(len(points))
    rho0 = 1.0 + 0.5 * np.cos(2 * np.pi * points[own, 0])
    op = SplitOperator(points[own], weights[own], split_kernels(2)["custom"], COMM, tol=1e-6)
    L = NonlocalLaplacian(op, rho0)
    constant = L(np.full(len(rho0), 2.5))
    bound = 1e-13 * 2.5 * worst(np.abs(L.K_rho0).max())
    assert worst(np.abs(constant).max()) <= bound
