"""Single FitzHugh–Nagumo neuron: equilibria, Jacobian, Hopf currents, regimes, trajectories."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fem_fhn import neuron
from fem_fhn.params import FHNParameters

REF = FHNParameters(a=0.7 / math.sqrt(3.0), b=0.8, tau=0.08, I_ext=0.0)
BISTABLE = FHNParameters(a=0.0, b=2.0, tau=1.0, I_ext=0.0)
I_HOPF = (0.19127, 0.81910)

CASES = [
    REF,
    REF.replace(I_ext=0.5),
    REF.replace(I_ext=1.5),
    BISTABLE,
    BISTABLE.replace(I_ext=0.05),
    FHNParameters(a=0.2, b=3.0, tau=0.3, I_ext=-0.1),
    FHNParameters(a=0.3, b=0.0, tau=0.1, I_ext=0.2),
    FHNParameters(a=0.1, b=1e-3, tau=0.5, I_ext=0.0),
]


@pytest.mark.parametrize("p", CASES)
def test_equilibria_lie_on_both_nullclines(p: FHNParameters) -> None:
    eq = neuron.equilibria(p)
    assert eq.ndim == 2 and eq.shape[1] == 2 and 1 <= len(eq) <= 3
    v, w = eq[:, 0], eq[:, 1]
    assert np.all(np.diff(v) > 0)
    np.testing.assert_allclose(p.N(v) - w + p.I_ext, 0.0, atol=1e-12)
    np.testing.assert_allclose(v + p.a - p.b * w, 0.0, atol=1e-12)
    np.testing.assert_allclose(neuron.rhs(0.0, eq.T, p), 0.0, atol=1e-12)


def test_equilibria_count_and_double_root() -> None:
    assert len(neuron.equilibria(REF)) == 1
    np.testing.assert_allclose(
        neuron.equilibria(BISTABLE)[:, 0], [-1 / math.sqrt(2), 0.0, 1 / math.sqrt(2)], atol=1e-14
    )
    # b v³ + (1 − b) v + c has a double root at v = 1/√6 for b = 2, c = v − 2v³.
    v_d = 1.0 / math.sqrt(6.0)
    eq = neuron.equilibria(FHNParameters(a=v_d - 2 * v_d**3, b=2.0, tau=1.0))
    assert len(eq) == 2
    np.testing.assert_allclose(eq[:, 0], [-2 * v_d, v_d], atol=1e-7)


def test_hopf_currents_reference() -> None:
    np.testing.assert_allclose(neuron.hopf_currents(REF), I_HOPF, atol=1e-4)
    for i_h in neuron.hopf_currents(REF):
        ((v, w),) = neuron.equilibria(REF.replace(I_ext=i_h))
        J = neuron.jacobian(REF, v, w)
        assert abs(np.trace(J)) < 1e-10
        assert np.linalg.det(J) > 0


def test_hopf_currents_empty_cases() -> None:
    assert neuron.hopf_currents(BISTABLE).size == 0  # 1 − τ b < 0
    assert neuron.hopf_currents(REF.replace(b=0.0)).size == 0  # I_ext does not move v* = −a
    assert neuron.hopf_currents(REF.replace(tau=0.0)).size == 0  # det J = 0


def test_classify_reference_regimes_and_switch_at_hopf() -> None:
    assert neuron.classify(REF) == "excitable"
    assert neuron.classify(REF.replace(I_ext=0.5)) == "oscillatory"
    i1, i2 = neuron.hopf_currents(REF)
    d = 1e-6
    assert neuron.classify(REF.replace(I_ext=i1 - d)) in ("excitable", "monostable")
    assert neuron.classify(REF.replace(I_ext=i1 + d)) == "oscillatory"
    assert neuron.classify(REF.replace(I_ext=i2 - d)) == "oscillatory"
    assert neuron.classify(REF.replace(I_ext=i2 + d)) == "monostable"
    # on a grid of currents, "oscillatory" is exactly the Hopf interval
    currents = np.linspace(-0.5, 1.5, 201)
    osc = np.array([neuron.classify(REF.replace(I_ext=i)) == "oscillatory" for i in currents])
    np.testing.assert_array_equal(osc, (currents > i1) & (currents < i2))


def test_bistable_stable_states() -> None:
    assert neuron.classify(BISTABLE) == "bistable"
    eq = neuron.equilibria(BISTABLE)
    stable = np.array([neuron.is_stable(BISTABLE, v, w) for v, w in eq])
    np.testing.assert_array_equal(stable, [True, False, True])
    np.testing.assert_allclose(eq[stable, 0], [-1 / math.sqrt(2), 1 / math.sqrt(2)], atol=1e-14)
    # stable for every τ > 0: tr J = −1/2 − 2τ < 0, det J = 2τ > 0
    for tau in (0.01, 0.2, 5.0):
        assert neuron.classify(BISTABLE.replace(tau=tau)) == "bistable"


def test_jacobian_matches_finite_differences() -> None:
    rng = np.random.default_rng(1)
    for p in CASES:
        for v, w in rng.uniform(-1.5, 1.5, size=(5, 2)):
            h = 1e-6
            fd = np.column_stack(
                [
                    (
                        neuron.rhs(0, np.array([v + h, w]), p)
                        - neuron.rhs(0, np.array([v - h, w]), p)
                    )
                    / (2 * h),
                    (
                        neuron.rhs(0, np.array([v, w + h]), p)
                        - neuron.rhs(0, np.array([v, w - h]), p)
                    )
                    / (2 * h),
                ]
            )
            np.testing.assert_allclose(neuron.jacobian(p, v, w), fd, atol=1e-7)


def test_eigenvalues_trace_and_determinant() -> None:
    for p in CASES:
        for v, w in neuron.equilibria(p):
            lam = neuron.eigenvalues(p, v, w)
            J = neuron.jacobian(p, v, w)
            assert lam.shape == (2,)
            assert lam[0].real >= lam[1].real
            assert abs(lam.sum() - (1 - 3 * v * v - p.tau * p.b)) < 1e-12
            assert abs(lam.prod() - p.tau * (1 - p.b * (1 - 3 * v * v))) < 1e-12
            assert abs(lam.prod() - np.linalg.det(J)) < 1e-12


def test_rhs_vectorised() -> None:
    y = np.array([[0.1, -0.5, 1.2], [0.0, 0.3, -0.2]])
    out = neuron.rhs(0.0, y, REF)
    assert out.shape == (2, 3)
    for j in range(3):
        np.testing.assert_allclose(out[:, j], neuron.rhs(0.0, y[:, j], REF), rtol=0, atol=0)


def test_b_zero() -> None:
    p = FHNParameters(a=0.3, b=0.0, tau=0.1, I_ext=0.2)
    eq = neuron.equilibria(p)
    np.testing.assert_allclose(eq, [[-0.3, -0.3 + 0.027 + 0.2]], atol=1e-15)
    # v* = −a for every current; stable iff 1 − 3a² < 0
    assert neuron.classify(p) == "oscillatory"
    assert neuron.classify(p.replace(a=0.7)) == "excitable"
    assert neuron.classify(p.replace(a=-0.7)) == "monostable"
    w_v, w_w = neuron.nullclines(p, np.linspace(-1, 1, 5))
    assert np.all(np.isnan(w_w))
    np.testing.assert_allclose(w_v, p.N(np.linspace(-1, 1, 5)) + 0.2)


def test_tau_zero_judged_by_v_direction() -> None:
    """τ = 0 freezes w: the w-eigenvalue is 0, stability is that of v' = N(v) − w + I at fixed w."""
    p = REF.replace(tau=0.0)
    ((v, w),) = neuron.equilibria(p)
    np.testing.assert_allclose(np.sort(neuron.eigenvalues(p, v, w).real), [1 - 3 * v * v, 0.0])
    assert neuron.is_stable(p, v, w) is True  # v* ≈ −0.69 < −1/√3: N'(v*) < 0
    assert neuron.classify(p) == "excitable"
    # at I = 0.5 the equilibrium is on the middle branch: no stable equilibrium
    assert neuron.classify(p.replace(I_ext=0.5)) == "oscillatory"
    assert neuron.classify(BISTABLE.replace(tau=0.0)) == "bistable"


def test_nullclines_cross_at_equilibria() -> None:
    for p in CASES[:6]:
        v = neuron.equilibria(p)[:, 0]
        w_v, w_w = neuron.nullclines(p, v)
        np.testing.assert_allclose(w_v, w_w, atol=1e-12)


def test_oscillatory_trajectory_is_periodic() -> None:
    p = REF.replace(I_ext=0.5)
    t, v, w = neuron.trajectory(p, 0.0, 0.0, 300.0, n_points=30001)
    late = t > 100.0
    t, v, w = t[late], v[late], w[late]
    up = np.nonzero((v[:-1] < 0.0) & (v[1:] >= 0.0))[0]
    assert len(up) >= 4
    frac = -v[up] / (v[up + 1] - v[up])
    t_cross = t[up] + frac * (t[up + 1] - t[up])
    w_cross = w[up] + frac * (w[up + 1] - w[up])
    periods = np.diff(t_cross)
    assert np.ptp(periods) < 1e-5
    assert 30.0 < periods.mean() < 45.0
    np.testing.assert_allclose(w_cross, w_cross[0], atol=1e-6)
    # one period from a crossing returns to the same point
    T = periods.mean()
    _, v1, w1 = neuron.trajectory(p, 0.0, w_cross[0], T, n_points=2)
    assert math.hypot(v1[-1], w1[-1] - w_cross[0]) < 1e-5
    # amplitude of the relaxation oscillation
    assert v.max() > 1.0 and v.min() < -1.0


def test_excitable_trajectory_relaxes_to_rest() -> None:
    ((v_star, w_star),) = neuron.equilibria(REF)
    t, v, w = neuron.trajectory(REF, v_star + 0.5, w_star, 400.0)
    assert v.max() > 1.0  # a supra-threshold kick fires a spike
    assert abs(v[-1] - v_star) < 1e-6 and abs(w[-1] - w_star) < 1e-6
    t2, v2, _ = neuron.trajectory(REF, v_star + 0.5, w_star, 400.0, method="Radau")
    np.testing.assert_allclose(v2, v, atol=1e-5)


def test_trajectory_current_override() -> None:
    _, v, _ = neuron.trajectory(REF, 0.0, 0.0, 50.0, I_ext=0.5)
    _, v_ref, _ = neuron.trajectory(REF.replace(I_ext=0.5), 0.0, 0.0, 50.0)
    np.testing.assert_array_equal(v, v_ref)
