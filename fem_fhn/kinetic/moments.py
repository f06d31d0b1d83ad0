"""Velocity moments of the kinetic density at every node (docs/science.md, docs/discretisation.md).

For f of shape (n_nodes, n_v, n_w) on a `VelocityGrid` (cell centres v_k, w_l, cell area Δv Δw):

    ρ = Σ_kl f_kl Δv Δw,   j = Σ_kl v_k f_kl Δv Δw,   q = Σ_kl w_l f_kl Δv Δw,
    V = j/ρ,   W = q/ρ,   var_v = Σ_kl (v_k − V)² f_kl Δv Δw / ρ,   var_w likewise,

with V = W = var_v = var_w = 0 where ρ = 0. `moments` is a numba kernel (parallel over nodes),
`moments_numpy` its array twin; both return an array of shape (7, n_nodes) with rows MOMENT_NAMES.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from fem_fhn.kinetic.grid import VelocityGrid

__all__ = ["MOMENT_NAMES", "flux_moments", "moments", "moments_numpy"]

MOMENT_NAMES = ("rho", "j", "q", "V", "W", "var_v", "var_w")


@njit(cache=True, parallel=True)
def _moments_kernel(f, v, w, area, second, out):  # pragma: no cover - compiled
    n, nv, nw = f.shape
    for i in prange(n):
        # one pass over f: the marginals in v and in w carry every moment
        fv = np.zeros(nv)
        fw = np.zeros(nw)
        for k in range(nv):
            row = 0.0
            for l in range(nw):
                m = f[i, k, l]
                row += m
                fw[l] += m
            fv[k] = row
        s0 = 0.0
        sv = 0.0
        for k in range(nv):
            s0 += fv[k]
            sv += v[k] * fv[k]
        sw = 0.0
        for l in range(nw):
            sw += w[l] * fw[l]
        V = sv / s0 if s0 > 0.0 else 0.0
        W = sw / s0 if s0 > 0.0 else 0.0
        out[0, i] = s0 * area
        out[1, i] = sv * area
        out[2, i] = sw * area
        out[3, i] = V
        out[4, i] = W
        out[5, i] = 0.0
        out[6, i] = 0.0
        if second and s0 > 0.0:
            svv = 0.0
            for k in range(nv):
                svv += (v[k] - V) ** 2 * fv[k]
            sww = 0.0
            for l in range(nw):
                sww += (w[l] - W) ** 2 * fw[l]
            out[5, i] = svv / s0
            out[6, i] = sww / s0


def moments(f: np.ndarray, grid: VelocityGrid) -> np.ndarray:
    """(ρ, j, q, V, W, var_v, var_w) per node, shape (7, n_nodes) (numba kernel)."""
    f = np.ascontiguousarray(f, dtype=float)
    out = np.empty((7, f.shape[0]))
    _moments_kernel(f, grid.v, grid.w, grid.cell_area, True, out)
    return out


def moments_numpy(f: np.ndarray, grid: VelocityGrid) -> np.ndarray:
    """Array twin of `moments` (same definitions, numpy reductions)."""
    f = np.asarray(f, dtype=float)
    s0 = f.sum(axis=(1, 2))
    fv = f.sum(axis=2)
    fw = f.sum(axis=1)
    sv = fv @ grid.v
    sw = fw @ grid.w
    positive = s0 > 0
    safe = np.where(positive, s0, 1.0)
    V = np.where(positive, sv / safe, 0.0)
    W = np.where(positive, sw / safe, 0.0)
    var_v = np.where(positive, np.sum(fv * (grid.v[None, :] - V[:, None]) ** 2, axis=1) / safe, 0)
    var_w = np.where(positive, np.sum(fw * (grid.w[None, :] - W[:, None]) ** 2, axis=1) / safe, 0)
    area = grid.cell_area
    return np.stack([s0 * area, sv * area, sw * area, V, W, var_v, var_w])


def flux_moments(f: np.ndarray, grid: VelocityGrid) -> tuple[np.ndarray, np.ndarray]:
    """(ρ, j) per node, the two moments the nonlocal coupling and the relaxation need.

    One pass over f (the variances of `moments` are skipped).
    """
    f = np.ascontiguousarray(f, dtype=float)
    out = np.empty((7, f.shape[0]))
    _moments_kernel(f, grid.v, grid.w, grid.cell_area, False, out)
    return out[0], out[1]
