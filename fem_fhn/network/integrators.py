"""IMEX Runge–Kutta integrators for the network (PETSc KSP for the implicit graph Laplacian).

The network model splits y' = E(t, y) + I(y) (`NetworkFHN.explicit`, `NetworkFHN.implicit`),
with the stiff part I(v, w) = (−(1/ε) L v, 0) linear. An IMEX Runge–Kutta scheme with explicit
tableau (Ã, b̃, c̃) and diagonally implicit tableau (A, b) computes the stages

    Y_s = y_n + Δt Σ_{j<s} (Ã_sj E_j + A_sj I_j) + Δt A_ss I(Y_s),   E_j = E(t_n + c̃_j Δt, Y_j),

i.e. one linear solve (I + (Δt A_ss/ε) L) v_s = r_s per implicit stage (w has no implicit part),
and y_{n+1} = y_n + Δt Σ_s (b̃_s E_s + b_s I_s), or y_{n+1} = Y_last for globally stiffly
accurate schemes. The stiff stage values are recovered as I_s = (Y_s − r_s)/(Δt A_ss), never by
multiplying by 1/ε, so ε → 0 is safe. Schemes:

- "imex-euler": forward/backward Euler, ARS(1,1,1), order 1 (Ascher, Ruuth & Spiteri,
  Appl. Numer. Math. 25 (1997) 151–167);
- "imex-ssp2": IMEX-SSP2(2,2,2), order 2, L-stable implicit part, γ = 1 − 1/√2 (Pareschi &
  Russo, J. Sci. Comput. 25 (2005) 129–155);
- "imex-ars222": ARS(2,2,2), order 2, globally stiffly accurate, γ = 1 − 1/√2, δ = 1 − 1/(2γ)
  (Ascher, Ruuth & Spiteri 1997).

All three have an L-stable implicit part, so the step size need not resolve ε and the schemes
stay stable at fixed Δt as ε → 0 (asymptotic-preserving particle scheme, Crevat & Filbet,
arXiv 2002.04467). The two globally stiffly accurate schemes ("imex-euler", "imex-ars222") end
each step with an implicit solve, which projects v onto functions constant on the clusters of
the graph: neighbours synchronise to O(ε). "imex-ssp2" is not stiffly accurate: its final
explicit combination adds O(Δt) differences of the unsynchronised w_i to v, so neighbours stay
apart by O(Δt |Δw|) in the stiff limit (it is still stable and second order for moderate ε).
Use "imex-ars222" (the default) for small ε.

**Linear solves.** The system is symmetrised by the weights: Ω (I + c L) v = Ω r, Ω = diag ω,
with the MPIAIJ matrix Ω + c Ω L (rows: the owned particles in the Morton order of
`ShortRangeGraph.order`, for memory locality; columns: the same order within each rank block,
rank blocks in rank order). Vectors are permuted into that order and back around each solve,
so the caller sees the particles in their own order. It is solved by conjugate gradients with
the Jacobi preconditioner (rank-independent), starting from the latest v of the step (the
state's v, then the previous stage's: a function of the state, so a restarted run repeats the
uninterrupted one; zero where that guess has a larger residual than zero, as for ε → 0),
to the relative tolerance `ksp_rtol` of the preconditioned residual
(against ‖Ω r‖), raised to 8 ε_mach ‖Ω⁻¹M‖_∞ when the matrix is too stiff for a smaller
residual to be representable (ε → 0). `ksp_rtol = "auto"` (default) ties it to the step's accuracy:
min(1e-6, 1e-3 Δt^{p+1}) for a scheme of order p (1.25e-7 for ARS(2,2,2) at Δt = 0.05): the
solve error, at most cond(D⁻¹M) ≈ 1 + 2 c max deg times the tolerance, stays well below the
local truncation error O(Δt^{p+1}); a number (e.g. 1e-14, the strict choice) fixes it.

**Noise.** With σ > 0 each step starts with the Euler–Maruyama increment v_i ← v_i + σ √Δt ξ_i,n
(Lie splitting: noise, then the deterministic IMEX step, whose implicit solve also relaxes the
noise across the graph). ξ_i,n are standard normals that depend on (seed, step number n, global
particle id) only (`fem_fhn.network.rng`), so noisy runs agree across rank counts. The step
number counts the steps this integrator has taken since it was created.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from fem_fhn.network.rng import STREAMS, normals
from fem_fhn.params import ParameterError, require
from fem_fhn.profiling import phases
from fem_fhn.timestepping import (
    IMEX_ARS222,
    IMEX_EULER,
    IMEX_SCHEMES,
    IMEX_SSP2,
    IMEXTableau,
)

__all__ = [
    "IMEX_SCHEMES",
    "IMEXARS222",
    "IMEXEuler",
    "IMEXRungeKutta",
    "IMEXSSP2",
    "IMEXTableau",
    "StiffSolver",
    "auto_ksp_rtol",
    "make_network_integrator",
]


def auto_ksp_rtol(dt: float, order: int) -> float:
    """min(1e-6, 1e-3 Δt^{p+1}): the CG tolerance tied to the local truncation error O(Δt^{p+1})."""
    return min(1e-6, 1e-3 * dt ** (order + 1))


class StiffSolver:
    """Solves (I + c L) v = r for the graph Laplacian L of a `ShortRangeGraph` (PETSc CG + Jacobi).

    Matrices Ω + c Ω L and their KSPs are cached per value of c (a few at most: the last step
    of an output interval may be shorter).
    """

    def __init__(self, graph, ksp_rtol: float = 1e-14, max_it: int = 100_000, reorder: bool = True):
        from fem_fhn._fenics import PETSc
        from fem_fhn.parallel import gather_rows

        self.PETSc = PETSc
        self.graph = graph
        self.ksp_rtol = float(ksp_rtol)
        self.max_it = int(max_it)
        self._cache: dict[float, tuple] = {}
        self._work = None
        self.iterations = 0
        self.solves = 0
        g = graph
        a = g.adjacency
        n = g.n_local
        # storage order: row k holds particle perm[k]; global column of (rank q, local j)
        self._perm = np.asarray(g.order if reorder else np.arange(n), dtype=np.int64)
        position = np.empty(n, dtype=np.int64)
        position[self._perm] = np.arange(n, dtype=np.int64)
        column = gather_rows(g.comm, position + g.offset, g.counts)
        diag_cols = np.arange(n, dtype=np.int64) + g.offset
        # Ω L: rows ω_i (deg_i at the diagonal, −a_ij off it); assembled once, scaled per c
        rows = np.concatenate([position[np.repeat(np.arange(n), np.diff(a.indptr))], position])
        cols = np.concatenate([column[a.indices], diag_cols[position]])
        vals = np.concatenate(
            [-a.data * np.repeat(g.weights, np.diff(a.indptr)), g.degree * g.weights]
        )
        self._omega_L = sp.csr_matrix((vals, (rows, cols)), shape=(n, g.n_global))
        self._omega_L.sum_duplicates()
        self._omega_L.sort_indices()
        self._diag = sp.csr_matrix(
            (g.weights[self._perm], (np.arange(n), diag_cols)), shape=(n, g.n_global)
        )
        self._max_degree = g.max_degree()

    def _entry(self, c: float):
        key = float(c)
        if key in self._cache:
            return self._cache[key]
        if len(self._cache) >= 4:
            old_mat, old_ksp, *_ = self._cache.pop(next(iter(self._cache)))
            old_ksp.destroy()
            old_mat.destroy()
        PETSc, g = self.PETSc, self.graph
        m = (self._diag + c * self._omega_L).tocsr()
        m.sort_indices()
        csr = (
            m.indptr.astype(PETSc.IntType),
            m.indices.astype(PETSc.IntType),
            m.data.astype(PETSc.ScalarType),
        )
        mat = PETSc.Mat().createAIJ(
            size=((g.n_local, g.n_global), (g.n_local, g.n_global)), csr=csr, comm=g.comm
        )
        mat.assemble()
        ksp = PETSc.KSP().create(comm=g.comm)
        ksp.setOperators(mat)
        ksp.setType("cg")
        ksp.getPC().setType("jacobi")
        # ‖D⁻¹M‖_∞ ≤ 1 + 2 c max deg / (1 + c min deg) ≈ 1 + 2c max deg: the residual floor
        rtol = max(self.ksp_rtol, 8.0 * np.finfo(float).eps * (1.0 + 2.0 * c * self._max_degree))
        ksp.setTolerances(rtol=rtol, atol=0.0, max_it=self.max_it)
        ksp.setInitialGuessNonzero(True)
        b, x = mat.createVecs()
        if self._work is None:  # the initial-guess test's vectors, shared by every c
            self._work = mat.createVecs()
        entry = (mat, ksp, b, x, rtol)
        self._cache[key] = entry
        return entry

    @phases.timing("linear solves")
    def solve(self, r: np.ndarray, c: float, guess: np.ndarray | None = None) -> np.ndarray:
        """v with (I + c L) v = r (owned values), CG started from `guess` (default 0)."""
        mat, ksp, b, x, rtol = self._entry(c)
        perm = self._perm
        b.array[:] = self.graph.weights[perm] * r[perm]
        x.set(0.0)
        if guess is not None:  # kept where it beats 0 (not as ε → 0, where c L guess is huge)
            x0, residual = self._work
            x0.array[:] = guess[perm]
            mat.mult(x0, residual)
            residual.aypx(-1.0, b)
            if residual.norm() < b.norm():
                x0.copy(x)
        ksp.solve(b, x)
        reason = ksp.getConvergedReason()
        self.iterations += ksp.getIterationNumber()
        self.solves += 1
        if reason < 0:
            raise FloatingPointError(
                f"the implicit graph solve did not converge (PETSc KSP reason {reason}, "
                f"{ksp.getIterationNumber()} iterations, rtol {rtol:.1e})"
            )
        out = np.empty_like(r, dtype=float)
        out[perm] = x.array_r
        return out

    def destroy(self) -> None:
        for mat, ksp, b, x, _ in self._cache.values():
            for obj in (ksp, mat, b, x):
                obj.destroy()
        self._cache.clear()


class IMEXRungeKutta:
    """Fixed-step IMEX Runge–Kutta integrator: `advance(model, t, y, t_target)`.

    Takes n = ⌈(t_target − t)/dt⌉ equal steps (like `fem_fhn.timestepping.FixedStep`).

    Args:
        tableau: the IMEX pair.
        dt: time step (> 0; independent of ε).
        noise: σ ≥ 0 of the additive noise σ dW on v.
        seed: seed of the noise.
        ksp_rtol: relative tolerance of the CG solves, or "auto" (see the module docstring).
        reorder: store the implicit matrix in the graph's Morton order (False: particle order).
    """

    tableau: IMEXTableau = IMEX_EULER

    def __init__(
        self,
        dt: float,
        noise: float = 0.0,
        seed: int = 0,
        ksp_rtol: float | str = "auto",
        tableau: IMEXTableau | None = None,
        reorder: bool = True,
    ):
        require(dt > 0 and math.isfinite(dt), "time.dt", dt, "dt > 0")
        require(noise >= 0 and math.isfinite(noise), "network.noise", noise, "sigma >= 0")
        ok = ksp_rtol == "auto" or (isinstance(ksp_rtol, int | float) and 0 < ksp_rtol < 1)
        require(ok, "network.ksp_rtol", ksp_rtol, '0 < ksp_rtol < 1 or "auto"')
        if tableau is not None:
            self.tableau = tableau
        self.dt, self.noise, self.seed = float(dt), float(noise), int(seed)
        self.ksp_rtol = (
            auto_ksp_rtol(self.dt, self.tableau.order) if ksp_rtol == "auto" else float(ksp_rtol)
        )
        self.reorder = bool(reorder)
        self.step_count = 0
        self._solver: StiffSolver | None = None
        self._graph = None

    @property
    def order(self) -> int:
        return self.tableau.order

    def n_steps(self, t: float, t_target: float) -> int:
        return max(1, math.ceil((t_target - t) / self.dt * (1 - 1e-12)))

    def _stiff_solver(self, model) -> StiffSolver | None:
        graph = getattr(model, "graph", None)
        if graph is None:
            return None
        if self._solver is None or self._graph is not graph:
            if self._solver is not None:
                self._solver.destroy()
            solver = StiffSolver(graph, self.ksp_rtol, reorder=self.reorder)
            self._solver, self._graph = solver, graph
        return self._solver

    def advance(self, model, t: float, y: np.ndarray, t_target: float):
        n = self.n_steps(t, t_target)
        h = (t_target - t) / n
        solver = self._stiff_solver(model)
        y = np.array(y, dtype=float)
        for i in range(n):
            if self.noise:
                xi = normals(self.seed, STREAMS["noise"], self.step_count, model.global_id)
                y[0] += self.noise * math.sqrt(h) * xi
            y = self.step(model, solver, t + i * h, y, h)
            self.step_count += 1
        return t_target, y, n

    def step(self, model, solver: StiffSolver | None, t: float, y: np.ndarray, h: float):
        """One deterministic IMEX step of size h."""
        tab = self.tableau
        S = tab.stages
        c_exp = tab.c_exp
        E: list[np.ndarray | None] = [None] * S
        I: list[np.ndarray | None] = [None] * S  # noqa: E741  (v-part of the stiff stages)
        last = S - 1
        stiffly = tab.stiffly_accurate
        Y = y
        guess = y[0]  # the CG starts from the latest v: a function of the state only
        for s in range(S):
            Y = y.copy()
            for j in range(s):
                if tab.a_exp[s][j]:
                    Y += (h * tab.a_exp[s][j]) * E[j]
                if tab.a_imp[s][j]:
                    Y[0] += (h * tab.a_imp[s][j]) * I[j]
            a_ss = tab.a_imp[s][s]
            if a_ss and solver is None:
                I[s] = np.zeros_like(Y[0])
            elif a_ss:
                r = Y[0].copy()
                Y[0] = guess = solver.solve(r, h * a_ss / model.eps, guess)
                I[s] = (Y[0] - r) / (h * a_ss)
            elif self._needs_stiff(s):
                I[s] = model.implicit(Y)[0]
            if not (stiffly and s == last):
                E[s] = model.explicit(t + c_exp[s] * h, Y)
        if stiffly:
            return Y
        y_new = y.copy()
        for s in range(S):
            if tab.b_exp[s]:
                y_new += (h * tab.b_exp[s]) * E[s]
            if tab.b_imp[s] and I[s] is not None:
                y_new[0] += (h * tab.b_imp[s]) * I[s]
        return y_new

    def _needs_stiff(self, s: int) -> bool:
        """Whether I(Y_s) enters a later stage or the update (explicitly evaluated stiff stage)."""
        tab = self.tableau
        later = any(tab.a_imp[k][s] for k in range(s + 1, tab.stages))
        return bool(later or (tab.b_imp[s] and not tab.stiffly_accurate))

    def info(self) -> dict:
        solver = self._solver
        return {
            "scheme": self.tableau.name,
            "dt": self.dt,
            "noise": self.noise,
            "steps": self.step_count,
            "ksp_iterations": 0 if solver is None else solver.iterations,
            "ksp_solves": 0 if solver is None else solver.solves,
        }


class IMEXEuler(IMEXRungeKutta):
    """IMEX Euler, ARS(1,1,1): v* = v_n + Δt E(t_n, y_n), (I + (Δt/ε) L) v_{n+1} = v*."""

    tableau = IMEX_EULER


class IMEXSSP2(IMEXRungeKutta):
    """IMEX-SSP2(2,2,2) of Pareschi & Russo (2005), second order, L-stable implicit part."""

    tableau = IMEX_SSP2


class IMEXARS222(IMEXRungeKutta):
    """ARS(2,2,2) of Ascher, Ruuth & Spiteri (1997), second order, globally stiffly accurate."""

    tableau = IMEX_ARS222


def make_network_integrator(
    scheme: str = "imex-ars222",
    dt: float = 0.01,
    noise: float = 0.0,
    seed: int = 0,
    ksp_rtol: float | str = "auto",
    rtol: float = 1e-6,
    atol: float = 1e-9,
):
    """An integrator by name: an IMEX scheme (IMEX_SCHEMES) or any `fem_fhn.timestepping` scheme.

    Explicit schemes integrate the full right-hand side (their step must resolve 1/ε) and do
    not support noise.
    """
    if scheme in IMEX_SCHEMES:
        return IMEXRungeKutta(dt, noise, seed, ksp_rtol, IMEX_SCHEMES[scheme])
    from fem_fhn.timestepping import SCHEMES, make_integrator

    if scheme not in SCHEMES:
        allowed = ", ".join([*IMEX_SCHEMES, *SCHEMES])
        raise ParameterError(f"time.scheme = {scheme!r} is not allowed: one of {allowed}")
    require(noise == 0, "network.noise", noise, f"0 with the explicit scheme {scheme!r}")
    return make_integrator(scheme, dt, rtol, atol)
