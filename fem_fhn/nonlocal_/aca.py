"""Adaptive cross approximation (ACA) of kernel blocks, run on batches of equal-shape blocks.

A block A_ij = Ψ(|x_i − y_j|) (i in a target cluster, j in a source cluster) is approximated by
Σ_k u_k v_kᵀ with partial pivoting (Bebendorf): the residual of a pivot row i_k has its largest
entry at (i_k, j_k), the pivot δ; v_k = row/δ, u_k = the residual of column j_k, and the next pivot
row is the largest |u_k| among the unused rows (the first one is the row whose distances to the
source box allow the largest |Ψ|, a bound from the tabulated profile). ‖A_k‖_F is updated
incrementally and thr = max(rel ‖A_k‖_F, abs).

Stopping test. The usual estimate ‖u_k‖‖v_k‖ ≤ thr (or a pivot row whose residual r has
√m ‖r‖ ≤ thr) only proposes to stop. The block stops if three more estimates are ≤ thr too: the
residual of the unused row and of the unprobed column whose bounds are largest (√m‖r‖, √n‖c‖)
and √(m n · mean(residual²)) on (m + n)/2 random entries; otherwise the ACA goes on from the
row the failed estimate points at. Partial pivoting alone misses residuals in rows or columns
it has not visited (an isolated large entry of a fast-decaying kernel, a region near the edge
of a compact support).

A block whose rank reaches m n/(m + n) (where a dense block is cheaper) is given up (stored dense
by the caller).

All blocks of a batch advance together (numpy on (B, m) × (B, n) arrays), so the Python overhead
is per ACA step of a batch, not per block or entry. `recompress` then truncates the factors:
U = Q_u R_u, V = Q_v R_v, R_u R_vᵀ = P S Qᵀ, keeping the smallest rank whose discarded singular
values have a 2-norm ≤ max(rel ‖A‖_F, abs).
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterator

import numpy as np

#: (get, set) thread-count functions of the OpenBLAS builds numpy and scipy ship
_OPENBLAS_THREADS = [
    ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
    ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
    ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
    ("openblas_get_num_threads", "openblas_set_num_threads"),
]


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run the block with one OpenBLAS thread (restored afterwards; a no-op where unsupported).

    The build factorises many small matrices (QR, SVD); multi-threaded OpenBLAS makes each call
    slower, by orders of magnitude on a machine whose cores are busy.
    """
    restore = []
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
        for path in sorted(p for p in paths if p.startswith("/")):
            lib = ctypes.CDLL(path)
            for get, put in _OPENBLAS_THREADS:
                if hasattr(lib, get) and hasattr(lib, put):
                    restore.append((getattr(lib, put), int(getattr(lib, get)())))
                    getattr(lib, put)(1)
                    break
    except OSError:
        pass
    try:
        yield
    finally:
        for put, n in restore:
            put(n)


def kernel_values(kernel, r: np.ndarray) -> np.ndarray:
    """Ψ(r) as a float array of r's shape."""
    return np.broadcast_to(np.asarray(kernel(r), dtype=float), r.shape)


def _distances(points: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """|points[b, n] − centre[b]| for (B, n, d) points and (B, d) centres."""
    diff = points - centre[:, None, :]
    return np.sqrt(np.einsum("bnd,bnd->bn", diff, diff))


def _subset(c: np.ndarray, nb: int, index: np.ndarray):
    """(blocks, their indices, per-block row/column index): all nb blocks when c is a good part
    of the batch (the factors are then used as views, not copied), else just c."""
    if 3 * c.size <= nb:
        return c, c, index
    full = np.zeros(nb, dtype=np.int64)
    full[c] = index
    return slice(None), np.arange(nb), full


def _residual(kernel, X, Y, U, V, k, rows, c=None):
    """Residual rows (c.size, n) of blocks c (all blocks for None), row rows[b] of block b.

    Row i of block b: Ψ(|X[b, i] − Y[b, j]|) − Σ_{q<k} U[b, q, i] V[b, q, j]. The residual
    columns are the rows of the transposed blocks: `_residual(kernel, Y, X, V, U, k, cols, c)`.
    """
    if c is None:
        sel, idx = slice(None), np.arange(len(X))
    else:
        sel, idx, rows = _subset(c, len(X), rows)
    out = kernel_values(kernel, _distances(Y[sel], X[idx, rows]))
    if k:
        out = out - np.matmul(U[idx, :k, rows][:, None, :], V[sel, :k, :])[:, 0, :]
    return out if c is None or idx is c else out[c]


def _confirm(kernel, X, Y, U, V, k, c, thr, row_bound, col_bound, used, probed, pivot, rng):
    """Stopping test of blocks c: residual of the unused row and of the unprobed column of
    largest bound, and of (m + n)/2 random entries. Returns (passed, next pivot row)."""
    m, n = X.shape[1], Y.shape[1]
    ar = np.arange(c.size)
    free = ~used[c]
    ip = np.argmax(np.where(free, row_bound[c], -1.0), axis=1)
    est_r = np.sqrt(m) * np.linalg.norm(_residual(kernel, X, Y, U, V, k, ip, c), axis=1)
    est_r[~free.any(axis=1)] = 0.0
    jp = np.argmax(np.where(probed[c], -1.0, col_bound[c]), axis=1)
    probed[c, jp] = True
    col = np.abs(_residual(kernel, Y, X, V, U, k, jp, c))
    est_c = np.sqrt(n) * np.linalg.norm(col, axis=1)
    S = (m + n) // 2
    I, J = rng.integers(0, m, (c.size, S)), rng.integers(0, n, (c.size, S))
    diff = X[c[:, None], I] - Y[c[:, None], J]
    res = kernel_values(kernel, np.sqrt(np.einsum("bsd,bsd->bs", diff, diff)))
    if k:
        q = np.arange(k)[None, :, None]
        res = res - np.einsum(
            "bks,bks->bs",
            U[c[:, None, None], q, I[:, None, :]],
            V[c[:, None, None], q, J[:, None, :]],
        )
    est_s = np.sqrt(m * n / S * np.einsum("bs,bs->b", res, res))
    ok_r, ok_c, ok_s = est_r <= thr, est_c <= thr, est_s <= thr
    used[c[ok_r], ip[ok_r]] = True
    # where a test fails, go on from the row it points at
    res = np.where(used[c[:, None], I], -1.0, np.abs(res))
    best = np.argmax(res, axis=1)
    nxt = np.where(res[ar, best] >= 0, I[ar, best], pivot)
    col[~free] = -1.0
    nxt = np.where(ok_c, nxt, np.argmax(col, axis=1))
    nxt = np.where(ok_r, nxt, ip)
    return ok_r & ok_c & ok_s, nxt


def aca_batch(
    X: np.ndarray,
    Y: np.ndarray,
    kernel,
    rel: float,
    abs_thr: np.ndarray,
    row_bound: np.ndarray,
    col_bound: np.ndarray,
    rng: np.random.Generator,
) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Partial-pivot ACA of the B blocks Ψ(|X[b, i] − Y[b, j]|) at once.

    Args:
        X: target points (B, m, d).
        Y: source points (B, n, d).
        kernel: radial kernel, vectorised over arrays of distances.
        rel, abs_thr: relative and (per block, (B,)) absolute Frobenius thresholds.
        row_bound, col_bound: (B, m) and (B, n) bounds of |Ψ| on each row and column, from the
            distances of its point to the other cluster's box.
        rng: random generator (sampled entries of the stopping test).

    Returns:
        For each block (U (m, k), V (k, n)), or None for a block that did not compress.
    """
    B, m, _ = X.shape
    n = Y.shape[1]
    kcap = (m * n) // (m + n)
    K = min(16, m)
    U, V = np.zeros((B, K, m)), np.zeros((B, K, n))  # rank-major: U[b, k] = u_k
    hist = np.zeros((B, K), dtype=bool)
    used = np.zeros((B, m), dtype=bool)
    ids = np.arange(B)
    norm2, rank = np.zeros(B), np.zeros(B, dtype=np.int64)
    pivot = np.argmax(row_bound, axis=1)
    probed = np.zeros((B, n), dtype=bool)
    finished = np.zeros(B, dtype=bool)
    out: list = [None] * B
    k = 0
    while ids.size:
        nb = ids.size
        ar = np.arange(nb)
        if k == U.shape[1]:
            grow = min(2 * k, m) - k
            U = np.concatenate([U, np.zeros((nb, grow, m))], axis=1)
            V = np.concatenate([V, np.zeros((nb, grow, n))], axis=1)
            hist = np.concatenate([hist, np.zeros((nb, grow), dtype=bool)], axis=1)
        row = _residual(kernel, X, Y, U, V, k, pivot)
        used[ar, pivot] = True
        thr = np.maximum(rel * np.sqrt(norm2), abs_thr)
        small_row = np.sqrt(m) * np.linalg.norm(row, axis=1) <= thr
        j = np.argmax(np.abs(row), axis=1)
        delta = row[ar, j]
        update = ~small_row & (delta != 0.0)
        col = _residual(kernel, Y, X, V, U, k, j)
        v = row * np.where(update, 1.0 / np.where(update, delta, 1.0), 0.0)[:, None]
        u = col * update[:, None]
        un2, vn2 = np.einsum("bm,bm->b", u, u), np.einsum("bn,bn->b", v, v)
        if k:
            cu = np.matmul(U[:, :k, :], u[:, :, None])[:, :, 0]
            cv = np.matmul(V[:, :k, :], v[:, :, None])[:, :, 0]
            norm2 = norm2 + 2.0 * np.einsum("bk,bk->b", cu, cv)
        norm2 = np.maximum(norm2 + un2 * vn2, 0.0)
        U[:, k, :], V[:, k, :], hist[:, k] = u, v, update
        k += 1
        rank += update
        thr = np.maximum(rel * np.sqrt(norm2), abs_thr)
        score = np.abs(u)
        score[used] = -1.0
        pivot = np.argmax(score, axis=1)
        passed = np.zeros(nb, dtype=bool)
        check = ~finished & (small_row | (update & (np.sqrt(un2 * vn2) <= thr)))
        if check.any():
            c = np.nonzero(check)[0]
            passed[c], pivot[c] = _confirm(
                kernel, X, Y, U, V, k, c, thr[c], row_bound, col_bound, used, probed, pivot[c], rng
            )
        failed = rank >= kcap
        done = failed | passed | used.all(axis=1) | finished
        for b in np.nonzero(done & ~finished & ~failed)[0]:
            keep = hist[b, :k]
            out[ids[b]] = (U[b, :k][keep].T, V[b, :k][keep])  # copies
        finished |= done
        if 4 * np.count_nonzero(finished) < nb and not finished.all():
            continue  # finished blocks ride along until a quarter of the batch has finished
        live = ~finished
        ids, X, Y, U, V, hist, used = (a[live] for a in (ids, X, Y, U, V, hist, used))
        norm2, rank, pivot, probed = norm2[live], rank[live], pivot[live], probed[live]
        abs_thr, finished = abs_thr[live], finished[live]
        row_bound, col_bound = row_bound[live], col_bound[live]
    return out


def recompress(
    factors: list[tuple[np.ndarray, np.ndarray]], rel: float, abs_thr: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Truncate each U V by QR + SVD (blocks of one shape; ranks padded with zero columns)."""
    if not factors:
        return []
    B, (m, _), n = len(factors), factors[0][0].shape, factors[0][1].shape[1]
    k = max(f[0].shape[1] for f in factors)
    if k == 0:
        return list(factors)
    Up, Vp = np.zeros((B, m, k)), np.zeros((B, n, k))
    for b, (u, v) in enumerate(factors):
        Up[b, :, : u.shape[1]] = u
        Vp[b, :, : v.shape[0]] = v.T
    Qu, Ru = np.linalg.qr(Up)
    Qv, Rv = np.linalg.qr(Vp)
    P, s, Qt = np.linalg.svd(np.matmul(Ru, Rv.transpose(0, 2, 1)))
    tail = np.sqrt(np.cumsum(s[:, ::-1] ** 2, axis=1)[:, ::-1])
    thr = np.maximum(rel * tail[:, 0], abs_thr)
    ranks = np.count_nonzero(tail > thr[:, None], axis=1)
    r = int(ranks.max(initial=0))
    Un = np.matmul(Qu, P[:, :, :r] * s[:, None, :r])
    Vn = np.matmul(Qt[:, :r, :], Qv.transpose(0, 2, 1))
    return [(Un[b, :, : ranks[b]].copy(), Vn[b, : ranks[b]].copy()) for b in range(B)]
