"""Initial kinetic densities with prescribed moments (docs/science.md, docs/discretisation.md).

`from_moments` builds, at every node i, the separable density

    f_i(v, w) = ρ0_i p_v(v; V0_i, σ_v) p_w(w; W0_i, σ_w) / (Δv Δw),

where each one-dimensional profile p(·; μ, σ) is a discrete Gaussian with exact moments: the points
μ + s h (s = −S … S, h the cell size, S = ⌈5σ/h⌉) with weights exp(−(s h)²/(2σ²)) are deposited
linearly (cloud-in-cell) on the cell centres, keeping only symmetric pairs ±s whose points lie in
the range of the centres, and normalised to sum 1. Cloud-in-cell deposits keep mass and first
moment, and the kept points are symmetric about μ, so the discrete moments are exactly

    Σ f ΔvΔw = ρ0,   Σ v f ΔvΔw = ρ0 V0,   Σ w f ΔvΔw = ρ0 W0     (to round-off),

with f ≥ 0. σ = 0 ("dirac") deposits the single point μ (bilinear cloud-in-cell in (v, w)).
`from_function` samples a user density f0(x, v, w) at the cell centres.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fem_fhn.kinetic.grid import VelocityGrid
from fem_fhn.params import ParameterError, require

__all__ = ["cic_profile", "from_function", "from_moments"]

_WIDTHS = 5.0


def cic_profile(mean: np.ndarray, sigma: float, centres: np.ndarray) -> np.ndarray:
    """Discrete Gaussian of mean `mean` (per row) and width σ ≥ 0 on `centres` (module doc).

    Args:
        mean: means, shape (n,), inside [centres[0], centres[-1]].
        sigma: width (0 for a single cloud-in-cell deposit).
        centres: uniform cell centres, shape (m,).

    Returns:
        Nonnegative weights of shape (n, m) summing to 1 per row, with Σ centres·p = mean.
    """
    mean = np.atleast_1d(np.asarray(mean, dtype=float))
    lo, hi, m = centres[0], centres[-1], centres.size
    h = (hi - lo) / (m - 1)
    outside = (mean < lo) | (mean > hi)
    if np.any(outside):
        bad = mean[outside][0]
        raise ParameterError(
            f"initial mean {bad:g} is outside the velocity grid's cell centres [{lo:g}, {hi:g}]"
        )
    S = int(np.ceil(_WIDTHS * sigma / h)) if sigma > 0 else 0
    s = np.arange(-S, S + 1)
    weight = np.exp(-0.5 * (s * h / sigma) ** 2) if sigma > 0 else np.ones(1)
    points = mean[:, None] + s[None, :] * h
    # keep the pair ±s only if both points lie inside [lo, hi]: the kept set stays symmetric
    inside = (points >= lo) & (points <= hi)
    keep = inside & inside[:, ::-1]
    w = np.where(keep, weight[None, :], 0.0)
    pos = (np.clip(points, lo, hi) - lo) / h
    k0 = np.clip(np.floor(pos).astype(np.int64), 0, m - 2)
    theta = np.clip(pos - k0, 0.0, 1.0)
    n = mean.size
    rows = np.arange(n)[:, None] * m
    profile = np.bincount(
        np.concatenate([(rows + k0).ravel(), (rows + k0 + 1).ravel()]),
        weights=np.concatenate([(w * (1 - theta)).ravel(), (w * theta).ravel()]),
        minlength=n * m,
    ).reshape(n, m)
    return profile / profile.sum(axis=1, keepdims=True)


def from_moments(
    grid: VelocityGrid,
    rho0: np.ndarray,
    V0: np.ndarray | float,
    W0: np.ndarray | float,
    sigma_v: float = 0.0,
    sigma_w: float = 0.0,
) -> np.ndarray:
    """Density of shape (n, n_v, n_w) with moments (ρ0, V0, W0) per node (module docstring).

    Args:
        grid: the velocity grid.
        rho0: ρ0 ≥ 0 per node.
        V0, W0: mean velocities per node (or one number), inside the grid's cell-centre range.
        sigma_v, sigma_w: Gaussian widths ≥ 0 ("dirac" profile for 0).
    """
    rho0 = np.atleast_1d(np.asarray(rho0, dtype=float))
    require(bool(np.all(rho0 >= 0)), "rho0", float(rho0.min(initial=0)), "rho0 >= 0")
    require(sigma_v >= 0, "kinetic.sigma_v", sigma_v, "a width >= 0")
    require(sigma_w >= 0, "kinetic.sigma_w", sigma_w, "a width >= 0")
    n = rho0.shape[0]
    V0 = np.broadcast_to(np.asarray(V0, dtype=float), (n,))
    W0 = np.broadcast_to(np.asarray(W0, dtype=float), (n,))
    pv = cic_profile(V0, sigma_v, grid.v)
    pw = cic_profile(W0, sigma_w, grid.w)
    return (rho0 / grid.cell_area)[:, None, None] * pv[:, :, None] * pw[:, None, :]


def from_function(
    grid: VelocityGrid,
    coords: np.ndarray,
    f0: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """Density f0(x, v, w) sampled at the cell centres, shape (n, n_v, n_w).

    f0 is called once with broadcastable arrays: x of shape (n, 1, 1, dim) (node coordinates),
    v of shape (1, n_v, 1) and w of shape (1, 1, n_w); it returns values broadcastable to
    (n, n_v, n_w), finite and ≥ 0.
    """
    coords = np.asarray(coords, dtype=float)
    if coords.ndim == 1:
        coords = coords[:, None]
    n = coords.shape[0]
    values = f0(coords[:, None, None, :], grid.v[None, :, None], grid.w[None, None, :])
    f = np.array(np.broadcast_to(np.asarray(values, dtype=float), (n, *grid.shape)))
    if not np.all(np.isfinite(f)):
        raise ParameterError("the initial density f0(x, v, w) has non-finite values on the grid")
    if np.any(f < 0):
        raise ParameterError(
            f"the initial density f0(x, v, w) must be >= 0, found {float(f.min()):g}"
        )
    return f
