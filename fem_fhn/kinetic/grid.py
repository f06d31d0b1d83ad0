"""The velocity grid of the kinetic model and the invariance of its box (docs/discretisation.md).

The kinetic density f(x, v, w) lives, at every node x_i, on a uniform cell-centred grid of the box
B = [v_min, v_max] × [w_min, w_max]:

    v_k = v_min + (k + 1/2) Δv  (k = 0 … n_v − 1),   w_l = w_min + (l + 1/2) Δw  (l = 0 … n_w − 1),

with faces v_min + k Δv (k = 0 … n_v) and w_min + l Δw. The scheme has zero flux through ∂B,
consistent with the continuous problem only if the drift points into B on its boundary:

    w = w_min:  τ (v + a − b w_min) ≥ 0,        w = w_max:  τ (v + a − b w_max) ≤ 0    (all v),
    v = v_min:  N(v_min) − w + I + C(v_min) ≥ 0,  v = v_max:  N(v_max) − w + I + C(v_max) ≤ 0
                                                                                      (all w),

where C(v) = −v (Ψ*ρ)(x) + (Ψ*j)(x) = −∫Ψ(x − y)(v − V(y)) ρ(y) dy is the nonlocal coupling.
C points inwards wherever Ψ ≥ 0 (V(y) is a mean of velocities in B); a sign-changing Ψ can push
outwards by at most (v_max − v_min) (Ψ⁻*ρ). The stiff relaxation −(ρ/ε)(v − V) always points
inwards (V ∈ B).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fem_fhn.params import FHNParameters, ParameterError, require, require_finite

__all__ = ["VelocityGrid", "check_invariance", "invariance_margins", "suggest_grid"]

MIN_CELLS = 4


@dataclass(frozen=True)
class VelocityGrid:
    """Uniform cell-centred grid of the velocity box [v_min, v_max] × [w_min, w_max].

    Attributes:
        v_min, v_max: bounds of the membrane-potential axis (v_min < v_max).
        n_v: number of cells in v (≥ 4).
        w_min, w_max: bounds of the recovery axis (w_min < w_max).
        n_w: number of cells in w (≥ 4).
    """

    v_min: float
    v_max: float
    n_v: int
    w_min: float
    w_max: float
    n_w: int

    def __post_init__(self) -> None:
        for key in ("v_min", "v_max", "w_min", "w_max"):
            require_finite(f"kinetic.{key}", getattr(self, key))
        for key in ("n_v", "n_w"):
            value = getattr(self, key)
            ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
            require(
                ok and value >= MIN_CELLS, f"kinetic.{key}", value, f"an integer >= {MIN_CELLS}"
            )
            object.__setattr__(self, key, int(value))
        require(
            self.v_min < self.v_max, "kinetic.v_max", self.v_max, f"v_max > v_min = {self.v_min}"
        )
        require(
            self.w_min < self.w_max, "kinetic.w_max", self.w_max, f"w_max > w_min = {self.w_min}"
        )

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_v, self.n_w)

    @property
    def dv(self) -> float:
        return (self.v_max - self.v_min) / self.n_v

    @property
    def dw(self) -> float:
        return (self.w_max - self.w_min) / self.n_w

    @property
    def cell_area(self) -> float:
        """Δv Δw: moments are sums over the grid times this."""
        return self.dv * self.dw

    @property
    def v(self) -> np.ndarray:
        """Cell centres in v, shape (n_v,)."""
        return self.v_min + (np.arange(self.n_v) + 0.5) * self.dv

    @property
    def w(self) -> np.ndarray:
        """Cell centres in w, shape (n_w,)."""
        return self.w_min + (np.arange(self.n_w) + 0.5) * self.dw

    @property
    def v_faces(self) -> np.ndarray:
        """Faces in v, shape (n_v + 1,)."""
        return self.v_min + np.arange(self.n_v + 1) * self.dv

    @property
    def w_faces(self) -> np.ndarray:
        """Faces in w, shape (n_w + 1,)."""
        return self.w_min + np.arange(self.n_w + 1) * self.dw

    @property
    def v_span(self) -> float:
        return self.v_max - self.v_min

    def refined(self, n_v: int | None = None, n_w: int | None = None) -> VelocityGrid:
        """The same box with other cell counts."""
        return VelocityGrid(
            self.v_min, self.v_max, n_v or self.n_v, self.w_min, self.w_max, n_w or self.n_w
        )

    def describe(self) -> str:
        return (
            f"[{self.v_min:.4g}, {self.v_max:.4g}] x [{self.w_min:.4g}, {self.w_max:.4g}] "
            f"with {self.n_v} x {self.n_w} cells"
        )


def _current_range(params: FHNParameters, current) -> tuple[float, float]:
    if current is None:
        return params.I_ext, params.I_ext
    if isinstance(current, int | float):
        return float(current), float(current)
    lo, hi = current
    return float(lo), float(hi)


def invariance_margins(
    params: FHNParameters,
    grid: VelocityGrid,
    coupling_bounds: tuple[float, float] = (0.0, 0.0),
    current: float | tuple[float, float] | None = None,
) -> dict[str, float]:
    """Worst inward drift on each side of the box (≥ 0 on every side means invariant).

    Args:
        params: FHN parameters.
        grid: the velocity box.
        coupling_bounds: (c_lo, c_hi) with c_lo ≤ C(v_min) and C(v_max) ≤ c_hi at every node
            (C the coupling drift of the module docstring; (0, 0) for Ψ ≥ 0).
        current: total current I (params.I_ext plus stimulus) or its range (I_lo, I_hi);
            default params.I_ext.

    Returns:
        {"v_min": N(v_min) − w_max + I_lo + c_lo, "v_max": −(N(v_max) − w_min + I_hi + c_hi),
        "w_min": τ (v_min + a − b w_min), "w_max": −τ (v_max + a − b w_max)}.
    """
    i_lo, i_hi = _current_range(params, current)
    c_lo, c_hi = coupling_bounds
    p, g = params, grid
    return {
        "v_min": float(p.N(g.v_min) - g.w_max + i_lo + c_lo),
        "v_max": float(-(p.N(g.v_max) - g.w_min + i_hi + c_hi)),
        "w_min": float(p.tau * (g.v_min + p.a - p.b * g.w_min)),
        "w_max": float(-p.tau * (g.v_max + p.a - p.b * g.w_max)),
    }


_SIDE_TEXT = {
    "v_min": "the v-drift N(v) - w + I - K_Psi at v = v_min points outwards (needs >= 0 for all w)",
    "v_max": "the v-drift N(v) - w + I - K_Psi at v = v_max points outwards (needs <= 0 for all w)",
    "w_min": "the w-drift tau (v + a - b w) at w = w_min points outwards (needs >= 0 for all v)",
    "w_max": "the w-drift tau (v + a - b w) at w = w_max points outwards (needs <= 0 for all v)",
}


def check_invariance(
    params: FHNParameters,
    grid: VelocityGrid,
    coupling_bounds: tuple[float, float] = (0.0, 0.0),
    current: float | tuple[float, float] | None = None,
) -> dict[str, float]:
    """Check that the drift points into the velocity box on its whole boundary.

    Arguments as in `invariance_margins`, which gives the returned margins.

    Raises:
        ParameterError: naming each failing side, the margin and a suggested box.
    """
    margins = invariance_margins(params, grid, coupling_bounds, current)
    bad = {side: m for side, m in margins.items() if m < 0}
    if bad:
        reasons = "; ".join(f"{_SIDE_TEXT[s]}: margin {m:.3g}" for s, m in bad.items())
        try:
            inhibition = max(0.0, -coupling_bounds[0], coupling_bounds[1]) / grid.v_span
            hint = suggest_grid(
                params,
                current,
                n_v=grid.n_v,
                n_w=grid.n_w,
                inhibition=inhibition,
                contain=((grid.v_min, grid.v_max), (grid.w_min, grid.w_max)),
            ).describe()
            hint = f"; an invariant box is {hint}"
        except ParameterError as err:
            hint = f"; no invariant box exists: {err}"
        raise ParameterError(
            f"kinetic velocity box {grid.describe()} is not invariant: {reasons}{hint}"
        )
    return margins


def suggest_grid(
    params: FHNParameters,
    I_ext: float | tuple[float, float] | None = None,
    *,
    n_v: int = 64,
    n_w: int = 64,
    inhibition: float = 0.0,
    contain: tuple[tuple[float, float], tuple[float, float]] | None = None,
    margin: float = 0.05,
) -> VelocityGrid:
    """A small invariant velocity box (symmetric in v) with the given cell counts.

    With τ > 0 and b > 0 the w-bounds are tied to the v-bounds, w_min = (v_min + a)/b and
    w_max = (v_max + a)/b (widened by `margin`); v_max = −v_min = L is the smallest L on a 0.01
    grid for which the v-sides are invariant, times (1 + margin). With τ = 0 (w frozen) the w-range
    is `contain`'s (default [−1, 1]) widened by `margin`.

    Args:
        params: FHN parameters.
        I_ext: total current or its range (default params.I_ext).
        n_v, n_w: cell counts.
        inhibition: max_i (Ψ⁻*ρ)_i ≥ 0 (0 for Ψ ≥ 0): the coupling drift can push outwards by
            (v_max − v_min) times this.
        contain: ((v_lo, v_hi), (w_lo, w_hi)) the box must contain (e.g. the initial data).
        margin: relative widening.

    Raises:
        ParameterError: if no box is invariant (τ > 0 with b = 0: τ(v + a) changes sign in v).
    """
    i_lo, i_hi = _current_range(params, I_ext)
    a, b, tau = params.a, params.b, params.tau
    if tau > 0 and b <= 0:
        raise ParameterError(
            f"b = {b!r} is not allowed for the kinetic model with tau > 0: the w-drift tau (v + a) "
            "cannot point inwards on both w-sides of a box (needs b > 0)"
        )
    (cv_lo, cv_hi), (cw_lo, cw_hi) = contain or ((-1.0, 1.0), (-1.0, 1.0))

    def w_bounds(L: float) -> tuple[float, float]:
        if tau == 0:
            lo, hi = cw_lo, cw_hi
        else:
            lo, hi = min((-L + a) / b, cw_lo), max((L + a) / b, cw_hi)
        pad = margin * (hi - lo)
        return lo - pad, hi + pad

    def ok(L: float) -> bool:
        w_lo, w_hi = w_bounds(L)
        coupling = 2.0 * L * inhibition
        low = params.N(-L) - w_hi + i_lo - coupling >= 0
        high = params.N(L) - w_lo + i_hi + coupling <= 0
        return bool(low and high)

    def box(L: float) -> VelocityGrid:
        L = math.ceil(L * (1 + margin) * 100) / 100
        w_lo, w_hi = w_bounds(L)
        w_lo, w_hi = math.floor(w_lo * 100) / 100, math.ceil(w_hi * 100) / 100
        return VelocityGrid(-L, L, n_v, w_lo, w_hi, n_w)

    L = max(1.0, abs(cv_lo), abs(cv_hi))
    for _ in range(100_000):
        if ok(L):
            grid = box(L)
            coupling = grid.v_span * inhibition
            margins = invariance_margins(params, grid, (-coupling, coupling), (i_lo, i_hi))
            if min(margins.values()) >= 0:
                return grid
        L += 0.01
    raise ParameterError("no invariant velocity box found for |v| <= 1000")  # pragma: no cover
