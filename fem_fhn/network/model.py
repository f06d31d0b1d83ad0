"""The FitzHugh–Nagumo network at fixed neuron positions (docs/science.md).

For n neurons at positions x_i with weights ω_i (ω = (∫ρ0)/n for a sample of ρ0),

    v_i' = N(v_i) − w_i + I_ext(x_i, t) − Σ_j Φ(x_i − x_j) ω_j (v_i − v_j),
    w_i' = τ (v_i + a − b w_i),        Φ = Ψ + (1/ε) χ_r,        N(v) = v − v³.

**Weights.** docs/science.md writes the coupling with 1/n. Positions are drawn from ρ0/∫ρ0, so
(1/n) Σ_j Ψ(x_i − x_j)(v_i − v_j) → ∫ Ψ(x_i − x')(v_i − v(x')) ρ0(x') dx' / ∫ρ0. The kinetic
and macroscopic models use ρ0 itself (L_ρ0 has the weight ρ0(x'), not ρ0/∫ρ0), so the network
uses the particle weights ω = (∫ρ0)/n in place of 1/n (docs/discretisation.md: "Network weights are
(∫ρ0)/n"). Then Σ_j Ψ(x_i − x_j) ω (v_i − v_j) → −L_ρ0(v)(x_i) and (1/ε)Σ_j χ_r ω (v_i − v_j) →
(ρ0/ε)(v_i − V) as r → 0, the kinetic relaxation term. With ∫ρ0 = 1 the two conventions agree.

**Splitting** (for IMEX integrators, `fem_fhn.network.integrators`): with K the nonlocal operator
of Ψ on the particles, (K u)_i = Σ_j Ψ(|x_i − x_j|) ω_j u_j, and L the graph Laplacian of
χ_r (`fem_fhn.network.graph`),

    explicit part   E(t, v, w) = (N(v) − w + I_ext − (v ∘ K1 − K v),  τ (v + a − b w)),
    stiff part      I(v)       = (−(1/ε) L v, 0),

and rhs = E + I. The stiff part is linear, and Ω L (Ω = diag ω) is symmetric positive
semi-definite. For a symmetric Φ the coupling conserves the weighted mean voltage:
Σ_i ω_i (v_i K1_i − (Kv)_i) = Σ_ij ω_i ω_j Ψ_ij (v_i − v_j) = 0, and likewise for L.

State arrays have shape (2, n_owned) = (v, w); the model holds no time step.
"""

from __future__ import annotations

import math

import numpy as np
from mpi4py import MPI

from fem_fhn.macro.stimulus import Stimulus
from fem_fhn.network.graph import ShortRangeGraph, short_range_graph
from fem_fhn.network.moments import ParticleMoments
from fem_fhn.network.sampling import Particles
from fem_fhn.network.stiff import StiffSolver
from fem_fhn.nonlocal_ import make_operator
from fem_fhn.params import FHNParameters, require
from fem_fhn.profiling import phases
from fem_fhn.reaction import FHNReaction, Reacting
from fem_fhn.timestepping import auto_ksp_rtol

__all__ = ["NetworkFHN"]


class NetworkFHN(Reacting):
    """The network v' = N(v) − w + I_ext − Σ_j Φ_ij ω_j (v_i − v_j), w' = τ(v + a − b w).

    Args:
        positions: owned positions, shape (n_owned, d).
        global_id: rank-independent particle ids of the owned particles.
        params: FHN parameters (params.I_ext is added to `stimulus`).
        long_range_op: K for Ψ on these positions with weights ω (any `make_operator` method),
            or None for Ψ = 0.
        short_graph: the graph of χ_r (`short_range_graph`), or None for no short-range term.
        eps: ε > 0 (math.inf switches the short-range term off).
        stimulus: optional I_ext(x, t): a `Stimulus`, a number, an `Expression` or f(coords, t).
        weights: owned weights ω (default: those of `short_graph`; needed without a graph only
            for `weighted_sum`).
        moments: particle → mesh deposit used by `fields_of` (optional).
    """

    fields = ("V", "W", "rho")
    parts = frozenset({"rhs", "explicit", "implicit"})

    def __init__(
        self,
        positions: np.ndarray,
        global_id: np.ndarray,
        params: FHNParameters,
        long_range_op=None,
        short_graph: ShortRangeGraph | None = None,
        eps: float = math.inf,
        stimulus=None,
        *,
        weights: np.ndarray | float | None = None,
        moments: ParticleMoments | None = None,
        comm: MPI.Comm | None = None,
    ):
        require(eps > 0, "eps", eps, "eps > 0 (math.inf: no short-range term)")
        self.positions = np.asarray(positions, dtype=float)
        self.global_id = np.asarray(global_id, dtype=np.int64)
        self.n_owned = self.positions.shape[0]
        self.op = long_range_op
        self.graph = short_graph if math.isfinite(eps) else None
        self.eps = float(eps)
        if comm is None:
            source = long_range_op or short_graph
            comm = source.comm if source is not None else MPI.COMM_WORLD
        self.comm = comm
        if weights is None and short_graph is not None:
            weights = short_graph.weights
        self.weights = (
            None
            if weights is None
            else np.broadcast_to(np.asarray(weights, dtype=float), (self.n_owned,)).copy()
        )
        if stimulus is not None and not isinstance(stimulus, Stimulus):
            stimulus = Stimulus(stimulus, self.positions)
        self.fhn = FHNReaction(params, stimulus)
        self.moments = moments
        self.ksp_rtol: float | str = "auto"  # of the implicit graph solves (`implicit_part`)
        self.reorder = True  # store the implicit matrix in the graph's Morton order
        self.K1 = None if long_range_op is None else long_range_op.apply(np.ones(self.n_owned))

    @classmethod
    def from_particles(
        cls,
        particles: Particles,
        params: FHNParameters,
        psi=None,
        eps: float = math.inf,
        radius: float | None = None,
        method: str = "dense",
        tol: float = 1e-8,
        profile: str = "bump",
        stimulus=None,
    ) -> NetworkFHN:
        """Build K (Ψ, `method`), the graph (χ_r, `profile`) and the deposit from particles.

        On a curve or surface in space both use chordal distances, and χ_r (like Ψ) is
        normalised in the mesh's own dimension.
        """
        comm = particles.comm
        op = None
        if psi is not None:
            op = make_operator(particles.positions, particles.weights, psi, method, comm, tol)
        graph = None
        if math.isfinite(eps):
            require(radius is not None and radius > 0, "radius", radius, "r > 0 when eps < inf")
            graph = short_range_graph(
                particles.positions, particles.weights, radius, comm, profile, particles.tdim
            )
        return cls(
            particles.positions,
            particles.global_id,
            params,
            op,
            graph,
            eps,
            stimulus,
            weights=particles.weights,
            moments=ParticleMoments(particles),
            comm=comm,
        )

    # ------------------------------------------------------------------ right-hand side

    def long_range(self, v: np.ndarray) -> np.ndarray:
        """Σ_j Ψ(x_i − x_j) ω_j (v_i − v_j) = v_i (K1)_i − (K v)_i (zero without Ψ)."""
        if self.op is None:
            return np.zeros_like(v)
        return v * self.K1 - self.op.apply(v)

    def short_range(self, v: np.ndarray) -> np.ndarray:
        """(1/ε) Σ_j χ_r(x_i − x_j) ω_j (v_i − v_j) = (1/ε) (L v)_i (zero without the graph)."""
        if self.graph is None:
            return np.zeros_like(v)
        return self.graph.laplacian(v) / self.eps

    @phases.timing("right-hand sides")
    def explicit(self, t: float, y: np.ndarray) -> np.ndarray:
        """E(t, y) = (N(v) − w + I_ext − (v K1 − K v), τ (v + a − b w))."""
        dy = self.fhn.rates(t, y[0], y[1])
        dy[0] -= self.long_range(y[0])
        return dy

    def implicit_part(self, dt: float, order: int) -> GraphSolve | None:
        """The short-range term's implicit solves (I + (c/ε) L) v = r (None without a graph);
        `ksp_rtol` "auto" is tied to the step's accuracy (`auto_ksp_rtol(dt, order)`)."""
        given = self.ksp_rtol
        ok = given == "auto" or (isinstance(given, int | float) and 0 < given < 1)
        require(ok, "network.ksp_rtol", given, '0 < ksp_rtol < 1 or "auto"')
        if self.graph is None:
            return None
        rtol = auto_ksp_rtol(dt, order) if given == "auto" else float(given)
        solver = StiffSolver(self.graph, rtol, reorder=self.reorder)
        return GraphSolve(solver, self.graph, self.eps)

    @phases.timing("right-hand sides")
    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        """E(t, y) + I(y): the full right-hand side (for explicit integrators)."""
        dy = self.explicit(t, y)
        if self.graph is not None:
            dy[0] -= self.short_range(y[0])
        return dy

    def coupling(self, v: np.ndarray) -> np.ndarray:
        """Σ_j Φ(x_i − x_j) ω_j (v_i − v_j), Φ = Ψ + (1/ε) χ_r."""
        return self.long_range(v) + self.short_range(v)

    # ------------------------------------------------------------------ helpers

    def weighted_sum(self, u: np.ndarray) -> float:
        """Σ_i ω_i u_i over all ranks."""
        require(self.weights is not None, "weights", None, "particle weights for weighted sums")
        return float(self.comm.allreduce(float(self.weights @ u), op=MPI.SUM))

    def fields_of(self, y: np.ndarray) -> dict[str, np.ndarray]:
        """Empirical moments (V, W, ρ) on the mesh nodes (see `ParticleMoments`)."""
        require(self.moments is not None, "moments", None, "a ParticleMoments for mesh output")
        return self.moments.fields(y[0], y[1])

    def max_stable_dt(self, v_max: float = 1.5, implicit_short_range: bool = False) -> float:
        """Explicit step bound 1 / (2 max K1 + max|N'| (+ 2 max deg/ε unless treated implicitly)).

        Like `NonlocalFHN.max_stable_dt`, plus the graph term for explicit schemes;
        IMEX schemes (`implicit_short_range=True`) do not depend on ε.
        """
        rate = FHNReaction.max_rate(v_max)
        if self.K1 is not None:
            local = float(np.max(np.abs(self.K1), initial=0.0))
            rate += 2.0 * self.comm.allreduce(local, op=MPI.MAX)
        if self.graph is not None and not implicit_short_range:
            rate += 2.0 * self.graph.max_degree() / self.eps
        return 1.0 / rate

    def info(self) -> dict:
        return {
            "model": "network_fhn",
            "n_global": self.comm.allreduce(self.n_owned),
            "eps": self.eps,
            "long_range": None if self.op is None else self.op.info(),
            "short_range": None if self.graph is None else self.graph.info(),
        }


class GraphSolve:
    """The network's implicit part (`fem_fhn.standard_form.ImplicitPart`): M = I, L = (1/ε) L_χ."""

    def __init__(self, solver: StiffSolver, graph: ShortRangeGraph, eps: float):
        self.solver, self.graph, self.eps = solver, graph, eps

    def solve(self, r: np.ndarray, c: float, guess: np.ndarray | None = None) -> np.ndarray:
        return self.solver.solve(r, c / self.eps, guess)

    def apply(self, v: np.ndarray) -> np.ndarray:
        return -self.graph.laplacian(v) / self.eps

    def info(self) -> dict:
        return {"ksp_iterations": self.solver.iterations, "ksp_solves": self.solver.solves}
