"""Radial kernels: Fourier transforms against independent quadratures, moments, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad

from fem_fhn.kernels import (
    KERNEL_TYPES,
    Bump,
    Custom,
    Exponential,
    Gaussian,
    Indicator,
    Kernel,
    MexicanHat,
    decay_radius,
    make_kernel,
    radial_fourier,
    radial_mass,
    radial_second_moment,
)
from fem_fhn.params import ParameterError

S = 0.3  # width used throughout
A = 1.7  # strength used throughout
SPHERE = {1: 2.0, 2: 2.0 * math.pi, 3: 4.0 * math.pi}


def gaussian_profile(s: float, d: int):
    return lambda r: (2 * math.pi * s * s) ** (-d / 2) * np.exp(-(r**2) / (2 * s * s))


def all_kernels(d: int) -> dict[str, Kernel]:
    return {
        "gaussian": Gaussian(S, d, A),
        "exponential": Exponential(S, d, A),
        "indicator": Indicator(S, d, A),
        "bump": Bump(S, d, A),
        "mexican_hat": MexicanHat(0.2, 0.4, 3.0, 2.0, d),
        "custom": Custom(gaussian_profile(S, d), d, width=S, strength=A, smooth=True),
    }


CASES = [(name, d) for d in (1, 2, 3) for name in all_kernels(1)]
IDS = [f"{name}-{d}d" for name, d in CASES]
K_VALUES = np.array([0.5, 2.0, 5.0, 11.0, 23.0])


def closed_form_moments(name: str, d: int) -> tuple[float, float] | None:
    """(mass, σ) from closed forms; None where there is none (bump σ)."""
    return {
        "gaussian": (A, A * S**2 / 2),
        "exponential": (A, A * {1: 1.0, 2: 1.5, 3: 2.0}[d] * S**2),
        "indicator": (A, A * S**2 / (2 * (d + 2))),
        "mexican_hat": (1.0, (3.0 * 0.2**2 - 2.0 * 0.4**2) / 2),
        "custom": (A, A * S**2 / 2),
    }.get(name)


def quad_radial(K: Kernel, power: int) -> float:
    """|S^{d−1}| ∫_0^R Ψ(r) r^power dr with adaptive scipy quad (independent of the module)."""
    f = lambda r: float(K(np.array(r)) * r**power)  # noqa: E731
    if math.isfinite(K.support):
        val, _ = quad(f, 0.0, K.support, epsabs=1e-15, epsrel=1e-13, limit=400)
    else:
        val = sum(
            quad(f, lo, hi, epsabs=1e-15, epsrel=1e-13, limit=400)[0]
            for lo, hi in ((0.0, 3 * K.width), (3 * K.width, math.inf))
        )
    return SPHERE[K.dim] * val


def independent_fourier_1d(K: Kernel, k: float) -> float:
    """2 ∫_0^∞ Ψ(r) cos(kr) dr by QUADPACK's oscillatory rules (QAWO / QAWF)."""
    f = lambda r: float(K(np.array(r)))  # noqa: E731
    b = K.support if math.isfinite(K.support) else math.inf
    if math.isinf(b):
        val, _ = quad(f, 0.0, b, weight="cos", wvar=k, limlst=200)
    else:
        val, _ = quad(f, 0.0, b, weight="cos", wvar=k, epsabs=1e-14, limit=400)
    return 2 * val


def independent_fourier_3d(K: Kernel, k: float) -> float:
    """(4π/k) ∫_0^∞ Ψ(r) r sin(kr) dr by QUADPACK's oscillatory rules."""
    f = lambda r: float(K(np.array(r)) * r)  # noqa: E731
    b = K.support if math.isfinite(K.support) else math.inf
    if math.isinf(b):
        val, _ = quad(f, 0.0, b, weight="sin", wvar=k, limlst=200)
    else:
        val, _ = quad(f, 0.0, b, weight="sin", wvar=k, epsabs=1e-14, limit=400)
    return 4 * math.pi / k * val


def cartesian_fourier_2d(K: Kernel, kvecs: np.ndarray, half: float, n: int) -> np.ndarray:
    """Trapezoid rule of ∫∫ Ψ(|x|) cos(k·x) dx on [−half, half]², using separability of cos(k·x)."""
    x = np.linspace(-half, half, n)
    h = x[1] - x[0]
    psi = K(np.hypot(x[:, None], x[None, :]))
    c1, s1 = np.cos(np.outer(kvecs[:, 0], x)), np.sin(np.outer(kvecs[:, 0], x))
    c2, s2 = np.cos(np.outer(kvecs[:, 1], x)), np.sin(np.outer(kvecs[:, 1], x))
    cc = np.einsum("ki,ij,kj->k", c1, psi, c2)
    ss = np.einsum("ki,ij,kj->k", s1, psi, s2)
    return (cc - ss) * h * h  # Ψ vanishes (to round-off) on the boundary: trapezoid = plain sum


@pytest.mark.parametrize(("name", "d"), CASES, ids=IDS)
def test_protocol_and_shapes(name: str, d: int) -> None:
    K = all_kernels(d)[name]
    assert isinstance(K, Kernel)
    assert K.dim == d
    r = np.linspace(0.0, 2.0, 12).reshape(3, 4)
    assert K(r).shape == (3, 4) and K(r).dtype == np.float64
    assert K.fourier(r).shape == (3, 4)
    assert abs(float(K.fourier(np.array(0.0))) - K.mass) < 1e-12 * max(1.0, abs(K.mass))


@pytest.mark.parametrize(("name", "d"), CASES, ids=IDS)
def test_mass_and_second_moment(name: str, d: int) -> None:
    K = all_kernels(d)[name]
    closed = closed_form_moments(name, d)
    if closed is not None:
        assert abs(K.mass - closed[0]) < 1e-8
        assert abs(K.second_moment - closed[1]) < 1e-8
    assert abs(K.mass - quad_radial(K, d - 1)) < 1e-8
    assert abs(K.second_moment - quad_radial(K, d + 1) / (2 * d)) < 1e-8


def test_bump_normalisation() -> None:
    for d in (1, 2, 3):
        K = Bump(0.7, d)
        assert abs(quad_radial(K, d - 1) - 1.0) < 1e-13
        assert K(np.array([0.7, 0.8, 5.0])).tolist() == [0.0, 0.0, 0.0]
        assert K(np.array([0.69]))[0] > 0


@pytest.mark.parametrize(("name", "d"), [c for c in CASES if c[1] == 1], ids=IDS[:6])
def test_fourier_1d_against_direct_quadrature(name: str, d: int) -> None:
    K = all_kernels(d)[name]
    ref = np.array([independent_fourier_1d(K, k) for k in K_VALUES])
    np.testing.assert_allclose(K.fourier(K_VALUES), ref, atol=1e-9)


@pytest.mark.parametrize(("name", "d"), [c for c in CASES if c[1] == 3], ids=IDS[12:])
def test_fourier_3d_against_hankel_quadrature(name: str, d: int) -> None:
    K = all_kernels(d)[name]
    ref = np.array([independent_fourier_3d(K, k) for k in K_VALUES])
    np.testing.assert_allclose(K.fourier(K_VALUES), ref, atol=1e-9)


# (half-width of the square, grid points per side, tolerance) for the 2-D Cartesian check
CARTESIAN = {
    "gaussian": (12 * S, 401, 1e-11),  # smooth, decays fast: trapezoid is spectrally accurate
    "mexican_hat": (5.0, 801, 1e-11),
    "custom": (12 * S, 401, 1e-11),
    "bump": (S, 401, 1e-11),  # C^∞ with compact support: spectral as well
    "exponential": (40 * S, 3001, 5e-6),  # kink of e^{−|x|/s} at the origin: O(h³)
    "indicator": (1.01 * S, 3001, 5e-5),  # jump on the circle |x| = s: lattice-point error
}


@pytest.mark.parametrize("name", list(CARTESIAN))
def test_fourier_2d_against_cartesian_quadrature(name: str) -> None:
    K = all_kernels(2)[name]
    half, n, tol = CARTESIAN[name]
    # the same |k| in three directions, plus a few other moduli in arbitrary directions
    modulus = np.array([7.0, 7.0, 7.0, 1.3, 15.0, 30.0])
    angle = np.array([0.0, 0.7, 2.2, 0.4, 1.1, 5.0])
    kvecs = np.column_stack([modulus * np.cos(angle), modulus * np.sin(angle)])
    brute = cartesian_fourier_2d(K, kvecs, half, n)
    np.testing.assert_allclose(brute, K.fourier(modulus), atol=tol * max(1.0, abs(K.mass)))
    assert np.ptp(brute[:3]) < tol  # radial symmetry


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("cls", [Gaussian, Exponential, Indicator])
def test_closed_form_fourier_matches_generic_quadrature(cls: type, d: int) -> None:
    K = cls(S, d, A)
    k = np.array([0.0, 0.1, 1.0, 3.3, 10.0, 47.0, 130.0])
    r_max = K.support if math.isfinite(K.support) else decay_radius(K, d, S)
    generic = radial_fourier(K, d, k, r_max, width=S)
    np.testing.assert_allclose(K.fourier(k), generic, atol=1e-6 * A)
    assert abs(radial_mass(K, d, r_max, width=S) - K.mass) < 1e-10
    assert abs(radial_second_moment(K, d, r_max, width=S) - K.second_moment) < 1e-10


def test_indicator_small_argument_series_is_continuous() -> None:
    for d in (1, 2, 3):
        K = Indicator(1.0, d)
        threshold = {1: 1e-2, 2: 1e-2, 3: 0.5}[d]
        # across the switch between series and closed form the steps equal those on one side
        m = K.fourier(threshold * (1 + 1e-9 * np.array([-1.0, 1.0, 3.0])))
        assert abs((m[1] - m[0]) - (m[2] - m[1])) < 1e-14
        np.testing.assert_allclose(K.fourier(np.array([1e-8])), 1.0, atol=1e-15)
        assert K.second_moment == pytest.approx(1.0 / (2 * (d + 2)), rel=1e-15)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_custom_wrapping_gaussian_reproduces_gaussian(d: int) -> None:
    G = Gaussian(S, d, A)
    C = Custom(gaussian_profile(S, d), d, width=S, strength=A)
    k = np.array([0.0, 0.7, 4.0, 12.0, 40.0])
    assert abs(C.mass - G.mass) < 1e-8
    assert abs(C.second_moment - G.second_moment) < 1e-8
    np.testing.assert_allclose(C.fourier(k), G.fourier(k), atol=1e-8)
    assert C.support == math.inf and C.smooth is False and C.name == "custom"


def test_custom_with_compact_support() -> None:
    # Ψ(r) = 1 − r for r ≤ 1 (tent), 1-D: mass 1, σ = (1/2)·2∫r²(1−r)dr = 1/12, Ψ̂ = 2(1 − cos k)/k²
    C = Custom(lambda r: 1.0 - r, 1, support=1.0)
    assert C(np.array([0.5, 1.5])).tolist() == [0.5, 0.0]
    assert abs(C.mass - 1.0) < 1e-13
    assert abs(C.second_moment - 1.0 / 12.0) < 1e-13
    k = np.array([0.5, 3.0, 20.0])
    np.testing.assert_allclose(C.fourier(k), 2 * (1 - np.cos(k)) / k**2, atol=1e-13)


def test_flags_support_and_width() -> None:
    for d in (1, 2, 3):
        ks = all_kernels(d)
        assert {n: k.smooth for n, k in ks.items()} == {
            "gaussian": True,
            "exponential": False,
            "indicator": False,
            "bump": True,
            "mexican_hat": True,
            "custom": True,
        }
        assert ks["indicator"].support == S and ks["bump"].support == S
        assert ks["gaussian"].support == math.inf and ks["exponential"].support == math.inf
        assert ks["mexican_hat"].width == 0.4 and ks["mexican_hat"].strength == 1.0
    # smoothness shows in the decay of Ψ̂: the bump's transform is tiny where the indicator's is not
    k = np.array([200.0 / S])
    assert abs(Bump(S, 2).fourier(k)[0]) < 1e-6
    assert abs(Indicator(S, 2).fourier(k)[0]) > 1e-4


def test_mexican_hat_turing_example() -> None:
    """docs/science.md: a = 0, b = 2, τ = 1, V* = 1/√2, 2-D Ψ = 6·G(0.05) − 5·G(0.1), ρ̄ = 1."""
    K = MexicanHat(width_exc=0.05, width_inh=0.1, a_exc=6.0, a_inh=5.0, dim=2)
    k = np.linspace(0.0, 60.0, 60001)
    mu = K.fourier(k) - K.fourier(np.array(0.0))
    # Ψ̂(k) − Ψ̂(0) changes sign (positive at small k since σ < 0): needed for Turing
    assert K.second_moment == pytest.approx(-0.0175, rel=1e-14)
    assert mu[1:].max() > 0 and mu[-1] < 0
    k_max = k[np.argmax(mu)]
    assert k_max == pytest.approx(math.sqrt(math.log(10 / 3) / 0.00375), abs=2e-3)
    assert 17.5 < k_max < 18.3
    # λ² − (f' + μ − τb) λ + τ(1 − b(f' + μ)) = 0 with f' = 1 − 3/2
    b, tau, fp = 2.0, 1.0, -0.5
    trace = fp + mu - tau * b
    det = tau * (1 - b * (fp + mu))
    disc = trace**2 - 4 * det
    growth = np.where(disc >= 0, (trace + np.sqrt(np.abs(disc))) / 2, trace / 2)
    unstable = k[growth > 0]
    assert unstable.min() == pytest.approx(8.5, abs=0.1)
    assert unstable.max() == pytest.approx(29.2, abs=0.1)
    assert k[np.argmax(growth)] == pytest.approx(17.9, abs=0.1)
    assert disc[np.argmax(growth)] > 0  # real eigenvalues: stationary (Turing) onset
    assert tau * b**2 > 1
    # a non-negative kernel gives no instability: Ψ̂(k) ≤ Ψ̂(0)
    G = Gaussian(0.1, 2)
    assert np.all(G.fourier(k) <= G.mass)


@pytest.mark.parametrize("cls", [Gaussian, Exponential, Indicator, Bump])
def test_validation(cls: type) -> None:
    for width in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ParameterError, match="width"):
            cls(width, 2)
    for dim in (0, 4, 2.0, True):
        with pytest.raises(ParameterError, match="dim"):
            cls(0.1, dim)
    for strength in (math.inf, math.nan):
        with pytest.raises(ParameterError, match="strength"):
            cls(0.1, 2, strength)
    with pytest.raises(ParameterError, match=r"dim = 4 is not allowed: 1, 2 or 3"):
        cls(0.1, 4)


def test_validation_mexican_hat_and_custom() -> None:
    with pytest.raises(ParameterError, match="width_exc"):
        MexicanHat(0.0, 0.1, 1.0, 1.0, 2)
    with pytest.raises(ParameterError, match="width_inh"):
        MexicanHat(0.1, -0.1, 1.0, 1.0, 2)
    with pytest.raises(ParameterError, match="a_inh"):
        MexicanHat(0.1, 0.2, 1.0, math.nan, 2)
    with pytest.raises(ParameterError, match="dim"):
        MexicanHat(0.1, 0.2, 1.0, 1.0, 4)
    with pytest.raises(ParameterError, match="profile"):
        Custom(3.0, 2)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="support"):
        Custom(np.exp, 2, support=0.0)
    with pytest.raises(ParameterError, match="profile"):
        _ = Custom(lambda r: 1.0 / (1.0 + r), 1).mass  # does not decay fast enough


def test_make_kernel() -> None:
    assert make_kernel({"type": "gaussian", "width": 0.1, "dim": 2}) == Gaussian(0.1, 2)
    assert make_kernel({"type": "bump", "width": 0.1, "dim": 3, "strength": 2.0}) == Bump(
        0.1, 3, 2.0
    )
    hat = {"type": "mexican_hat", "width_exc": 0.05, "width_inh": 0.1, "a_exc": 6, "a_inh": 5}
    assert make_kernel({**hat, "dim": 2}) == MexicanHat(0.05, 0.1, 6.0, 5.0, 2)
    for kind in KERNEL_TYPES:
        assert isinstance(make_kernel({"type": kind, **({"dim": 1} | _spec_keys(kind))}), Kernel)
    with pytest.raises(ParameterError, match="gaussian, exponential, indicator, bump, mexican_hat"):
        make_kernel({"type": "cauchy", "width": 0.1, "dim": 2})
    with pytest.raises(ParameterError, match="kernel.type"):
        make_kernel({"width": 0.1, "dim": 2})
    with pytest.raises(
        ParameterError, match=r"kernel\.sigma = 0\.1 is not allowed: .*type, width, dim, strength"
    ):
        make_kernel({"type": "gaussian", "sigma": 0.1, "dim": 2})
    with pytest.raises(ParameterError, match=r"kernel\.dim is missing"):
        make_kernel({"type": "exponential", "width": 0.1})
    with pytest.raises(ParameterError, match=r"kernel\.a_inh is missing"):
        make_kernel({key: v for key, v in hat.items() if key != "a_inh"} | {"dim": 2})
    with pytest.raises(ParameterError, match="width"):
        make_kernel({"type": "indicator", "width": -0.1, "dim": 2})


def _spec_keys(kind: str) -> dict[str, float]:
    if kind == "mexican_hat":
        return {"width_exc": 0.1, "width_inh": 0.2, "a_exc": 2.0, "a_inh": 1.0}
    return {"width": 0.1}
