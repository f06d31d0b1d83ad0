"""H-matrix operator: the error measure against the dense reference for every kernel type, the
ACA building block, the numba apply kernel against its numpy twin, and the L_ρ0 identities."""

import math

import numpy as np
import pytest
from mpi4py import MPI
from scipy.spatial.distance import cdist

from fem_fhn import kernels
from fem_fhn.mesh import NodalMesh
from fem_fhn.nonlocal_ import NonlocalLaplacian
from fem_fhn.nonlocal_.aca import aca_batch, recompress
from fem_fhn.nonlocal_.clustering import RadialTable, block_partition, cluster_tree
from fem_fhn.nonlocal_.dense import DenseOperator
from fem_fhn.nonlocal_.hmatrix import (
    DENSE_FAR,
    DENSE_NEAR,
    HMatrixOperator,
    apply_blocks,
    apply_blocks_numpy,
)
from fem_fhn.params import ParameterError

TOLS = (1e-4, 1e-6, 1e-8)
SELF = MPI.COMM_SELF


def cauchy(r):
    return 1.0 / (1.0 + (r / 0.05) ** 2)


def make_kernels(dim):
    """One kernel of every type; Indicator and Bump wide enough to have low-rank blocks."""
    return {
        "gaussian": kernels.Gaussian(width=0.05, dim=dim),
        "exponential": kernels.Exponential(width=0.05, dim=dim),
        "indicator": kernels.Indicator(width=0.3, dim=dim),
        "bump": kernels.Bump(width=0.4, dim=dim),
        "mexican_hat": kernels.MexicanHat(0.05, 0.1, 6.0, 5.0, dim=dim),
        "custom": kernels.Custom(cauchy, dim=dim, width=0.05),
    }


SMOOTH = ("gaussian", "exponential", "mexican_hat", "custom")


def vectors(rng, n):
    return {
        "normal": rng.standard_normal(n),
        "ones": np.ones(n),
        "uniform": rng.random(n),
    }


def relative_errors(op, dense, us):
    """‖K̃u − Ku‖∞ / max_i Σ_j |Ψ_ij| w_j |u_j| for each u."""
    errors = []
    for u in us.values():
        scale = (np.abs(dense.matrix) @ np.abs(u)).max()
        errors.append(np.abs(op.apply(u) - dense.apply(u)).max() / scale)
    return np.array(errors)


@pytest.fixture(scope="module", params=[2, 3], ids=["2d", "3d"])
def cloud(request):
    """Random points in the unit box with non-uniform weights, and test vectors."""
    dim = request.param
    rng = np.random.default_rng(7 + dim)
    n = 2500
    points = rng.random((n, dim))
    weights = (0.5 + rng.random(n)) / n
    return dim, points, weights, vectors(rng, n)


@pytest.mark.parametrize("name", list(make_kernels(2)))
def test_error_measure_on_random_points(cloud, name):
    dim, points, weights, us = cloud
    psi = make_kernels(dim)[name]
    dense = DenseOperator(points, weights, psi, SELF)
    for tol in TOLS:
        op = HMatrixOperator(points, weights, psi, SELF, tol=tol)
        errors = relative_errors(op, dense, us)
        assert errors.max() <= tol, (tol, errors)
        info = op.info()
        assert info["compression"] < 1.0
        if name in SMOOTH and dim == 2:
            assert info["n_lowrank_blocks"] > 0 and info["compression"] < 0.5, info


@pytest.mark.parametrize(
    "mesh,psis",
    [
        ("square", [kernels.Gaussian(0.05, 2), kernels.Exponential(0.05, 2)]),
        ("square", [kernels.Custom(cauchy, dim=2, width=0.05), kernels.Indicator(0.2, 2)]),
        ("ball", [kernels.Gaussian(0.15, 3), kernels.MexicanHat(0.15, 0.3, 2.0, 1.0, 3)]),
    ],
    ids=["square-gauss-exp", "square-custom-indicator", "ball-gauss-hat"],
)
def test_error_measure_on_mesh_nodes(mesh, psis):
    nodes = NodalMesh.load(mesh, SELF)
    us = vectors(np.random.default_rng(3), nodes.n_owned)
    for psi in psis:
        dense = DenseOperator(nodes.coords, nodes.masses, psi, SELF)
        for tol in TOLS:
            op = HMatrixOperator(nodes.coords, nodes.masses, psi, SELF, tol=tol)
            assert relative_errors(op, dense, us).max() <= tol
            assert op.info()["compression"] < 1.0


def test_operator_compresses_and_reports(rng):
    points = rng.random((4000, 2))
    op = HMatrixOperator(points, np.full(4000, 1 / 4000), kernels.Gaussian(0.05, 2), SELF, 1e-6)
    info = op.info()
    assert info["method"] == "hmatrix" and info["n_global"] == 4000
    assert info["compression"] < 0.2
    assert info["n_lowrank_blocks"] > 0 and info["n_dense_blocks"] > 0
    assert 0 < info["max_rank"] < 64
    assert info["memory_bytes_per_rank_max"] < 8 * 4000**2 * 0.2
    assert info["build_time_s"] > 0


def test_several_columns_and_flat_1d_points(rng):
    x = np.sort(rng.random(900))
    psi = kernels.Gaussian(width=0.02, dim=1)
    op = HMatrixOperator(x, np.full(900, 1 / 900), psi, SELF, tol=1e-8)
    dense = DenseOperator(x[:, None], np.full(900, 1 / 900), psi, SELF)
    u = rng.standard_normal((900, 3))
    out = op.apply(u)
    assert out.shape == (900, 3)
    np.testing.assert_allclose(out[:, 1], op.apply(u[:, 1]), rtol=0, atol=1e-14)
    scale = (np.abs(dense.matrix) @ np.abs(u)).max()
    assert np.abs(out - dense.apply(u)).max() <= 1e-8 * scale


def test_bad_parameters_raise(rng):
    psi = kernels.Gaussian(0.1, 2)
    for key, value in (("tol", 0.0), ("eta", -1.0), ("leaf_size", 0)):
        with pytest.raises(ParameterError, match=f"{key} = "):
            HMatrixOperator(rng.random((10, 2)), np.ones(10), psi, SELF, **{key: value})


def test_small_problem_is_exact(rng):
    """Fewer points than a leaf: one dense block, the dense quadrature to round-off."""
    points, weights, u = rng.random((50, 3)), rng.random(50), rng.standard_normal(50)
    psi = kernels.Exponential(width=0.2, dim=3)
    op = HMatrixOperator(points, weights, psi, SELF, tol=1e-4)
    expected = DenseOperator(points, weights, psi, SELF).apply(u)
    assert np.abs(op.apply(u) - expected).max() <= 1e-13 * np.abs(expected).max()


# --------------------------------------------------------------------------- building blocks


def separated_clusters(rng, m=150, n=120):
    X = rng.random((m, 2))
    Y = rng.random((n, 2)) + np.array([3.0, 0.5])
    return X, Y


def test_aca_reaches_relative_frobenius_error(rng):
    """ACA asked for tol/2 (its stop is an estimate of the remainder), then QR + SVD truncation
    at tol/2: the relative Frobenius error is ≤ tol, and the rank drops as tol loosens."""
    X, Y = separated_clusters(rng)
    psi = kernels.Gaussian(width=1.0, dim=2)
    A = psi(cdist(X, Y))
    ranks, truncated = [], []
    for tol in (1e-11, 1e-8, 1e-5, 1e-2):
        ((U, V),) = aca_batch(
            X[None],
            Y[None],
            psi,
            tol / 2,
            np.zeros(1),
            np.ones((1, 150)),
            np.ones((1, 120)),
            np.random.default_rng(0),
        )
        assert np.linalg.norm(A - U @ V) <= tol * np.linalg.norm(A)
        ((Ut, Vt),) = recompress([(U, V)], tol / 2, np.zeros(1))
        assert np.linalg.norm(A - Ut @ Vt) <= tol * np.linalg.norm(A)
        ranks.append(U.shape[1])
        truncated.append(Ut.shape[1])
    assert ranks == sorted(ranks, reverse=True) and ranks[0] > ranks[-1], ranks
    assert all(t <= r for t, r in zip(truncated, ranks, strict=True)) and ranks[0] < 40


def test_aca_batch_gives_each_block_its_own_rank(rng):
    """Blocks of one batch at different separations stop independently; a block that does not
    compress (an adjacent pair, an exponential cusp) is handed back as None."""
    psi = kernels.Exponential(width=0.3, dim=2)
    X = rng.random((3, 60, 2))
    Y = rng.random((3, 60, 2)) + np.array([[[4.0, 0]], [[1.5, 0]], [[0.0, 0]]])
    out = aca_batch(
        X, Y, psi, 1e-8, np.zeros(3), np.ones((3, 60)), np.ones((3, 60)), np.random.default_rng(0)
    )
    assert out[2] is None
    for b in (0, 1):
        U, V = out[b]
        A = psi(cdist(X[b], Y[b]))
        assert np.linalg.norm(A - U @ V) <= 1e-8 * np.linalg.norm(A)
    assert out[0][0].shape[1] < out[1][0].shape[1]


def test_cluster_tree_and_partition_cover_the_matrix(rng):
    points = rng.random((700, 2))
    tree = cluster_tree(points, 32)
    assert sorted(tree.perm) == list(range(700))
    assert tree.size[tree.leaf].max() <= 32 and tree.size[0] == 700
    psi = kernels.Gaussian(0.1, 2)
    table = RadialTable(psi, math.sqrt(2), 0.1)
    table.set_roughness(1e-12)
    for symmetric in (False, True):
        part = block_partition(tree, tree, 2.0, table, 0.0, symmetric)
        cover = np.zeros((700, 700), dtype=int)
        for t, s in np.concatenate([part.lowrank, part.dense]):
            cover[tree.start[t] : tree.stop[t], tree.start[s] : tree.stop[s]] += 1
            if symmetric and t != s:
                cover[tree.start[s] : tree.stop[s], tree.start[t] : tree.stop[t]] += 1
        assert (cover == 1).all() and part.n_dropped == 0
        for t, s in part.lowrank:  # the admissibility rule
            gap = np.maximum(0, np.maximum(tree.lo[s] - tree.hi[t], tree.lo[t] - tree.hi[s]))
            assert 2.0 * np.linalg.norm(gap) >= max(tree.diam[t], tree.diam[s])


def test_radial_table_bounds_and_roughness():
    psi = kernels.MexicanHat(0.05, 0.1, 6.0, 5.0, 2)
    table = RadialTable(psi, 1.5, 0.1)
    rng = np.random.default_rng(0)
    lo = rng.random(200) * 1.2
    hi = lo + rng.random(200) * 0.3
    r = np.linspace(0, 1.5, 300001)
    values = np.abs(psi(r))
    exact = np.array([values[(r >= a) & (r <= b)].max() for a, b in zip(lo, hi, strict=True)])
    assert (table.bound(lo, hi) >= exact * (1 - 1e-6)).all()
    table.set_roughness(1e-10)
    assert not table.rough(np.array([0.0]), np.array([1.5]))[0]
    jump = RadialTable(kernels.Indicator(0.3, 2), 1.5, 0.3)
    jump.set_roughness(1e-10)
    assert list(jump.rough(np.array([0.1, 0.25, 0.35]), np.array([0.2, 0.31, 0.5]))) == [
        False,
        True,
        False,
    ]


def random_blocks(rng, n=300):
    """A block table with every kind of block: dense (near and far arrays), low rank, with and
    without the transposed application."""
    rows, near, far = [], [], []
    for b in range(40):
        m, k = rng.integers(1, 40, 2)
        t0, s0 = rng.integers(0, n - 40, 2)
        kind = b % 3
        sym = int(rng.random() < 0.5)
        if kind == 0:
            rows.append((t0, m, s0, k, DENSE_NEAR, sum(a.size for a in near), sym))
            near.append(rng.standard_normal(m * k))
        elif kind == 1:
            rows.append((t0, m, s0, k, DENSE_FAR, sum(a.size for a in far), sym))
            far.append(rng.standard_normal(m * k))
        else:
            r = int(rng.integers(0, 6))
            rows.append((t0, m, s0, k, r, sum(a.size for a in far), sym))
            far.append(rng.standard_normal(r * (m + k)))
    meta = np.asarray(rows, dtype=np.int64)
    return meta, np.concatenate(near), np.concatenate(far)


@pytest.mark.parametrize("columns", [1, 3])
def test_numba_apply_equals_numpy_twin(rng, columns):
    meta, near, far = random_blocks(rng)
    x = rng.standard_normal((columns, 300))
    y_numba, y_numpy = np.zeros((columns, 300)), np.zeros((columns, 300))
    apply_blocks(meta, near, far, x, y_numba)
    apply_blocks_numpy(meta, near, far, x, y_numpy)
    assert np.abs(y_numba - y_numpy).max() <= 1e-13 * np.abs(y_numpy).max()


def test_operator_apply_equals_numpy_twin(rng):
    points = rng.random((1500, 2))
    op = HMatrixOperator(points, rng.random(1500), kernels.Gaussian(0.05, 2), SELF, 1e-6)
    x = rng.standard_normal((1, 1500))
    y_numba, y_numpy = np.zeros((1, 1500)), np.zeros((1, 1500))
    apply_blocks(op.meta, op.near, op.far, x, y_numba)
    apply_blocks_numpy(op.meta, op.near, op.far, x, y_numpy)
    assert np.abs(y_numba - y_numpy).max() <= 1e-13 * np.abs(y_numpy).max()


# --------------------------------------------------------------------------- L_ρ0 identities


@pytest.mark.parametrize(
    "psi",
    [kernels.Gaussian(0.08, 2), kernels.MexicanHat(0.05, 0.1, 6.0, 5.0, 2)],
    ids=["gaussian", "mexican_hat"],
)
def test_laplacian_identities(rng, psi):
    nodes = NodalMesh.load("square", SELF)
    rho0 = nodes.density("1.0 + 0.5*sin(3*x)*y")
    rho0[nodes.coords[:, 0] < 0.2] = 0.0  # a zero-density region
    op = HMatrixOperator(nodes.coords, nodes.masses, psi, SELF, tol=1e-6)
    L = NonlocalLaplacian(op, rho0)
    assert np.all(L(np.ones(nodes.n_owned)) == 0.0)  # exactly
    assert np.abs(L(np.full(nodes.n_owned, 3.7))).max() <= 1e-13 * np.abs(L.K_rho0).max()
    V = rng.standard_normal(nodes.n_owned)
    scale = np.sum(nodes.masses * rho0 * np.abs(op.apply(rho0 * np.abs(V))))
    # one rank stores Ψ̃ symmetric: the weighted integral vanishes to round-off
    assert abs(np.sum(nodes.masses * rho0 * L(V))) <= 1e-13 * scale
