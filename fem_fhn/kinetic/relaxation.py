"""Stiff relaxation of the kinetic density: exact flow with a cloud-in-cell remap.

The stiff part of the kinetic equation at node i,

    ∂_t f = ∂_v[ (ρ_i/ε) (v − V_i) f ],        V_i = j_i/ρ_i,

leaves ρ_i and j_i (hence V_i) unchanged, so over a step Δt its characteristics are the exact
contraction  v ↦ V_i + (v − V_i) λ_i,  λ_i = exp(−ρ_i Δt/ε),  independently in every w-row.
The remap moves the mass of each cell (k, l) to its contracted centre p_k = V_i + (v_k − V_i) λ_i
and deposits it linearly (cloud-in-cell) on the two cell centres that bracket p_k:

    f_{k0,l} += (1 − θ) f_kl,   f_{k0+1,l} += θ f_kl,   p_k = v_{k0} + θ Δv,  0 ≤ θ ≤ 1.

This conserves mass and j exactly (the deposit keeps each parcel's first moment), keeps f ≥ 0, and
needs no time-step restriction. The v-variance after the remap is λ² var_v plus the deposit
variance Σ θ(1 − θ) Δv² f/ρ ∈ [0, Δv²/4]. As ε → 0 all mass lands on the two cells that bracket V.

When λ is close to 1 the remap moves mass by a fraction of a cell and acts like first-order
upwind (numerical diffusion); `fem_fhn.kinetic.stepper` then puts the relaxation velocity into
the transport drift instead. `relax` runs a numba kernel (parallel over nodes) or its array twin
(`backend="numpy"`, also `relax_numpy`); nodes with `active` False (or ρ = 0, or λ = 1) are
copied unchanged.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from fem_fhn.kinetic.grid import VelocityGrid
from fem_fhn.params import require

__all__ = ["contraction", "relax", "relax_numpy"]


def contraction(rho: np.ndarray, dt: float, eps: float) -> np.ndarray:
    """λ = exp(−ρ Δt/ε) per node (1 for ε = ∞)."""
    if math.isinf(eps):
        return np.ones_like(np.asarray(rho, dtype=float))
    return np.exp(-np.asarray(rho, dtype=float) * (dt / eps))


@njit(inline="always")
def _bracket(p, v0, dv, nv):  # pragma: no cover - compiled
    s = (p - v0) / dv
    k0 = int(math.floor(s))
    if k0 < 0:
        k0 = 0
    if k0 > nv - 2:
        k0 = nv - 2
    theta = s - k0
    if theta < 0.0:
        theta = 0.0
    if theta > 1.0:
        theta = 1.0
    return k0, theta


@njit(cache=True, parallel=True)
def _relax_kernel(f, v, dv, V, lam, active, out):  # pragma: no cover - compiled
    n, nv, nw = f.shape
    for i in prange(n):
        if not active[i]:
            out[i] = f[i]
            continue
        out[i] = 0.0
        for k in range(nv):
            p = V[i] + (v[k] - V[i]) * lam[i]
            k0, theta = _bracket(p, v[0], dv, nv)
            for l in range(nw):
                m = f[i, k, l]
                out[i, k0, l] += (1.0 - theta) * m
                out[i, k0 + 1, l] += theta * m


def _active(rho, lam, active) -> np.ndarray:
    ok = (np.asarray(rho) > 0) & (np.asarray(lam) < 1.0)
    return ok if active is None else ok & np.asarray(active, dtype=bool)


def _relax_numpy(f, v, dv, V, lam, active, out) -> None:
    """Array twin of `_relax_kernel`: the same deposits, added in the same order (bincount)."""
    nv, nw = f.shape[1:]
    out[...] = f
    idx = np.nonzero(active)[0]
    if idx.size == 0:
        return
    Va, la = V[idx, None], lam[idx, None]
    p = Va + (v[None, :] - Va) * la
    s = (p - v[0]) / dv
    k0 = np.clip(np.floor(s).astype(np.int64), 0, nv - 2)
    theta = np.clip(s - k0, 0.0, 1.0)
    # parcels ordered (node, source cell k, target k0 / k0 + 1, w-row l), as the kernel adds them
    fa = f[idx]
    weights = np.stack([(1.0 - theta)[..., None] * fa, theta[..., None] * fa], axis=2)
    target = np.stack([k0, k0 + 1], axis=2)
    flat = (np.arange(idx.size)[:, None, None, None] * nv + target[..., None]) * nw + np.arange(nw)
    flat = np.broadcast_to(flat, weights.shape)
    deposited = np.bincount(flat.ravel(), weights=weights.ravel(), minlength=idx.size * nv * nw)
    out[idx] = deposited.reshape(idx.size, nv, nw)


#: the two implementations of the relaxation, with the arguments of `_relax_kernel`
_KERNELS = {"numba": _relax_kernel, "numpy": _relax_numpy}


def relax(
    f: np.ndarray,
    grid: VelocityGrid,
    rho: np.ndarray,
    V: np.ndarray,
    lam: np.ndarray,
    active: np.ndarray | None = None,
    out: np.ndarray | None = None,
    backend: str = "numba",
) -> np.ndarray:
    """Exact relaxation flow with linear deposit (module docstring).

    Args:
        f: density, shape (n_nodes, n_v, n_w).
        grid: the velocity grid.
        rho, V: ρ_i and V_i per node (from `fem_fhn.kinetic.moments`).
        lam: contraction factor λ_i = exp(−ρ_i Δt/ε) per node (`contraction`).
        active: nodes to relax (default all); the others are copied.
        out: optional output array (not `f`).
        backend: "numba" (the compiled kernel, parallel over nodes) or "numpy" (its array twin).
    """
    require(backend in _KERNELS, "kinetic.backend", backend, f"one of {', '.join(_KERNELS)}")
    f = np.ascontiguousarray(f, dtype=float)
    out = np.empty_like(f) if out is None else out
    act = np.ascontiguousarray(_active(rho, lam, active))
    V = np.ascontiguousarray(V, dtype=float)
    lam = np.ascontiguousarray(lam, dtype=float)
    _KERNELS[backend](f, grid.v, grid.dv, V, lam, act, out)
    return out


def relax_numpy(*args, **kwargs) -> np.ndarray:
    """Array twin of `relax`: the same arguments, with ``backend="numpy"``."""
    return relax(*args, backend="numpy", **kwargs)
