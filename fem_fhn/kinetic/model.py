"""The kinetic FitzHugh–Nagumo model on the P1 nodes of a mesh.

    ∂_t f + ∂_v[ f (N(v) − w + I_ext − K_Ψ[f] − (1/ε)(ρ v − j)) ] + ∂_w[ τ (v + a − b w) f ]
        = D ∂²_v f,
    K_Ψ[f](x, v) = v (Ψ*ρ)(x) − (Ψ*j)(x),   ρ = ∫ f dv dw,   j = ∫ f v dv dw,   N(v) = v − v³,

with the spatial convolutions taken by the reference quadrature (Ψ*u)_i = Σ_j Ψ(|x_i − x_j|) m_j u_j
(`op.apply`, weights = lumped masses). ρ is constant in time (no transport in x), so Ψ*ρ is
computed once and Ψ*j at every stage. The state is f of shape (n_owned_nodes, n_v, n_w) on a
`VelocityGrid`, distributed over MPI by the DOLFINx ownership of the nodes.

Since (1/ρ)∫ K_Ψ[f] dv dw = V Ψ*ρ − Ψ*j = −L_ρ(V), the moments (V, W) = (j, ∫ f w)/ρ follow the
macroscopic model `fem_fhn.macro.NonlocalFHN` with ρ0 = ρ as ε → 0.

The model splits into the non-stiff transport (`transport_rhs`, `fem_fhn.kinetic.transport`) and
the stiff relaxation ∂_t f = ∂_v[(ρ/ε)(v − V) f] (`relax`, exact flow with a remap,
`fem_fhn.kinetic.relaxation`); `fem_fhn.kinetic.stepper.APSplitting` advances it. `rhs` is the
whole right-hand side (relaxation in the drift), for explicit integrators at moderate ε.
"""

from __future__ import annotations

import numpy as np
from mpi4py import MPI

from fem_fhn import kernels as _kernels
from fem_fhn.kinetic import diagnostics, initial, moments, relaxation, transport
from fem_fhn.kinetic.grid import VelocityGrid, check_invariance
from fem_fhn.params import FHNParameters, ParameterError, require, require_finite
from fem_fhn.profiling import phases
from fem_fhn.reaction import FHNReaction, Reacting

__all__ = ["BACKENDS", "KineticFHN"]

BACKENDS = ("numba", "numpy")


class _NegativePart:
    """Ψ⁻ = max(−Ψ, 0) of a radial kernel."""

    def __init__(self, kernel):
        self.kernel, self.dim = kernel, kernel.dim

    def __call__(self, r: np.ndarray) -> np.ndarray:
        return np.maximum(-np.asarray(self.kernel(r)), 0.0)


def negative_coupling(
    nodes, kernel, rho0: np.ndarray, comm, geodesic_tol: float | None = None
) -> np.ndarray:
    """(Ψ⁻*ρ0) at the owned nodes: how far the coupling can push f outwards, per unit of v-span.

    Zero for Ψ ≥ 0; otherwise one dense apply of Ψ⁻ = max(−Ψ, 0) (8 n_local N bytes, once), or
    with `geodesic_tol`, one sparse apply at the geodesic distances within the kernel's cutoff
    at that tolerance (`fem_fhn.nonlocal_.geodesic`).
    """
    if _kernels.min_value(kernel) >= 0:
        return np.zeros(len(rho0))
    if geodesic_tol is not None:
        from fem_fhn.nonlocal_.geodesic import geodesic_operator

        negative = _NegativePart(kernel)
        return geodesic_operator(nodes, kernel, "sparse", geodesic_tol, negative).apply(rho0)
    from fem_fhn.nonlocal_ import make_operator

    neg = make_operator(nodes.coords, nodes.masses, _NegativePart(kernel), "dense", comm)
    return neg.apply(rho0)


class KineticFHN(Reacting):
    """Kinetic FHN density on the owned nodes of a `NodalMesh` (module docstring).

    Args:
        nodes: the nodal mesh (owned coordinates and lumped masses).
        params: FHN parameters (params.I_ext is added to `stimulus`).
        op: the nonlocal operator K on the nodes (make_operator(nodes.coords, nodes.masses, Ψ)).
        grid: the velocity grid.
        eps: relaxation parameter ε > 0 (math.inf: no relaxation).
        rho0: owned nodal values of ρ ≥ 0 (the density's ∫ f dv dw, constant in time).
        stimulus: optional space–time current I(x, t) (`fem_fhn.macro.Stimulus`).
        diffusion: velocity diffusion D ≥ 0 (noise in v).
        kernel: Ψ, to bound the coupling (default `op.kernel`). For a sign-changing Ψ the
            bound needs Ψ⁻*ρ, computed once with a dense operator (8 n_local N bytes).
        limiter: "mc" or "minmod".
        backend: "numba" (kernels) or "numpy" (array twins).
        check: check that the velocity box is invariant (ParameterError if not).
        current_bounds: (min, max) of the total current over the run, for the invariance check
            (default: its range at t = 0; pass it for a time-dependent stimulus).
        k_neg_rho: Ψ⁻*ρ0 if already computed (`negative_coupling`).
    """

    fields = ("V", "W", "rho", "var_v", "var_w", *diagnostics.NODE_FIELDS)
    parts = frozenset({"transport", "flow"})  # advanced by the AP splitting

    def __init__(
        self,
        nodes,
        params: FHNParameters,
        op,
        grid: VelocityGrid,
        eps: float,
        rho0: np.ndarray,
        stimulus=None,
        diffusion: float = 0.0,
        *,
        kernel=None,
        limiter: str = "mc",
        backend: str = "numba",
        check: bool = True,
        current_bounds: tuple[float, float] | None = None,
        k_neg_rho: np.ndarray | None = None,
    ):
        ok = isinstance(eps, int | float) and not isinstance(eps, bool) and eps > 0
        require(ok, "kinetic.eps", eps, "a number > 0 (inf: no relaxation)")
        require_finite("kinetic.diffusion", diffusion)
        require(diffusion >= 0, "kinetic.diffusion", diffusion, "a velocity diffusion D >= 0")
        require(limiter in transport.LIMITERS, "kinetic.limiter", limiter, "'mc' or 'minmod'")
        require(backend in BACKENDS, "kinetic.backend", backend, "'numba' or 'numpy'")
        self.nodes, self.op, self.grid = nodes, op, grid
        self.fhn = FHNReaction(params, stimulus)
        self.eps = float(eps)
        self.diffusion = float(diffusion)
        self.limiter, self.backend = limiter, backend
        self.comm = op.comm
        self.rho0 = np.asarray(rho0, dtype=float)
        require(
            self.rho0.shape == (op.n_local,),
            "rho0",
            self.rho0.shape,
            f"one value per owned node ({op.n_local})",
        )
        self.k_rho = op.apply(self.rho0)
        kernel = getattr(op, "kernel", None) if kernel is None else kernel
        if kernel is None:
            raise ParameterError(
                "kernel = None is not allowed: pass the kernel Psi (the operator does not hold it)"
            )
        self.kernel = kernel
        # Ψ⁻*ρ bounds how far the coupling can push outwards (grid module docstring)
        if k_neg_rho is None:
            k_neg_rho = negative_coupling(nodes, kernel, self.rho0, self.comm)
        self.k_neg_rho = k_neg_rho
        self.inhibition = self.comm.allreduce(float(self.k_neg_rho.max(initial=0.0)), op=MPI.MAX)
        self.coupling_bounds = (-grid.v_span * self.inhibition, grid.v_span * self.inhibition)
        self._speeds: tuple[np.ndarray, float] | None = None
        if check:
            bounds = self.current_range(0.0) if current_bounds is None else current_bounds
            check_invariance(params, grid, self.coupling_bounds, bounds)

    def with_eps(self, eps: float, rho0: np.ndarray | None = None) -> KineticFHN:
        """The same model (mesh, operator, grid, current, options) with another ε and, if given,
        another density ρ0 (its inhibitory coupling Ψ⁻*ρ0 is then computed anew)."""
        return KineticFHN(
            self.nodes,
            self.params,
            self.op,
            self.grid,
            eps,
            self.rho0 if rho0 is None else rho0,
            self.stimulus,
            self.diffusion,
            kernel=self.kernel,
            limiter=self.limiter,
            backend=self.backend,
            check=False,
            k_neg_rho=self.k_neg_rho if rho0 is None else None,
        )

    # ------------------------------------------------------------------ current and bounds

    @property
    def constant_current(self) -> bool:
        return self.stimulus is None or getattr(self.stimulus, "_constant", None) is not None

    def current_range(self, t: float) -> tuple[float, float]:
        """Global (min, max) of the current at time t."""
        cur = np.atleast_1d(np.asarray(self.current(t), dtype=float))
        lo = self.comm.allreduce(float(cur.min(initial=np.inf)), op=MPI.MIN)
        hi = self.comm.allreduce(float(cur.max(initial=-np.inf)), op=MPI.MAX)
        return lo, hi

    def k_j_range(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of (Ψ*j)_i: c Ψ*ρ ± (L/2) |Ψ|*ρ, c the box centre, L = v_max − v_min."""
        c = 0.5 * (self.grid.v_min + self.grid.v_max)
        half = 0.5 * self.grid.v_span * (self.k_rho + 2.0 * self.k_neg_rho)
        return c * self.k_rho - half, c * self.k_rho + half

    def speeds(self, t: float = 0.0) -> tuple[np.ndarray, float]:
        """Bounds of |a_v| per node and of |a_w|, without the relaxation (valid for every f)."""
        if self._speeds is not None and self.constant_current:
            return self._speeds
        speeds = transport.drift_speed_bounds(
            self.grid, self.params, self.k_rho, self.k_j_range(), self.current(t)
        )
        self._speeds = speeds
        return speeds

    def relaxation_speed(self) -> np.ndarray:
        """Bound (ρ_i/ε)(v_max − v_min) of the relaxation velocity per node (0 for ε = ∞)."""
        return self.rho0 * (self.grid.v_span / self.eps)

    def max_stable_dt(self, t: float = 0.0, with_relaxation: bool = False) -> float:
        """Largest Δt keeping SSP-RK transport positive (global; collective)."""
        speed_v, speed_w = self.speeds(t)
        if with_relaxation:
            speed_v = speed_v + self.relaxation_speed()
        local = transport.stable_dt(
            float(speed_v.max(initial=0.0)), speed_w, self.grid, self.diffusion
        )
        return self.comm.allreduce(local, op=MPI.MIN)

    def info(self) -> dict:
        """Facts for logs and summary.json (collective: calls max_stable_dt)."""
        g = self.grid
        return {
            "eps": self.eps,
            "diffusion": self.diffusion,
            "limiter": self.limiter,
            "backend": self.backend,
            "grid": {"v": [g.v_min, g.v_max, g.n_v], "w": [g.w_min, g.w_max, g.n_w]},
            "cells_per_node": g.n_v * g.n_w,
            "inhibition": self.inhibition,
            "max_stable_dt": self.max_stable_dt(),
        }

    # ------------------------------------------------------------------ state and moments

    def state(
        self, V0: np.ndarray | float, W0: np.ndarray | float, sigma_v=0.1, sigma_w=0.1
    ) -> np.ndarray:
        """Initial density with moments (ρ0, V0, W0) and Gaussian widths (σ_v, σ_w)."""
        return initial.from_moments(self.grid, self.rho0, V0, W0, sigma_v, sigma_w)

    def moments(self, f: np.ndarray) -> np.ndarray:
        """(ρ, j, q, V, W, var_v, var_w) per owned node, shape (7, n)."""
        if self.backend == "numba":
            return moments.moments(f, self.grid)
        return moments.moments_numpy(f, self.grid)

    def _rho_j(self, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.backend == "numba":
            return moments.flux_moments(f, self.grid)
        m = moments.moments_numpy(f, self.grid)
        return m[0], m[1]

    @staticmethod
    def _mean(rho: np.ndarray, j: np.ndarray) -> np.ndarray:
        positive = rho > 0
        return np.where(positive, j / np.where(positive, rho, 1.0), 0.0)

    def fields_of(self, f: np.ndarray) -> dict[str, np.ndarray]:
        """Owned nodal output fields V, W, rho, var_v, var_w (V = W = 0 where ρ = 0) and the
        limit diagnostics of `fem_fhn.kinetic.diagnostics` (dissipation, dissipation_unweighted,
        error_term, moment4, moment6)."""
        m = self.moments(f)
        return {
            "V": m[3],
            "W": m[4],
            "rho": m[0],
            "var_v": m[5],
            "var_w": m[6],
            **diagnostics.node_diagnostics(f, self.grid, self.rho0, self.params.N),
        }

    # ------------------------------------------------------------------ the two parts

    @phases.timing("transport")
    def transport_rhs(
        self,
        t: float,
        f: np.ndarray,
        relax_rate: np.ndarray | None = None,
        donor: np.ndarray | None = None,
    ) -> np.ndarray:
        """df/dt of the transport (`fem_fhn.kinetic.transport`).

        Args:
            t: time (for the stimulus).
            f: the density.
            relax_rate: r_i = ρ_i/ε on nodes whose relaxation is in the drift, else 0.
            donor: nodes that take the moment-exact donor-cell fluxes (remapped nodes).
        """
        rho, j = self._rho_j(f)
        k_j = self.op.apply(j)
        V = self._mean(rho, j)
        rhs = transport.transport_rhs if self.backend == "numba" else transport.transport_rhs_numpy
        return rhs(
            f,
            self.grid,
            self.params,
            self.k_rho,
            k_j,
            self.current(t),
            relax_rate,
            V,
            donor,
            self.diffusion,
            self.limiter,
        )

    @phases.timing("relaxation")
    def relax(self, f: np.ndarray, dt: float, active: np.ndarray | None = None) -> np.ndarray:
        """Exact relaxation flow over dt (cloud-in-cell remap) on the `active` nodes."""
        rho, j = self._rho_j(f)
        lam = relaxation.contraction(rho, dt, self.eps)
        V = self._mean(rho, j)
        if self.backend == "numba":
            return relaxation.relax(f, self.grid, rho, V, lam, active)
        return relaxation.relax_numpy(f, self.grid, rho, V, lam, active)

    def relax_rate(self, f: np.ndarray | None = None) -> np.ndarray:
        """ρ_i/ε per node (from ρ0, or from f if given)."""
        rho = self.rho0 if f is None else self._rho_j(f)[0]
        return rho / self.eps

    def rhs(self, t: float, f: np.ndarray) -> np.ndarray:
        """Whole right-hand side (relaxation in the drift): for explicit schemes at moderate ε."""
        return self.transport_rhs(t, f, self.relax_rate(f))
