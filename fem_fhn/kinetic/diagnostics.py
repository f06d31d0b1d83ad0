"""Per-node quantities of the hydrodynamic-limit proof, as functions of f on the velocity grid.

At a node with density f(v, w) on the grid (cell centres v_k, w_l, cell area Δv Δw), with the
v-marginal f_v(v_k) = Σ_l f_kl Δv Δw,

    ρ = Σ_k f_v(v_k),   V = Σ_k v_k f_v(v_k) / ρ   (V = 0 where ρ = 0),
    c_m = Σ_k (v_k − V)^m f_v(v_k)                   (central moments; c_0 = ρ, c_1 = 0),

the quantities are

    dissipation_unweighted  d = ∫ f |v − V|² dv dw = c_2,
    dissipation             D = ρ0 ∫ f |v − V|² dv dw = ρ0 c_2,
    error_term              E = ∫ f (N(v) − N(V)) dv dw   (= −3 V c_2 − c_3 for N(v) = v − v³),
    moment4                 M4 = ∫ (v⁴ + w⁴) f dv dw,
    moment6                 M6 = ∫ v⁶ f dv dw,

with ρ0 the density the model was built with (ρ0 = ρ: ρ is constant in time). E is the defect of
the moment equation ∂_t(ρ V^ε) = ρ (N(V^ε) − W^ε + I + L_ρ(V^ε)) + E(f^ε). Spatial integrals use
the lumped masses, Σ_i m_i u_i summed over the owned nodes of every rank (`integrate`).

Along the exact relaxation flow over a time s, v − V ↦ λ (v − V) with λ(t) = e^{−ρ t/ε}, so
c_m(t) = λ(t)^m c_m(0) and

    ∫_0^s c_m(t) dt = c_m(0) ε (1 − e^{−m ρ s/ε}) / (m ρ)        (m ≥ 1; s for m = 0 or ρ = 0),

which `flow_integrals` uses to integrate every quantity above in time through the stiff relaxation
exactly, whatever ε/Δt (M6 through its binomial expansion Σ_m C(6, m) V^{6−m} c_m).
"""

from __future__ import annotations

import math

import numpy as np
from mpi4py import MPI

from fem_fhn.kinetic.grid import VelocityGrid
from fem_fhn.params import FHNParameters

__all__ = [
    "NODE_FIELDS",
    "central_moments",
    "error_term",
    "flow_integrals",
    "flow_weights",
    "integrate",
    "node_diagnostics",
]

#: per-node output fields of the kinetic model added by `node_diagnostics`
NODE_FIELDS = ("dissipation", "dissipation_unweighted", "error_term", "moment4", "moment6")

_ORDER = 6


def _marginals(f: np.ndarray, grid: VelocityGrid) -> tuple[np.ndarray, np.ndarray]:
    """v- and w-marginals times the cell area, shapes (n, n_v) and (n, n_w)."""
    f = np.asarray(f, dtype=float)
    area = grid.cell_area
    return f.sum(axis=2) * area, f.sum(axis=1) * area


def _central(
    fv: np.ndarray, v: np.ndarray, order: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rho = fv.sum(axis=1)
    positive = rho > 0
    V = np.where(positive, (fv @ v) / np.where(positive, rho, 1.0), 0.0)
    dev = v[None, :] - V[:, None]
    c = np.empty((order + 1, fv.shape[0]))
    power = np.ones_like(dev)
    for m in range(order + 1):
        c[m] = np.sum(fv * power, axis=1)
        power = power * dev
    c[1] = 0.0  # Σ (v − V) f_v = j − ρV = 0 (exactly, up to the round-off of j/ρ)
    return rho, V, c


def central_moments(
    f: np.ndarray, grid: VelocityGrid, order: int = _ORDER
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ρ, V, c) per node: c[m] = Σ_k (v_k − V)^m f_v(v_k), m = 0 … order (module docstring)."""
    fv, _ = _marginals(f, grid)
    return _central(fv, grid.v, order)


def error_term(f: np.ndarray, grid: VelocityGrid, N=FHNParameters.N) -> np.ndarray:
    """E = ∫ f (N(v) − N(V)) dv dw = Σ_k (N(v_k) − N(V)) f_v(v_k) per node (0 where ρ = 0)."""
    fv, _ = _marginals(f, grid)
    rho, V, _ = _central(fv, grid.v, 1)
    return np.sum(fv * (N(grid.v)[None, :] - N(V)[:, None]), axis=1)


def node_diagnostics(
    f: np.ndarray, grid: VelocityGrid, rho0: np.ndarray, N=FHNParameters.N
) -> dict[str, np.ndarray]:
    """The NODE_FIELDS of the module docstring per node (D = ρ0 c_2, d = c_2, E, M4, M6)."""
    fv, fw = _marginals(f, grid)
    v, w = grid.v, grid.w
    _, V, c = _central(fv, v, 2)
    return {
        "dissipation": np.asarray(rho0, dtype=float) * c[2],
        "dissipation_unweighted": c[2],
        "error_term": np.sum(fv * (N(v)[None, :] - N(V)[:, None]), axis=1),
        "moment4": fv @ v**4 + fw @ w**4,
        "moment6": fv @ v**6,
    }


def flow_weights(rho: np.ndarray, s: float, eps: float, order: int = _ORDER) -> np.ndarray:
    """∫_0^s e^{−m ρ t/ε} dt for m = 0 … order, shape (order + 1, n) (s where ρ = 0 or ε = ∞)."""
    rho = np.asarray(rho, dtype=float)
    out = np.full((order + 1, rho.size), float(s))
    if math.isinf(eps):
        return out
    positive = rho > 0
    for m in range(1, order + 1):
        rate = m * rho[positive] / eps
        out[m, positive] = -np.expm1(-rate * s) / rate
    return out


def flow_integrals(
    f: np.ndarray,
    grid: VelocityGrid,
    rho0: np.ndarray,
    s: float,
    eps: float,
) -> dict[str, np.ndarray]:
    """Time integrals over the exact relaxation flow of duration s started from f (module doc).

    Returns per node ∫_0^s of: "dissipation" (ρ0 c_2), "dissipation_unweighted" (c_2),
    "error_term" (−3 V c_2 − c_3: N(v) = v − v³) and "moment6" (Σ_m C(6, m) V^{6−m} c_m); and
    "V", the mean velocity, which the flow leaves unchanged.
    """
    rho, V, c = central_moments(f, grid, _ORDER)
    lam = flow_weights(rho, s, eps, _ORDER)
    ic = c * lam  # ∫_0^s c_m(t) dt
    m6 = sum(math.comb(6, m) * V ** (6 - m) * ic[m] for m in range(_ORDER + 1))
    return {
        "dissipation": np.asarray(rho0, dtype=float) * ic[2],
        "dissipation_unweighted": ic[2],
        "error_term": -3.0 * V * ic[2] - ic[3],
        "moment6": m6,
        "V": V,
    }


def integrate(masses: np.ndarray, values: np.ndarray, comm: MPI.Comm | None = None) -> float:
    """Σ_i m_i u_i over the owned nodes of every rank (the lumped-mass ∫ u dx)."""
    local = float(np.dot(masses, values))
    return local if comm is None else float(comm.allreduce(local, op=MPI.SUM))
