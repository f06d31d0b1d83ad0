"""Dense nonlocal operator: the reference quadrature and the facts of L_ρ0 in the docs."""

import numpy as np
import pytest
from mpi4py import MPI

from fem_fhn import kernels
from fem_fhn.nonlocal_ import NonlocalLaplacian, make_operator
from fem_fhn.params import ParameterError

KERNELS = [
    kernels.Gaussian(width=0.2, dim=2),
    kernels.Exponential(width=0.1, dim=2),
    kernels.Indicator(width=0.3, dim=2),
    kernels.MexicanHat(width_exc=0.1, width_inh=0.2, a_exc=2.0, a_inh=1.0, dim=2),
]


def double_loop(points, weights, psi, u):
    out = np.zeros(len(points))
    for i in range(len(points)):
        for j in range(len(points)):
            out[i] += psi(np.array(np.linalg.norm(points[i] - points[j]))) * weights[j] * u[j]
    return out


@pytest.mark.parametrize("psi", KERNELS, ids=lambda k: type(k).__name__)
def test_dense_equals_double_loop(psi, rng):
    points = rng.random((40, 2))
    weights = rng.random(40) + 0.1
    u = rng.standard_normal(40)
    op = make_operator(points, weights, psi, method="dense", comm=MPI.COMM_SELF)
    expected = double_loop(points, weights, psi, u)
    assert np.max(np.abs(op.apply(u) - expected)) <= 1e-12 * np.max(np.abs(expected))


def test_dense_applies_to_several_columns(rng):
    points, weights = rng.random((30, 3)), rng.random(30)
    op = make_operator(points, weights, kernels.Gaussian(width=0.3, dim=3), comm=MPI.COMM_SELF)
    u = rng.standard_normal((30, 2))
    np.testing.assert_allclose(op.apply(u)[:, 1], op.apply(u[:, 1]), rtol=1e-14)


def test_dense_in_1d_accepts_flat_points(rng):
    x = np.sort(rng.random(25))
    op = make_operator(
        x, np.full(25, 1 / 25), kernels.Gaussian(width=0.1, dim=1), comm=MPI.COMM_SELF
    )
    assert op.apply(np.ones(25)).shape == (25,)


def laplacian(rng, n=60, psi=KERNELS[0]):
    points = rng.random((n, 2))
    masses = rng.random(n) + 0.2
    rho0 = rng.random(n)
    rho0[:10] = 0.0  # zero-density region
    op = make_operator(points, masses, psi, comm=MPI.COMM_SELF)
    return NonlocalLaplacian(op, rho0), masses, rho0


@pytest.mark.parametrize("psi", KERNELS, ids=lambda k: type(k).__name__)
def test_laplacian_conserves_weighted_integral(psi, rng):
    L, m, rho0 = laplacian(rng, psi=psi)
    V = rng.standard_normal(len(m))
    scale = np.sum(m * rho0 * np.abs(L.op.apply(rho0 * np.abs(V))))
    assert abs(np.sum(m * rho0 * L(V))) <= 1e-14 * scale


@pytest.mark.parametrize("psi", KERNELS, ids=lambda k: type(k).__name__)
def test_laplacian_symmetric_in_rho0_inner_product(psi, rng):
    L, m, rho0 = laplacian(rng, psi=psi)
    U, V = rng.standard_normal((2, len(m)))
    left, right = np.sum(m * rho0 * U * L(V)), np.sum(m * rho0 * V * L(U))
    assert abs(left - right) <= 1e-13 * max(abs(left), 1.0)


def test_laplacian_kills_constants(rng):
    L, m, _ = laplacian(rng)
    assert np.max(np.abs(L(np.full(len(m), 3.7)))) <= 1e-13


def test_weighted_form_matches(rng):
    L, m, rho0 = laplacian(rng)
    V = rng.standard_normal(len(m))
    np.testing.assert_allclose(L.weighted(rho0 * V), rho0 * L(V), atol=1e-13)


def test_fourier_mode_is_eigenfunction_on_periodic_lattice():
    """ρ0 ≡ 1 on a fine periodic lattice: L e^{ikx} ≈ (Ψ̂(k) − Ψ̂(0)) e^{ikx} (docs/science.md)."""
    n, width = 400, 0.02
    x = (np.arange(n) + 0.5) / n
    psi = kernels.Gaussian(width=width, dim=1)
    images = np.concatenate([x - 1, x, x + 1])  # periodic images of the unit interval
    op = make_operator(images, np.full(3 * n, 1 / n), psi, comm=MPI.COMM_SELF)
    k = 2 * np.pi * 5
    V = np.cos(k * images)
    LV = (op.apply(V) - V * op.apply(np.ones(3 * n)))[n : 2 * n]
    expected = (psi.fourier(np.array(k)) - psi.mass) * np.cos(k * x)
    assert np.max(np.abs(LV - expected)) < 1e-10


def test_bad_arguments_raise(rng):
    psi = kernels.Gaussian(width=0.1, dim=2)
    with pytest.raises(ParameterError, match="method = 'fmm'"):
        make_operator(rng.random((5, 2)), np.ones(5), psi, method="fmm", comm=MPI.COMM_SELF)
    with pytest.raises(ParameterError, match="kernel.dim = 2"):  # fewer coordinates than dim
        make_operator(rng.random((5, 1)), np.ones(5), psi, comm=MPI.COMM_SELF)
    with pytest.raises(ParameterError, match="do not match"):
        make_operator(rng.random((5, 2)), np.ones(4), psi, comm=MPI.COMM_SELF)


def test_auto_picks_a_method(rng):
    op = make_operator(
        rng.random((10, 2)), np.ones(10), KERNELS[0], method="auto", comm=MPI.COMM_SELF
    )
    assert op.info()["method"] == "dense"


def test_auto_choice_follows_size_support_and_smoothness():
    from fem_fhn.nonlocal_ import choose_method

    gauss = kernels.Gaussian(width=0.05, dim=2)
    assert choose_method(4_000, gauss, 1e-6, 1.0)[0] == "dense"
    assert choose_method(100_000, gauss, 1e-6, 1.0)[0] == "nufft"
    cusp = kernels.Exponential(width=0.05, dim=2)
    assert choose_method(99_999, cusp, 1e-6, 1.0)[0] == "hmatrix"
    assert choose_method(100_000, cusp, 1e-6, 1.0)[0] == "split"
    assert choose_method(10**6, kernels.Exponential(width=0.05, dim=3), 1e-6, 1.0)[0] == "hmatrix"
    bump = kernels.Bump(width=0.02, dim=2)  # about 126 neighbours per point at N = 1e5
    method, reason = choose_method(100_000, bump, 1e-6, 1.0)
    assert method == "sparse" and "126 neighbours" in reason
    wide = kernels.Bump(width=0.5, dim=2)  # tens of thousands of neighbours: not sparse
    assert choose_method(100_000, wide, 1e-6, 1.0)[0] == "nufft"
