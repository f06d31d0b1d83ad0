"""Fast operators under MPI: run under `mpirun -n 2` (make test-mpi). Each rank passes its own
points; the rows it gets back are compared with the serial dense operator on COMM_SELF (error
measure ‖K̃u − Ku‖∞ ≤ tol · max_i Σ_j |Ψ_ij| w_j |u_j|) and with the same method run serially."""

import functools

import numpy as np
import pytest
from mpi4py import MPI
from operator_checks import partition_probes as probes

from fem_fhn import kernels
from fem_fhn.nonlocal_ import NonlocalLaplacian
from fem_fhn.nonlocal_.dense import DenseOperator
from fem_fhn.nonlocal_.nufft import NufftOperator
from fem_fhn.nonlocal_.sparse import SparseOperator
from fem_fhn.parallel import gather_rows, row_counts

pytestmark = pytest.mark.mpi
COMM = MPI.COMM_WORLD
SELF = MPI.COMM_SELF
TOLS = (1e-4, 1e-6, 1e-8)
HAT2 = kernels.MexicanHat(width_exc=0.05, width_inh=0.1, a_exc=6.0, a_inh=5.0, dim=2)
HAT3 = kernels.MexicanHat(width_exc=0.1, width_inh=0.2, a_exc=3.0, a_inh=2.0, dim=3)


def block(array, comm=COMM):
    """This rank's contiguous block of a global array."""
    bounds = np.linspace(0, len(array), comm.size + 1).astype(int)
    return array[bounds[comm.rank] : bounds[comm.rank + 1]]


def worst(value: float) -> float:
    return COMM.allreduce(float(value), op=MPI.MAX)


@functools.cache
def cloud(dim: int, n: int = 1500):
    rng = np.random.default_rng(31 + dim)
    return rng.random((n, dim)), rng.random(n) + 0.1


@functools.cache
def distributed_mesh(name: str):
    """Owned nodes of a mesh partitioned over COMM, and the whole node set in rank order."""
    from fem_fhn.mesh import NodalMesh

    nodes = NodalMesh.load(name, COMM)
    counts = row_counts(COMM, nodes.n_owned)
    offset = int(counts[: COMM.rank].sum())
    all_points = gather_rows(COMM, nodes.coords, counts)
    all_masses = gather_rows(COMM, nodes.masses, counts)
    mine = slice(offset, offset + nodes.n_owned)
    return nodes.coords, nodes.masses, all_points, all_masses, mine


def setting(where: str):
    """(owned points, owned weights, all points, all weights, slice of the owned rows)."""
    if where.isalpha():
        return distributed_mesh(where)
    points, weights = cloud(int(where))
    bounds = np.linspace(0, len(points), COMM.size + 1).astype(int)
    mine = slice(bounds[COMM.rank], bounds[COMM.rank + 1])
    return points[mine], weights[mine], points, weights, mine


NUFFT_CASES = [
    ("1", kernels.Gaussian(width=0.02, dim=1)),
    ("2", kernels.Gaussian(width=0.05, dim=2)),
    ("2", HAT2),
    ("2", kernels.Bump(width=0.2, dim=2)),
    ("3", kernels.Gaussian(width=0.1, dim=3)),
    ("3", HAT3),
    ("square", HAT2),
    ("square", kernels.Gaussian(width=0.05, dim=2)),
    ("ball", kernels.Gaussian(width=0.15, dim=3)),
]


@pytest.mark.parametrize(
    "where,psi", NUFFT_CASES, ids=[f"{w}-{type(p).__name__}" for w, p in NUFFT_CASES]
)
def test_nufft_rank_independent(where, psi):
    points, weights, all_points, all_weights, mine = setting(where)
    reference = DenseOperator(all_points, all_weights, psi, SELF)
    u = probes(all_points)
    exact = reference.apply(u)
    scale = (np.abs(reference.matrix) @ np.abs(u)).max(axis=0)
    for tol in TOLS:
        op = NufftOperator(points, weights, psi, COMM, tol=tol)
        assert op.n_global == len(all_points)
        out = op.apply(u[mine])
        ratio = worst(np.max(np.abs(out - exact[mine]).max(axis=0, initial=0.0) / scale))
        assert ratio <= tol, (tol, ratio)
        serial = NufftOperator(all_points, all_weights, psi, SELF, tol=tol).apply(u)
        assert worst(np.abs(out - serial[mine]).max(initial=0.0)) <= 1e-12 * np.abs(exact).max()


SPARSE_CASES = [
    ("2", kernels.Indicator(width=0.13, dim=2)),
    ("2", kernels.Bump(width=0.15, dim=2)),
    ("3", kernels.Indicator(width=0.21, dim=3)),
    ("3", kernels.Bump(width=0.3, dim=3)),
    ("square", kernels.Indicator(width=0.137, dim=2)),
    ("ball", kernels.Bump(width=0.4, dim=3)),
]


@pytest.mark.parametrize(
    "where,psi", SPARSE_CASES, ids=[f"{w}-{type(p).__name__}" for w, p in SPARSE_CASES]
)
def test_sparse_rank_independent(where, psi):
    points, weights, all_points, all_weights, mine = setting(where)
    reference = DenseOperator(all_points, all_weights, psi, SELF)
    u = probes(all_points)
    exact = reference.apply(u)
    op = SparseOperator(points, weights, psi, COMM)
    assert (
        worst(np.abs(op.apply(u[mine]) - exact[mine]).max(initial=0.0))
        <= 1e-13 * np.abs(exact).max()
    )
    info = op.info()  # collective
    assert info["n_global"] == len(all_points)
    distances = np.linalg.norm(all_points[:, None] - all_points[None], axis=-1)
    assert info["nnz"] == np.count_nonzero(psi(distances))  # the pairs within the support
    assert not info["symmetric"]  # several ranks: each keeps its rows against all columns


@pytest.mark.parametrize("method", ["nufft", "sparse"])
def test_a_rank_without_points(method):
    """Rank 0 owns every point, the others none: they still take part in the collectives."""
    all_points, all_weights = cloud(2, n=600)
    mine = slice(0, 600) if COMM.rank == 0 else slice(600, 600)
    psi = kernels.Gaussian(width=0.05, dim=2) if method == "nufft" else kernels.Bump(0.15, 2)
    cls = NufftOperator if method == "nufft" else SparseOperator
    op = cls(all_points[mine], all_weights[mine], psi, COMM, tol=1e-6)
    u = probes(all_points)
    reference = DenseOperator(all_points, all_weights, psi, SELF)
    exact = reference.apply(u)
    scale = (np.abs(reference.matrix) @ np.abs(u)).max()
    out = op.apply(u[mine])
    assert out.shape == (len(range(600)[mine]), 2)
    assert worst(np.abs(out - exact[mine]).max(initial=0.0)) <= 1e-6 * scale
    assert op.info()["n_global"] == 600


def test_laplacian_facts_with_nufft_on_a_partitioned_mesh():
    points, masses, all_points, _, mine = distributed_mesh("square")
    tol = 1e-6
    rho0 = 1.0 + 0.5 * np.cos(2 * np.pi * points[:, 0])
    rho0[points[:, 1] > 0.8] = 0.0
    L = NonlocalLaplacian(NufftOperator(points, masses, HAT2, COMM, tol=tol), rho0)
    constant = L(np.full(len(masses), 2.5))
    assert worst(np.abs(constant).max(initial=0.0)) <= 1e-13 * 2.5 * worst(
        np.abs(L.K_rho0).max(initial=0.0)
    )
    V = probes(points)[:, 0]
    weighted = COMM.allreduce(float(np.sum(masses * rho0 * L(V))), op=MPI.SUM)
    # scale: Σ m ρ0 times the row scales of the error measure for K(ρ0 V) and V K ρ0
    all_rho0 = gather_rows(COMM, rho0)
    all_V = gather_rows(COMM, V)
    absolute = np.abs(DenseOperator(all_points, gather_rows(COMM, masses), HAT2, SELF).matrix)
    row_scale = (absolute @ (all_rho0 * np.abs(all_V))).max() + np.abs(all_V).max() * (
        absolute @ all_rho0
    ).max()
    total = COMM.allreduce(float(np.sum(masses * rho0)), op=MPI.SUM)
    assert abs(weighted) <= tol * total * row_scale
    assert all_points[mine].shape == points.shape
