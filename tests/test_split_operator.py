"""Split operator (sparse near part + NUFFT far part) against the dense reference quadrature.

Error measure: ‖K̃u − Ku‖∞ ≤ tol · max_i Σ_j |Ψ_ij| w_j |u_j|, with K the dense operator.
"""

import functools
import math

import numpy as np
import pytest
from mpi4py import MPI
from operator_checks import error_ratio, probes
from scipy.integrate import quad
from scipy.special import i0

from fem_fhn import kernels
from fem_fhn.nonlocal_ import NonlocalLaplacian, choose_method, make_operator
from fem_fhn.nonlocal_.dense import DenseOperator
from fem_fhn.nonlocal_.split import KaiserStep, SplitKernel, SplitOperator, singular_points
from fem_fhn.params import ParameterError

SELF = MPI.COMM_SELF
TOLS = (1e-4, 1e-6, 1e-8)


def cusp_profile(r):
    """A user kernel with a cusp at r = 0: e^{−r/s}(1 + cos(r/s)), s = 0.05."""
    return np.exp(-r / 0.05) * (1 + np.cos(r / 0.05))


def split_kernels(dim: int) -> dict:
    """The exponential (cusp), the indicator (jump at its width) and a compact user kernel with
    both a cusp at 0 and a jump at its support edge."""
    return {
        "exponential": kernels.Exponential(width=0.05, dim=dim),
        "indicator": kernels.Indicator(width=(0.3, 0.35, 1.0)[dim - 1], dim=dim),
        "custom": kernels.Custom(
            cusp_profile, dim=dim, width=0.05, support=(0.3, 0.35, 1.0)[dim - 1]
        ),
    }


#: near neighbours per point in the tests: small enough that every case has a far part
NEAR = {1: 40, 2: 64, 3: 1000}


@functools.cache
def cloud(dim: int):
    n = {1: 1500, 2: 2000, 3: 2500}[dim]
    rng = np.random.default_rng(17 + dim)
    return rng.random((n, dim)), rng.random(n) + 0.1


@functools.cache
def dense(dim: int, name: str) -> DenseOperator:
    points, weights = cloud(dim)
    return DenseOperator(points, weights, split_kernels(dim)[name], SELF)


CASES = [(dim, name) for dim in (1, 2, 3) for name in ("exponential", "indicator", "custom")]


@pytest.mark.parametrize("dim,name", CASES, ids=[f"{d}d-{n}" for d, n in CASES])
def test_split_meets_tolerance(dim, name):
    points, weights = cloud(dim)
    psi = split_kernels(dim)[name]
    reference = dense(dim, name)
    u = probes(points)
    for tol in TOLS:
        op = SplitOperator(points, weights, psi, SELF, tol=tol, neighbours=NEAR[dim])
        assert op.far is not None  # both parts are exercised
        ratio = error_ratio(op.apply(u), reference, u)
        assert 0.0 < ratio <= tol, (tol, ratio, op.info())
    # the far part alone is far from the kernel: the near part carries the non-smooth points
    assert error_ratio(op.far.apply(u), reference, u) > 1e3 * tol


def test_parts_add_up_to_the_kernel():
    r = np.linspace(0.0, 0.7, 20001)
    for dim in (1, 2, 3):
        for psi in split_kernels(dim).values():
            split = SplitKernel(psi, 0.04, 1e-6)
            near, far = split.near(r), split.far(r)
            assert np.abs(near + far - psi(r)).max() <= 1e-14 * np.abs(psi(r)).max()
            assert not near[r > split.r_near].any()
            cusp, edge = singular_points(psi)
            if cusp:  # the far part is the even polynomial fill near 0 (smooth in x)
                small = r < 0.05 * 0.04
                fill = np.polynomial.polynomial.polyval((r[small] / 0.04) ** 2, split.fill)
                np.testing.assert_allclose(far[small], fill, rtol=1e-14)
            if edge is not None:  # and 0 near the jump
                assert not far[(r > edge - 0.05 * 0.04)].any()


def test_near_transform_matches_an_independent_quadrature():
    """Ψ̂_near by the panels of the split against scipy's adaptive quadrature of the same profile
    (1D: 2 ∫ Ψ_near cos(kr) dr; 3D: 4π ∫ Ψ_near sin(kr)/(kr) r² dr), segment by segment."""
    for dim in (1, 3):
        for psi in split_kernels(dim).values():
            split = SplitKernel(psi, 0.04, 1e-6)
            for k in (0.0, 37.0, 410.0):

                def integrand(r, k=k, split=split, dim=dim):
                    value = split.near(np.array([r]))[0]
                    if dim == 1:
                        return 2 * value * math.cos(k * r)
                    return 4 * math.pi * value * np.sinc(k * r / math.pi) * r * r

                exact = sum(
                    quad(integrand, a, b, epsabs=1e-15, epsrel=1e-13, limit=200)[0]
                    for a, b in split.segments()
                )
                value = split.near_fourier(np.array([k]))[0]
                assert abs(value - exact) <= 1e-12 * abs(psi.mass), (dim, k, value, exact)


def test_far_part_splits_at_rho_into_middle_and_wide():
    """Ψ_far = Ψ_mid + Ψ_wide, Ψ_mid = 0 from ρ on, Ψ_wide = 0 up to ρ/2; Ψ̂_mid against scipy's
    adaptive quadrature; the operator's middle NUFFT is padded by at most ρ."""
    r = np.linspace(0.0, 1.2, 12001)
    for dim in (1, 3):
        psi = split_kernels(dim)["exponential"]
        split = SplitKernel(psi, 0.04, 1e-6)
        split.set_range(0.2)
        mid, wide, far = split.mid(r), split.wide(r), split.far(r)
        assert np.abs(mid + wide - far).max() <= 1e-15 * np.abs(far).max()
        assert not mid[r >= 0.2].any() and not wide[r <= 0.1].any()
        for k in (0.0, 37.0, 410.0):

            def integrand(x, k=k, split=split, dim=dim):
                value = split.mid(np.array([x]))[0]
                if dim == 1:
                    return 2 * value * math.cos(k * x)
                return 4 * math.pi * value * np.sinc(k * x / math.pi) * x * x

            cuts = [0.0, 0.002, 0.04, 0.1, 0.2]
            exact = sum(
                quad(integrand, a, b, epsabs=1e-15, epsrel=1e-13, limit=200)[0]
                for a, b in zip(cuts[:-1], cuts[1:], strict=True)
            )
            value = split.mid_fourier(np.array([k]))[0]
            assert abs(value - exact) <= 1e-12 * abs(psi.mass), (dim, k, value, exact)
    points, weights = cloud(2)
    psi = split_kernels(2)["exponential"]
    reference, u = dense(2, "exponential"), probes(points)
    for tol in TOLS:  # few neighbours: ρ = 6 widths is within half the box
        op = SplitOperator(points, weights, psi, SELF, tol=tol, neighbours=16)
        info = op.info()
        assert info["rho"] is not None and len(info["far"]["parts"]) == 2
        middle, wide = info["far"]["parts"]
        assert 0 < middle["padding"] <= info["rho"] < wide["padding"]
        assert 0.0 < error_ratio(op.apply(u), reference, u) <= tol


def test_kaiser_step_against_quadrature():
    beta = 10.0

    def slope(z):
        q = beta * beta * z * (1 - z)
        return i0(2 * math.sqrt(q)) - 1 - q

    total = quad(slope, 0, 1, epsabs=0, epsrel=1e-13)[0]
    step = KaiserStep(beta)
    z = np.random.default_rng(2).random(30)
    exact = [1 - quad(slope, 0, x, epsabs=0, epsrel=1e-13)[0] / total for x in z]
    assert np.abs(step(z) - exact).max() <= 1e-13
    np.testing.assert_array_equal(step(np.array([-1.0, 0.0, 1.0, 3.0])), [1, 1, 0, 0])


def test_whole_kernel_near_when_the_support_is_short():
    points, weights = cloud(2)
    psi = kernels.Indicator(width=0.05, dim=2)
    op = SplitOperator(points, weights, psi, SELF, tol=1e-6)
    assert op.far is None and op.info()["far"] is None
    exact = DenseOperator(points, weights, psi, SELF).apply(probes(points))
    assert np.abs(op.apply(probes(points)) - exact).max() <= 1e-13 * np.abs(exact).max()


def test_laplacian_of_a_constant_is_zero():
    points, weights = cloud(2)
    rho0 = 1.0 + 0.5 * np.cos(2 * np.pi * points[:, 0])
    op = make_operator(points, weights, split_kernels(2)["exponential"], "split", SELF, tol=1e-6)
    L = NonlocalLaplacian(op, rho0)
    assert np.abs(L(np.full(len(rho0), 2.5))).max() <= 1e-13 * 2.5 * np.abs(L.K_rho0).max()


def test_auto_and_bad_input():
    exp2 = kernels.Exponential(width=0.05, dim=2)
    assert choose_method(500_000, exp2, 1e-6, 1.0)[0] == "split"
    assert choose_method(500_000, kernels.Exponential(0.05, 1), 1e-6, 1.0)[0] == "split"
    assert choose_method(30_000, exp2, 1e-6, 1.0)[0] == "hmatrix"  # applies faster there
    # 3D: (Fourier modes) x (near pairs) grows like 1e6 N, the H-matrix is cheaper
    assert choose_method(500_000, kernels.Exponential(0.05, 3), 1e-6, 1.0)[0] == "hmatrix"
    wide = kernels.Indicator(width=0.3, dim=2)  # a jump with many neighbours: hmatrix
    assert choose_method(500_000, wide, 1e-6, 1.0)[0] == "hmatrix"
    points, weights = cloud(1)
    for bad in (0.0, -1e-6, 1.5, float("nan"), "1e-6"):
        with pytest.raises(ParameterError, match="tol = .* is not allowed"):
            SplitOperator(points, weights, kernels.Exponential(0.05, 1), SELF, tol=bad)
    with pytest.raises(ParameterError, match="neighbours = 0 is not allowed"):
        SplitOperator(points, weights, kernels.Exponential(0.05, 1), SELF, neighbours=0)
    with pytest.raises(ParameterError, match="use split, hmatrix or dense"):
        make_operator(points, weights, kernels.Exponential(0.05, 1), "nufft", SELF, tol=1e-6)
