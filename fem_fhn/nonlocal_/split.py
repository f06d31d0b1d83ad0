"""Split nonlocal operator for kernels with a cusp or a jump: sparse near part + NUFFT far part.

The reference quadrature (K u)_i = Σ_j Ψ(|x_i − x_j|) w_j u_j is split as Ψ = Ψ_near + Ψ_far:

    (K u)_i = Σ_{|x_i − x_j| ≤ r_near} Ψ_near(|x_i − x_j|) w_j u_j + Σ_j Ψ_far(|x_i − x_j|) w_j u_j,

the first sum exact over the neighbour pairs (`SparseOperator`, CSR), the second through the
NUFFT convolution (`NufftOperator`: type 1 → × Ψ̂_far → type 2) with the error rules of that
module. Ψ_far is Ψ with its non-smooth points smoothed away, so that Ψ̂_far decays fast.

**Non-smooth points.** A kernel that is not C^∞ as a function of x ∈ ℝ^d is assumed smooth for
0 < r < support, with at most a cusp at r = 0 (exponential kernel; a user `Custom` kernel with
smooth=False) and a jump at its support edge r = S (indicator kernel; a compact `Custom` kernel).

**Windows.** A smooth step T(z) (T = 1 for z ≤ 0, T = 0 for z ≥ 1) with a Kaiser–Bessel slope,

    T(z) = 1 − G(z)/G(1),    G(z) = ∫_0^z (I_0(2√q) − 1 − q) dζ,    q = β² ζ(1 − ζ),

is the antiderivative of a Kaiser–Bessel bump of width 1 (less its first two Taylor terms, so that
T is C² where it meets 1 and 0): its Fourier transform is concentrated on |ω| ≲ 2β (ω the
frequency in z) with a floor of relative size ~ e^{−β} beyond, close to the best concentration a
window of compact support has (prolate/Kaiser–Bessel). T is tabulated once (quintic Hermite with
exact first and second derivatives, 2^16 intervals, error ~ 1e-15) and evaluated per pair.

- Cusp at 0: W_0(r) = T((r − θ r_c)/((1 − θ) r_c)), equal to 1 on r ≤ θ r_c (θ = FLAT = 0.05) and 0
  from r_c on, and an even polynomial fill P(r) = a_0 + a_1 (r/r_c)² (least squares fit of Ψ on
  [θ r_c, r_c], kept if it lowers max |Ψ − P| there; smooth in x since it is a polynomial of |x|²).
  The fill makes the step's amplitude |Ψ − P| instead of |Ψ| (measured: about half the modes).
- Jump at S: W_S(r) = T((S − θ δ − r)/((1 − θ) δ)), equal to 1 on [S − θ δ, S], 0 below S − δ
  (δ = r_c).

Then

    Ψ_far = (1 − W_0)(1 − W_S) Ψ + W_0 P,        Ψ_near = Ψ − Ψ_far.

Ψ_far equals the polynomial P near 0 and 0 near S (and Ψ elsewhere), so it is C² with
third-derivative jumps of relative size ~ β^4 e^{−β}; Ψ_near is supported in r < r_near = max(r_c,
S) (r_c without a jump, the shell [S − δ, S] with one). Its transform is a radial quadrature on the
short support,

    Ψ̂_near(k) = |S^{d−1}| ∫_0^{r_near} Ψ_near(r) g_d(kr) r^{d−1} dr        (g_d = cos, J_0, sinc),

with 20-point Gauss–Legendre panels between the window's break points (at most 12 radians of kr
per panel: error ~ 1e-20), and Ψ̂_far = Ψ̂ − Ψ̂_near with Ψ̂ the kernel's closed form; for a `Custom`
kernel (no closed form) the same panels are applied to Ψ_far on its smooth segments of
[0, support or decay radius], at a cost ∝ k_max · radius per wave number.
The NUFFT module then picks its period, k_max (from the L² tail of Ψ̂_far) and transform tolerance
for the same error measure, so the only error of the split is the far part's: ‖K̃u − Ku‖∞ ≤ tol ·
max_i Σ_j |Ψ_ij| w_j |u_j|.

**Choice of r_c and β.** r_c is set from the point spacing: with N points in a bounding box of
volume V (sides at least the kernel width) and ω_d the volume of the unit ball,

    r_c = (n_near V / (ω_d N))^{1/d},       n_near = NEIGHBOURS[d] (16, 200, 512 for d = 1, 2, 3),

so each point has about n_near near neighbours: the near part costs O(n_near N) memory and time.
The far part is band-limited to k_max = κ/r_c (measured κ = k_max r_c ≈ 25–45 in 1D and 2D, 45–60
in 3D for tol 1e-4 … 1e-8: the NUFFT's L² tail rule asks for |Ψ̂_far| well below e^{−β}), so the
NUFFT needs M_a ≈ k_max P_a/π ∝ N^{1/d} modes per axis: O(N) modes and O(N log N) work in all.
The constant is large: with the period P_a = L_a + R (R the distance at which Ψ is below the
budget, 20–30 widths for the exponential) the product (modes) × (near pairs per point) is about
(κ P/π)^d ω_d N, e.g. 1.6·10^3 N for the exponential of width 0.05 on the unit square at tol 1e-6.
The window's spectral floor e^{−β} must fall below the error budget relative to the near part's
share of the kernel, ~ tol/(r_c/width)^d, so β = clip(ln(1/tol) − d ln(width/r_c), BETA_MIN,
BETA_MAX) + BETA_EXTRA[d] (2, 2, 8: in 3D the L² tail rule weighs high |k| by |k|², and a larger β
was measured to halve k_max there).
A larger n_near trades near pairs (∝ r_c^d) for Fourier modes (∝ r_c^{−d}). In 2D at 10^6 points
(exponential of width 0.05, tol 1e-6, one thread) the apply took 0.04 + 0.58 + 0.12 s (near +
middle + wide NUFFT) with 64 neighbours, 0.05 + 0.42 + 0.12 s with 128 and 0.07 + 0.32 + 0.12 s
with 200, in 1.1, 1.2 and 1.35 GB: the near part, stored once as a symmetric matrix in single
precision (`SparseOperator`), costs far less per pair than the middle NUFFT's FFTs per mode.

**Middle and wide parts.** The period of a single far NUFFT must hold the kernel's whole decay
radius R (P_a = L_a + R, R ≈ 23 widths for the exponential at tol 1e-6: twice the box), although
only the fine scale r_c needs many modes. With ρ = max(6 width, 6 r_c) (when ρ ≤ half the box and
below the support), Ψ_far is split once more by a smooth step W_ρ (1 on r ≤ ρ/2, 0 from ρ on; the
same Kaiser–Bessel step with β = kaiser_beta(tol, ρ, …) + 16 and RANGE_DROPPED = 8 Taylor terms
left out, so that it is C^8 and its spectrum has no slow algebraic tail):

    Ψ_far = W_ρ Ψ_far + (1 − W_ρ) Ψ_far = Ψ_mid + Ψ_wide.

Ψ_mid keeps the fine scale on a box padded by ρ only (P_a = L_a + ρ); Ψ_wide is smooth on the scale
ρ and needs few modes on the fully padded box. Ψ̂_mid is a radial quadrature on [0, ρ] (the same
panels), Ψ̂_wide = Ψ̂_far − Ψ̂_mid. The two NUFFTs get 3/4 and 1/4 of tol for their absolute
error budgets (truncated modes, periodic images) and the whole tol for the transforms' relative
error rule, since |Ψ_mid| + |Ψ_wide| = |Ψ_far| (0 ≤ W_ρ ≤ 1). Modes at 10^6 points (exponential
of width 0.05, tol 1e-6): 2402² + 518² against 4040² unsplit (2D, 64 neighbours); with 200
neighbours 1504² + 518² for ρ = 4 widths and β + 2, 1468² + 266² for ρ = 6 widths and β + 16; in 3D
(512 neighbours) 360³ + 510³ and 384³ + 286³ (the wide part's window needs a large β: its spectral
floor sets k_max).

With a jump the near part is the shell S − δ < r ≤ S: about n_near · d (S/r_c)^{d−1} neighbours per
point, which grows like N^{(d−1)/d} at fixed S (the neighbour search also visits the whole ball
r ≤ S); a kernel whose support is within 2 r_c is kept whole in the near part (no far part).
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass, field

import numpy as np
from mpi4py import MPI
from numba import njit
from scipy.special import i0, i1

from fem_fhn.kernels import Custom, Indicator, decay_radius, hankel_sum
from fem_fhn.nonlocal_.base import as_points, check_tol
from fem_fhn.nonlocal_.nufft import NufftOperator
from fem_fhn.nonlocal_.sparse import SparseOperator, kernel_name
from fem_fhn.parallel import bounding_box
from fem_fhn.params import ParameterError

#: target number of near neighbours per point, by dimension
NEIGHBOURS = {1: 16, 2: 200, 3: 512}
#: flat part of the origin window, as a fraction θ of r_c (and of δ for the jump window)
FLAT = 0.05
#: bounds of the Kaiser–Bessel parameter β
BETA_MIN, BETA_MAX = 6.0, 36.0
#: added to β by dimension (measured: the smallest k_max r_c at tol 1e-6 and 1e-8)
BETA_EXTRA = {1: 2.0, 2: 2.0, 3: 8.0}
#: outer radius ρ of the middle far part: max(RANGE_WIDTHS · width, RANGE_NEAR · r_c)
RANGE_WIDTHS, RANGE_NEAR = 6.0, 6.0
#: added to the range window's β instead of BETA_EXTRA (measured: the fewest modes of the middle
#: and wide parts together in 2D and 3D at 10^6 points, tol 1e-6)
RANGE_BETA_EXTRA = 16.0
#: Taylor terms left out of the range window's slope (C^this: its spectrum's algebraic tail)
RANGE_DROPPED = 8
#: share of tol given to the middle part (the wide part gets the rest)
MIDDLE_SHARE = 0.75
#: the near values are stored in single precision from this tol on (16 · 2^−24)
SINGLE_NEAR_TOL = 16 * 2.0**-24
#: degree (in r²) of the polynomial fill under the origin window
FILL_DEGREE = 1
_STEP_INTERVALS = 2**16
#: Taylor terms of I_0 left out of the slope (it vanishes like z^this at the ends)
_TAYLOR_DROPPED = 2
#: radians of kr per Gauss–Legendre panel (20 nodes: quadrature error ~ 1e-20)
_RADIANS_PER_PANEL = 12.0
_MIN_PANELS = 4
_GL_NODES = 20


class KaiserStep:
    """T(z) = 1 − G(z)/G(1), G(z) = ∫_0^z g(ζ) dζ; T = 1 for z ≤ 0, 0 for z ≥ 1.

    The slope g(z) = I_0(2√q) − 1 − q, q = β² z(1 − z), is a Kaiser–Bessel bump less its first
    Taylor terms (_TAYLOR_DROPPED of them), so that g = O(z²) at the ends: T is C² where it meets
    1 and 0. T is tabulated at 2^16 + 1 points
    (values by Gauss–Legendre on each interval, exact first and second derivatives) and evaluated
    by quintic Hermite interpolation (C² and error ~ 1e-15).
    """

    def __init__(self, beta: float, dropped: int = _TAYLOR_DROPPED):
        self.beta = float(beta)
        self.dropped = int(dropped)
        n = _STEP_INTERVALS
        z = np.linspace(0.0, 1.0, n + 1)
        x, w = np.polynomial.legendre.leggauss(8)
        nodes = z[:-1, None] + 0.5 / n * (x + 1)
        pieces = (0.5 / n) * (self._slope(nodes)[0] @ w)
        G = np.concatenate([[0.0], np.cumsum(pieces)])
        g, dg = self._slope(z)
        self.table = np.stack([1.0 - G / G[-1], -g / G[-1] / n, -dg / G[-1] / n**2], axis=1)

    def _slope(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """g(z) and g'(z); the power series where 2√q < 8 (no cancellation)."""
        beta, first = self.beta, self.dropped
        q = beta * beta * np.clip(z * (1 - z), 0.0, None)
        dq = beta * beta * (1 - 2 * z)
        small = q < 16.0
        qs = np.where(small, q, 0.0)
        g_series, dg_series = np.zeros_like(q), np.zeros_like(q)
        term = qs**first / math.factorial(first) ** 2
        for m in range(first, 40):  # Σ_{m ≥ first} q^m/(m!)² and q times its q-derivative
            g_series += term
            dg_series += m * term
            term = term * qs / ((m + 1) ** 2)
        dg_series = np.divide(dg_series, qs, out=np.zeros_like(q), where=qs > 0)
        xl = 2 * np.sqrt(np.where(small, 16.0, q))
        ql = np.where(small, 16.0, q)
        g_large, dg_large = i0(xl), 2 * i1(xl) / xl
        for m in range(first):  # less the dropped terms q^m/(m!)² and their q-derivatives
            g_large -= ql**m / math.factorial(m) ** 2
            if m:
                dg_large -= m * ql ** (m - 1) / math.factorial(m) ** 2
        g = np.where(small, g_series, g_large)
        return g, np.where(small, dg_series, dg_large) * dq

    def __call__(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=float)
        out = np.empty(z.shape)
        _hermite_step(z.ravel(), self.table, out.ravel())
        return out


@njit(cache=True)
def _hermite_step(z: np.ndarray, table: np.ndarray, out: np.ndarray) -> None:
    """Quintic Hermite interpolation of T from its table of (T, T'/n, T''/n²) at z (flat)."""
    n = table.shape[0] - 1
    for q in range(z.size):
        s = min(max(z[q], 0.0), 1.0) * n
        i = min(int(s), n - 1)
        t = s - i
        t2 = t * t
        t3 = t2 * t
        t4 = t3 * t
        t5 = t4 * t
        out[q] = (
            (1 - 10 * t3 + 15 * t4 - 6 * t5) * table[i, 0]
            + (t - 6 * t3 + 8 * t4 - 3 * t5) * table[i, 1]
            + (0.5 * t2 - 1.5 * t3 + 1.5 * t4 - 0.5 * t5) * table[i, 2]
            + (10 * t3 - 15 * t4 + 6 * t5) * table[i + 1, 0]
            + (-4 * t3 + 7 * t4 - 3 * t5) * table[i + 1, 1]
            + (0.5 * t3 - t4 + 0.5 * t5) * table[i + 1, 2]
        )


def singular_points(kernel) -> tuple[bool, float | None]:
    """(whether Ψ has a cusp at r = 0, radius S of a jump at the support edge or None)."""
    if bool(getattr(kernel, "smooth", False)):
        return False, None
    support = float(getattr(kernel, "support", math.inf))
    edge = support if math.isfinite(support) else None
    return not isinstance(kernel, Indicator), edge


def near_radius(
    n_global: int, extent: np.ndarray, dim: int, width: float, neighbours: float
) -> float:
    """r_c = (n_near V/(ω_d N))^{1/d}, V the box volume with sides at least `width`."""
    volume = float(np.prod(np.maximum(extent, width)))
    ball = math.pi ** (dim / 2) / math.gamma(dim / 2 + 1)
    return (neighbours * volume / (ball * max(n_global, 1))) ** (1.0 / dim)


def kaiser_beta(
    tol: float, r_c: float, width: float, dim: int, extra: float | None = None
) -> float:
    """β = clip(ln(1/tol) − d ln(width/r_c), BETA_MIN, BETA_MAX) + extra (default BETA_EXTRA[d];
    see above)."""
    share = min(1.0, (r_c / width) ** dim)
    extra = BETA_EXTRA.get(dim, 2.0) if extra is None else extra
    return float(np.clip(math.log(share / tol), BETA_MIN, BETA_MAX)) + extra


def _segment_nodes(
    segments: list[tuple[float, float]], k_max: float
) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights (20 per panel) on each segment [a, b]: equal panels with at
    most _RADIANS_PER_PANEL radians of k_max r each, and at least _MIN_PANELS per segment."""
    x, w = np.polynomial.legendre.leggauss(_GL_NODES)
    nodes, weights = [], []
    for a, b in segments:
        n = max(_MIN_PANELS, math.ceil(k_max * (b - a) / _RADIANS_PER_PANEL))
        half = 0.5 * (b - a) / n
        left = a + (b - a) * np.arange(n) / n
        nodes.append((left[:, None] + half * (x + 1)).ravel())
        weights.append(np.broadcast_to(half * w, (n, _GL_NODES)).ravel())
    return np.concatenate(nodes), np.concatenate(weights)


@dataclass
class SplitKernel:
    """Ψ = Ψ_near + Ψ_far for a kernel, a near radius r_c and a window parameter β.

    Attributes:
        kernel: the radial kernel Ψ.
        r_c: outer radius of the origin window (and width δ of the jump window).
        tol: the tolerance the windows are made for.
        rho: outer radius ρ of the middle part (None: Ψ_far is not split further).
        beta: Kaiser–Bessel parameter of the windows.
    """

    kernel: object
    r_c: float
    tol: float
    rho: float | None = None
    beta: float = field(init=False)
    cusp: bool = field(init=False)
    edge: float | None = field(init=False)
    fill: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.cusp, self.edge = singular_points(self.kernel)
        self.fill = np.zeros(1)
        if self.cusp:  # least squares fit of Ψ on [θ r_c, r_c] by a polynomial of (r/r_c)²
            r = self.r_c * (FLAT + (1 - FLAT) * 0.5 * (1 - np.cos(np.linspace(0, np.pi, 65))))
            z = (r / self.r_c) ** 2
            basis = np.vander(z, FILL_DEGREE + 1, increasing=True)
            values = self.kernel(r)
            fill = np.linalg.lstsq(basis, values, rcond=None)[0]
            if np.abs(basis @ fill - values).max() < np.abs(values).max():  # else no fill
                self.fill = fill
        dim, width = int(self.kernel.dim), float(self.kernel.width)
        self.beta = kaiser_beta(self.tol, self.r_c, width, dim)
        self.step = KaiserStep(self.beta)

    @property
    def far_is_zero(self) -> bool:
        """The whole kernel is near: its support ends within 2 r_c (or within the origin window)."""
        if self.edge is None:
            return False
        return self.edge <= 2 * self.r_c

    @property
    def r_near(self) -> float:
        """Radius of the near part's support."""
        if self.far_is_zero:
            return float(self.edge)
        return max(self.r_c if self.cusp else 0.0, self.edge or 0.0)

    def segments(self) -> list[tuple[float, float]]:
        """Intervals of r on which Ψ_near is smooth and where it may be nonzero."""
        if self.far_is_zero:
            return [(0.0, float(self.edge))]
        pieces = []
        if self.cusp:
            pieces += [(0.0, FLAT * self.r_c), (FLAT * self.r_c, self.r_c)]
        if self.edge is not None:
            theta = self.edge - FLAT * self.r_c
            pieces += [(self.edge - self.r_c, theta), (theta, self.edge)]
        return pieces

    def _windows(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        one = np.zeros_like(r)
        w0 = self.step((r - FLAT * self.r_c) / ((1 - FLAT) * self.r_c)) if self.cusp else one
        ws = one
        if self.edge is not None:
            ws = self.step((self.edge - FLAT * self.r_c - r) / ((1 - FLAT) * self.r_c))
        return w0, ws

    def far(self, r: np.ndarray) -> np.ndarray:
        """Ψ_far(r) = (1 − W_0)(1 − W_S) Ψ + W_0 P."""
        r = np.abs(np.asarray(r, dtype=float))
        if self.far_is_zero:
            return np.zeros_like(r)
        w0, ws = self._windows(r)
        out = (1 - w0) * (1 - ws) * self.kernel(r)
        if self.cusp:
            out += w0 * np.polynomial.polynomial.polyval((r / self.r_c) ** 2, self.fill)
        return out

    def near(self, r: np.ndarray) -> np.ndarray:
        """Ψ_near(r) = Ψ − Ψ_far = (1 − (1 − W_0)(1 − W_S)) Ψ − W_0 P, zero beyond r_near."""
        r = np.abs(np.asarray(r, dtype=float))
        out = np.zeros_like(r)
        inside = r <= self.r_near
        ri = r[inside]
        values = np.asarray(self.kernel(ri), dtype=float)
        if self.far_is_zero:
            out[inside] = values
            return out
        w0, ws = self._windows(ri)
        near = (1 - (1 - w0) * (1 - ws)) * values
        if self.cusp:
            near -= w0 * np.polynomial.polynomial.polyval((ri / self.r_c) ** 2, self.fill)
        out[inside] = near
        return out

    def near_fourier(self, k: np.ndarray) -> np.ndarray:
        """Ψ̂_near(k) by Gauss–Legendre panels on each smooth segment (≤ 12 rad of kr each)."""
        k = np.abs(np.asarray(k, dtype=float))
        if k.size == 0:
            return np.zeros_like(k)
        r, wr = _segment_nodes(self.segments(), float(k.max()))
        return hankel_sum(r, wr * self.near(r), int(self.kernel.dim), k)

    def far_segments(self) -> list[tuple[float, float]]:
        """Intervals of r on which Ψ_far is smooth and where it may be nonzero."""
        kernel = self.kernel
        end = float(kernel.support)
        if not math.isfinite(end):
            end = decay_radius(kernel, int(kernel.dim), float(kernel.width))
        cuts = [0.0, end]
        if self.cusp:
            cuts += [FLAT * self.r_c, self.r_c]
        if self.edge is not None:
            end = self.edge - FLAT * self.r_c
            cuts += [self.edge - self.r_c, end]
        cuts = sorted({c for c in cuts if 0.0 <= c <= end})
        return list(zip(cuts[:-1], cuts[1:], strict=True))

    def set_range(self, rho: float | None) -> None:
        """Split Ψ_far at ρ, with a step of β = kaiser_beta(tol, ρ, width, d, RANGE_BETA_EXTRA):
        the whole kernel's mass is at stake in this window, so its spectral floor e^{−β} must lie
        below tol."""
        self.rho = rho
        if rho is not None:
            dim, width = int(self.kernel.dim), float(self.kernel.width)
            beta = kaiser_beta(self.tol, rho, width, dim, RANGE_BETA_EXTRA)
            self.range_step = KaiserStep(beta, RANGE_DROPPED)

    def range_window(self, r: np.ndarray) -> np.ndarray:
        """W_ρ(r) = T_ρ((r − ρ/2)/(ρ/2)): 1 on r ≤ ρ/2, 0 from ρ on."""
        z = (np.abs(np.asarray(r, dtype=float)) - 0.5 * self.rho) / (0.5 * self.rho)
        return self.range_step(z)

    def mid(self, r: np.ndarray) -> np.ndarray:
        """Ψ_mid = W_ρ Ψ_far (support ρ)."""
        r = np.abs(np.asarray(r, dtype=float))
        out = np.zeros_like(r)
        inside = r < self.rho
        out[inside] = self.range_window(r[inside]) * self.far(r[inside])
        return out

    def wide(self, r: np.ndarray) -> np.ndarray:
        """Ψ_wide = (1 − W_ρ) Ψ_far (zero on r ≤ ρ/2)."""
        r = np.abs(np.asarray(r, dtype=float))
        return (1 - self.range_window(r)) * self.far(r)

    def mid_fourier(self, k: np.ndarray) -> np.ndarray:
        """Ψ̂_mid by Gauss–Legendre panels on the smooth segments of Ψ_mid in [0, ρ]."""
        k = np.abs(np.asarray(k, dtype=float))
        if k.size == 0:
            return np.zeros_like(k)
        cuts = {0.0, 0.5 * self.rho, self.rho}
        for a, b in self.far_segments():
            cuts |= {c for c in (a, b) if c < self.rho}
        cuts = sorted(cuts)
        k_panels = max(float(k.max()), 2 * _RADIANS_PER_PANEL / float(self.kernel.width))
        r, wr = _segment_nodes(list(zip(cuts[:-1], cuts[1:], strict=True)), k_panels)
        return hankel_sum(r, wr * self.mid(r), int(self.kernel.dim), k)

    def wide_fourier(self, k: np.ndarray) -> np.ndarray:
        """Ψ̂_wide = Ψ̂_far − Ψ̂_mid."""
        return self.far_fourier(k) - self.mid_fourier(k)

    def far_fourier(self, k: np.ndarray) -> np.ndarray:
        """Ψ̂_far = Ψ̂ − Ψ̂_near (closed-form Ψ̂); for a `Custom` kernel, whose Ψ̂ is itself a radial
        quadrature, the same panels applied to Ψ_far directly (panels ≤ width/2 as well)."""
        k = np.abs(np.asarray(k, dtype=float))
        if not isinstance(self.kernel, Custom):
            return np.asarray(self.kernel.fourier(k), dtype=float) - self.near_fourier(k)
        if k.size == 0:
            return np.zeros_like(k)
        k_panels = max(float(k.max()), 2 * _RADIANS_PER_PANEL / float(self.kernel.width))
        r, wr = _segment_nodes(self.far_segments(), k_panels)  # panels ≤ width/2 as well
        return hankel_sum(r, wr * self.far(r), int(self.kernel.dim), k)


class KernelPart:
    """A part of a split kernel, with what `SparseOperator` / `NufftOperator` read of a kernel.

    `KernelPart(split, which)`, `which` one of PARTS:

        near   Ψ_near: compact support r_near (the sparse part)
        far    Ψ_far: smooth, the kernel's support (the NUFFT part)
        mid    Ψ_mid = W_ρ Ψ_far: smooth, support ρ (a NUFFT on a box padded by ρ only)
        wide   Ψ_wide = (1 − W_ρ) Ψ_far: smooth on the scale ρ, the kernel's support (few modes)
    """

    #: which -> the support's attribute of the split (None: the kernel's own support), smooth
    PARTS = {
        "near": ("r_near", False),
        "far": (None, True),
        "mid": ("rho", True),
        "wide": (None, True),
    }

    def __init__(self, split: SplitKernel, which: str):
        kernel = split.kernel
        support_of, smooth = self.PARTS[which]
        self.split = split
        self.dim = int(kernel.dim)
        self.width = float(kernel.width)
        self.strength = float(getattr(kernel, "strength", 1.0))
        self.support = float(
            getattr(kernel, "support", math.inf)
            if support_of is None
            else getattr(split, support_of)
        )
        self.smooth = smooth
        self.profile = getattr(split, which)
        self._fourier = getattr(split, f"{which}_fourier")

    def __call__(self, r: np.ndarray) -> np.ndarray:
        return self.profile(r)

    def fourier(self, k: np.ndarray) -> np.ndarray:
        return self._fourier(k)


class FarField:
    """Σ of NUFFT operators (the middle and the wide part, or Ψ_far whole)."""

    method = "nufft"

    def __init__(self, parts: list[NufftOperator]):
        self.parts = parts

    def apply(self, u: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        out = self.parts[0].apply(u, out=out)
        for part in self.parts[1:]:
            out += part.apply(u)
        return out

    def memory_bytes(self) -> int:
        return int(sum(p.memory_bytes() for p in self.parts))

    def info(self) -> dict:
        """The first part's info (the one with most modes), with `parts`: every part's info."""
        infos = [p.info() for p in self.parts]
        return {**infos[0], "parts": infos}


def middle_radius(split: SplitKernel, extent: np.ndarray) -> float | None:
    """ρ = max(RANGE_WIDTHS · width, RANGE_NEAR · r_c), or None where the far part is not split:
    a support within ρ (Ψ_far is compact already) or ρ beyond half the box (little to save)."""
    kernel = split.kernel
    rho = max(RANGE_WIDTHS * float(kernel.width), RANGE_NEAR * split.r_c)
    support = float(getattr(kernel, "support", math.inf))
    if split.far_is_zero or support <= rho or rho > 0.5 * float(np.max(extent)):
        return None
    return rho


class SplitOperator:
    """K u = (sparse near part) + (NUFFT far part) for any radial kernel (module docstring).

    Args:
        points, weights, kernel, comm, tol: as every backend (`fem_fhn.nonlocal_.base`); the
            kernel needs `fourier`, `width`, `support`, `smooth` and `dim`.
        neighbours: target number of near neighbours per point (default NEIGHBOURS[d]).

    Raises:
        ParameterError: tol outside (0, 1), neighbours ≤ 0, or a far part the NUFFT refuses (too
            many Fourier modes: raise `neighbours` or tol).
    """

    method = "split"

    def __init__(
        self,
        points: np.ndarray,
        weights: np.ndarray,
        kernel,
        comm: MPI.Comm,
        tol: float = 1e-8,
        neighbours: float | None = None,
    ):
        self.tol = check_tol(tol, below_one=True)
        start = time.perf_counter()
        points = as_points(points)
        dim = points.shape[1]
        neighbours = NEIGHBOURS.get(dim, 32) if neighbours is None else neighbours
        ok = isinstance(neighbours, numbers.Real) and math.isfinite(neighbours) and neighbours > 0
        if not ok:
            raise ParameterError(f"neighbours = {neighbours!r} is not allowed: a number > 0")
        self.comm = comm
        self.kernel = kernel
        self.n_local = points.shape[0]
        self.n_global = int(comm.allreduce(self.n_local, op=MPI.SUM))
        lo, hi = bounding_box(comm, points)
        extent = np.maximum(hi - lo, 0.0) if self.n_global else np.zeros(dim)
        width = float(kernel.width)
        r_c = near_radius(self.n_global, extent, dim, width, float(neighbours))
        self.split = SplitKernel(kernel, r_c, self.tol)
        self.split.set_range(middle_radius(self.split, extent))
        self.far = None
        if not self.split.far_is_zero:
            try:
                if self.split.rho is None:
                    parts = [(KernelPart(self.split, "far"), self.tol)]
                else:
                    share = MIDDLE_SHARE * self.tol
                    parts = [
                        (KernelPart(self.split, "mid"), share),
                        (KernelPart(self.split, "wide"), tol - share),
                    ]
                # |Ψ_mid| + |Ψ_wide| = |Ψ_far|: the transforms' relative rule keeps the whole tol
                self.far = FarField(
                    [
                        NufftOperator(points, weights, part, comm, tol=t, transform_tol=self.tol)
                        for part, t in parts
                    ]
                )
            except ParameterError as err:
                raise ParameterError(
                    f"method 'split' for the {kernel_name(kernel)} at tol={self.tol:g}: {err} "
                    f"(or raise the near neighbours per point, now {neighbours:g})"
                ) from None
        # the near part after the far one, which may refuse (too many modes) at no search cost
        # rounding ≤ 2^−24 of the row scale ≤ tol/16; a kernel that is all near stays exact
        single = self.tol >= SINGLE_NEAR_TOL and self.far is not None
        self.near = SparseOperator(
            points, weights, KernelPart(self.split, "near"), comm, single=single
        )
        self.build_time = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)

    def apply(self, u: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(K u)_i ≈ Σ_j Ψ(|x_i − x_j|) w_j u_j, owned rows; u: (n_local,) or (n_local, m)
        (into `out` if given)."""
        out = self.near.apply(u, out=out)
        if self.far is not None:
            out += self.far.apply(u)
        return out

    def memory_bytes(self) -> int:
        """This rank's near CSR block plus the NUFFT's estimate."""
        far = self.far.memory_bytes() if self.far is not None else 0
        return int(self.near.memory_bytes() + far)

    def info(self) -> dict:
        """Build time, memory, the split and both parts (collective: call on every rank).

        Keys: method, n_global, build_time_s, memory_bytes_per_rank_max, tol, r_c, r_near, beta,
        rho (ρ or None), near (the sparse part's info), far (the info of the NUFFT with most modes,
        its key parts listing every NUFFT part, or None).
        """
        near = self.near.info()
        far = self.far.info() if self.far is not None else None
        return {
            "method": self.method,
            "n_global": self.n_global,
            "build_time_s": self.build_time,
            "memory_bytes_per_rank_max": int(self.comm.allreduce(self.memory_bytes(), op=MPI.MAX)),
            "tol": self.tol,
            "r_c": self.split.r_c,
            "r_near": self.split.r_near,
            "beta": self.split.beta,
            "rho": self.split.rho,
            "near": near,
            "far": far,
        }
