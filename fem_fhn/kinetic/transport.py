"""Non-stiff transport of the kinetic density in (v, w): conservative finite volumes.

At every node i the density f(v, w) is advected by the drift

    a_v(v, w) = g_i(v) − w,   g_i(v) = N(v) + I_i − v (Ψ*ρ)_i + (Ψ*j)_i − r_i (v − V_i),
    a_w(v, w) = τ (v + a − b w),

(r_i = ρ_i/ε where the stiff relaxation is put into the drift, else 0: see
`fem_fhn.kinetic.stepper`) and optionally diffused in v:

    ∂_t f + ∂_v(a_v f) + ∂_w(a_w f) = D ∂²_v f.

The semi-discrete scheme, with zero flux through the box boundary (mass is conserved exactly):

    d f_kl/dt = −(F_{k+1/2,l} − F_{k−1/2,l})/Δv − (G_{k,l+1/2} − G_{k,l−1/2})/Δw,
    G_{k,l+1/2} = a_w⁺ f^R_{k,l} + a_w⁻ f^L_{k,l+1},      a_w at (v_k, w_{l+1/2}),
    F_{k+1/2,l} = a_v⁺ f^R_{k,l} + a_v⁻ f^L_{k+1,l} − D (f_{k+1,l} − f_{k,l})/Δv,
                  a_v at the face (v_{k+1/2}, w_l)                  (MUSCL, the default),
    F_{k+1/2,l} = a_v(v_k, w_l)⁺ f_{k,l} + a_v(v_{k+1}, w_l)⁻ f_{k+1,l} − D (…)   (donor cell),
    G_{k,l+1/2} = a_w(v_k, w_l)⁺ f_{k,l} + a_w(v_k, w_{l+1})⁻ f_{k,l+1}            (donor cell),

with a⁺ = max(a, 0), a⁻ = min(a, 0) and face values f^{R/L} = f ± σ/2 of a limited linear
reconstruction in the flux direction, σ = φ(f_k − f_{k−1}, f_{k+1} − f_k), φ = minmod or MC
(monotonised central, minmod(2x, 2y, (x + y)/2)), zero ghost values outside the box.

Donor cell (per node, `donor`): the v- and w-fluxes with cell-centred velocities. Summing their
faces gives d/dt Σ v_k f_kl ΔvΔw = Σ a_v(v_k, w_l) f_kl ΔvΔw, the midpoint quadrature of ∫ a_v f,
and d/dt Σ w_l f_kl ΔvΔw = Σ a_w(v_k, w_l) f_kl ΔvΔw = τ (j + aρ − b q) exactly (a_w is linear).
The stepper uses it where the relaxation remap has collapsed f in v onto two cells: there a MUSCL
flux with face velocities weights the upwind faces by θ-dependent slopes (θ the position of V
between the two cells), and the moment rate is off by an O(1) amount wherever a_v changes sign
across the w-rows, so the moments would not follow the macroscopic limit. The same holds in w
once f has collapsed onto the two w-cells around W (D = 0, long times): all the flux then
crosses the one face between them, where a_w(v_k, w_{l+1/2}) does not depend on W, and the
face-velocity w-flux loses the −τ b δW part of the W-equation (the linearised moments would
follow dδW/dt = τ δV/2 instead of τ (δV − b δW)).

Positivity. Both limiters give 0 ≤ f^R, f^L and f^R + f^L = 2 f, so in one forward Euler step a cell
loses at most 2 Δt (A_v/Δv + A_w/Δw + D/Δv²) f (A = max |a|; the donor flux loses less): the step
keeps f ≥ 0 when Δt (A_v/Δv + A_w/Δw + D/Δv²) ≤ 1/2 (`CFL`). SSP-RK2 and SSP-RK3 are convex
combinations of such steps (SSP coefficient 1), so they keep f ≥ 0 under the same condition.

`transport_rhs` runs a numba kernel (parallel over nodes) or its array twin (`backend="numpy"`,
also `transport_rhs_numpy`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from fem_fhn.kinetic.grid import VelocityGrid
from fem_fhn.params import FHNParameters, require

__all__ = [
    "CFL",
    "LIMITERS",
    "drift_speed_bounds",
    "stable_dt",
    "transport_rhs",
    "transport_rhs_numpy",
]

#: Positivity bound of the forward Euler step: Δt (A_v/Δv + A_w/Δw + D/Δv²) ≤ CFL.
CFL = 0.5

LIMITERS = {"minmod": 0, "mc": 1}


@njit(inline="always")
def _limit(x, y, kind):  # pragma: no cover - compiled
    if x * y <= 0.0:
        return 0.0
    if kind == 0:
        m = min(abs(x), abs(y))
    else:
        m = min(min(2.0 * abs(x), 2.0 * abs(y)), 0.5 * abs(x + y))
    return m if x > 0.0 else -m


@njit(cache=True, parallel=True)
def _transport_kernel(
    f, wc, vc, vf, Nvc, Nvf, aw, awc, dv, dw, k_rho, k_j, cur, relax, Vm, donor, diff, lim, out
):  # pragma: no cover - compiled
    n, nv, nw = f.shape
    for i in prange(n):
        fi = f[i]
        ci, kr, kj, ri, Vi = cur[i], k_rho[i], k_j[i], relax[i], Vm[i]
        # a_v(v, w) = g(v) − w with g(v) = N(v) + I − v Ψ*ρ + Ψ*j − r (v − V)
        gf = np.empty(nv + 1)
        gc = np.empty(nv)
        for k in range(nv + 1):
            gf[k] = Nvf[k] + ci - vf[k] * kr + kj - ri * (vf[k] - Vi)
        for k in range(nv):
            gc[k] = Nvc[k] + ci - vc[k] * kr + kj - ri * (vc[k] - Vi)
        sv = np.zeros((nv, nw))
        sw = np.empty((nv, nw))
        for k in range(nv):
            for l in range(nw):
                c = fi[k, l]
                lo = fi[k, l - 1] if l > 0 else 0.0
                hi = fi[k, l + 1] if l < nw - 1 else 0.0
                sw[k, l] = _limit(c - lo, hi - c, lim)
        F = np.zeros((nv + 1, nw))
        G = np.zeros((nv, nw + 1))
        if donor[i]:
            for k in range(1, nv):
                for l in range(nw):
                    a_left = gc[k - 1] - wc[l]
                    a_right = gc[k] - wc[l]
                    upwind = max(a_left, 0.0) * fi[k - 1, l] + min(a_right, 0.0) * fi[k, l]
                    F[k, l] = upwind - diff * (fi[k, l] - fi[k - 1, l])
        else:
            for k in range(nv):
                for l in range(nw):
                    c = fi[k, l]
                    lo = fi[k - 1, l] if k > 0 else 0.0
                    hi = fi[k + 1, l] if k < nv - 1 else 0.0
                    sv[k, l] = _limit(c - lo, hi - c, lim)
            for k in range(1, nv):
                for l in range(nw):
                    av = gf[k] - wc[l]
                    left = fi[k - 1, l] + 0.5 * sv[k - 1, l]
                    right = fi[k, l] - 0.5 * sv[k, l]
                    upwind = max(av, 0.0) * left + min(av, 0.0) * right
                    F[k, l] = upwind - diff * (fi[k, l] - fi[k - 1, l])
        if donor[i]:
            for k in range(nv):
                for l in range(1, nw):
                    upwind = max(awc[k, l - 1], 0.0) * fi[k, l - 1]
                    G[k, l] = upwind + min(awc[k, l], 0.0) * fi[k, l]
        else:
            for k in range(nv):
                for l in range(1, nw):
                    left = fi[k, l - 1] + 0.5 * sw[k, l - 1]
                    right = fi[k, l] - 0.5 * sw[k, l]
                    G[k, l] = max(aw[k, l], 0.0) * left + min(aw[k, l], 0.0) * right
        for k in range(nv):
            for l in range(nw):
                out[i, k, l] = -((F[k + 1, l] - F[k, l]) / dv + (G[k, l + 1] - G[k, l]) / dw)


def _node_array(value, n: int, dtype=float) -> np.ndarray:
    # a fresh writable copy: numba compiles read-only arrays (broadcast views) separately
    return np.array(np.broadcast_to(np.asarray(value, dtype=dtype), (n,)))


def _arguments(f, grid, params, k_rho, k_j, current, relax_rate, V, donor, diffusion, limiter):
    require(limiter in LIMITERS, "kinetic.limiter", limiter, f"one of {', '.join(LIMITERS)}")
    require(diffusion >= 0, "kinetic.diffusion", diffusion, "a velocity diffusion D >= 0")
    n = f.shape[0]
    vc, vf, wf = grid.v, grid.v_faces, grid.w_faces
    # a_w at the w-faces (v_k, w_{l+1/2}) and at the cell centres, the same at every node
    aw = params.tau * (vc[:, None] + params.a - params.b * wf[None, :])
    awc = params.tau * (vc[:, None] + params.a - params.b * grid.w[None, :])
    return (
        grid.w,
        vc,
        vf,
        params.N(vc),
        params.N(vf),
        np.ascontiguousarray(aw),
        np.ascontiguousarray(awc),
        grid.dv,
        grid.dw,
        _node_array(k_rho, n),
        _node_array(k_j, n),
        _node_array(current, n),
        _node_array(0.0 if relax_rate is None else relax_rate, n),
        _node_array(0.0 if V is None else V, n),
        _node_array(False if donor is None else donor, n, dtype=bool),
        float(diffusion) / grid.dv,
        LIMITERS[limiter],
    )


def _limit_numpy(x: np.ndarray, y: np.ndarray, kind: int) -> np.ndarray:
    if kind == 0:
        m = np.minimum(np.abs(x), np.abs(y))
    else:
        m = np.minimum(np.minimum(2.0 * np.abs(x), 2.0 * np.abs(y)), 0.5 * np.abs(x + y))
    return np.where(x * y <= 0.0, 0.0, np.where(x > 0.0, m, -m))


def _transport_numpy(
    f, wc, vc, vf, Nvc, Nvf, aw, awc, dv, dw, kr, kj, cur, ri, Vi, donor, diff, lim, out
) -> None:
    """Array twin of `_transport_kernel` (same arguments, same arithmetic)."""
    n, nv, nw = f.shape
    dfv = np.diff(np.pad(f, ((0, 0), (1, 1), (0, 0))), axis=1)
    dfw = np.diff(np.pad(f, ((0, 0), (0, 0), (1, 1))), axis=2)
    sv = np.where(donor[:, None, None], 0.0, _limit_numpy(dfv[:, :-1], dfv[:, 1:], lim))
    sw = _limit_numpy(dfw[:, :, :-1], dfw[:, :, 1:], lim)

    col = (slice(None), None)

    def g(v: np.ndarray, Nv: np.ndarray) -> np.ndarray:
        # g_i(v) = N(v) + I_i − v (Ψ*ρ)_i + (Ψ*j)_i − r_i (v − V_i), shape (n, len(v))
        return (
            Nv[None, :]
            + cur[col]
            - v[None, :] * kr[col]
            + kj[col]
            - ri[col] * (v[None, :] - Vi[col])
        )

    gf, gc = g(vf, Nvf), g(vc, Nvc)
    av = gf[:, 1:-1, None] - wc[None, None, :]
    muscl = np.maximum(av, 0.0) * (f[:, :-1] + 0.5 * sv[:, :-1]) + np.minimum(av, 0.0) * (
        f[:, 1:] - 0.5 * sv[:, 1:]
    )
    a_left = gc[:, :-1, None] - wc[None, None, :]
    a_right = gc[:, 1:, None] - wc[None, None, :]
    cell = np.maximum(a_left, 0.0) * f[:, :-1] + np.minimum(a_right, 0.0) * f[:, 1:]
    F = np.zeros((n, nv + 1, nw))
    F[:, 1:-1] = np.where(donor[:, None, None], cell, muscl) - diff * (f[:, 1:] - f[:, :-1])
    a_w = aw[None, :, 1:-1]
    muscl_w = np.maximum(a_w, 0.0) * (f[:, :, :-1] + 0.5 * sw[:, :, :-1]) + np.minimum(a_w, 0.0) * (
        f[:, :, 1:] - 0.5 * sw[:, :, 1:]
    )
    cell_w = (
        np.maximum(awc[None, :, :-1], 0.0) * f[:, :, :-1]
        + np.minimum(awc[None, :, 1:], 0.0) * f[:, :, 1:]
    )
    G = np.zeros((n, nv, nw + 1))
    G[:, :, 1:-1] = np.where(donor[:, None, None], cell_w, muscl_w)
    out[...] = -((F[:, 1:] - F[:, :-1]) / dv + (G[:, :, 1:] - G[:, :, :-1]) / dw)


#: the two implementations of the transport, with the arguments of `_arguments` and `out`
_KERNELS = {"numba": _transport_kernel, "numpy": _transport_numpy}


def transport_rhs(
    f: np.ndarray,
    grid: VelocityGrid,
    params: FHNParameters,
    k_rho: np.ndarray,
    k_j: np.ndarray,
    current: np.ndarray | float,
    relax_rate: np.ndarray | None = None,
    V: np.ndarray | None = None,
    donor: np.ndarray | None = None,
    diffusion: float = 0.0,
    limiter: str = "mc",
    out: np.ndarray | None = None,
    backend: str = "numba",
) -> np.ndarray:
    """df/dt of the transport (module docstring) for f of shape (n_nodes, n_v, n_w).

    Args:
        f: the density.
        grid: the velocity grid.
        params: FHN parameters (N, τ, a, b; the current is passed separately).
        k_rho, k_j: (Ψ*ρ)_i and (Ψ*j)_i per node.
        current: total current I_i per node (or one number).
        relax_rate: r_i = ρ_i/ε where the relaxation is in the drift, else 0 (default 0).
        V: mean velocity per node (needed with relax_rate).
        donor: per node, True for the moment-exact donor-cell v- and w-fluxes (default all False).
        diffusion: D ≥ 0.
        limiter: "minmod" or "mc".
        out: optional output array.
        backend: "numba" (the compiled kernel, parallel over nodes) or "numpy" (its array twin).
    """
    require(backend in _KERNELS, "kinetic.backend", backend, f"one of {', '.join(_KERNELS)}")
    f = np.ascontiguousarray(f, dtype=float)
    args = _arguments(
        f, grid, params, k_rho, k_j, current, relax_rate, V, donor, diffusion, limiter
    )
    out = np.empty_like(f) if out is None else out
    _KERNELS[backend](f, *args, out)
    return out


def transport_rhs_numpy(*args, **kwargs) -> np.ndarray:
    """Array twin of `transport_rhs`: the same arguments, with ``backend="numpy"``."""
    return transport_rhs(*args, backend="numpy", **kwargs)


def drift_speed_bounds(
    grid: VelocityGrid,
    params: FHNParameters,
    k_rho: np.ndarray,
    k_j_range: tuple[np.ndarray, np.ndarray],
    current: np.ndarray | float,
) -> tuple[np.ndarray, float]:
    """Bounds of |a_v| per node and of |a_w| over the box (relaxation not included).

    max over the v-faces and v-centres and the w-centres of |N(v) − v (Ψ*ρ)_i − w + I_i + (Ψ*j)_i|
    for (Ψ*j)_i in k_j_range, and max |τ (v + a − b w)| over the box corners.
    """
    k_rho = np.atleast_1d(np.asarray(k_rho, dtype=float))
    n = k_rho.shape[0]
    lo, hi = (_node_array(x, n) for x in k_j_range)
    cur = _node_array(current, n)
    v = np.concatenate([grid.v_faces, grid.v])  # faces (MUSCL) and centres (donor cell)
    g = params.N(v)[None, :] - v[None, :] * k_rho[:, None]
    h_lo = -grid.w[-1] + cur + lo
    h_hi = -grid.w[0] + cur + hi
    speed_v = np.maximum(np.abs(g + h_hi[:, None]), np.abs(g + h_lo[:, None])).max(axis=1)
    corners = [
        params.tau * (v + params.a - params.b * w)
        for v in (grid.v_min, grid.v_max)
        for w in (grid.w_min, grid.w_max)
    ]
    return speed_v, float(np.max(np.abs(corners)))


def stable_dt(speed_v: float, speed_w: float, grid: VelocityGrid, diffusion: float = 0.0) -> float:
    """Largest Δt with Δt (A_v/Δv + A_w/Δw + D/Δv²) ≤ CFL (positivity of SSP-RK, module doc)."""
    rate = speed_v / grid.dv + speed_w / grid.dw + diffusion / grid.dv**2
    return CFL / rate if rate > 0 else np.inf
