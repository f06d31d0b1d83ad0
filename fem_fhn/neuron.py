"""The single FitzHugh–Nagumo neuron (docs/science.md).

The ordinary differential equation is

    v' = N(v) − w + I_ext,        w' = τ (v + a − b w),        N(v) = v − v³.

Equilibria are the intersections of the v-nullcline w = N(v) + I_ext with the w-nullcline
v + a − b w = 0. For b > 0 they are the real roots of the cubic

    b v³ + (1 − b) v + (a − b I_ext) = 0,        w* = (v* + a) / b = N(v*) + I_ext,

and for b = 0 the w-nullcline is the vertical line v = −a, so v* = −a and w* = N(−a) + I_ext.
The Jacobian at (v, w) is J = [[1 − 3v², −1], [τ, −τ b]], with

    tr J = 1 − 3v² − τ b,        det J = τ (1 − b (1 − 3v²)).

Everything here works on numpy arrays; nothing imports a plotting library.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from scipy.integrate import solve_ivp

from fem_fhn.params import FHNParameters, require

__all__ = [
    "Regime",
    "classify",
    "eigenvalues",
    "equilibria",
    "hopf_currents",
    "is_stable",
    "jacobian",
    "nullclines",
    "rhs",
    "trajectory",
]

Regime = Literal["excitable", "oscillatory", "bistable", "monostable"]

#: v-coordinate of the left knee of the cubic, N'(v) = 0: the left branch is v < −1/√3.
LEFT_KNEE = -1.0 / math.sqrt(3.0)


def _cubic(p: FHNParameters, v: np.ndarray | float) -> np.ndarray | float:
    """f(v) = b v³ + (1 − b) v + (a − b I_ext), whose zeros are the equilibrium voltages (b > 0)."""
    return p.b * v**3 + (1.0 - p.b) * v + (p.a - p.b * p.I_ext)


def _cubic_prime(p: FHNParameters, v: np.ndarray | float) -> np.ndarray | float:
    return 3.0 * p.b * v**2 + (1.0 - p.b)


def _real_cubic_roots(p: FHNParameters) -> np.ndarray:
    """Real roots of b v³ + (1 − b) v + (a − b I_ext) = 0 for b > 0, sorted, double roots merged.

    Candidates are the roots from `numpy.roots` whose imaginary part is below 1e-6 (a double root
    comes back as a pair with imaginary part ~ √eps); their real parts are polished by Newton steps
    that are kept only if they reduce |f|, and roots closer than 1e-6 are merged.
    """
    roots = np.roots([p.b, 0.0, 1.0 - p.b, p.a - p.b * p.I_ext])
    scale = np.maximum(1.0, np.abs(roots))
    v = np.sort(roots[np.abs(roots.imag) <= 1e-6 * scale].real)
    for _ in range(4):
        f = _cubic(p, v)
        fp = _cubic_prime(p, v)
        safe = np.abs(fp) > 1e-300
        step = np.where(safe, f / np.where(safe, fp, 1.0), 0.0)
        trial = v - step
        v = np.where(np.abs(_cubic(p, trial)) < np.abs(f), trial, v)
    v = np.sort(v)
    if v.size > 1:
        keep = np.concatenate([[True], np.diff(v) > 1e-6 * np.maximum(1.0, np.abs(v[1:]))])
        v = v[keep]
    return v


def equilibria(p: FHNParameters) -> np.ndarray:
    """Equilibria (v*, w*) of the neuron, one per row, sorted by v*.

    For b > 0 the voltages are the real roots of b v³ + (1 − b) v + (a − b I_ext) = 0 and
    w* = N(v*) + I_ext; for b = 0 the only equilibrium is v* = −a, w* = N(−a) + I_ext.
    The equilibria do not depend on τ; for τ = 0 they are the points of the v-nullcline that are
    also on the w-nullcline (the limits of the equilibria for τ > 0).

    Args:
        p: FitzHugh–Nagumo parameters.

    Returns:
        Array of shape (k, 2), 1 ≤ k ≤ 3.
    """
    v = np.array([-p.a]) if p.b == 0.0 else _real_cubic_roots(p)
    w = p.N(v) + p.I_ext
    return np.column_stack([v, w])


def jacobian(p: FHNParameters, v: np.ndarray | float, w: np.ndarray | float) -> np.ndarray:
    """Jacobian J = [[1 − 3v², −1], [τ, −τ b]] of the vector field at (v, w).

    Args:
        p: parameters.
        v: voltage(s); arrays give a stack of matrices.
        w: recovery variable(s); the field is linear in w, so J does not depend on it.

    Returns:
        Array of shape v.shape + (2, 2).
    """
    v = np.asarray(v, dtype=float)
    J = np.empty(np.broadcast_shapes(v.shape, np.shape(w)) + (2, 2))
    J[..., 0, 0] = p.dN(v)
    J[..., 0, 1] = -1.0
    J[..., 1, 0] = p.tau
    J[..., 1, 1] = -p.tau * p.b
    return J


def eigenvalues(p: FHNParameters, v: np.ndarray | float, w: np.ndarray | float) -> np.ndarray:
    """Eigenvalues of `jacobian(p, v, w)`, sorted by decreasing real part (complex dtype)."""
    lam = np.linalg.eigvals(jacobian(p, v, w)).astype(complex)
    order = np.argsort(-lam.real, axis=-1, kind="stable")
    return np.take_along_axis(lam, order, axis=-1)


def is_stable(p: FHNParameters, v: float, w: float) -> bool:
    """Linear stability of the equilibrium (v, w): all eigenvalues have real part < 0.

    For τ = 0 the variable w is frozen: the w-direction has eigenvalue 0 (neutral), and the
    equilibrium is judged by the v-direction only, i.e. stable iff N'(v) = 1 − 3v² < 0
    (it is then stable for the fast equation v' = N(v) − w + I_ext at fixed w).
    A real part exactly 0 (a Hopf point) counts as not stable.
    """
    if p.tau == 0.0:
        return bool(p.dN(float(v)) < 0.0)
    return bool(np.all(eigenvalues(p, v, w).real < 0.0))


def hopf_currents(p: FHNParameters) -> np.ndarray:
    """Currents I_ext at which an equilibrium undergoes a Hopf bifurcation (tr J = 0, det J > 0).

    tr J = 0 at v_H = ±√((1 − τ b)/3), which needs 1 − τ b > 0; there det J = τ (1 − τ b²) must be
    positive. For b > 0, v_H is an equilibrium for I_H = (v_H + a)/b − N(v_H).
    For b = 0 the w-nullcline v = −a does not move with I_ext and the only equilibrium
    (−a, N(−a) + I_ext) has the same eigenvalues for every current, so no current is a Hopf point:
    an empty array is returned (stability then depends on a alone: stable iff 3a² > 1).
    For τ = 0, det J = 0 and the array is empty too.

    Returns:
        Sorted array of 0 or 2 currents.
    """
    if p.b == 0.0 or p.tau == 0.0:
        return np.empty(0)
    s = 1.0 - p.tau * p.b
    if s <= 0.0 or p.tau * (1.0 - p.tau * p.b**2) <= 0.0:
        return np.empty(0)
    v_h = np.array([-1.0, 1.0]) * math.sqrt(s / 3.0)
    return np.sort((v_h + p.a) / p.b - p.N(v_h))


def classify(p: FHNParameters) -> Regime:
    """Regime of the neuron from the linear stability of its equilibria.

    - "oscillatory": no stable equilibrium (for τ > 0 a limit cycle then attracts the dynamics);
    - "bistable": two or more stable equilibria;
    - "excitable": exactly one stable equilibrium, on the left branch v* < −1/√3;
    - "monostable": exactly one stable equilibrium elsewhere.

    With τ = 0 stability is judged by the v-direction only (see `is_stable`); the labels are
    then those of the same rule, e.g. "oscillatory" just means that no equilibrium is stable.
    """
    eq = equilibria(p)
    stable = [(v, w) for v, w in eq if is_stable(p, v, w)]
    if not stable:
        return "oscillatory"
    if len(stable) >= 2:
        return "bistable"
    return "excitable" if stable[0][0] < LEFT_KNEE else "monostable"


def rhs(t: float, y: np.ndarray, p: FHNParameters) -> np.ndarray:
    """Vector field (N(v) − w + I_ext, τ (v + a − b w)).

    Args:
        t: time (unused; the system is autonomous).
        y: state of shape (2,) or (2, m) (vectorised over columns, as `solve_ivp` expects).
        p: parameters.

    Returns:
        Array of the same shape as y.
    """
    v, w = y[0], y[1]
    return np.array([p.N(v) - w + p.I_ext, p.recovery(v, w)])


def trajectory(
    p: FHNParameters,
    v0: float,
    w0: float,
    t_end: float,
    n_points: int = 2001,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    I_ext: float | None = None,
    method: Literal["DOP853", "Radau"] = "DOP853",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integrate the neuron from (v0, w0) over [0, t_end] with `scipy.integrate.solve_ivp`.

    Args:
        p: parameters.
        v0: initial voltage.
        w0: initial recovery variable.
        t_end: final time (> 0).
        n_points: number of equally spaced output times, including 0 and t_end.
        rtol: relative tolerance.
        atol: absolute tolerance.
        I_ext: overrides ``p.I_ext`` when given.
        method: "DOP853" (explicit, default) or "Radau" (implicit, uses the exact Jacobian).

    Returns:
        (t, v, w), each of shape (n_points,).
    """
    require(t_end > 0 and math.isfinite(t_end), "t_end", t_end, "a finite time > 0")
    require(n_points >= 2, "n_points", n_points, "at least 2")
    require(method in ("DOP853", "Radau"), "method", method, '"DOP853" or "Radau"')
    if I_ext is not None:
        p = p.replace(I_ext=I_ext)
    t_eval = np.linspace(0.0, t_end, n_points)
    extra = {"jac": lambda t, y, p: jacobian(p, y[0], y[1])} if method == "Radau" else {}
    sol = solve_ivp(
        rhs,
        (0.0, t_end),
        np.array([v0, w0], dtype=float),
        method=method,
        t_eval=t_eval,
        args=(p,),
        rtol=rtol,
        atol=atol,
        vectorized=True,
        **extra,
    )
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    return sol.t, sol.y[0], sol.y[1]


def nullclines(p: FHNParameters, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two nullclines as graphs over v.

    The v-nullcline is w = N(v) + I_ext; the w-nullcline is w = (v + a)/b for b > 0. For b = 0 the
    w-nullcline is the vertical line v = −a, which is not a graph over v: the second array is then
    all NaN (draw the line v = −a instead).

    Returns:
        (w on the v-nullcline, w on the w-nullcline), each shaped like v.
    """
    v = np.asarray(v, dtype=float)
    w_v = p.N(v) + p.I_ext
    w_w = np.full_like(v, np.nan) if p.b == 0.0 else (v + p.a) / p.b
    return w_v, w_w
