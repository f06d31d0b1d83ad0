"""Hierarchical-matrix (H-matrix) approximation of the nonlocal operator, row-distributed over MPI.

    (K u)_i = Σ_j Ψ(|x_i − x_j|) w_j u_j ≈ (K̃ u)_i = Σ_j Ψ̃_ij (w_j u_j)

Kernel-independent: only values Ψ(r) on arrays of distances are used, so every radial kernel
(including `kernels.Custom` and sign-changing ones) works in 1D, 2D and 3D.

Method (`clustering` and `aca` hold the pieces):
  1. Each rank owns the target rows of its own points; the sources are all N points (gathered).
     A cluster tree is built on the targets and one on the sources by binary geometric bisection
     (median split of the longest bounding-box side, leaves of at most `leaf_size` points).
  2. Block partition of targets × sources: a pair of clusters (τ, σ) is *admissible* if
         η · dist(box_τ, box_σ) ≥ max(diam box_τ, diam box_σ)
     and Ψ is smooth on the distances the pair realises; admissible pairs become low-rank blocks
     Ψ_τσ ≈ U V (adaptive cross approximation with partial pivoting, then QR + SVD
     recompression), inadmissible leaf pairs dense blocks; pairs on which |Ψ| is negligible
     (bounded from a fine table of Ψ(r)) are dropped.
  3. Accuracy: with S = max_i Σ_j |Ψ_ij| |w_j| (estimated on sample rows: a lower bound) and
     W = Σ_j |w_j|, a block of m × n entries is approximated to Frobenius error
     ≤ max(δ ‖Ψ_τσ‖_F, δ (S/W) √(m n)), δ = tol/2, and entries below δ S/W are dropped: every
     entry carries an error ≲ δ (|Ψ_ij| + S/W), which sums over a row to ≲ 2 δ S. So
     ‖K̃u − Ku‖∞ ≤ tol · max_i Σ_j |Ψ_ij| w_j |u_j| for vectors u that are not adversarial
     (errors of the entries of a row do not add coherently).
  4. Storage: the blocks hold Ψ; u is multiplied by the weights at apply. On one rank target and
     source trees coincide and Ψ is symmetric, so only the blocks on and above the block
     diagonal are stored, each applied with its transpose too.
  5. Apply: one Allgatherv of u, then one pass over all blocks in a numba kernel
     (`apply_blocks`; `apply_blocks_numpy` is its plain twin).
"""

from __future__ import annotations

import time

import numba
import numpy as np
from mpi4py import MPI
from scipy.spatial.distance import cdist

from fem_fhn.nonlocal_.aca import aca_batch, kernel_values, recompress, single_threaded_blas
from fem_fhn.nonlocal_.base import write_into
from fem_fhn.nonlocal_.clustering import RadialTable, block_partition, cluster_tree
from fem_fhn.parallel import gather_rows, row_counts
from fem_fhn.params import require

#: internal accuracy δ = _SAFETY · tol (ACA stopping, dropping, roughness threshold)
_SAFETY = 0.5
#: the SVD truncation discards at most _TRUNC · δ (relative and absolute)
_TRUNC = 0.5
#: rows sampled to estimate S = max_i Σ_j |Ψ_ij| |w_j|
_SCALE_ROWS = 64
#: a batch of ACA blocks holds at most this many points (B · (m + n))
_BATCH_POINTS = 1 << 17

#: columns of the block table: target start, rows, source start, columns, rank, offset, transpose
T0, M, S0, N, RANK, OFF, SYM = range(7)
#: RANK of a dense block stored in the near-field array / in the far-field array
DENSE_NEAR, DENSE_FAR = -1, -2


@numba.njit(cache=True, fastmath=True)
def _dense_block(a, off, m, n, sym, xs, ys, xt, yt):  # pragma: no cover - compiled
    for i in range(m):
        row = a[off + i * n : off + (i + 1) * n]
        acc = 0.0
        if sym:
            xi = xt[i]
            for j in range(n):
                acc += row[j] * xs[j]
                ys[j] += row[j] * xi
        else:
            for j in range(n):
                acc += row[j] * xs[j]
        yt[i] += acc


@numba.njit(cache=True, fastmath=True)
def apply_blocks(meta, near, far, x, y):  # pragma: no cover - compiled
    """y[:, τ] += Ψ_τσ x[:, σ] for every block (and y[:, σ] += Ψ_τσᵀ x[:, τ] if SYM).

    meta: (n_blocks, 7) int64 table; near, far: flat float64 storage; x (c, N), y (c, n).
    Dense blocks are m × n row-major; low-rank blocks are V (r × n) then Uᵀ (r × m), row-major.
    """
    z = np.zeros(max(1, int(meta[:, RANK].max())) if meta.shape[0] else 1)
    zt = np.zeros_like(z)
    for k in range(x.shape[0]):
        for b in range(meta.shape[0]):
            t0, m, s0, n, r, off, sym = meta[b]
            xs, ys = x[k, s0 : s0 + n], y[k, s0 : s0 + n]
            xt, yt = x[k, t0 : t0 + m], y[k, t0 : t0 + m]
            if r == DENSE_NEAR:
                _dense_block(near, off, m, n, sym, xs, ys, xt, yt)
                continue
            if r == DENSE_FAR:
                _dense_block(far, off, m, n, sym, xs, ys, xt, yt)
                continue
            V = far[off : off + r * n]
            Ut = far[off + r * n : off + r * (m + n)]
            for q in range(r):
                vq = V[q * n : (q + 1) * n]
                acc = 0.0
                for j in range(n):
                    acc += vq[j] * xs[j]
                z[q] = acc
            for q in range(r):
                uq = Ut[q * m : (q + 1) * m]
                zq = z[q]
                if sym:
                    acc = 0.0
                    for i in range(m):
                        acc += uq[i] * xt[i]
                        yt[i] += uq[i] * zq
                    zt[q] = acc
                else:
                    for i in range(m):
                        yt[i] += uq[i] * zq
            if sym:
                for q in range(r):
                    vq = V[q * n : (q + 1) * n]
                    zq = zt[q]
                    for j in range(n):
                        ys[j] += vq[j] * zq


def apply_blocks_numpy(meta, near, far, x, y) -> None:
    """The plain numpy twin of `apply_blocks` (one Python step per block)."""
    for t0, m, s0, n, r, off, sym in meta:
        if r < 0:
            A = (near if r == DENSE_NEAR else far)[off : off + m * n].reshape(m, n)
            U, V = A, None
        else:
            V = far[off : off + r * n].reshape(r, n)
            U = far[off + r * n : off + r * (m + n)].reshape(r, m).T
        xs, xt = x[:, s0 : s0 + n], x[:, t0 : t0 + m]
        y[:, t0 : t0 + m] += (U @ (xs.T if V is None else V @ xs.T)).T
        if sym:
            y[:, s0 : s0 + n] += (U.T @ xt.T if V is None else V.T @ (U.T @ xt.T)).T


def _point_bounds(table: RadialTable, P: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """max |Ψ| over the distances from each point P[b, i] to the box [lo[b], hi[b]]."""
    lo, hi = lo[:, None, :], hi[:, None, :]
    near = np.linalg.norm(np.maximum(0.0, np.maximum(lo - P, P - hi)), axis=2)
    far = np.linalg.norm(np.maximum(np.abs(P - lo), np.abs(P - hi)), axis=2)
    return table.bound(near.ravel(), far.ravel()).reshape(near.shape)


class _Buffer:
    """A flat float64 array grown in place (realloc: no copy of the whole at the end)."""

    def __init__(self) -> None:
        self.data, self.size = np.empty(1 << 16), 0

    def add(self, *arrays: np.ndarray) -> int:
        """Append the arrays (raveled, row-major); returns the offset of the first."""
        start = self.size
        total = start + sum(a.size for a in arrays)
        if total > self.data.size:
            self.data.resize(max(total, int(1.5 * self.data.size)), refcheck=False)
        for a in arrays:
            self.data[self.size : self.size + a.size].reshape(a.shape)[...] = a
            self.size += a.size
        return start

    def array(self) -> np.ndarray:
        self.data.resize(self.size, refcheck=False)
        return self.data


class HMatrixOperator:
    """K u by an H-matrix (module docstring): near field dense, far field low rank.

    Args:
        points: owned points, shape (n_local, d).
        weights: owned quadrature weights, shape (n_local,).
        kernel: radial kernel; called on arrays of distances.
        comm: communicator over which the points are distributed.
        tol: requested accuracy in the measure ‖K̃u − Ku‖∞ ≤ tol · max_i Σ_j |Ψ_ij| w_j |u_j|.
        eta: admissibility parameter η (larger: more blocks low rank, of higher rank).
        leaf_size: largest number of points in a leaf cluster.
        recompress: truncate the ACA factors by QR + SVD.
    """

    method = "hmatrix"

    def __init__(
        self,
        points: np.ndarray,
        weights: np.ndarray,
        kernel,
        comm: MPI.Comm,
        tol: float = 1e-8,
        eta: float = 2.0,
        leaf_size: int = 64,
        recompress: bool = True,
    ):
        start = time.perf_counter()
        require(isinstance(tol, float | int) and 0 < tol < 1, "tol", tol, "a number in (0, 1)")
        require(isinstance(eta, float | int) and eta > 0, "eta", eta, "a number > 0")
        ok = isinstance(leaf_size, int) and leaf_size >= 1
        require(ok, "leaf_size", leaf_size, "an integer >= 1")
        points = np.asarray(points, dtype=float)
        points = points[:, None] if points.ndim == 1 else points
        self.comm, self.kernel = comm, kernel
        self.tol, self.eta, self.leaf_size = float(tol), float(eta), leaf_size
        self.n_local = points.shape[0]
        self.counts = row_counts(comm, self.n_local)
        self.n_global = int(self.counts.sum())
        all_points = gather_rows(comm, points, self.counts)
        all_weights = gather_rows(comm, np.asarray(weights, dtype=float), self.counts)
        self.symmetric = comm.size == 1
        source = cluster_tree(all_points, leaf_size)
        target = source if self.symmetric else cluster_tree(points, leaf_size)
        self.source_perm, self.target_perm = source.perm, target.perm
        self.source_weights = all_weights[source.perm]
        Y, X = all_points[source.perm], points[target.perm]

        # accuracy scale, identical on every rank (computed from the sources)
        delta = _SAFETY * tol
        scale = self._row_scale(Y, np.abs(self.source_weights))
        entry = delta * scale / max(float(np.abs(all_weights).sum()), 1e-300)
        r_max = float(np.linalg.norm(np.ptp(Y, axis=0))) if len(Y) else 1.0
        table = RadialTable(kernel, r_max, float(getattr(kernel, "width", r_max / 100)))
        table.set_roughness(entry)
        part = block_partition(target, source, eta, table, entry, self.symmetric)
        self.n_dropped = part.n_dropped

        meta = [np.zeros((0, 7), dtype=np.int64)]
        self.near = self._near_field(X, Y, target, source, part.dense, meta)
        with single_threaded_blas():
            self.far = self._far_field(
                X, Y, target, source, part.lowrank, table, delta, entry, recompress, meta
            )
        self.meta = np.ascontiguousarray(np.concatenate(meta))
        self.build_time = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)

    # ------------------------------------------------------------------ build

    def _row_scale(self, Y: np.ndarray, w: np.ndarray) -> float:
        """max over sample rows i (spread over the source tree) of Σ_j |Ψ(|y_i − y_j|)| |w_j|."""
        if len(Y) == 0:
            return 0.0
        rows = np.unique(np.linspace(0, len(Y) - 1, min(len(Y), _SCALE_ROWS)).astype(np.int64))
        step = max(1, 2_000_000 // len(Y))
        best = 0.0
        for a in range(0, len(rows), step):
            values = kernel_values(self.kernel, cdist(Y[rows[a : a + step]], Y))
            best = max(best, float((np.abs(values) @ w).max()))
        return best

    def _sym(self, t: np.ndarray, s: np.ndarray) -> np.ndarray:
        return (t != s) if self.symmetric else np.zeros(len(t), dtype=bool)

    def _near_field(self, X, Y, target, source, pairs, meta) -> np.ndarray:
        """Dense leaf blocks; the kernel is evaluated once per target leaf on all its columns."""
        pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
        m, n = target.size[pairs[:, 0]], source.size[pairs[:, 1]]
        offsets = np.concatenate([[0], np.cumsum(m * n)])
        table = np.zeros((len(pairs), 7), dtype=np.int64)
        table[:, T0], table[:, M] = target.start[pairs[:, 0]], m
        table[:, S0], table[:, N] = source.start[pairs[:, 1]], n
        table[:, RANK], table[:, OFF] = DENSE_NEAR, offsets[:-1]
        table[:, SYM] = self._sym(pairs[:, 0], pairs[:, 1])
        meta.append(table)
        data = np.empty(int(offsets[-1]))
        heads = np.concatenate([[0], np.nonzero(np.diff(pairs[:, 0]))[0] + 1, [len(pairs)]])
        for a, b in zip(heads[:-1], heads[1:], strict=False):
            if a == b:
                continue
            t0, t1 = table[a, T0], table[a, T0] + table[a, M]
            cols = np.concatenate([np.arange(s0, s0 + nn) for s0, nn in table[a:b, [S0, N]]])
            block = kernel_values(self.kernel, cdist(X[t0:t1], Y[cols]))
            c0 = 0
            for row in table[a:b]:
                nn, off = row[N], row[OFF]
                data[off : off + row[M] * nn] = block[:, c0 : c0 + nn].ravel()
                c0 += nn
        return data

    def _far_field(
        self, X, Y, target, source, pairs, table, delta, entry, do_recompress, meta
    ) -> np.ndarray:
        """Admissible blocks by batched ACA (batches of equal-shape blocks); blocks that do not
        compress are stored dense."""
        m, n = target.size[pairs[:, 0]], source.size[pairs[:, 1]]
        rng = np.random.default_rng(12345)
        order = np.lexsort((n, m))
        change = np.nonzero((np.diff(m[order]) != 0) | (np.diff(n[order]) != 0))[0] + 1
        heads = np.unique(np.concatenate([[0], change, [len(order)]]))
        store, rows_meta = _Buffer(), []
        self.max_rank = 0
        for a, b in zip(heads[:-1], heads[1:], strict=False):
            group = order[a:b]
            mm, nn = int(m[group[0]]), int(n[group[0]])
            size = max(1, _BATCH_POINTS // (mm + nn))
            for c in range(0, len(group), size):
                idx = group[c : c + size]
                t, s = pairs[idx, 0], pairs[idx, 1]
                Xb = X[target.start[t][:, None] + np.arange(mm)]
                Yb = Y[source.start[s][:, None] + np.arange(nn)]
                row_bound = _point_bounds(table, Xb, source.lo[s], source.hi[s])
                col_bound = _point_bounds(table, Yb, target.lo[t], target.hi[t])
                abs_thr = np.full(len(idx), entry * np.sqrt(mm * nn))
                fac = aca_batch(Xb, Yb, self.kernel, delta, abs_thr, row_bound, col_bound, rng)
                good = [i for i, f in enumerate(fac) if f is not None]
                if do_recompress:
                    new = recompress([fac[i] for i in good], _TRUNC * delta, _TRUNC * abs_thr[good])
                    for i, f in zip(good, new, strict=True):
                        fac[i] = f
                sym = self._sym(t, s)
                for i, f in enumerate(fac):
                    if f is None:
                        rank = DENSE_FAR
                        offset = store.add(kernel_values(self.kernel, cdist(Xb[i], Yb[i])))
                    else:
                        rank = f[0].shape[1]
                        offset = store.add(f[1], f[0].T)
                        self.max_rank = max(self.max_rank, rank)
                    t0, s0 = target.start[t[i]], source.start[s[i]]
                    rows_meta.append((t0, mm, s0, nn, rank, offset, sym[i]))
        meta.append(np.asarray(rows_meta, dtype=np.int64).reshape(-1, 7))
        return store.array()

    # ------------------------------------------------------------------ use

    def apply(self, u: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(K̃ u)_i ≈ Σ_j Ψ(|x_i − x_j|) w_j u_j for the owned rows; u (n_local,) or (n_local, m)
        (into `out` if given).

        Collective (one Allgatherv of u)."""
        u = np.asarray(u, dtype=float)
        full = gather_rows(self.comm, u, self.counts)[self.source_perm]
        x = full.reshape(self.n_global, -1) * self.source_weights[:, None]
        y = np.zeros((x.shape[1], self.n_local))
        apply_blocks(self.meta, self.near, self.far, np.ascontiguousarray(x.T), y)
        result = np.empty((self.n_local, x.shape[1]))
        result[self.target_perm] = y.T
        return write_into(out, result.reshape((self.n_local, *u.shape[1:])))

    def stored_entries(self) -> int:
        """Numbers stored on this rank for the blocks (dense entries and low-rank factors)."""
        return int(self.near.size + self.far.size)

    def memory_bytes(self) -> int:
        arrays = [self.meta, self.near, self.far, self.source_perm, self.target_perm]
        return int(sum(a.nbytes for a in [*arrays, self.source_weights, self.counts]))

    def info(self) -> dict:
        """Build time, memory, compression and block statistics. Collective (reductions over
        the communicator): every rank must call it.

        compression = stored numbers / N² over all ranks (a symmetric block stored once counts
        once); blocks are counted as stored."""
        comm = self.comm
        dense = int(np.count_nonzero(self.meta[:, RANK] < 0))
        return {
            "method": self.method,
            "n_global": self.n_global,
            "build_time_s": self.build_time,
            "memory_bytes_per_rank_max": int(comm.allreduce(self.memory_bytes(), op=MPI.MAX)),
            "compression": comm.allreduce(self.stored_entries()) / max(self.n_global**2, 1),
            "n_dense_blocks": comm.allreduce(dense),
            "n_lowrank_blocks": comm.allreduce(len(self.meta) - dense),
            "n_dropped_blocks": comm.allreduce(self.n_dropped),
            "max_rank": comm.allreduce(self.max_rank, op=MPI.MAX),
            "symmetric": self.symmetric,
            "tol": self.tol,
            "eta": self.eta,
            "leaf_size": self.leaf_size,
        }
