"""Linear stability of homogeneous states of the kinetic model: the operator L_k and its spectrum.

Homogeneous steady state. With ρ0 ≡ ρ̄ on ℝ^d and f = f(v, w) independent of x, Ψ*ρ = Ψ̂(0) ρ̄ and
Ψ*j = Ψ̂(0) j, so K_Ψ[f] = Ψ̂(0) ρ̄ (v − V) has the form of the stiff term, and the kinetic equation
(docs/science.md, with velocity diffusion D ≥ 0)

    ∂_t f + ∂_v[f A] + ∂_w[τ (v + a − b w) f] = D ∂²_v f,
    A(v, w) = N(v) − w + I − κ0 (v − V),    κ0 = ρ̄ (Ψ̂(0) + 1/ε),    V = j/ρ̄,

relaxes f at the rate κ0 towards its mean velocity V. A steady state f* is a null vector of this
linear Fokker–Planck operator at fixed V whose mean is V (a scalar equation for V*, solved by
`steady_state`); its w-moment is W* = (V* + a)/b exactly (the w-drift is linear). For D > 0, f* is
smooth, roughly Gaussian in v with variance D/κ0 ≈ D ε/ρ̄; for D = 0 it is the Dirac
ρ̄ δ(v − V*) δ(w − W*) at the neuron's equilibrium.

Linearisation. For f = f* + g(v, w) e^{ik·x} with ∫g = 0 (ρ0 is given: the mass of a perturbation
is constant in time and zero), δ(Ψ*j) = Ψ̂(k) δj e^{ik·x} with δj = ∫ v g, the v-drift changes by
δA = (Ψ̂(k) + 1/ε) δj (nonlocal and stiff parts together), and

    L_k g = −∂_v[A* g] − ∂_w[τ (v + a − b w) g] + D ∂²_v g − (Ψ̂(k) + 1/ε) δj(g) ∂_v f*,

A* the drift at V*. Moments: ∫ L_k g = 0 for every g (mass), and

    d δj/dt = ∫ N(v) g − δq + μ_k δj,    d δq/dt = τ (δj − b δq),    μ_k = ρ̄ (Ψ̂(k) − Ψ̂(0)),

(δq = ∫ w g): the 1/ε of the relaxation and of the coupling cancel. For the Dirac f* (D = 0),
g = −α ∂_v f* − β ∂_w f* is mapped to −α' ∂_v f* − β' ∂_w f* with (α', β') = J (α, β), J the
Jacobian [[f' − κ0, −1], [τ, −τb]] of the drift at (V*, W*), plus the coupling ρ̄ (Ψ̂(k) + 1/ε) α
in α':

    α' = (f' + μ_k) α − β,    β' = τ (α − b β),    f' = N'(V*),

so the span of ∂_v f*, ∂_w f* is invariant and carries exactly the macroscopic eigenvalues λ(k) of
`fem_fhn.stability.dispersion`, for every ε. With D > 0, f* has the variance D/κ0 and
∫ N(v) g = (f' + O(D/κ0)) δj: the kinetic eigenvalues approach λ(k) at the rate O(D ε) as ε → 0
(|λ_kin − λ| ≈ 10 D ε in the Turing example of docs/science.md). The other kinetic eigenvalues are
internal modes of the velocity distribution, k-independent in the limit: sums of multiples of the
drift's rates, −n₁ κ0 − n₂ τb (n₁ + n₂ ≥ 2), e.g. −2τb for the variance in w. On the grid, where
the w-spread of f* is below Δw (the usual case), they become the outflow rates of the empty cells
next to f*, about −(l + 1/2) τb (l = 1, 2, …): grid-dependent, and the rightmost eigenvalues when
τb is small (default excitable parameters: −1.5 τb ≈ −0.096, right of λ(k) at small k);
`fem_fhn.stability_kinetic` compares each macroscopic root with the nearest kinetic eigenvalue.

Discretisation (the package's donor-cell flux, `fem_fhn.kinetic.transport`, which is linear):
on the cell-centred grid, zero flux through the box,

    d g_kl/dt = −(F_{k+1/2,l} − F_{k−1/2,l})/Δv − (G_{k,l+1/2} − G_{k,l−1/2})/Δw + c_k δj u_kl,
    F_{k+1/2,l} = A*(v_k, w_l)⁺ g_kl + A*(v_{k+1}, w_l)⁻ g_{k+1,l} − D (g_{k+1,l} − g_kl)/Δv,
    G_{k,l+1/2} = a_w(v_k, w_l)⁺ g_kl + a_w(v_k, w_{l+1})⁻ g_{k,l+1},   a_w = τ (v + a − b w),
    u_kl = −(H_{k+1/2,l} − H_{k−1/2,l})/Δv,
    H_{k+1/2,l} = [A*_kl > 0] f*_kl + [A*_{k+1,l} < 0] f*_{k+1,l},

c_k = Ψ̂(k) + 1/ε, δj = Σ v_k g_kl ΔvΔw. H is the derivative of the donor flux along a uniform
change of the drift, so the matrix is the exact Jacobian of the discrete kinetic operator at f*
(its columns sum to zero: mass is conserved). Cell-centred velocities make the moment identities
exact: d δq/dt = τ(δj − b δq) and the j-rate is the midpoint quadrature of ∫ A g. As ε → 0 (or
for D = 0) the discrete f* occupies the two cells around V* in v, whose mean is V* exactly
(cloud-in-cell weights); ∫ N g then becomes the secant slope of N across them, N'(V*) − Δv²/4
when V* sits on a cell face (the boxes of `local_grid` are centred so), O(Δv) otherwise.

The eigenvalues of L_k (SLEPc) and their comparison with λ(k) are in `fem_fhn.stability_kinetic`;
this module needs only numpy and scipy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.optimize import brentq

from fem_fhn import stability
from fem_fhn.kinetic.grid import VelocityGrid
from fem_fhn.params import FHNParameters, ParameterError, require, require_finite

__all__ = [
    "HomogeneousState",
    "LinearisedOperator",
    "homogeneous_rhs",
    "linearised_operator",
    "local_grid",
    "steady_state",
    "transport_matrix",
]


def _rate(kernel, eps: float, k) -> np.ndarray:
    """c_k = Ψ̂(k) + 1/ε."""
    k = np.atleast_1d(np.asarray(k, dtype=float))
    return np.asarray(kernel.fourier(k), dtype=float) + 1.0 / eps


def _psi0(kernel) -> float:
    return float(kernel.fourier(np.zeros(1))[0])


def _check_model(params: FHNParameters, eps: float, rho: float, diffusion: float) -> None:
    ok = isinstance(eps, int | float) and not isinstance(eps, bool) and eps > 0
    require(ok, "kinetic.eps", eps, "a number > 0")
    require_finite("rho", rho)
    require(rho > 0, "rho", rho, "a density > 0")
    require_finite("kinetic.diffusion", diffusion)
    require(diffusion >= 0, "kinetic.diffusion", diffusion, "a velocity diffusion D >= 0")
    require(
        params.tau > 0 and params.b > 0,
        "tau, b",
        (params.tau, params.b),
        "tau > 0 and b > 0 (a homogeneous kinetic steady state needs a contracting w-drift)",
    )


# --------------------------------------------------------------------------- transport matrix


def _upwind_pairs(n_v: int, n_w: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices (left, right) of the interior faces along an axis of the (n_v, n_w) grid."""
    index = np.arange(n_v * n_w).reshape(n_v, n_w)
    if axis == 0:
        return index[:-1, :].ravel(), index[1:, :].ravel()
    return index[:, :-1].ravel(), index[:, 1:].ravel()


def transport_matrix(
    params: FHNParameters, grid: VelocityGrid, drift_v: np.ndarray, diffusion: float = 0.0
) -> sp.csr_matrix:
    """Donor-cell transport of the module docstring as a sparse matrix on f.ravel() (C order).

    Args:
        params: FHN parameters (the w-drift τ (v + a − b w)).
        grid: the velocity grid.
        drift_v: the v-drift A(v_k, w_l) at the cell centres, shape (n_v, n_w).
        diffusion: D ≥ 0 (second difference in v).

    Returns:
        T (n_v n_w × n_v n_w): df/dt = T f, columns summing to zero (zero flux through the box).
    """
    n_v, n_w = grid.shape
    drift_v = np.asarray(drift_v, dtype=float)
    require(drift_v.shape == grid.shape, "drift_v", drift_v.shape, f"shape {grid.shape}")
    drift_w = params.tau * (grid.v[:, None] + params.a - params.b * grid.w[None, :])
    rows, cols, vals = [], [], []
    for axis, drift, h, d in ((0, drift_v, grid.dv, diffusion / grid.dv), (1, drift_w, grid.dw, 0)):
        left, right = _upwind_pairs(n_v, n_w, axis)
        a = drift.ravel()
        c_left = np.maximum(a[left], 0.0) + d  # F = c_left f_left + c_right f_right
        c_right = np.minimum(a[right], 0.0) - d
        for row, sign in ((left, -1.0), (right, 1.0)):
            rows += [row, row]
            cols += [left, right]
            vals += [sign * c_left / h, sign * c_right / h]
    n = n_v * n_w
    T = sp.coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
    return T.tocsr()


def _drift(params: FHNParameters, grid: VelocityGrid, kappa: float, V: float) -> np.ndarray:
    """A(v_k, w_l) = N(v_k) − w_l + I − κ (v_k − V)."""
    v = grid.v
    return (params.N(v) + params.I_ext - kappa * (v - V))[:, None] - grid.w[None, :]


def homogeneous_rhs(
    f: np.ndarray,
    params: FHNParameters,
    grid: VelocityGrid,
    eps: float,
    psi0: float,
    diffusion: float = 0.0,
) -> np.ndarray:
    """df/dt of the discrete homogeneous kinetic equation (nonlinear in f through ρ and j).

    The v-drift is N(v) − w + I − (Ψ̂(0) + 1/ε)(ρ v − j) with ρ, j the moments of f (shape
    (n_v, n_w)); the result has the shape of f.
    """
    f = np.asarray(f, dtype=float)
    area = grid.cell_area
    rho = float(f.sum() * area)
    j = float((grid.v[:, None] * f).sum() * area)
    kappa = rho * (psi0 + 1.0 / eps)
    V = j / rho if rho != 0 else 0.0
    T = transport_matrix(params, grid, _drift(params, grid, kappa, V), diffusion)
    return (T @ f.ravel()).reshape(grid.shape)


# --------------------------------------------------------------------------- steady state


@dataclass(frozen=True)
class HomogeneousState:
    """A spatially homogeneous steady state f*(v, w) of the discrete kinetic equation.

    Attributes:
        params: FHN parameters.
        f: the density on the grid, shape (n_v, n_w), Σ f ΔvΔw = rho.
        rho: the density ρ̄.
        eps: relaxation parameter ε.
        diffusion: velocity diffusion D.
        psi0: Ψ̂(0), the kernel's mass.
        grid: the velocity grid.
    """

    params: FHNParameters
    f: np.ndarray
    rho: float
    eps: float
    diffusion: float
    psi0: float
    grid: VelocityGrid

    @property
    def kappa(self) -> float:
        """Relaxation rate κ0 = ρ̄ (Ψ̂(0) + 1/ε)."""
        return self.rho * (self.psi0 + 1.0 / self.eps)

    def _mean(self, g: np.ndarray) -> float:
        """Σ g f ΔvΔw / ρ̄ for g of shape (n_v, 1) or (1, n_w)."""
        return float((g * self.f).sum() * self.grid.cell_area / self.rho)

    @cached_property
    def V(self) -> float:
        """Mean velocity j/ρ̄."""
        return self._mean(self.grid.v[:, None])

    @cached_property
    def W(self) -> float:
        """Mean recovery variable q/ρ̄ (= (V + a)/b)."""
        return self._mean(self.grid.w[None, :])

    @cached_property
    def var_v(self) -> float:
        """Variance of f in v (D/κ0 for a resolved D > 0; ≤ Δv²/4 in the Dirac limit)."""
        return self._mean(((self.grid.v - self.V) ** 2)[:, None])

    @cached_property
    def residual(self) -> float:
        """Relative residual max|df/dt| / (max|f| · rate) of `homogeneous_rhs` at f.

        rate = max|A|/Δv + max|a_w|/Δw + 2D/Δv² is the fastest rate of the scheme.
        """
        p, g, f = self.params, self.grid, self.f
        rhs = homogeneous_rhs(f, p, g, self.eps, self.psi0, self.diffusion)
        drift_w = p.tau * (g.v[:, None] + p.a - p.b * g.w[None, :])
        rate = (
            np.abs(self.drift_v).max() / g.dv
            + np.abs(drift_w).max() / g.dw
            + 2 * self.diffusion / g.dv**2
        )
        return float(np.abs(rhs).max() / (rate * np.abs(f).max()))

    @cached_property
    def wall_mass(self) -> float:
        """Fraction of the mass in the cells along the box boundary (tiny, see `local_grid`)."""
        inner = np.abs(self.f[1:-1, 1:-1]).sum()
        return float((np.abs(self.f).sum() - inner) / np.abs(self.f).sum())

    @property
    def drift_v(self) -> np.ndarray:
        """A*(v_k, w_l) = N(v_k) − w_l + I − κ0 (v_k − V*), shape (n_v, n_w)."""
        return _drift(self.params, self.grid, self.kappa, self.V)

    def transport(self) -> sp.csr_matrix:
        """The transport matrix T at f* (`transport_matrix` with the drift A*)."""
        return transport_matrix(self.params, self.grid, self.drift_v, self.diffusion)


def local_grid(
    params: FHNParameters,
    V: float,
    kappa: float,
    diffusion: float = 0.0,
    n_v: int = 64,
    n_w: int = 32,
    width: float = 10.0,
    min_half_width: float = 0.01,
) -> VelocityGrid:
    """A box centred at (V, W = (V + a)/b) that contains the homogeneous steady state.

    Half-widths L = max(width · √(D/κ0), min_half_width) in v (width standard deviations of the
    Gaussian f* in v) and 1.05 L/b in w (the w-sides are then invariant for all v in the box).
    The walls must be far out in the tail: mass m reflected there shifts the eigenvalues by about
    κ0 · m · L/σ (the mean of f* no longer follows V), so 6 standard deviations are not enough
    at ε = 1e-3 (m ≈ 1e-7, an error ≈ 1e-2) while 10 are (m < 1e-20).
    With even n_v and n_w, (V, W) lies on a cell corner. For D = 0 the discrete f* sits on the
    2 × 2 cells around (V, W) whatever L, and a smaller box is more accurate (error Δv²/4 in f').
    """
    require(kappa > 0, "kappa", kappa, "a relaxation rate > 0 (rho (Psi^(0) + 1/eps) > 0)")
    require(params.b > 0, "b", params.b, "b > 0")
    W = (V + params.a) / params.b
    L = max(width * math.sqrt(diffusion / kappa), min_half_width)
    H = 1.05 * L / params.b
    return VelocityGrid(V - L, V + L, n_v, W - H, W + H, n_w)


def _check_box(params: FHNParameters, grid: VelocityGrid, kappa: float, V: float) -> None:
    """The drift at V must point into the box on its boundary (else f* piles up on a wall)."""
    p, g = params, grid
    margins = {
        "v_min": min(
            p.N(g.v_min) + p.I_ext - w - kappa * (g.v_min - V) for w in (g.w_min, g.w_max)
        ),
        "v_max": min(
            -(p.N(g.v_max) + p.I_ext - w - kappa * (g.v_max - V)) for w in (g.w_min, g.w_max)
        ),
        "w_min": p.tau * (g.v_min + p.a - p.b * g.w_min),
        "w_max": -p.tau * (g.v_max + p.a - p.b * g.w_max),
    }
    bad = {side: m for side, m in margins.items() if m < 0}
    if bad:
        text = ", ".join(f"{side} (margin {m:.3g})" for side, m in bad.items())
        raise ParameterError(
            f"kinetic velocity box {grid.describe()} is not invariant for the homogeneous drift "
            f"at V = {V:.6g} with relaxation rate {kappa:.4g}: it points outwards on {text}; "
            "use a smaller eps, a larger box, or the automatic box"
        )


def _null_vector(T: sp.csr_matrix, total: float) -> np.ndarray:
    """f with T f = 0 and Σ f = total (bordered system [[T, 1], [1ᵀ, 0]])."""
    n = T.shape[0]
    ones = np.ones((n, 1))
    M = sp.bmat([[T, sp.csr_matrix(ones)], [sp.csr_matrix(ones.T), None]], format="csc")
    rhs = np.zeros(n + 1)
    rhs[-1] = total
    return spla.splu(M).solve(rhs)[:n]


def steady_state(
    params: FHNParameters,
    kernel,
    grid: VelocityGrid | tuple[int, int],
    eps: float,
    rho: float = 1.0,
    diffusion: float = 0.0,
    V_star: float | None = None,
    *,
    xtol: float = 1e-15,
) -> HomogeneousState:
    """The homogeneous steady state of the discrete kinetic equation near the equilibrium V_star.

    For fixed V the null vector f_V of the transport matrix T_V (drift A of the module docstring,
    normalised to mass ρ̄) is computed by a sparse LU of the bordered system; V* solves the scalar
    equation κ0 (mean(f_V) − V) = 0 (Brent's method, bracket grown around V_star).

    Args:
        params: FHN parameters (τ > 0, b > 0).
        kernel: Ψ (its mass Ψ̂(0) enters the relaxation rate).
        grid: a `VelocityGrid`, or (n_v, n_w) for the centred box of `local_grid`.
        eps: relaxation parameter ε > 0.
        rho: density ρ̄ > 0.
        diffusion: D ≥ 0.
        V_star: the macroscopic equilibrium to start from (None: the neuron's stable one, see
            `fem_fhn.stability.homogeneous_state`).
        xtol: tolerance of the V* iteration.

    Raises:
        ParameterError: for invalid arguments, a box that is not invariant, or no steady state
            with its mean inside the box.
    """
    _check_model(params, eps, rho, diffusion)
    V0, _ = stability.homogeneous_state(params, V_star)
    psi0 = _psi0(kernel)
    kappa = rho * (psi0 + 1.0 / eps)
    require(kappa > 0, "kinetic.eps", eps, "eps small enough that rho (Psi^(0) + 1/eps) > 0")
    if not isinstance(grid, VelocityGrid):
        n_v, n_w = grid
        grid = local_grid(params, V0, kappa, diffusion, n_v, n_w)
    _check_box(params, grid, kappa, V0)
    total = rho / grid.cell_area
    v = grid.v

    def solve(V: float) -> np.ndarray:
        T = transport_matrix(params, grid, _drift(params, grid, kappa, V), diffusion)
        return _null_vector(T, total).reshape(grid.shape)

    def gap(V: float) -> float:
        f = solve(V)
        return kappa * (float((v[:, None] * f).sum()) / total - V)

    lo, hi = V0, V0
    g_lo = g_hi = gap(V0)
    step = max(grid.dv, 1e-3 * grid.v_span)
    while g_lo * g_hi > 0:
        lo, hi = max(V0 - step, grid.v_min), min(V0 + step, grid.v_max)
        g_lo, g_hi = gap(lo), gap(hi)
        if lo == grid.v_min and hi == grid.v_max and g_lo * g_hi > 0:
            raise ParameterError(
                f"no homogeneous kinetic steady state with its mean in {grid.describe()} "
                f"near V_star = {V0:.6g}"
            )
        step *= 2.0
    V = V0 if g_lo == 0 else brentq(gap, lo, hi, xtol=xtol, rtol=4 * np.finfo(float).eps)
    f = solve(V)
    return HomogeneousState(params, f, rho, eps, diffusion, psi0, grid)


# --------------------------------------------------------------------------- linearised operator


@dataclass(frozen=True)
class LinearisedOperator:
    """The discrete L_k of the module docstring: L_k g = T g + c_k (Σ v g ΔvΔw) u.

    Attributes:
        state: the homogeneous steady state f*.
        k: the wavenumber |k|.
        c: c_k = Ψ̂(k) + 1/ε.
        T: the transport matrix at f* (sparse, n × n, n = n_v n_w).
        u: the coupling column −(H_{k+1/2} − H_{k−1/2})/Δv, flattened (n,).
    """

    state: HomogeneousState
    k: float
    c: float
    T: sp.csr_matrix
    u: np.ndarray

    @property
    def size(self) -> int:
        return self.T.shape[0]

    @property
    def velocities(self) -> np.ndarray:
        """v_k at every flattened cell, shape (n,)."""
        grid = self.state.grid
        return np.repeat(grid.v, grid.n_w)

    def matvec(self, g: np.ndarray) -> np.ndarray:
        """L_k g for g of shape (n,) (real or complex)."""
        dj = self.state.grid.cell_area * (self.velocities @ g)
        return self.T @ g + (self.c * dj) * self.u

    def dense(self) -> np.ndarray:
        """L_k as a dense array (small grids only)."""
        area = self.state.grid.cell_area
        return self.T.toarray() + self.c * area * np.outer(self.u, self.velocities)

    def augmented(self) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """(M, B) of the zero-mass generalized eigenproblem M x = λ B x, size n + 2."""
        n = self.size
        area = self.state.grid.cell_area
        phi = area * self.state.f.ravel() / self.state.rho
        col = sp.csr_matrix(np.column_stack([self.c * area * self.u, phi]))
        rows = sp.csr_matrix(np.vstack([self.velocities, np.ones(n)]))
        corner = sp.csr_matrix(np.array([[-1.0, 0.0], [0.0, 0.0]]))
        M = sp.bmat([[self.T, col], [rows, corner]], format="csr")
        M.eliminate_zeros()
        B = sp.diags(np.r_[np.ones(n), 0.0, 0.0], format="csr")
        return M, B


def linearised_operator(state: HomogeneousState, kernel, k: float) -> LinearisedOperator:
    """L_k at the steady state `state` for the wavenumber |k| (module docstring)."""
    require_finite("k", k)
    require(k >= 0, "k", k, "a wavenumber >= 0")
    grid = state.grid
    drift = state.drift_v
    f = state.f
    H = np.zeros((grid.n_v + 1, grid.n_w))
    right = np.where(drift > 0, 1.0, np.where(drift == 0, 0.5, 0.0))  # d(a⁺)/da
    left = np.where(drift < 0, 1.0, np.where(drift == 0, 0.5, 0.0))  # d(a⁻)/da
    H[1:-1] = right[:-1] * f[:-1] + left[1:] * f[1:]
    u = -(H[1:] - H[:-1]) / grid.dv
    c = float(_rate(kernel, state.eps, [k])[0])
    return LinearisedOperator(state, float(k), c, state.transport(), u.ravel())
