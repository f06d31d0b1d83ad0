"""Fast nonlocal operators (sparse, nufft) against the dense reference quadrature.

Error measure: ‖K̃u − Ku‖∞ ≤ tol · max_i Σ_j |Ψ_ij| w_j |u_j|, with K the dense operator.
"""

import functools

import numpy as np
import pytest
from mpi4py import MPI
from operator_checks import error_ratio, probes

from fem_fhn import kernels
from fem_fhn.nonlocal_ import NonlocalLaplacian
from fem_fhn.nonlocal_.dense import DenseOperator
from fem_fhn.nonlocal_.nufft import (
    NufftOperator,
    _ProjectedFourier,
    _RadialTable,
    mode_errors,
    plan_grid,
    upsampling_factor,
    weighted_mode_error,
)
from fem_fhn.nonlocal_.sparse import SparseOperator
from fem_fhn.params import ParameterError

SELF = MPI.COMM_SELF
TOLS = (1e-4, 1e-6, 1e-8)
GAUSS2 = kernels.Gaussian(width=0.05, dim=2)
HAT2 = kernels.MexicanHat(width_exc=0.05, width_inh=0.1, a_exc=6.0, a_inh=5.0, dim=2)
HAT3 = kernels.MexicanHat(width_exc=0.1, width_inh=0.2, a_exc=3.0, a_inh=2.0, dim=3)


@functools.cache
def cloud(dim: int, n: int = 1500, seed: int = 11):
    """Random points in the unit box with non-uniform weights."""
    rng = np.random.default_rng(seed + dim)
    return rng.random((n, dim)), rng.random(n) + 0.1


@functools.cache
def mesh_nodes(name: str):
    from fem_fhn.mesh import NodalMesh

    nodes = NodalMesh.load(name, SELF)
    return nodes.coords, nodes.masses


@functools.cache
def dense(where: str, psi):
    points, weights = mesh_nodes(where) if where.isalpha() else cloud(int(where))
    return DenseOperator(points, weights, psi, SELF)


NUFFT_CASES = [
    ("1", kernels.Gaussian(width=0.02, dim=1), TOLS),
    ("1", kernels.Bump(width=0.1, dim=1), TOLS),
    ("1", kernels.Gaussian(width=0.1, dim=1), TOLS),  # few modes: finufft upsampfac 3
    ("2", kernels.Gaussian(width=0.3, dim=2), TOLS),  # fewer modes than points: upsampfac 2
    ("2", GAUSS2, TOLS),
    ("2", HAT2, TOLS),
    ("2", kernels.Bump(width=0.2, dim=2), TOLS),
    ("3", kernels.Gaussian(width=0.1, dim=3), TOLS),
    ("3", HAT3, TOLS),
    ("3", kernels.Bump(width=1.0, dim=3), (1e-4, 1e-6)),  # 1e-8: 268^3 modes, too big for a test
    ("interval", kernels.Gaussian(width=0.3, dim=1), TOLS),
    ("square", GAUSS2, TOLS),
    ("square", HAT2, TOLS),
    ("square", kernels.Bump(width=0.2, dim=2), TOLS),
    ("strip", kernels.Gaussian(width=0.2, dim=2), TOLS),  # 20 x 1 box: P and M per axis
    ("ball", kernels.Gaussian(width=0.15, dim=3), TOLS),
    ("ball", HAT3, TOLS),
]


@pytest.mark.parametrize(
    "where,psi,tols", NUFFT_CASES, ids=[f"{w}-{type(p).__name__}" for w, p, _ in NUFFT_CASES]
)
def test_nufft_meets_tolerance(where, psi, tols):
    reference = dense(where, psi)
    points, weights = mesh_nodes(where) if where.isalpha() else cloud(int(where))
    u = probes(points)
    for tol in tols:
        op = NufftOperator(points, weights, psi, SELF, tol=tol)
        ratio = error_ratio(op.apply(u), reference, u)
        assert ratio <= tol, (tol, ratio, op.info())
        assert ratio > 0.0  # a real approximation, not a copy of the reference


def test_nufft_info_describes_the_grid():
    points, weights = cloud(2)
    op = NufftOperator(points, weights, GAUSS2, SELF, tol=1e-6)
    info = op.info()
    assert info["method"] == "nufft" and info["n_global"] == len(points)
    assert all(m % 2 == 0 for m in info["modes"]) and info["n_modes"] == np.prod(info["modes"])
    extent = np.ptp(points, axis=0)
    np.testing.assert_allclose(info["period"], extent + info["padding"], rtol=1e-14)
    # the kept modes reach k_max: 2π (M/2 − 1)/P ≥ k_max
    reach = 2 * np.pi * (np.array(info["modes"]) / 2 - 1) / np.array(info["period"])
    assert reach.min() >= info["k_max"]
    assert 0 < info["nufft_eps"] < 1e-6
    assert info["memory_bytes_per_rank_max"] > 0 and info["build_time_s"] >= 0


def test_nufft_columns_pairs_and_complex_values(rng):
    points, weights = cloud(2)
    op = NufftOperator(points, weights, HAT2, SELF, tol=1e-8)
    u = rng.standard_normal((len(points), 3))
    together = op.apply(u)
    scale = np.abs(together).max()
    for c in range(3):  # columns 0 and 1 share one complex transform, column 2 is alone
        assert np.abs(together[:, c] - op.apply(u[:, c])).max() <= 1e-13 * scale
    z = op.apply(u[:, 0] + 1j * u[:, 1])
    assert z.dtype == complex
    assert np.abs(z - (together[:, 0] + 1j * together[:, 1])).max() <= 1e-13 * scale
    assert op.apply(u[:, :1]).shape == (len(points), 1)


def test_nufft_with_a_separate_type2_plan(monkeypatch, rng):
    """Older finufft (no execute_adjoint): a type-2 plan with isign = +1 gives the same result."""
    from fem_fhn.nonlocal_ import nufft

    points, weights = cloud(3)
    psi = kernels.Gaussian(width=0.1, dim=3)
    u = rng.standard_normal(len(points))
    one_plan = NufftOperator(points, weights, psi, SELF, tol=1e-8)
    monkeypatch.setattr(nufft, "_USE_ADJOINT", False)
    two_plans = NufftOperator(points, weights, psi, SELF, tol=1e-8)
    assert two_plans._n_plans == 2 and one_plan._n_plans in (1, 2)
    result = two_plans.apply(u)
    assert np.abs(result - one_plan.apply(u)).max() <= 1e-13 * np.abs(result).max()


def test_exponential_allowed_at_coarse_tolerance():
    psi = kernels.Exponential(width=0.02, dim=1)
    points, weights = cloud(1)
    u = probes(points)
    for tol in (1e-2, 1e-3):
        op = NufftOperator(points, weights, psi, SELF, tol=tol)
        assert error_ratio(op.apply(u), dense("1", psi), u) <= tol


def test_projected_transform_matches_the_hankel_quadrature():
    k = np.array([0.0, 3.0, 40.0, 150.0, 600.0])
    for dim in (1, 2, 3):
        psi = kernels.Bump(width=0.3, dim=dim)
        exact = kernels.radial_fourier(psi, dim, k, 0.3, width=0.3 / 40)
        assert np.abs(_ProjectedFourier(psi)(k) - exact).max() <= 1e-14 * exact[0]


def test_upsampling_factor_and_transform_tolerance():
    assert upsampling_factor(10**4, 10**3, 2) == 1.25  # the fine grid's FFT dominates
    assert upsampling_factor(56**2, 10**5, 2) == 2.0
    assert upsampling_factor(56**2, 10**6, 2) == 3.0  # 9 · 56² ≤ 10^6/8
    points, weights = cloud(1)
    for tol in TOLS:
        op = NufftOperator(points, weights, kernels.Gaussian(width=0.1, dim=1), SELF, tol=tol)
        assert op.upsampfac == 3.0
        # the largest eps on the quarter-decade ladder below tol whose measured η̄ ≤ tol/4
        assert (
            op.mode_error
            <= tol / 4
            < weighted_mode_error(
                op.multiplier, mode_errors(op.grid.modes, op.eps * 10**0.25, op.upsampfac)
            )
            or op.eps * 10**0.25 >= tol
        )
        # η̄ is a weighted mean of the measured per-mode errors: at most their maximum
        etas = mode_errors(op.grid.modes, op.eps, op.upsampfac)
        assert 0 < op.mode_error <= max(e.max() for e in etas)


def test_chebyshev_table_interpolates_the_transform():
    psi = kernels.Gaussian(width=0.05, dim=2)
    table = _RadialTable(psi.fourier, 2.0 / 0.4)
    table.extend(200.0)
    k = np.concatenate([np.linspace(0, 200, 1001), table.nodes(3, 4).ravel()])  # nodes included
    assert np.abs(table(k) - psi.fourier(k)).max() <= 1e-14


def test_grid_follows_the_box_shape():
    lo, hi = np.zeros(2), np.array([2.0, 0.5])
    grid = plan_grid(lo, hi, GAUSS2, 1e-6)
    for m, p in zip(grid.modes, grid.period, strict=True):  # smallest even M ≥ k_max P/π + 2
        assert m % 2 == 0 and m - 2 < grid.k_max * p / np.pi + 2 <= m
    assert grid.modes[0] > 2 * grid.modes[1]  # more modes along the long side
    assert grid.multiplier().shape == grid.modes
    # real, even multiplier: m ↔ −m symmetric, and zero on the unpaired modes −M/2
    mult = grid.multiplier()
    np.testing.assert_array_equal(mult[1:, 1:], mult[1:, 1:][::-1, ::-1])
    assert not mult[0].any() and not mult[:, 0].any()
    assert mult[grid.modes[0] // 2, grid.modes[1] // 2] == pytest.approx(
        GAUSS2.mass / np.prod(grid.period)
    )


# --------------------------------------------------------------------------- sparse

SPARSE_CASES = [
    ("1", kernels.Indicator(width=0.05, dim=1)),
    ("2", kernels.Indicator(width=0.13, dim=2)),
    ("2", kernels.Bump(width=0.15, dim=2)),
    ("3", kernels.Indicator(width=0.21, dim=3)),
    ("3", kernels.Bump(width=0.3, dim=3)),
    ("square", kernels.Indicator(width=0.137, dim=2)),
    ("square", kernels.Bump(width=0.1, dim=2)),
    ("ball", kernels.Indicator(width=0.33, dim=3)),
    ("ball", kernels.Bump(width=0.4, dim=3)),
]


@pytest.mark.parametrize(
    "where,psi", SPARSE_CASES, ids=[f"{w}-{type(p).__name__}" for w, p in SPARSE_CASES]
)
def test_sparse_equals_dense(where, psi):
    reference = dense(where, psi)
    points, weights = mesh_nodes(where) if where.isalpha() else cloud(int(where))
    op = SparseOperator(points, weights, psi, SELF)
    u = probes(points)
    exact = reference.apply(u)
    assert np.abs(op.apply(u) - exact).max() <= 1e-13 * np.abs(exact).max()
    assert np.abs(op.apply(u[:, 0]) - exact[:, 0]).max() <= 1e-13 * np.abs(exact).max()
    info = op.info()
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1)  # symmetric, exactly
    assert info["nnz"] == np.count_nonzero(psi(distances))  # exactly the pairs within the support
    # one rank: S stored once (diagonal + strict upper triangle), 8-byte values, 2-4 byte indices
    assert info["symmetric"]
    upper = (info["nnz"] - len(points)) // 2
    assert 10 * upper <= info["memory_bytes_per_rank_max"] <= 12 * upper + 40 * len(points)
    np.testing.assert_allclose(op.tocsr().toarray(), reference.matrix, rtol=1e-15, atol=0)


def test_sparse_single_precision_values(rng):
    points, weights = cloud(2)
    psi = kernels.Bump(width=0.15, dim=2)
    double = SparseOperator(points, weights, psi, SELF)
    single = SparseOperator(points, weights, psi, SELF, single=True)
    # the bump's values below float32's smallest number (at the support's edge) are not stored
    assert single.matrix.data.dtype == np.float32 and 0.99 * double.nnz <= single.nnz <= double.nnz
    assert single.memory_bytes() < double.memory_bytes() * 0.7  # 6 against 10 bytes per entry
    u = rng.standard_normal((len(points), 3)) + 1j * rng.standard_normal((len(points), 3))
    bound = 2.0**-24 * (np.abs(double.tocsr()) @ np.abs(u))  # rounding of each stored value
    cases = [(u, bound), (u[:, 0], bound[:, 0]), (u.real, bound), (u[:, 1].real, bound[:, 1])]
    for v, scale in cases:
        exact, approx = double.apply(v), single.apply(v)
        assert approx.dtype == exact.dtype and approx.shape == exact.shape
        error = np.abs(approx - exact)
        assert (error <= 1.0001 * scale).all()
        assert error.max() > 0  # really rounded


def test_sparse_keeps_the_diagonal_and_coincident_points(rng):
    points = rng.random((200, 2))
    points[1] = points[0]  # r = 0 between two different points
    weights = rng.random(200) + 0.1
    psi = kernels.Bump(width=0.2, dim=2)
    op = SparseOperator(points, weights, psi, SELF)
    reference = DenseOperator(points, weights, psi, SELF)
    K = op.tocsr()
    np.testing.assert_allclose(K.diagonal(), reference.matrix.diagonal(), rtol=1e-15)
    assert K[0, 1] == pytest.approx(psi(np.array(0.0)) * weights[1], rel=1e-15)
    u = rng.standard_normal(200) + 1j * rng.standard_normal(200)
    exact = reference.apply(u)
    assert np.abs(op.apply(u) - exact).max() <= 1e-13 * np.abs(exact).max()


# --------------------------------------------------------------------------- L_ρ0 facts (§1.4)


@pytest.mark.parametrize("method", ["nufft", "sparse"])
def test_laplacian_facts_with_fast_methods(method):
    points, masses = mesh_nodes("square")
    psi = HAT2 if method == "nufft" else kernels.Bump(width=0.1, dim=2)
    tol = 1e-6
    cls = NufftOperator if method == "nufft" else SparseOperator
    rho0 = 1.0 + 0.5 * np.cos(2 * np.pi * points[:, 0])
    rho0[points[:, 1] > 0.8] = 0.0  # a region without density
    L = NonlocalLaplacian(cls(points, masses, psi, SELF, tol=tol), rho0)
    V = np.random.default_rng(9).standard_normal(len(masses))
    # L(constant) = K(ρ0 c) − c K ρ0 vanishes to round-off for any linear K
    constant = L(np.full(len(masses), 2.5))
    assert np.abs(constant).max() <= 1e-13 * np.abs(L.K_rho0).max() * 2.5
    # Σ m ρ0 L(V) = 0 for the dense quadrature; a fast K errs by at most tol times the row scales
    absolute = np.abs(dense("square", psi).matrix)
    row_scale = (absolute @ (rho0 * np.abs(V))).max() + np.abs(V).max() * (absolute @ rho0).max()
    scale = np.sum(masses * rho0) * row_scale
    exact_tol = 1e-14 if method == "sparse" else tol
    assert abs(np.sum(masses * rho0 * L(V))) <= exact_tol * scale


@pytest.mark.parametrize("method", ["dense", "sparse", "nufft", "hmatrix", "split"])
def test_apply_writes_into_out(method, rng):
    """apply(u, out=buffer) returns the buffer holding apply(u), for one and for two columns,
    and L_ρ0 keeps one buffer for K's result across calls."""
    from fem_fhn.nonlocal_ import make_operator

    points, weights = cloud(2, n=900)
    psi = {"sparse": kernels.Bump(0.15, 2), "split": kernels.Exponential(0.05, 2)}.get(method, HAT2)
    op = make_operator(points, weights, psi, method, SELF, 1e-6)
    for u in (rng.standard_normal(900), rng.standard_normal((900, 2))):
        buffer = np.full(u.shape, np.nan)
        assert op.apply(u, out=buffer) is buffer
        np.testing.assert_array_equal(buffer, op.apply(u))
    L = NonlocalLaplacian(op, np.ones(900))
    V1, V2 = rng.standard_normal(900), rng.standard_normal(900)
    first = L(V1)
    np.testing.assert_array_equal(L(V2), op.apply(V2) - V2 * L.K_rho0)
    np.testing.assert_array_equal(first, op.apply(V1) - V1 * L.K_rho0)  # not overwritten


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "psi,name",
    [
        (kernels.Exponential(width=0.1, dim=2), "exponential kernel"),
        (kernels.Indicator(width=0.1, dim=3), "indicator kernel"),
    ],
)
def test_nufft_refuses_non_smooth_kernels(psi, name):
    points, weights = cloud(psi.dim, n=50)
    with pytest.raises(ParameterError, match=f"nufft cannot reach tol=1e-06 for the {name}") as err:
        NufftOperator(points, weights, psi, SELF, tol=1e-6)
    assert "tol ≥ 0.001" in str(err.value) and "dense" in str(err.value)


def test_nufft_refuses_too_many_modes():
    points, weights = cloud(3, n=50)
    with pytest.raises(ParameterError, match="Fourier modes .* limit 134217728"):
        NufftOperator(points, weights, kernels.Gaussian(width=1e-3, dim=3), SELF, tol=1e-8)


def test_nufft_refuses_bad_tolerance():
    points, weights = cloud(2, n=50)
    with pytest.raises(ParameterError, match="tol = 0"):
        NufftOperator(points, weights, GAUSS2, SELF, tol=0)


def test_sparse_refuses_unbounded_support():
    points, weights = cloud(2, n=50)
    with pytest.raises(ParameterError, match="gaussian kernel .* 'dense', 'hmatrix' or 'nufft'"):
        SparseOperator(points, weights, GAUSS2, SELF)
