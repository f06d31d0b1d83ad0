"""Radial interaction kernels Ψ(|x|) on ℝ^d, d = 1, 2, 3 (docs/science.md).

Every kernel gives its value Ψ(r) for r = |x| ≥ 0, its Fourier transform

    Ψ̂(k) = ∫_{ℝ^d} Ψ(x) e^{−i k·x} dx        (real, and a function of |k| only),

its mass ∫Ψ dx = Ψ̂(0), its second moment σ = (1/2d) ∫ |x|² Ψ(x) dx (Ψ̂(k) = mass − σ|k|² + …;
σ is the diffusion coefficient of the local limit, docs/science.md), its support radius and whether
it is C^∞.

The built-in kernels have unit mass times `strength`. Kernels without a closed form (`Bump`,
`Custom`) use the generic radial quadrature of this module (Gauss–Legendre on panels):

    mass = |S^{d−1}| ∫_0^R Ψ(r) r^{d−1} dr,        σ = (|S^{d−1}|/2d) ∫_0^R Ψ(r) r^{d+1} dr,
    Ψ̂(k) = 2 ∫ Ψ cos(kr) dr  (d = 1),   2π ∫ Ψ J0(kr) r dr  (d = 2),
    Ψ̂(k) = 4π ∫ Ψ sin(kr)/(kr) r² dr  (d = 3),

with |S^0| = 2, |S^1| = 2π, |S^2| = 4π and R the support radius, or for kernels of unbounded support
the radius beyond which Ψ(r)(w + r)^{d+1} is below 1e-18 of its maximum (w = the kernel width).
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from scipy.special import j0, j1

from fem_fhn.params import ParameterError, require, require_finite

__all__ = [
    "KERNEL_TYPES",
    "Bump",
    "Custom",
    "Exponential",
    "Gaussian",
    "Indicator",
    "Kernel",
    "MexicanHat",
    "decay_radius",
    "hankel_sum",
    "make_kernel",
    "radial_fourier",
    "radial_mass",
    "radial_second_moment",
]

KERNEL_TYPES: tuple[str, ...] = ("gaussian", "exponential", "indicator", "bump", "mexican_hat")

#: Area |S^{d−1}| of the unit sphere in ℝ^d.
SPHERE_AREA: dict[int, float] = {1: 2.0, 2: 2.0 * math.pi, 3: 4.0 * math.pi}

_GL_ORDER = 20
_MAX_WIDTHS = 400.0
_CHUNK = 2_000_000

Profile = Callable[[np.ndarray], np.ndarray]


@runtime_checkable
class Kernel(Protocol):
    """What every interaction kernel provides (all arrays float64, vectorised)."""

    @property
    def width(self) -> float: ...
    @property
    def dim(self) -> int: ...
    @property
    def strength(self) -> float: ...
    def __call__(self, r: np.ndarray) -> np.ndarray: ...
    def fourier(self, k: np.ndarray) -> np.ndarray: ...
    @property
    def mass(self) -> float: ...
    @property
    def second_moment(self) -> float: ...
    @property
    def support(self) -> float: ...
    @property
    def smooth(self) -> bool: ...


# --------------------------------------------------------------------------- generic quadrature


@functools.lru_cache(maxsize=64)
def _panel_nodes(r_max: float, n_panels: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights of order 20 on n_panels equal panels of [0, r_max]."""
    x, w = np.polynomial.legendre.leggauss(_GL_ORDER)
    edges = np.linspace(0.0, r_max, n_panels + 1)
    h = np.diff(edges)[:, None]
    r = (edges[:-1, None] + 0.5 * h * (x + 1.0)).ravel()
    wr = (0.5 * h * w).ravel()
    r.setflags(write=False)
    wr.setflags(write=False)
    return r, wr


def _nodes(r_max: float, width: float | None, k_max: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Panels no longer than width/2 (if given) and 2/k_max (one panel per 2 radians of kr)."""
    n = 64
    if width is not None:
        n = max(n, math.ceil(2.0 * r_max / width))
    n = max(n, math.ceil(k_max * r_max / 2.0))
    return _panel_nodes(float(r_max), int(n))


def _check_dim(dim: int) -> None:
    ok = isinstance(dim, numbers.Integral) and not isinstance(dim, bool) and int(dim) in SPHERE_AREA
    require(ok, "dim", dim, "1, 2 or 3")


def _values(profile: Profile, r: np.ndarray) -> np.ndarray:
    values = np.broadcast_to(np.asarray(profile(r), dtype=float), r.shape)
    require(bool(np.all(np.isfinite(values))), "profile", profile, "finite values for r >= 0")
    return values


def decay_radius(profile: Profile, dim: int, width: float) -> float:
    """Radius R beyond which |Ψ(r)| (width + r)^{d+1} < 1e-18 · its maximum (tabulated, r ≤ 400 w).

    Raises:
        ParameterError: if the profile has not decayed within 400 widths (pass a finite support or a
            larger width), or is not finite.
    """
    _check_dim(dim)
    r = width * np.linspace(0.0, _MAX_WIDTHS, 8001)
    g = np.abs(_values(profile, r)) * (width + r) ** (dim + 1)
    big = np.nonzero(g > 1e-18 * g.max())[0]
    if big.size == 0:
        return float(width)
    allowed = f"a profile that decays within {_MAX_WIDTHS:g} widths (else give a finite support)"
    require(big[-1] < r.size - 1, "profile", profile, allowed)
    return float(max(r[big[-1] + 1], width))


def radial_mass(profile: Profile, dim: int, r_max: float, *, width: float | None = None) -> float:
    """Mass |S^{d−1}| ∫_0^{r_max} Ψ(r) r^{d−1} dr of a radial profile (Gauss–Legendre panels)."""
    _check_dim(dim)
    r, w = _nodes(r_max, width)
    return float(SPHERE_AREA[dim] * np.dot(w, _values(profile, r) * r ** (dim - 1)))


def radial_second_moment(
    profile: Profile, dim: int, r_max: float, *, width: float | None = None
) -> float:
    """Second moment σ = (|S^{d−1}|/2d) ∫_0^{r_max} Ψ(r) r^{d+1} dr of a radial profile."""
    _check_dim(dim)
    r, w = _nodes(r_max, width)
    return float(SPHERE_AREA[dim] / (2 * dim) * np.dot(w, _values(profile, r) * r ** (dim + 1)))


def radial_fourier(
    profile: Profile, dim: int, k: np.ndarray, r_max: float, *, width: float | None = None
) -> np.ndarray:
    """Fourier transform of a radial profile by the Hankel-type integrals in the module docstring.

    The panels resolve cos(kr), J0(kr) and sin(kr)/(kr) up to the largest |k|, so the cost grows
    like |k|_max · r_max; k is processed in chunks to bound the memory.

    Returns:
        Array shaped like k.
    """
    _check_dim(dim)
    k = np.abs(np.asarray(k, dtype=float))
    if k.size == 0:
        return np.zeros_like(k)
    r, w = _nodes(r_max, width, float(k.max()))
    return hankel_sum(r, w * _values(profile, r), dim, k)


def hankel_sum(r: np.ndarray, weights: np.ndarray, dim: int, k: np.ndarray) -> np.ndarray:
    """Ψ̂(k) ≈ Σ_q weights_q |S^{d−1}| r_q^{d−1} g(k r_q), g = cos, J0, sin(x)/x (d = 1, 2, 3).

    The radial quadrature of the module docstring for given nodes r_q and weights_q = (quadrature
    weight) · Ψ(r_q); k is processed in chunks to bound the memory.

    Returns:
        Array shaped like k.
    """
    k = np.abs(np.asarray(k, dtype=float))
    flat = k.ravel()
    weighted = SPHERE_AREA[dim] * weights * r ** (dim - 1)
    g = {1: np.cos, 2: j0, 3: lambda x: np.sinc(x / math.pi)}[dim]
    out = np.empty_like(flat)
    step = max(1, _CHUNK // max(r.size, 1))
    for start in range(0, flat.size, step):
        out[start : start + step] = g(np.outer(flat[start : start + step], r)) @ weighted
    return out.reshape(k.shape)


# --------------------------------------------------------------------------- shared base


class _RadialKernel:
    """Shared validation, defaults and generic-quadrature fallbacks of the kernel dataclasses.

    Defaults: unit mass times `strength`; support `width` if `_compact` else unbounded; `smooth`
    from `_smooth`. Subclasses declare the fields width, dim, strength.
    """

    _smooth: ClassVar[bool] = False
    _compact: ClassVar[bool] = False

    def __post_init__(self) -> None:
        width, dim, strength = self.width, self.dim, self.strength  # type: ignore[attr-defined]
        require_finite("width", width)
        require(width > 0, "width", width, "a length scale > 0")
        _check_dim(dim)
        require_finite("strength", strength)
        object.__setattr__(self, "dim", int(dim))

    @property
    def mass(self) -> float:
        return float(self.strength)  # type: ignore[attr-defined]

    @property
    def support(self) -> float:
        return float(self.width) if self._compact else math.inf  # type: ignore[attr-defined]

    @property
    def smooth(self) -> bool:
        return self._smooth

    def _radius(self) -> float:
        support = self.support
        if math.isfinite(support):
            return float(support)
        return decay_radius(self, self.dim, self.width)  # type: ignore[arg-type, attr-defined]

    def _quad_fourier(self, k: np.ndarray) -> np.ndarray:
        return radial_fourier(self, self.dim, k, self._radius(), width=self.width)  # type: ignore


def _quad_moments(kernel: _RadialKernel) -> tuple[float, float]:
    """(mass, σ) of a kernel by the generic radial quadrature, cached per (frozen) instance."""
    try:
        return _cached_moments(kernel)
    except TypeError:  # an unhashable user profile: no caching
        return _cached_moments.__wrapped__(kernel)


@functools.lru_cache(maxsize=256)
def _cached_moments(kernel: _RadialKernel) -> tuple[float, float]:
    r_max, width, dim = kernel._radius(), kernel.width, kernel.dim  # type: ignore[attr-defined]
    return (
        radial_mass(kernel, dim, r_max, width=width),  # type: ignore[arg-type]
        radial_second_moment(kernel, dim, r_max, width=width),  # type: ignore[arg-type]
    )


def _as_array(r: np.ndarray) -> np.ndarray:
    return np.abs(np.asarray(r, dtype=float))


# --------------------------------------------------------------------------- kernels


@dataclass(frozen=True)
class Gaussian(_RadialKernel):
    """Ψ(r) = strength · (2π s²)^{−d/2} e^{−r²/(2s²)};  Ψ̂(k) = strength · e^{−s²k²/2};  σ = s²/2."""

    width: float
    dim: int
    strength: float = 1.0
    _smooth: ClassVar[bool] = True

    def __call__(self, r: np.ndarray) -> np.ndarray:
        r, s = _as_array(r), self.width
        return (
            self.strength * (2 * math.pi * s * s) ** (-self.dim / 2) * np.exp(-r * r / (2 * s * s))
        )

    def fourier(self, k: np.ndarray) -> np.ndarray:
        return self.strength * np.exp(-0.5 * (self.width * _as_array(k)) ** 2)

    @property
    def second_moment(self) -> float:
        return self.strength * self.width**2 / 2


_EXP_NORMALISATION = {1: 2.0, 2: 2.0 * math.pi, 3: 8.0 * math.pi}


@dataclass(frozen=True)
class Exponential(_RadialKernel):
    """Ψ(r) = strength · e^{−r/s} / C_d with C_1 = 2s, C_2 = 2π s², C_3 = 8π s³ (not smooth at 0).

    Ψ̂(k) = strength · (1 + s²k²)^{−(d+1)/2} and σ = strength · (d + 1) s²/2 (s², 3s²/2, 2s²).
    """

    width: float
    dim: int
    strength: float = 1.0

    def __call__(self, r: np.ndarray) -> np.ndarray:
        r, s = _as_array(r), self.width
        return self.strength * np.exp(-r / s) / (_EXP_NORMALISATION[self.dim] * s**self.dim)

    def fourier(self, k: np.ndarray) -> np.ndarray:
        return self.strength * (1.0 + (self.width * _as_array(k)) ** 2) ** (-(self.dim + 1) / 2)

    @property
    def second_moment(self) -> float:
        return self.strength * (self.dim + 1) * self.width**2 / 2


#: Taylor coefficients (in x²) of 3 (sin x − x cos x)/x³ = Σ_{m≥1} 3 (−1)^{m+1} 2m x^{2m−2}/(2m+1)!.
_INDICATOR_3D_SERIES = np.array(
    [3.0 * (-1) ** (m + 1) * 2 * m / math.factorial(2 * m + 1) for m in range(1, 10)]
)


def _ball_volume(dim: int, s: float) -> float:
    return {1: 2.0 * s, 2: math.pi * s * s, 3: 4.0 * math.pi * s**3 / 3.0}[dim]


@dataclass(frozen=True)
class Indicator(_RadialKernel):
    """Ψ(r) = strength / |B_s| for r ≤ s, 0 beyond (|B_s| = 2s, π s², 4π s³/3).

    Ψ̂(k) = strength · m_d(ks) with m_1(x) = sin x / x, m_2(x) = 2 J1(x)/x and
    m_3(x) = 3 (sin x − x cos x)/x³ (Taylor series for x < 0.01 in 2-D, x < 0.5 in 3-D);
    σ = strength · s²/(2(d + 2)).
    """

    width: float
    dim: int
    strength: float = 1.0
    _compact: ClassVar[bool] = True

    def __call__(self, r: np.ndarray) -> np.ndarray:
        r = _as_array(r)
        return np.where(r <= self.width, self.strength / _ball_volume(self.dim, self.width), 0.0)

    def fourier(self, k: np.ndarray) -> np.ndarray:
        x = _as_array(k) * self.width
        x2 = x * x
        if self.dim == 1:
            m = np.sinc(x / math.pi)
        elif self.dim == 2:
            small = x < 1e-2
            xs = np.where(small, 1.0, x)
            m = np.where(small, 1 - x2 / 8 + x2 * x2 / 192 - x2**3 / 9216, 2 * j1(xs) / xs)
        else:
            small = x < 0.5
            xs = np.where(small, 1.0, x)
            series = np.polynomial.polynomial.polyval(x2, _INDICATOR_3D_SERIES)
            m = np.where(small, series, 3 * (np.sin(xs) - xs * np.cos(xs)) / xs**3)
        return self.strength * m

    @property
    def second_moment(self) -> float:
        return self.strength * self.width**2 / (2 * (self.dim + 2))


def _bump_shape(x: np.ndarray) -> np.ndarray:
    """exp(−1/(1 − x²)) for |x| < 1, 0 otherwise."""
    inside = x < 1.0
    return np.where(inside, np.exp(-1.0 / np.where(inside, 1.0 - x * x, 1.0)), 0.0)


@functools.lru_cache(maxsize=3)
def _bump_constant(dim: int) -> float:
    """c_d = 1/(|S^{d−1}| ∫_0^1 exp(−1/(1 − x²)) x^{d−1} dx): the unit-width bump has mass 1."""
    x, w = _panel_nodes(1.0, 128)
    return 1.0 / (SPHERE_AREA[dim] * float(np.dot(w, _bump_shape(x) * x ** (dim - 1))))


@dataclass(frozen=True)
class Bump(_RadialKernel):
    """Ψ(r) = strength · c_d s^{−d} exp(−1/(1 − (r/s)²)) for r < s, 0 beyond (C^∞, unit mass).

    c_d is computed once by Gauss–Legendre quadrature (mass 1 to ~1e-15); Ψ̂ and σ come from the
    generic radial quadrature.
    """

    width: float
    dim: int
    strength: float = 1.0
    _smooth: ClassVar[bool] = True
    _compact: ClassVar[bool] = True

    def __call__(self, r: np.ndarray) -> np.ndarray:
        x = _as_array(r) / self.width
        return self.strength * _bump_constant(self.dim) / self.width**self.dim * _bump_shape(x)

    def fourier(self, k: np.ndarray) -> np.ndarray:
        return self._quad_fourier(k)

    @property
    def second_moment(self) -> float:
        return _quad_moments(self)[1]


@dataclass(frozen=True)
class MexicanHat:
    """Mexican hat Ψ = a_exc G(width_exc) − a_inh G(width_inh), G the unit-mass Gaussian.

    Ψ̂(k) = a_exc e^{−s_e²k²/2} − a_inh e^{−s_i²k²/2}, mass = a_exc − a_inh,
    σ = (a_exc s_e² − a_inh s_i²)/2. The amplitudes carry the scale, so `strength` is fixed to 1;
    `width` is the larger of the two widths (width_inh for a usual Mexican hat).
    """

    width_exc: float
    width_inh: float
    a_exc: float
    a_inh: float
    dim: int
    strength: ClassVar[float] = 1.0
    support: ClassVar[float] = math.inf
    smooth: ClassVar[bool] = True

    def __post_init__(self) -> None:
        for key in ("width_exc", "width_inh"):
            value = getattr(self, key)
            require_finite(key, value)
            require(value > 0, key, value, "a length scale > 0")
        require_finite("a_exc", self.a_exc)
        require_finite("a_inh", self.a_inh)
        _check_dim(self.dim)
        object.__setattr__(self, "dim", int(self.dim))

    @property
    def excitatory(self) -> Gaussian:
        return Gaussian(self.width_exc, self.dim, self.a_exc)

    @property
    def inhibitory(self) -> Gaussian:
        return Gaussian(self.width_inh, self.dim, self.a_inh)

    def __call__(self, r: np.ndarray) -> np.ndarray:
        return self.excitatory(r) - self.inhibitory(r)

    def fourier(self, k: np.ndarray) -> np.ndarray:
        return self.excitatory.fourier(k) - self.inhibitory.fourier(k)

    @property
    def width(self) -> float:
        return float(max(self.width_exc, self.width_inh))

    @property
    def mass(self) -> float:
        return float(self.a_exc - self.a_inh)

    @property
    def second_moment(self) -> float:
        return self.excitatory.second_moment - self.inhibitory.second_moment


@dataclass(frozen=True)
class Custom(_RadialKernel):
    """A user radial profile: Ψ(r) = strength · profile(r) for r ≤ support, 0 beyond.

    The profile is not normalised. Mass, σ and Ψ̂ come from the generic radial quadrature on
    [0, support], or on [0, R] with R from `decay_radius` when the support is infinite (the profile
    must then decay exponentially, within 400 widths). `width` is only a length scale for the
    quadrature panels (no longer than width/2) and for reporting.

    Attributes:
        profile: vectorised r ↦ Ψ(r) on arrays of r ≥ 0.
        dim: space dimension, 1, 2 or 3.
        width: length scale (> 0).
        support: radius beyond which Ψ = 0 (> 0, math.inf if none).
        smooth: whether Ψ is C^∞ including at r = 0 (the user's statement).
        strength: finite factor.
        name: label for reports.
    """

    profile: Profile
    dim: int
    width: float = 1.0
    support: float = math.inf
    smooth: bool = False
    strength: float = 1.0
    name: str = "custom"

    def __post_init__(self) -> None:
        require(callable(self.profile), "profile", self.profile, "a callable r -> Psi(r)")
        super().__post_init__()
        ok = isinstance(self.support, int | float) and self.support > 0
        require(ok, "support", self.support, "a radius > 0 or math.inf")
        require(isinstance(self.smooth, bool), "smooth", self.smooth, "True or False")

    def __call__(self, r: np.ndarray) -> np.ndarray:
        r = _as_array(r)
        inside = r <= self.support
        out = np.zeros(r.shape)
        out[inside] = self.strength * _values(self.profile, r[inside])
        return out

    def fourier(self, k: np.ndarray) -> np.ndarray:
        return self._quad_fourier(k)

    @property
    def mass(self) -> float:
        return _quad_moments(self)[0]

    @property
    def second_moment(self) -> float:
        return _quad_moments(self)[1]


# --------------------------------------------------------------------------- factory

_FACTORY: dict[str, tuple[type, tuple[str, ...], tuple[str, ...]]] = {
    "gaussian": (Gaussian, ("width", "dim"), ("strength",)),
    "exponential": (Exponential, ("width", "dim"), ("strength",)),
    "indicator": (Indicator, ("width", "dim"), ("strength",)),
    "bump": (Bump, ("width", "dim"), ("strength",)),
    "mexican_hat": (MexicanHat, ("width_exc", "width_inh", "a_exc", "a_inh", "dim"), ()),
}


def make_kernel(spec: Mapping[str, Any]) -> Kernel:
    """Build a kernel from a config table such as ``{"type": "gaussian", "width": 0.1, "dim": 2}``.

    Keys per type: gaussian / exponential / indicator / bump take width, dim and optionally
    strength; mexican_hat takes width_exc, width_inh, a_exc, a_inh and dim. (`Custom` is
    Python-only.)

    Raises:
        ParameterError: for an unknown type, an unknown or missing key, or an invalid value.
    """
    require(isinstance(spec, Mapping), "kernel", spec, "a table with a 'type' key")
    if "type" not in spec:
        raise ParameterError(f"kernel.type is missing: one of {', '.join(KERNEL_TYPES)}")
    kind = spec["type"]
    ok = isinstance(kind, str) and kind in _FACTORY
    require(ok, "kernel.type", kind, f"one of {', '.join(KERNEL_TYPES)}")
    cls, required, optional = _FACTORY[kind]
    allowed = ("type", *required, *optional)
    for key in spec:
        ok = key in allowed
        require(ok, f"kernel.{key}", spec[key], f"a key of {kind} kernels ({', '.join(allowed)})")
    for key in required:
        if key not in spec:
            raise ParameterError(
                f"kernel.{key} is missing: {kind} kernels need {', '.join(required)}"
            )
    return cls(**{key: value for key, value in spec.items() if key != "type"})


def min_value(kernel) -> float:
    """min_r Ψ(r): exact (0 or the strength) for the built-in one-signed profiles, otherwise
    Ψ sampled at 40 001 radii on [0, support] (on [0, 400 width] for unbounded support)."""
    if isinstance(kernel, Gaussian | Exponential | Indicator | Bump):
        return min(0.0, float(kernel.strength))
    width = float(getattr(kernel, "width", 1.0))
    support = float(getattr(kernel, "support", math.inf))
    r_max = support if math.isfinite(support) else 400.0 * width
    with np.errstate(all="ignore"):
        values = np.asarray(kernel(np.linspace(0.0, r_max, 40_001)), dtype=float)
    return float(np.nanmin(values))
