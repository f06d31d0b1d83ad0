"""Growth of a pattern: the ring power spectrum and the exponential fit of its linear phase."""

import math

import numpy as np
import pytest

from fem_fhn.analysis import exponential_growth, ring_power
from fem_fhn.params import ParameterError


def _grid(n: int = 81, side: float = 2.0) -> np.ndarray:
    x = np.linspace(0.0, side, n)
    X, Y = np.meshgrid(x, x, indexing="ij")
    return np.column_stack([X.ravel(), Y.ravel()])


def test_ring_power_scales_with_the_squared_amplitude_and_peaks_at_the_mode():
    """A plane wave A cos(k·x): power ∝ A², largest on the ring through |k|."""
    coords = _grid()
    k0 = 6 * math.pi  # six wavelengths across the side 2
    direction = np.array([math.cos(0.3), math.sin(0.3)])
    wave = np.cos(coords @ (k0 * direction))
    radii = np.linspace(0.5, 1.5, 21) * k0
    p1 = ring_power(coords, wave, radii)
    p3 = ring_power(coords, 3.0 * wave + 7.0, radii)  # the mean is removed
    np.testing.assert_allclose(p3, 9.0 * p1, rtol=1e-10)
    assert abs(radii[np.argmax(p1)] - k0) <= 0.05 * k0 + 1e-12


def test_ring_power_1d_closed_form():
    """1D, one ring at the mode's wavenumber, no window effect at the centre of a long box:
    F(k) = Σ m_j H_j cos(k x_j) e^{−ikx_j} ≈ (1/2) Σ m_j H_j = L/4 (H averages to 1/2)."""
    x = np.linspace(0.0, 10.0, 20001)
    m = np.full(x.size, x[1] - x[0])
    m[[0, -1]] *= 0.5
    k0 = 2 * math.pi * 2.5  # 25 wavelengths in the box
    power = ring_power(x, np.cos(k0 * x), [k0], weights=m)
    assert power[0] == pytest.approx((10.0 / 4) ** 2, rel=1e-3)


def test_ring_power_refuses_bad_radii():
    with pytest.raises(ParameterError, match="radii"):
        ring_power(_grid(5), np.zeros(25), [0.0, 1.0])


def _synthetic(rate: float, t: np.ndarray) -> np.ndarray:
    """A decaying transient, then exponential growth saturating logistically at amplitude 1."""
    grow = 1e-4 * np.exp(rate * t)
    return 3e-3 * np.exp(-4.0 * t) + grow / (1.0 + grow)


def test_exponential_growth_recovers_the_rate_of_a_synthetic_instability():
    t = np.linspace(0.0, 12.0, 241)
    fit = exponential_growth(t, _synthetic(1.2, t))
    # the transient is left out (window after the minimum), the saturation too (ceiling 0.1):
    # the logistic correction is ≤ 10 % of the amplitude, the decay ≤ 1e-3 of it
    assert fit.rate == pytest.approx(1.2, rel=0.02)
    assert fit.t_start > 1.0
    assert _synthetic(1.2, np.array([fit.t_end]))[0] <= 0.1
    pure = 2e-3 * np.exp(0.7 * t)
    exact = exponential_growth(t, pure, ceiling=1.0)
    assert exact.rate == pytest.approx(0.7, rel=1e-12)
    assert exact.a0 == pytest.approx(2e-3, rel=1e-10)
    assert exact.residual < 1e-12


def test_exponential_growth_refuses_a_decay_and_bad_input():
    t = np.linspace(0.0, 5.0, 51)
    with pytest.raises(ParameterError, match="point"):
        exponential_growth(t, np.exp(-t))
    with pytest.raises(ParameterError, match="amplitudes > 0"):
        exponential_growth(t, np.zeros_like(t))
