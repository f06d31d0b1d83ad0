"""Implicit solves of the network's short-range term: (I + c L) v = r, L the graph Laplacian.

The IMEX engine (`fem_fhn.timestepping.IMEXRungeKutta`) treats the stiff short-range term
(1/ε) L v implicitly (`NetworkFHN.implicit_part`); every implicit stage solves one such system.
The L-stable implicit parts of the IMEX schemes let the step ignore ε: the globally stiffly
accurate ones ("imex-euler", "imex-ars222") end each step with an implicit solve, which projects
v onto functions constant on the clusters of the graph, so neighbours synchronise to O(ε);
"imex-ssp2" is not stiffly accurate, and neighbours stay apart by O(Δt |Δw|) in the stiff limit.
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
residual to be representable (ε → 0). `network.ksp_rtol = "auto"` (default) ties it to the
step's accuracy: min(1e-6, 1e-3 Δt^{p+1}) for a scheme of order p (1.25e-7 for ARS(2,2,2) at
Δt = 0.05): the solve error, at most cond(D⁻¹M) ≈ 1 + 2 c max deg times the tolerance, stays
well below the local truncation error O(Δt^{p+1}); a number (e.g. 1e-14, the strict choice)
fixes it.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from fem_fhn.profiling import phases

__all__ = ["StiffSolver"]


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
