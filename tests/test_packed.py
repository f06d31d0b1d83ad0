"""The packed sparse storage of the geodesic operator: Morton order, narrow indices, symmetric
storage and single precision against scipy's double-precision product; the symmetrised geodesic
table and the conservation of L_ρ0 it gives; `[nonlocal] precision` and its refusals."""

import numpy as np
import pytest
from mpi4py import MPI
from scipy import sparse

from fem_fhn.kernels import make_kernel
from fem_fhn.mesh import NodalMesh
from fem_fhn.nonlocal_ import NonlocalLaplacian
from fem_fhn.nonlocal_.geodesic import (
    geodesic_operator,
    mesh_geodesic_distances,
    symmetrised,
    truncation_radius,
)
from fem_fhn.nonlocal_.packed import SINGLE_ROUNDOFF, PackedCSR, curve_order, index_type
from fem_fhn.params import ParameterError
from fem_fhn.surface import icosphere, surface_mesh


@pytest.fixture(scope="module")
def case():
    """A symmetric sparse matrix of a Gaussian of the distance within 0.3 on 2 000 random points
    of the unit cube, the points, and a vector."""
    rng = np.random.default_rng(3)
    points = rng.random((2000, 3))
    d = np.linalg.norm(points[:, None] - points[None], axis=-1)
    matrix = sparse.csr_array(np.where(d <= 0.3, np.exp(-(d**2) / 0.02), 0.0))
    return matrix, points, rng.standard_normal(2000)


@pytest.mark.parametrize("symmetric", [False, True])
def test_double_storage_equals_scipy(case, symmetric):
    """Morton order, uint16 indices, (symmetric storage): the product equals scipy's to round-off
    and the stored matrix comes back exactly."""
    matrix, points, x = case
    order = curve_order(points, np.arange(len(points)))
    packed = PackedCSR(matrix, "double", order, order, symmetric)
    assert packed.indices.dtype == np.uint16 and packed.nnz == matrix.nnz
    assert not np.array_equal(order, np.arange(len(points)))
    reference = matrix @ x
    scale = np.abs(matrix) @ np.abs(x)
    assert np.abs(packed @ x - reference).max() < 1e-14 * scale.max()
    assert abs(packed.tocsr() - matrix).max() < 1e-16
    full = PackedCSR(matrix).nbytes
    assert (packed.nbytes < 0.6 * full) == symmetric


@pytest.mark.parametrize("symmetric", [False, True])
def test_single_storage_within_the_float32_bound(case, symmetric):
    """|y_single − y_double|_i ≤ 2^−24 Σ_j |A_ij||x_j| (+ float64 rounding), and not equal."""
    matrix, points, x = case
    order = curve_order(points, np.arange(len(points)))
    single = PackedCSR(matrix, "single", order, order, symmetric)
    assert single.data.dtype == np.float32
    error = np.abs(single @ x - matrix @ x)
    bound = SINGLE_ROUNDOFF * (np.abs(matrix) @ np.abs(x)) * (1 + 1e-6)
    assert np.all(error <= bound) and error.max() > 1e-3 * bound.max()


def test_index_types_and_refusals(case):
    assert index_type(65_536) is np.uint16 and index_type(65_537) is np.uint32
    assert index_type(2**32 + 1) is np.int64
    matrix, points, _ = case
    with pytest.raises(ValueError, match="symmetric storage"):
        PackedCSR(matrix, "double", np.arange(2000), np.arange(2000)[::-1], symmetric=True)


def test_symmetrised_takes_the_smaller_distance_on_the_union():
    """min(d_ij, d_ji) where both marches reached the pair, the one distance where only one
    did; the diagonal's explicit zeros kept."""
    table = sparse.csr_array(
        (
            [0.0, 1.0, 2.0, 0.0, 3.0, 0.0],
            ([0, 0, 1, 1, 1, 2], [0, 1, 0, 1, 2, 2]),
        ),
        shape=(3, 3),
    )
    result = symmetrised(table, MPI.COMM_SELF, np.array([3]))
    expected = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 3.0], [0.0, 3.0, 0.0]])
    np.testing.assert_array_equal(result.toarray(), expected)
    assert result.nnz == 7  # the three zeros of the diagonal stay stored


def sphere_nodes(level: int) -> NodalMesh:
    return NodalMesh.from_mesh(surface_mesh(icosphere(level, 1.0), MPI.COMM_SELF))


def test_geodesic_table_is_symmetrised_and_L_conserves():
    """d_ij = min of the two marches, a symmetric table; K stored once (symmetric) equals the
    product with K_ij = Ψ(d_ij) w_j; Σ_i m_i ρ0_i L_ρ0(V)_i = 0 to round-off."""
    nodes = sphere_nodes(4)
    kernel = make_kernel({"type": "gaussian", "width": 0.15, "dim": 2})
    distances = mesh_geodesic_distances(nodes, truncation_radius(kernel, 1e-8))
    assert (distances != distances.T).nnz == 0 and distances.nnz > 100 * nodes.n_owned
    op = geodesic_operator(nodes, kernel, "sparse", 1e-8)
    assert op.info()["symmetric"] and op.info()["precision"] == "double"
    rng = np.random.default_rng(0)
    u = rng.standard_normal(nodes.n_owned)
    values = kernel(distances.data) * nodes.masses[distances.indices]
    exact = sparse.csr_array((values, distances.indices, distances.indptr), distances.shape)
    assert np.abs(op.apply(u) - exact @ u).max() < 1e-14 * (np.abs(exact) @ np.abs(u)).max()
    rho0 = 1 + 0.5 * nodes.coords[:, 2]
    L = NonlocalLaplacian(op, rho0)(u)
    scale = np.sum(nodes.masses * rho0 * (np.abs(exact) @ np.abs(rho0 * u)))
    assert abs(np.sum(nodes.masses * rho0 * L)) < 1e-14 * scale


def test_geodesic_precision_single_against_double():
    """precision "single": within 2^−24 Σ_j |K_ij||u_j| of the double-precision operator;
    "auto" takes single from tol 2^−24 on and double below; dense refuses single."""
    nodes = sphere_nodes(3)
    kernel = make_kernel({"type": "gaussian", "width": 0.2, "dim": 2})
    u = np.cos(3 * nodes.coords[:, 0]) + nodes.coords[:, 1]
    double = geodesic_operator(nodes, kernel, "sparse", 1e-8, precision="double")
    single = geodesic_operator(nodes, kernel, "sparse", 1e-8, precision="single")
    matrix = double.matrix.tocsr() * double.column_weights
    error = np.abs(single.apply(u) - double.apply(u))
    bound = SINGLE_ROUNDOFF * (np.abs(matrix) @ np.abs(u)) * (1 + 1e-6)
    assert np.all(error <= bound) and error.max() > 0
    assert geodesic_operator(nodes, kernel, "sparse", 1e-6).info()["precision"] == "single"
    assert geodesic_operator(nodes, kernel, "hmatrix", 1e-8).info()["precision"] == "double"
    with pytest.raises(ParameterError, match="nonlocal.precision = 'single' is not allowed"):
        geodesic_operator(nodes, kernel, "dense", 1e-4, precision="single")
    with pytest.raises(ParameterError, match="nonlocal.precision = 'half' is not allowed"):
        geodesic_operator(nodes, kernel, "sparse", 1e-4, precision="half")
