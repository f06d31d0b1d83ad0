"""NUFFT nonlocal operator for translation-invariant kernels (docs/discretisation.md).

The reference quadrature (K u)_i = Σ_j Ψ(|x_i − x_j|) w_j u_j is a discrete convolution, evaluated
through a Fourier series on a periodic box:

1. **Periodic box.** The points' global bounding box [lo, hi] (side L_a) is padded by the kernel's
   effective radius R: the period is P_a = L_a + R. Differences x_i − x_j lie in [−L, L], so every
   periodic image x_i − x_j + nP (n ≠ 0) is at distance ≥ R, where |Ψ| is below the error budget.
2. **Poisson summation.** With Ψ̂(k) = ∫ Ψ(x) e^{−ik·x} dx (the convention of `fem_fhn.kernels`)
   and k_m = (2π m_1/P_1, …, 2π m_d/P_d), m ∈ ℤ^d,

       Σ_n Ψ(x + nP) = (1/ΠP_a) Σ_m Ψ̂(k_m) e^{i k_m·x}.

   In the scaled coordinates y_a = 2π (x_a − c_a)/P_a ∈ (−π, π) (c the box centre),
   k_m·(x_i − x_j) = m·(y_i − y_j), hence

       (K u)_i ≈ (1/ΠP_a) Σ_{|k_m| ≤ k_max} Ψ̂(k_m) e^{+i m·y_i} Σ_j (w_j u_j) e^{−i m·y_j}.

3. **Transforms.** The inner sum is a finufft type-1 transform with isign = −1 (sources = the
   owned points, strengths w_j u_j); the outer one is its adjoint, a type-2 transform with
   isign = +1 at the same points. Modes m_a = −M_a/2 … M_a/2 − 1 (finufft's modeord = 0, axis a of
   the coefficient array ↔ coordinate a); the multiplier Ψ̂(k_m)/ΠP_a is zero outside the ball
   |k_m| ≤ k_max and on the unpaired mode m_a = −M_a/2, so it is real and even and K maps real
   data to real data. Two real columns are transformed together as u' + i u''. The points are
   stored in Morton order (`fem_fhn.ordering`), the strengths permuted into it and the results
   back, so that finufft's spreading and interpolation read nearby memory.
4. **MPI.** Each rank transforms its own sources (type 1), the Fourier coefficients are summed
   with Allreduce, and each rank evaluates its own targets (type 2): no point is gathered.

**Error budget.** The truncated periodic kernel differs from Ψ by an error kernel E, so
|error_i| ≤ Σ_j |E(x_i − x_j)| w_j |u_j|, while the error measure of the project is
tol · max_i Σ_j |Ψ_ij| w_j |u_j|. For weights that behave like a density on the bounding box
(volume V) and |u| ≤ 1 the first sum is about ρ̄ ∫_V |E| and the second at least
ρ̄ 2^{−d} ∫_{|x| ≤ ℓ} |Ψ| (a point in a corner sees 2^{−d} of the kernel; ℓ the shortest side).
With ε = tol · 2^{−d} ∫_{|x| ≤ ℓ} |Ψ| dx / V the rules are

- periodic images: (3^d − 1) max_{r ≥ R} |Ψ(r)| ≤ ε/4, which fixes the padding R;
- truncated modes: ∫_V |E| ≤ √V ‖E‖₂ (Cauchy–Schwarz) and, by Parseval,
  ‖E‖₂² = (2π)^{−d} ∫_{|k| > k_max} |Ψ̂(k)|² dk ≤ (ε/4)² V, which fixes k_max and then
  M_a = the smallest even number ≥ k_max P_a/π + 2;
- the two transforms: each multiplies Fourier mode m by 1 + r_m, with |r_m| ≤ η_m measured from
  finufft itself (`mode_errors`: 1-D transforms of a unit source, combined over the axes as the
  tensor-product spreading kernel does); finufft's eps is the largest on a quarter-decade ladder
  below tol with η̄ = Σ_m |μ_m| η_m / Σ_m |μ_m| ≤ tol/4 (`transform_tolerance`), so that the error
  kernel, bounded by 2 η̄ times the kernel's peak and as concentrated as Ψ, adds at most about
  (tol/2) Σ_j |Ψ_ij| w_j |u_j| to a row. The worst-case rule eps = ε/(4A), A = (2π)^{−d}
  ∫_{|k| ≤ k_max} |Ψ̂| dk (every transform error adding up in phase over all points and modes)
  is reported as `nufft_eps_worst_case`: about 100-1000 times smaller, it cost finufft two to
  three more spreading points per axis (2D, 10^6 points, tol 1e-6: 9.8e-10 against 1.8e-7).
- finufft's upsampfac (`upsampling_factor`): 1.25 where the modes outnumber the points, 3 for
  small mode grids, else 2; FFTW's planner measures its plans for fine grids of 2^21 points and
  more (`fftw_flag`).

Measured against the dense quadrature (tests), the error stays below 0.25 · tol for smooth kernels
(1-D, 2-D and 3-D; Gaussian, Mexican hat, bump; tol 1e-4, 1e-6, 1e-8) and below tol for the
exponential.
Ψ̂ is tabulated on [0, k_max] by piecewise Chebyshev interpolation (16 nodes per panel of width
2/R) and evaluated on the mode grid from that table. Kernels whose own transform is a Hankel
quadrature (Bump, Custom) are transformed through their projection onto a line
(`_ProjectedFourier`), which is fast up to large |k|.

Kernels that are not smooth (exponential: a cusp, Ψ̂ ~ |k|^{−(d+1)}; indicator: a jump, Ψ̂ ~
|k|^{−(d+1)/2}) are refused for tol < 1e-3; above it the same rules apply, and the mode limit
MAX_MODES usually refuses the indicator (its ‖E‖₂ decays like k_max^{−1/2}). Compact smooth kernels
(Bump) have a slowly decaying transform (~ e^{−c√(k·width)}): they need many modes, and the
`sparse` method is usually better for them.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass

import numpy as np
from mpi4py import MPI
from numba import njit

from fem_fhn.kernels import SPHERE_AREA, Bump, Custom, decay_radius, radial_mass
from fem_fhn.nonlocal_.base import as_points, check_tol
from fem_fhn.nonlocal_.sparse import kernel_name
from fem_fhn.ordering import morton_order
from fem_fhn.parallel import bounding_box
from fem_fhn.params import ParameterError

log = logging.getLogger(__name__)

#: largest number of Fourier modes Π M_a (the coefficient arrays alone take 24 bytes per mode,
#: finufft's fine grid another 16 · upsampfac^d)
MAX_MODES = 2**27
#: non-smooth kernels (cusp, jump) only at tol ≥ this
NON_SMOOTH_MIN_TOL = 1e-3
#: finufft tolerances are kept in [_EPS_MIN, _EPS_MAX]
_EPS_MIN, _EPS_MAX = 1e-14, 1e-2
_CHEB = 16
#: FFTW planner flags (finufft's `fftw` option) and the fine-grid size from which to measure
_FFTW_MEASURE, _FFTW_ESTIMATE = 0, 64
FFTW_MEASURE_FROM = 2**21
#: use finufft's execute_adjoint (≥ 2.5) for the type-2 step; else a second plan
_USE_ADJOINT = True
_MAX_WIDTHS = 400.0
#: coefficient entries per batch of columns (bounds the memory of multi-column applies)
_BATCH_ENTRIES = 2**25
_CHUNK = 2**22
#: projection samples per kernel width: aliasing from |k| ≥ 2π · 256/width (bump: ~1e-17)
_SAMPLES_PER_WIDTH = 256
_DECAY = {
    "Exponential": lambda d: f"|k|^-{d + 1}, a cusp at r = 0",
    "Indicator": lambda d: f"|k|^-{(d + 1) / 2:g}, a jump at r = width",
}


class _RadialTable:
    """|k| ↦ Ψ̂(k) on [0, h · n_panels] by Chebyshev interpolation, 16 nodes per panel of width h."""

    def __init__(self, fourier, h: float):
        j = np.arange(_CHEB)
        self.t = np.cos((2 * j + 1) * np.pi / (2 * _CHEB))  # first-kind nodes, in (−1, 1)
        self.bary = (-1.0) ** j * np.sin((2 * j + 1) * np.pi / (2 * _CHEB))
        self.quad = np.pi / _CHEB * np.sqrt(1 - self.t**2)  # ∫_{−1}^{1} g dt ≈ Σ quad_j g(t_j)
        self.fourier = fourier
        self.h = float(h)
        self.values = np.empty((0, _CHEB))

    @property
    def k_hi(self) -> float:
        return self.h * len(self.values)

    def nodes(self, first: int, last: int) -> np.ndarray:
        """Interpolation nodes of panels first … last − 1, shape (last − first, 16)."""
        starts = self.h * np.arange(first, last)
        return starts[:, None] + 0.5 * self.h * (self.t + 1)

    def extend(self, k_hi: float) -> None:
        n_old, n_new = len(self.values), max(len(self.values), math.ceil(k_hi / self.h))
        if n_new > n_old:
            k = self.nodes(n_old, n_new)
            new = np.asarray(self.fourier(k.ravel()), dtype=float).reshape(k.shape)
            self.values = np.concatenate([self.values, new])

    def panel_integrals(self, dim: int, power: int = 1) -> np.ndarray:
        """∫ |Ψ̂(k)|^power k^{d−1} dk over each panel."""
        k = self.nodes(0, len(self.values))
        return 0.5 * self.h * (np.abs(self.values) ** power * k ** (dim - 1)) @ self.quad

    def truncate(self, k_hi: float) -> None:
        self.values = self.values[: max(1, math.ceil(k_hi / self.h))]

    def __call__(self, k: np.ndarray) -> np.ndarray:
        """Barycentric interpolation at 0 ≤ k ≤ k_hi (flat array)."""
        p = np.minimum((k / self.h).astype(np.int64), len(self.values) - 1)
        t = 2 * (k - p * self.h) / self.h - 1
        diff = t[:, None] - self.t
        hit = diff == 0
        diff[hit] = 1.0
        terms = self.bary / diff
        out = np.einsum("ij,ij->i", terms, self.values[p]) / terms.sum(axis=1)
        rows, cols = np.nonzero(hit)
        out[rows] = self.values[p[rows], cols]
        return out


class _ProjectedFourier:
    """Ψ̂(k) = ∫ A(x) e^{−ikx} dx from the projection A of Ψ onto a line, by the trapezoid rule.

    A(x) = Ψ(|x|) (d = 1), 2 ∫_0^∞ Ψ(√(x² + ρ²)) dρ (d = 2), 2π ∫_{|x|}^∞ Ψ(r) r dr (d = 3).
    A is even and as smooth as Ψ, so the trapezoid rule with spacing h is accurate up to the aliased
    values Ψ̂(k + 2πp/h), p ≠ 0; h ≤ min(π/(4 k), width/256) puts them beyond 7k and beyond
    |k| · width ≈ 1600, where even the bump's slowly decaying transform is below 1e-16. A value
    costs O(k R) cosines instead of the O(k R) Bessel functions of a Hankel quadrature.
    """

    def __init__(self, kernel):
        self.kernel = kernel
        self.dim = int(kernel.dim)
        self.width = float(kernel.width)
        support = float(kernel.support)
        if not math.isfinite(support):
            support = decay_radius(kernel, self.dim, self.width)
        self.radius = support
        self.gl_x, self.gl_w = np.polynomial.legendre.leggauss(_CHEB)

    def _gauss(self, a: np.ndarray, b: np.ndarray, n_panels: int) -> tuple[np.ndarray, np.ndarray]:
        """Gauss–Legendre nodes and weights on n_panels equal panels of each [a_i, b_i]."""
        edges = a[:, None] + (b - a)[:, None] * np.linspace(0, 1, n_panels + 1)
        half = 0.5 * np.diff(edges, axis=1)[..., None]
        nodes = (edges[:, :-1, None] + half * (self.gl_x + 1)).reshape(len(a), -1)
        weights = (half * self.gl_w).reshape(len(a), -1)
        return nodes, weights

    def projection(self, x: np.ndarray) -> np.ndarray:
        R, psi = self.radius, self.kernel
        if self.dim == 1:
            return np.asarray(psi(x), dtype=float)
        if self.dim == 2:
            top = np.sqrt(np.maximum(R * R - x * x, 0.0))
            n_panels = max(32, math.ceil(32 * R / self.width))
            rho, w = self._gauss(np.zeros_like(x), top, n_panels)
            return 2 * np.sum(w * psi(np.sqrt(x[:, None] ** 2 + rho**2)), axis=1)
        # d = 3: 2π ∫_x^R Ψ(r) r dr, accumulated from R down over the sample intervals
        r, w = self._gauss(x, np.append(x[1:], max(R, x[-1])), 1)
        pieces = np.sum(w * psi(r) * r, axis=1)
        return 2 * np.pi * np.cumsum(pieces[::-1])[::-1]

    def __call__(self, k: np.ndarray) -> np.ndarray:
        k = np.abs(np.asarray(k, dtype=float))
        if k.size == 0:
            return np.zeros_like(k)
        h = min(np.pi / (4 * max(float(k.max()), 1e-300)), self.width / _SAMPLES_PER_WIDTH)
        x = h * np.arange(math.ceil(self.radius / h) + 1)
        coef = 2 * h * self.projection(x)
        coef[0] *= 0.5
        out = np.empty(k.size)
        step = max(1, _CHUNK // x.size)
        flat = k.ravel()
        for i in range(0, flat.size, step):
            out[i : i + step] = np.cos(np.outer(flat[i : i + step], x)) @ coef
        return out.reshape(k.shape)


def _fourier(kernel):
    """Ψ̂ as a function of |k|: the kernel's closed form, or the projection rule for kernels whose
    own transform is a Hankel quadrature (Bump, Custom)."""
    if isinstance(kernel, Bump | Custom):
        return _ProjectedFourier(kernel)
    return kernel.fourier


@dataclass
class NufftGrid:
    """The periodic box and mode grid chosen for a kernel, a bounding box and a tolerance.

    Attributes:
        modes: M_a per dimension (even).
        period: P_a = L_a + padding.
        center: c_a, centre of the bounding box.
        k_max: largest |k| kept.
        padding: R, the effective radius of the kernel.
        eps: finufft tolerance.
        budget: ε, absolute error budget per unit Σ_j |w_j u_j|.
        table: Ψ̂ on [0, k_max] (Chebyshev panels).
    """

    modes: tuple[int, ...]
    period: tuple[float, ...]
    center: tuple[float, ...]
    k_max: float
    padding: float
    eps: float
    budget: float
    table: _RadialTable

    @property
    def n_modes(self) -> int:
        return int(np.prod(self.modes, dtype=np.int64))

    def multiplier(self) -> np.ndarray:
        """Ψ̂(k_m)/ΠP_a on the mode grid (zero for |k_m| > k_max and on m_a = −M_a/2)."""
        axes = []
        for M, P in zip(self.modes, self.period, strict=True):
            k = 2 * np.pi * np.arange(-M // 2, M // 2) / P
            axes.append(k * k)
        out = np.zeros(self.modes)
        cross = np.zeros(())
        for k2_axis in axes[1:]:
            cross = np.add.outer(cross, k2_axis)
        k_max2 = self.k_max**2
        rows = max(1, 2**18 // max(cross.size, 1))
        for i0 in range(0, self.modes[0], rows):  # slabs of rows bound the temporaries
            k2 = np.add.outer(axes[0][i0 : i0 + rows], cross)
            inside = k2 <= k_max2
            out[i0 : i0 + rows][inside] = self.table(np.sqrt(k2[inside]))
        for axis in range(len(self.modes)):
            np.moveaxis(out, axis, 0)[0] = 0.0  # m_a = −M_a/2 has no partner +M_a/2
        return out / float(np.prod(self.period))


def _modes_for(k_max: float, period: np.ndarray) -> np.ndarray:
    """Smallest even M_a with 2π (M_a/2 − 1)/P_a ≥ k_max."""
    return 2 * np.ceil((k_max * period / np.pi + 2) / 2).astype(np.int64)


def _image_radius(kernel, budget: float) -> float:
    """Smallest R with (3^d − 1) max_{r ≥ R} |Ψ(r)| ≤ budget (R ≤ support)."""
    width, support = float(kernel.width), float(kernel.support)
    r_hi = support if math.isfinite(support) else _MAX_WIDTHS * width
    r = np.linspace(0.0, r_hi, 8001)
    envelope = np.maximum.accumulate(np.abs(np.asarray(kernel(r), dtype=float))[::-1])[::-1]
    big = np.nonzero((3**kernel.dim - 1) * envelope > budget)[0]
    if big.size == 0:
        return float(r[1])
    if big[-1] == r.size - 1:
        if math.isfinite(support):
            return support
        raise ParameterError(
            f"the {kernel_name(kernel)} has not decayed within {_MAX_WIDTHS:g} widths: "
            "nufft cannot pad the box; use method 'dense' or 'hmatrix'"
        )
    return float(min(r[big[-1] + 1], r_hi))


def _cap_error(kernel, tol: float, modes: np.ndarray, extent: np.ndarray) -> ParameterError:
    total = float(np.prod(modes.astype(float)))
    compact = math.isfinite(float(kernel.support))
    gigabytes = total * (24 + 16 * 1.25 ** len(modes)) / 1e9
    return ParameterError(
        f"nufft would need {total:.3g} Fourier modes ({' x '.join(map(str, modes))}, about "
        f"{gigabytes:.3g} GB per rank) for the {kernel_name(kernel)} at tol={tol:g} on a box of "
        f"size {' x '.join(f'{e:.3g}' for e in extent)}: more than the limit {MAX_MODES} (2^27); "
        f"use a larger tol or method {'sparse, ' if compact else ''}hmatrix or dense"
    )


def plan_grid(lo: np.ndarray, hi: np.ndarray, kernel, tol: float) -> NufftGrid:
    """Periodic box, k_max, modes and finufft eps for points in [lo, hi] (see module docstring).

    Raises:
        ParameterError: for a non-smooth kernel with tol < 1e-3, a kernel that does not decay, or
            more than MAX_MODES modes.
    """
    dim = int(kernel.dim)
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    extent = np.maximum(hi - lo, 0.0)
    width = float(kernel.width)
    support = float(kernel.support)
    smooth = bool(kernel.smooth)
    if not smooth and tol < NON_SMOOTH_MIN_TOL:
        decay = _DECAY.get(type(kernel).__name__, lambda d: "a power of |k| (Ψ is not smooth)")
        alternatives = "sparse, hmatrix or dense" if math.isfinite(support) else "hmatrix or dense"
        raise ParameterError(
            f"nufft cannot reach tol={tol:g} for the {kernel_name(kernel)} (Ψ̂ decays like "
            f"{decay(dim)}); use split, {alternatives}, or tol ≥ {NON_SMOOTH_MIN_TOL:g}"
        )
    # ε = tol · 2^{-d} ∫_{|x| ≤ ℓ} |Ψ| / V: the error measure's scale per unit Σ|w u|
    ell = max(float(extent.min()), width)
    ell = min(ell, support if math.isfinite(support) else _MAX_WIDTHS * width)
    local_mass = radial_mass(lambda r: np.abs(kernel(r)), dim, ell, width=width)
    volume = float(np.prod(np.maximum(extent, width)))
    budget = tol * local_mass / (2**dim * volume)

    padding = _image_radius(kernel, budget / 4)
    period = extent + padding
    c_d = SPHERE_AREA[dim] / (2 * np.pi) ** dim
    table = _RadialTable(_fourier(kernel), 2.0 / max(padding, width))
    # ‖E‖₂² = c_d ∫_{k_max}^∞ |Ψ̂|² k^{d−1} dk ≤ (ε/4)² V fixes k_max
    target = (budget / 4) ** 2 * volume
    k_hi = 8.0 / width
    while True:
        table.extend(k_hi)
        pieces = c_d * table.panel_integrals(dim, power=2)
        tail = np.cumsum(pieces[::-1])[::-1]  # from each panel start to k_hi
        # a lower bound of k_max (the tail beyond k_hi is left out): refuse early
        k_low = table.h * (int(np.argmax(tail <= target)) if tail[-1] <= target else len(tail))
        if np.prod(_modes_for(k_low, period).astype(float)) > MAX_MODES:
            raise _cap_error(kernel, tol, _modes_for(k_low, period), extent)
        last = pieces[len(pieces) // 2 :].sum()  # estimates the remainder beyond k_hi
        if last <= 0.01 * target:
            break
        k_hi = 2 * table.k_hi
    tail += last
    k_max = table.h * max(int(np.argmax(tail <= target)), 1)
    modes = _modes_for(k_max, period)
    if np.prod(modes.astype(float)) > MAX_MODES:
        raise _cap_error(kernel, tol, modes, extent)
    table.truncate(k_max)
    peak_value = c_d * table.panel_integrals(dim).sum()  # A ≈ max of the truncated kernel
    eps = float(np.clip(budget / (4 * peak_value), _EPS_MIN, _EPS_MAX))
    if eps == _EPS_MIN:
        log.warning(
            "nufft: the %s at tol=%g needs a transform tolerance below %g; the achieved accuracy "
            "may be coarser than tol",
            kernel_name(kernel),
            tol,
            _EPS_MIN,
        )
    table.fourier = None  # the values are all that is needed (and a user profile may not pickle)
    return NufftGrid(
        modes=tuple(int(m) for m in modes),
        period=tuple(float(p) for p in period),
        center=tuple(float(c) for c in 0.5 * (lo + hi)),
        k_max=float(k_max),
        padding=float(padding),
        eps=eps,
        budget=float(budget),
        table=table,
    )


def upsampling_factor(n_modes: int, n_points: int, dim: int) -> float:
    """finufft's upsampfac σ: 1.25 where the modes outnumber the points (the FFT of the fine grid,
    σ^d Π M_a entries, dominates: it and its memory shrink by (2/1.25)^d against σ = 2), 3 where
    that fine grid is small (3^d Π M_a ≤ N/8: a wider grid lets a narrower spreading kernel reach
    the same accuracy, measured 7-10 % faster at 10^6 points in 2D), else 2."""
    if n_modes > n_points:
        return 1.25
    return 3.0 if 3**dim * n_modes <= n_points / 8 else 2.0


def fftw_flag(modes: tuple[int, ...], upsampfac: float) -> int:
    """FFTW's planner flag: FFTW_MEASURE for fine grids of at least FFTW_MEASURE_FROM points, where
    the FFTs dominate an apply and the planner's seconds of timing pay back (measured 17-20 %
    faster at 1504² and 1686² modes, σ = 1.25, against FFTW_ESTIMATE); FFTW_ESTIMATE below. A
    measured plan may differ between processes, and with it the round-off of the transforms."""
    fine = math.prod(upsampfac * m for m in modes)
    return _FFTW_MEASURE if fine >= FFTW_MEASURE_FROM else _FFTW_ESTIMATE


def mode_errors(modes: tuple[int, ...], eps: float, upsampfac: float) -> list[np.ndarray]:
    """Per-axis relative errors η_a(m_a) of finufft's type-1 transform, m_a = −M_a/2 … M_a/2 − 1.

    finufft spreads with a tensor-product kernel and deconvolves axis by axis, so a d-dimensional
    transform of one point x gives F̃_m = Π_a e^{−i m_a x_a} (1 + r_a(m_a, x_a)) exactly: the
    relative error of a mode is Π_a (1 + r_a) − 1, with 1-D factors measured here by 1-D
    transforms of one unit source at offsets across a fine-grid cell (the aliasing terms
    φ̂(m + pn)/φ̂(m) add up in phase on a grid node) and at a generic point; η_a is their maximum.
    The type-2 transform (the adjoint) has the same errors.
    """
    import finufft

    out = []
    for M in modes:
        m = np.arange(-(M // 2), M - M // 2)
        cell = 2 * np.pi / (upsampfac * M)
        eta = np.zeros(M)
        for x in (0.0, 0.25 * cell, 0.5 * cell, 0.777):
            F = finufft.nufft1d1(
                np.array([x]),
                np.ones(1, complex),
                M,
                eps=eps,
                isign=-1,
                modeord=0,
                upsampfac=upsampfac,
                nthreads=1,
                showwarn=0,
            )
            eta = np.maximum(eta, np.abs(F * np.exp(1j * m * x) - 1.0))
        out.append(eta)
    return out


def weighted_mode_error(multiplier: np.ndarray, etas: list[np.ndarray]) -> float:
    """η̄ = Σ_m |μ_m| (Π_a (1 + η_a(m_a)) − 1) / Σ_m |μ_m| (μ the multiplier), slab by slab."""
    log_tail = np.zeros(())
    for eta in etas[1:]:
        log_tail = np.add.outer(log_tail, np.log1p(eta))
    first = np.log1p(etas[0])
    rows = max(1, 2**18 // max(log_tail.size, 1))
    total = 0.0
    for i0 in range(0, len(first), rows):
        block = np.abs(multiplier[i0 : i0 + rows])
        total += float(np.sum(block * np.expm1(np.add.outer(first[i0 : i0 + rows], log_tail))))
    mass = float(np.abs(multiplier).sum())
    return total / mass if mass > 0 else 0.0


def transform_tolerance(
    modes: tuple[int, ...], multiplier: np.ndarray, tol: float, upsampfac: float
) -> tuple[float, float, float]:
    """(upsampfac, finufft eps, η̄): the largest eps < tol on a ladder of quarter decades whose
    measured mode error η̄ (`weighted_mode_error`) is at most tol/4; upsampfac 1.25 falls back to 2
    where it cannot reach that.

    Each transform multiplies mode m by 1 + r_m (|r_m| ≤ η_m): the computed convolution kernel is
    Σ_m μ_m (1 + r_m)(1 + r'_m) e^{i m·y}, whose error kernel is bounded at every point by
    2 Σ_m |μ_m| η_m, i.e. 2 η̄ times the kernel's peak Σ_m |μ_m|; r_m varies slowly with m (on the
    scale of the fine grid), so the error kernel is as concentrated as Ψ itself and the error of a
    row is about 2 η̄ Σ_j |Ψ_ij| w_j |u_j| ≤ (tol/2) · (the error measure's scale). Validated
    against the dense quadrature for every kernel, dimension and tol 1e-4 … 1e-8 in the tests.
    """
    target = tol / 4
    for factor in dict.fromkeys((upsampfac, 2.0)):
        for j in range(round(-4 * math.log10(min(tol, _EPS_MAX))) + 1, 57):  # eps < tol
            eps = 10.0 ** (-j / 4)
            eta = weighted_mode_error(multiplier, mode_errors(modes, eps, factor))
            if eta <= target:
                return factor, eps, eta
    return 2.0, _EPS_MIN, eta


@njit(cache=True)
def _gather_scaled(u: np.ndarray, order: np.ndarray, weights: np.ndarray, out: np.ndarray) -> None:
    """out_i = w_i u_{p_i} (complex, imaginary part 0): the strengths in Morton order, one pass."""
    for i in range(order.size):
        out[i] = weights[i] * u[order[i]]


@njit(cache=True)
def _scatter_real(values: np.ndarray, order: np.ndarray, out: np.ndarray) -> None:
    """out_{p_i} = Re values_i: the results back in the input order, one pass."""
    for i in range(order.size):
        out[order[i]] = values[i].real


def _threads(comm: MPI.Comm) -> int:
    """finufft threads per rank: OMP_NUM_THREADS if set (0 = OpenMP's default), else the cores
    shared out among the ranks on this node."""
    if os.environ.get("OMP_NUM_THREADS"):
        return 0
    node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    ranks = node.size
    node.Free()
    return max(1, (os.cpu_count() or 1) // ranks)


class NufftOperator:
    """K u by two non-uniform FFTs and a Fourier multiplier (formula in the module docstring).

    Args:
        points, weights, kernel, comm, tol: as every backend (`fem_fhn.nonlocal_.base`); the
            kernel needs `fourier`, `width`, `support`, `smooth` and `dim`.
        transform_tol: the tol of the transforms' relative error rule (`transform_tolerance`;
            default tol): parts of a kernel whose absolute values add up to the kernel's share
            this error, which is relative to each part's own Σ_j |Ψ_ij| w_j |u_j|.

    Raises:
        ParameterError: tol ≤ 0; non-smooth kernel with tol < 1e-3; too many modes.
    """

    method = "nufft"

    def __init__(
        self,
        points: np.ndarray,
        weights: np.ndarray,
        kernel,
        comm: MPI.Comm,
        tol: float = 1e-8,
        transform_tol: float | None = None,
    ):
        import finufft

        tol = check_tol(tol)
        start = time.perf_counter()
        points = as_points(points)
        self.comm = comm
        self.kernel = kernel
        self.tol = float(tol)
        self.n_local = points.shape[0]
        self.n_global = int(comm.allreduce(self.n_local, op=MPI.SUM))
        self.weights = np.asarray(weights, dtype=float)
        dim = points.shape[1]
        lo, hi = bounding_box(comm, points)
        if self.n_global == 0:
            lo, hi = np.zeros(dim), np.zeros(dim)
        grid = None
        if comm.rank == 0:
            try:
                grid = plan_grid(lo, hi, kernel, self.tol)
            except ParameterError as err:
                grid = err
        grid = comm.bcast(grid, root=0)
        if isinstance(grid, ParameterError):
            raise grid
        self.grid = grid
        self.multiplier = grid.multiplier()
        self.upsampfac = upsampling_factor(grid.n_modes, self.n_global, dim)
        choice = None
        if comm.rank == 0:
            relative = self.tol if transform_tol is None else float(transform_tol)
            choice = transform_tolerance(grid.modes, self.multiplier, relative, self.upsampfac)
        self.upsampfac, self.eps, self.mode_error = comm.bcast(choice, root=0)
        # points stored in Morton order: finufft's spreading then reads them (and the
        # strengths, permuted in `apply`) from nearby memory
        self._order = morton_order(points)
        self._sorted_weights = self.weights[self._order]
        centred = points[self._order] - np.asarray(grid.center)
        scaled = 2 * np.pi * centred / np.asarray(grid.period)
        self._coords = [np.ascontiguousarray(scaled[:, a]) for a in range(dim)]
        # the points are sorted already (Morton order): finufft's own sort would only make its
        # spreading read them through an index (spread_sort 0: measured 8 % faster at 10^6 in 2D)
        options = {
            "modeord": 0,
            "upsampfac": self.upsampfac,
            "nthreads": _threads(comm),
            "spread_sort": 0,
            "fftw": fftw_flag(grid.modes, self.upsampfac),
        }
        self._fftw = options["fftw"]
        self._plan = finufft.Plan(1, grid.modes, eps=self.eps, isign=-1, **options)
        self._plan.setpts(*self._coords)
        if _USE_ADJOINT and hasattr(self._plan, "execute_adjoint"):  # finufft ≥ 2.5: one plan
            self._spread, self._interp = self._plan.execute, self._plan.execute_adjoint
            self._n_plans = 1
        else:
            plan2 = finufft.Plan(2, grid.modes, eps=self.eps, isign=+1, **options)
            plan2.setpts(*self._coords)
            self._plan2 = plan2
            self._spread, self._interp = self._plan.execute, plan2.execute
            self._n_plans = 2
        self._work = np.empty(self.n_local, dtype=complex)  # strengths, then values, of one column
        self._coefficients = np.empty((1, *grid.modes), dtype=complex)
        self.build_time = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)

    def _convolve(self, strengths: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Σ_j q_j Ψ_P(x_i − x_j) for complex strengths of shape (n_cols, n_local) (out may be
        strengths itself)."""
        n_cols = strengths.shape[0]
        if out is None:
            out = np.empty((n_cols, self.n_local), dtype=complex)
        batch = max(1, _BATCH_ENTRIES // self.grid.n_modes)
        coefficients = self._coefficients
        if min(batch, n_cols) > 1:
            coefficients = np.empty((min(batch, n_cols), *self.grid.modes), dtype=complex)
        for c0 in range(0, n_cols, batch):
            cols = range(c0, min(c0 + batch, n_cols))
            F = coefficients[: len(cols)]
            for t, c in enumerate(cols):
                self._spread(strengths[c], out=F[t])  # type 1, isign −1
            if self.comm.size > 1:
                self.comm.Allreduce(MPI.IN_PLACE, F, op=MPI.SUM)
            F *= self.multiplier
            for t, c in enumerate(cols):
                self._interp(F[t], out=out[c])  # type 2, isign +1
        return out

    def apply(self, u: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(K u)_i ≈ Σ_j Ψ(|x_i − x_j|) w_j u_j for the owned rows.

        Args:
            u: owned values, shape (n_local,) or (n_local, m), real (float64) or complex128; the
                result has the same shape and kind.
            out: where to write the result (optional; the scattered write of a new array costs
                its page faults every call, measured 12 ms of 92 at 10^6 points in 2D).
        """
        u = np.asarray(u)
        order = self._order
        if out is None:
            out = np.empty(u.shape, dtype=complex if np.iscomplexobj(u) else float)
        if u.ndim == 1 and not np.iscomplexobj(u):  # one real column: the common case
            work = self._work[None, :]
            _gather_scaled(
                np.ascontiguousarray(u, dtype=float), order, self._sorted_weights, work[0]
            )
            self._convolve(work, out=work)
            _scatter_real(work[0], order, out)
            return out
        columns = u.reshape(u.shape[0], math.prod(u.shape[1:]))[order]
        q = self._sorted_weights[:, None] * columns
        m = q.shape[1]
        if np.iscomplexobj(q):
            result = self._convolve(np.ascontiguousarray(q.T, dtype=complex)).T
        else:  # two real columns per complex transform: K(a + ib) = Ka + i Kb
            pairs = np.zeros(((m + 1) // 2, self.n_local), dtype=complex)
            pairs.real = q[:, 0::2].T
            pairs.imag[: m // 2] = q[:, 1::2].T
            both = self._convolve(pairs)
            result = np.empty((self.n_local, m))
            result[:, 0::2] = both.real.T
            result[:, 1::2] = both.imag[: m // 2].T
        out.reshape(result.shape)[order] = result
        return out

    def memory_bytes(self) -> int:
        """Estimate of this rank's memory: multiplier, coefficients, finufft fine grids, points."""
        g = self.grid
        fine = float(np.prod([max(self.upsampfac * M, 16) for M in g.modes]))
        return int(
            24 * g.n_modes  # multiplier (real) + coefficients of one column (complex)
            + 16 * fine * self._n_plans
            + (8 * len(g.modes) + 16) * self.n_local * self._n_plans
            + 24 * self.n_local  # the work column (complex) and the sorted weights
            + 8 * self.n_local  # the Morton permutation
        )

    def info(self) -> dict:
        """Build time, memory estimate and the grid (collective: call on every rank).

        Keys: method, n_global, build_time_s, memory_bytes_per_rank_max, tol, modes (M_a),
        n_modes, period (P_a), k_max, padding (R), nufft_eps (finufft's eps), fftw (the planner
        flag: "measure" or "estimate"), nufft_eps_worst_case
        (eps from the worst-case bound), mode_error (η̄, see `transform_tolerance`), upsampfac.
        """
        g = self.grid
        return {
            "method": self.method,
            "n_global": self.n_global,
            "build_time_s": self.build_time,
            "memory_bytes_per_rank_max": int(self.comm.allreduce(self.memory_bytes(), op=MPI.MAX)),
            "tol": self.tol,
            "modes": list(g.modes),
            "n_modes": g.n_modes,
            "period": list(g.period),
            "k_max": g.k_max,
            "padding": g.padding,
            "nufft_eps": self.eps,
            "nufft_eps_worst_case": g.eps,
            "mode_error": self.mode_error,
            "upsampfac": self.upsampfac,
            "fftw": "measure" if self._fftw == _FFTW_MEASURE else "estimate",
        }
