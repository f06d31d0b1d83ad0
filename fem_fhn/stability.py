"""Linear stability of homogeneous states of the macroscopic system: dispersion, Turing maps.

Linearising ∂_t V − L_ρ0(V) = N(V) − W + I_ext, ∂_t W = τ (V + a − b W) (docs/science.md) at a
homogeneous equilibrium (V*, W*) with ρ0 ≡ ρ̄ on ℝ^d, the Fourier mode e^{ik·x} grows like e^{λt}
with (docs/science.md)

    μ_k = ρ̄ (Ψ̂(k) − Ψ̂(0)),    f' = N'(V*) = 1 − 3V*²,    s_k = f' + μ_k,
    λ² − (s_k − τb) λ + τ (1 − b s_k) = 0,

the eigenvalues of the 2×2 matrix [[s_k, −1], [τ, −τb]]. The trace s_k − τb grows and the
determinant τ(1 − b s_k) falls with μ_k, so the first mode to lose stability when the coupling
grows is the critical wavenumber k_c = argmax Ψ̂(k) (for ρ̄ > 0), and it does so through
tr = 0 (complex λ: "oscillatory", waves) if τb² < 1, or det = 0 (real λ: "stationary", Turing
patterns) if τb² > 1. With Ψ ≥ 0, Ψ̂(k) ≤ Ψ̂(0) and μ_k ≤ 0: no Turing instability around a
stable rest state. Only V* enters the linearisation; W* is reported.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq, minimize_scalar

from fem_fhn import neuron
from fem_fhn.params import FHNParameters, ParameterError, require, require_finite

__all__ = [
    "KIND_CODES",
    "Instability",
    "dispersion",
    "homogeneous_state",
    "instabilities",
    "map_names",
    "parameter_map",
]

#: Codes of `parameter_map`'s kind array (−1: no stable homogeneous state to linearise at).
KIND_CODES = {"none": -1, "stable": 0, "stationary": 1, "oscillatory": 2}


def homogeneous_state(params: FHNParameters, V_star: float | None = None) -> tuple[float, float]:
    """(V*, W*): the given V* or, if None, the stable equilibrium of the neuron (the lowest one).

    W* = (V* + a)/b for b > 0; for b = 0 the w-nullcline is v = −a, and W* = N(V*) + I_ext.

    Raises:
        ParameterError: if V_star is None and no equilibrium is stable.
    """
    if V_star is None:
        stable = [(v, w) for v, w in neuron.equilibria(params) if neuron.is_stable(params, v, w)]
        if not stable:
            raise ParameterError(
                f"V_star = None is not allowed for {params}: no equilibrium is stable, "
                "give the homogeneous state V_star to linearise at"
            )
        return float(stable[0][0]), float(stable[0][1])
    require_finite("V_star", V_star)
    V = float(V_star)
    W = (V + params.a) / params.b if params.b > 0 else float(params.N(V)) + params.I_ext
    return V, W


def _mu(kernel, k: np.ndarray, rho: float) -> np.ndarray:
    return rho * (kernel.fourier(k) - kernel.fourier(np.zeros(1))[0])


def _roots(params: FHNParameters, s: np.ndarray) -> np.ndarray:
    """Roots of λ² − (s − τb) λ + τ (1 − b s) = 0, shape s.shape + (2,), sorted (Re, Im) desc."""
    trace = s - params.tau * params.b
    det = params.tau * (1.0 - params.b * s)
    disc = trace * trace - 4.0 * det
    real = disc >= 0
    root = np.sqrt(np.abs(disc))
    q = 0.5 * (trace + np.where(trace >= 0, root, -root))  # real roots without cancellation
    nonzero = q != 0
    other = np.where(nonzero, det / np.where(nonzero, q, 1.0), 0.0)
    # complex pairs: exact conjugates T/2 ± i √(4D − T²)/2
    q = np.where(real, q + 0j, 0.5 * trace + 0.5j * root)
    other = np.where(real, other + 0j, 0.5 * trace - 0.5j * root)
    lam = np.stack([q, other], axis=-1)
    order = np.lexsort((-lam.imag, -lam.real), axis=-1)
    return np.take_along_axis(lam, order, axis=-1)


def _k_array(k) -> np.ndarray:
    k = np.atleast_1d(np.asarray(k, dtype=float))
    ok = k.ndim == 1 and k.size >= 1 and bool(np.all(np.isfinite(k))) and bool(np.all(k >= 0))
    require(ok, "k", k, "a 1D array of finite wavenumbers >= 0")
    return k


def dispersion(
    params: FHNParameters, kernel, k, rho: float = 1.0, V_star: float | None = None
) -> np.ndarray:
    """Growth rates λ_1(k), λ_2(k) of the mode e^{ik·x} (module docstring).

    Args:
        params: FHN parameters.
        kernel: a kernel of `fem_fhn.kernels` (its `fourier` gives Ψ̂(|k|)).
        k: wavenumbers |k| ≥ 0.
        rho: the constant density ρ̄ ≥ 0.
        V_star: homogeneous state; None: the neuron's stable equilibrium (`homogeneous_state`).

    Returns:
        Complex array (len(k), 2), each row sorted by real part, then imaginary part, descending.
    """
    require_finite("rho", rho)
    require(rho >= 0, "rho", rho, "a density >= 0")
    V, _ = homogeneous_state(params, V_star)
    k = _k_array(k)
    return _roots(params, params.dN(V) + _mu(kernel, k, rho))


@dataclass(frozen=True)
class Instability:
    """What the dispersion relation says on a range of wavenumbers.

    Attributes:
        unstable: some mode has Re λ > 0.
        bands: the intervals (k_lo, k_hi) where Re λ_1 > 0 (edges found by root finding; an edge
            at the end of the k range means the band may continue).
        k_max: wavenumber of the largest Re λ_1 in the range (the least stable mode if stable).
        lambda_max: λ_1(k_max).
        kind: "stationary" (real λ_1(k_max): Turing), "oscillatory" (complex: waves) or None
            when stable.
        k_critical: argmax Ψ̂ in the range, the first mode to lose stability as ρ̄Ψ grows.
        onset: kind of that first instability: "stationary" if τb² > 1, else "oscillatory".
        V_star, W_star: the homogeneous state.
    """

    unstable: bool
    bands: tuple[tuple[float, float], ...]
    k_max: float
    lambda_max: complex
    kind: str | None
    k_critical: float
    onset: str
    V_star: float
    W_star: float

    @property
    def wavelength(self) -> float:
        """2π/k_max (inf for k_max = 0)."""
        return 2 * math.pi / self.k_max if self.k_max > 0 else math.inf

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["bands"] = [list(b) for b in self.bands]
        d["lambda_max"] = [self.lambda_max.real, self.lambda_max.imag]
        d["wavelength"] = self.wavelength
        return d


def _refine_max(f, k: np.ndarray, i: int) -> float:
    """Maximiser of f near the grid maximum k[i] (bounded scalar search on its neighbours)."""
    lo, hi = k[max(i - 1, 0)], k[min(i + 1, k.size - 1)]
    if hi <= lo:
        return float(k[i])
    res = minimize_scalar(
        lambda x: -f(x), bounds=(lo, hi), method="bounded", options={"xatol": 1e-12}
    )
    return float(res.x) if -res.fun >= f(k[i]) else float(k[i])


def instabilities(
    params: FHNParameters,
    kernel,
    k,
    rho: float = 1.0,
    V_star: float | None = None,
    tol: float = 1e-12,
) -> Instability:
    """Unstable bands, fastest mode and its kind, and the critical wavenumber on the grid k.

    Args:
        params, kernel, rho, V_star: as in `dispersion`.
        k: increasing wavenumbers; k_max and the band edges are refined between grid points.
        tol: |Im λ| ≤ tol·max(1, |λ|) counts as real.
    """
    k = _k_array(k)
    require(bool(np.all(np.diff(k) > 0)), "k", k, "increasing wavenumbers")
    V, W = homogeneous_state(params, V_star)
    lam = dispersion(params, kernel, k, rho, V)[:, 0]

    def growth(x: float) -> float:
        return float(dispersion(params, kernel, [x], rho, V)[0, 0].real)

    i = int(np.argmax(lam.real))
    k_max = _refine_max(growth, k, i)
    lam_max = complex(dispersion(params, kernel, [k_max], rho, V)[0, 0])
    positive = lam.real > 0
    bands = []
    edges = np.flatnonzero(np.diff(positive.astype(int)))
    starts = [0] if positive[0] else []
    starts += [e + 1 for e in edges if not positive[e]]
    for s in starts:
        e = s
        while e + 1 < k.size and positive[e + 1]:
            e += 1
        lo = float(k[0]) if s == 0 else brentq(growth, k[s - 1], k[s], xtol=1e-13)
        hi = float(k[-1]) if e == k.size - 1 else brentq(growth, k[e], k[e + 1], xtol=1e-13)
        bands.append((lo, hi))
    unstable = bool(positive.any()) or lam_max.real > 0
    kind = None
    if unstable:
        real = abs(lam_max.imag) <= tol * max(1.0, abs(lam_max))
        kind = "stationary" if real else "oscillatory"
    psi_hat = kernel.fourier(k)
    k_crit = _refine_max(
        lambda x: float(kernel.fourier(np.array([x]))[0]), k, int(np.argmax(psi_hat))
    )
    onset = "stationary" if params.tau * params.b**2 > 1 else "oscillatory"
    return Instability(unstable, tuple(bands), k_max, lam_max, kind, k_crit, onset, V, W)


def map_names(params: FHNParameters, kernel) -> tuple[str, ...]:
    """Names `parameter_map` can vary: FHN fields, the kernel's fields, "rho" and "V_star"."""
    kernel_fields = dataclasses.fields(kernel) if dataclasses.is_dataclass(kernel) else ()
    skip = ("dim", "profile", "kernel", "name", "smooth")
    numeric = [f.name for f in kernel_fields if f.name not in skip]
    return (*[f.name for f in dataclasses.fields(params)], *numeric, "rho", "V_star")


def _apply(params, kernel, rho, V_star, name: str, value: float, allowed: Sequence[str]):
    if name not in allowed:
        raise ParameterError(f"parameter {name!r} cannot be mapped: one of {', '.join(allowed)}")
    if name == "rho":
        return params, kernel, float(value), V_star
    if name == "V_star":
        return params, kernel, rho, float(value)
    if name in [f.name for f in dataclasses.fields(params)]:
        return params.replace(**{name: float(value)}), kernel, rho, V_star
    return params, dataclasses.replace(kernel, **{name: float(value)}), rho, V_star


def parameter_map(
    params: FHNParameters,
    kernel,
    name1: str,
    values1,
    name2: str,
    values2,
    k,
    rho: float = 1.0,
    V_star: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """max_k Re λ_1(k) and the kind of the fastest mode over a plane of two parameters.

    Args:
        params, kernel, k, rho, V_star: as in `dispersion` (k: the grid maximised over).
        name1, name2: names from `map_names` (FHN fields a, b, tau, I_ext; kernel fields such as
            width, a_inh, delta; "rho"; "V_star").
        values1, values2: the values taken by each.

    Returns:
        (growth, kind), both of shape (len(values1), len(values2)); growth[i, j] = max Re λ at
        (values1[i], values2[j]) (NaN where no stable state exists to linearise at), kind the
        `KIND_CODES` code of the fastest mode (0 where stable).
    """
    k = _k_array(k)
    allowed = map_names(params, kernel)
    values1 = np.atleast_1d(np.asarray(values1, dtype=float))
    values2 = np.atleast_1d(np.asarray(values2, dtype=float))
    growth = np.full((values1.size, values2.size), np.nan)
    kind = np.full(growth.shape, KIND_CODES["none"], dtype=int)
    fhn_fields = [f.name for f in dataclasses.fields(params)]
    kernel_fixed = name2 in ("rho", "V_star", *fhn_fields)  # Ψ̂ changes with name1 only
    for i, v1 in enumerate(values1):
        p1 = _apply(params, kernel, rho, V_star, name1, v1, allowed)
        mu_cache = None
        for j, v2 in enumerate(values2):
            p, kern, r, vs = _apply(*p1, name2, v2, allowed)
            try:
                V, _ = homogeneous_state(p, vs)
            except ParameterError:
                continue
            if kernel_fixed:
                mu_cache = _mu(kern, k, 1.0) if mu_cache is None else mu_cache
                mu = r * mu_cache
            else:
                mu = _mu(kern, k, r)
            lam = _roots(p, p.dN(V) + mu)[:, 0]
            m = int(np.argmax(lam.real))
            growth[i, j] = lam[m].real
            if lam[m].real <= 0:
                kind[i, j] = KIND_CODES["stable"]
            else:
                real = abs(lam[m].imag) <= 1e-12 * max(1.0, abs(lam[m]))
                kind[i, j] = KIND_CODES["stationary" if real else "oscillatory"]
    return growth, kind
