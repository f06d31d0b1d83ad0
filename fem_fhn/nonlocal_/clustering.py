"""Cluster trees, the tabulated radial profile and the block partition of the H-matrix.

Cluster tree: binary geometric bisection. A cluster of more than `leaf_size` points is split in two
halves at the median of its points along the longest side of their bounding box; the points are
permuted so that every cluster is a contiguous range [start, stop) of the tree order.

Radial profile: Ψ tabulated on a fine uniform grid of [0, r_max] gives, for any distance interval,
a bound of max |Ψ| (the grid points covering the interval, outward rounded) and whether Ψ is rough
there: a jump or a kink shows as a fourth difference at step h that is not 16 times smaller than
the one at step 2h (as it would be for a smooth profile), above an absolute threshold; the end of
a compact support (Ψ ≡ 0 beyond a radius inside the table) counts as rough too, since low-rank
approximations overshoot into the zero region there.

Block partition, from the pair of roots down: a pair (τ, σ) with box distance dist and largest
point distance dmax is
  - dropped if max |Ψ| over [dist, dmax] ≤ `drop` (its entries are negligible),
  - admissible (low rank) if η·dist(box_τ, box_σ) ≥ max(diam τ, diam σ) and Ψ is not rough on
    [dist, dmax],
  - dense (near field) if both clusters are leaves,
  - otherwise split into the pairs of children (a leaf is kept as it is).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: grid points of the radial table pooled into one bucket of the range-maximum table
_POOL = 16


@dataclass(frozen=True)
class ClusterTree:
    """Clusters in breadth-first order; cluster c holds the points perm[start[c]:stop[c]].

    Attributes:
        perm: tree position → input index of the point.
        start, stop: range of each cluster in tree order.
        lo, hi: bounding box of each cluster's points, shape (n_clusters, d).
        children: the two children of each cluster, (-1, -1) for leaves.
    """

    perm: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    children: np.ndarray

    @property
    def size(self) -> np.ndarray:
        return self.stop - self.start

    @property
    def diam(self) -> np.ndarray:
        return np.linalg.norm(self.hi - self.lo, axis=1)

    @property
    def leaf(self) -> np.ndarray:
        return self.children[:, 0] < 0


def cluster_tree(points: np.ndarray, leaf_size: int) -> ClusterTree:
    """Bisect the points (n, d) until every cluster holds at most `leaf_size` of them."""
    n, d = points.shape
    perm = np.arange(n)
    start, stop, lo, hi, children = [0], [n], [], [], []
    c = 0
    while c < len(start) and n > 0:
        a, b = start[c], stop[c]
        idx = perm[a:b]
        pts = points[idx]
        lo.append(pts.min(axis=0))
        hi.append(pts.max(axis=0))
        if b - a > leaf_size:
            half = (b - a) // 2
            axis = int(np.argmax(hi[-1] - lo[-1]))
            perm[a:b] = idx[np.argpartition(pts[:, axis], half)]
            children.append((len(start), len(start) + 1))
            start += [a, a + half]
            stop += [a + half, b]
        else:
            children.append((-1, -1))
        c += 1
    if n == 0:
        start, stop = [], []
    return ClusterTree(
        perm=perm,
        start=np.asarray(start, dtype=np.int64),
        stop=np.asarray(stop, dtype=np.int64),
        lo=np.asarray(lo, dtype=float).reshape(-1, d),
        hi=np.asarray(hi, dtype=float).reshape(-1, d),
        children=np.asarray(children, dtype=np.int64).reshape(-1, 2),
    )


class RadialTable:
    """Ψ on the grid r_k = k h of [0, r_max]: bounds of |Ψ| and roughness over distance intervals.

    Args:
        kernel: the radial kernel (vectorised in r).
        r_max: largest distance to cover (the diameter of all points).
        width: the kernel's length scale; the grid has at least 64 points per width
            (between 2^16 and 2^20 points).
    """

    def __init__(self, kernel, r_max: float, width: float):
        r_max = max(float(r_max), 1e-300)
        n = int(np.clip(2 ** np.ceil(np.log2(64 * r_max / max(width, 1e-300))), 2**16, 2**20))
        self.n, self.h = n, r_max / n
        k = np.arange(-8, n + 9)
        values = np.asarray(kernel(np.abs(k) * self.h), dtype=float)
        self._values = np.broadcast_to(values, k.shape)  # Ψ at k = -8 … n + 8 (Ψ is even)
        pooled = np.abs(self._values[8 : n + 9])
        pooled = np.pad(pooled, (0, -pooled.size % _POOL)).reshape(-1, _POOL).max(axis=1)
        # sparse table: levels[l, i] = max(pooled[i : i + 2^l])
        n_levels = max(1, int(np.floor(np.log2(pooled.size))) + 1)
        levels = np.zeros((n_levels, pooled.size))
        levels[0] = pooled
        for lev in range(1, n_levels):
            w = 1 << (lev - 1)
            levels[lev, : pooled.size - w] = np.maximum(levels[lev - 1, :-w], levels[lev - 1, w:])
        self._levels = levels
        self._rough = np.zeros(n + 2, dtype=np.int64)

    def _range(self, dmin: np.ndarray, dmax: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        i0 = np.clip(np.floor(dmin / self.h), 0, self.n).astype(np.int64)
        i1 = np.clip(np.ceil(dmax / self.h), 0, self.n).astype(np.int64)
        return i0, np.maximum(i1, i0)

    def bound(self, dmin: np.ndarray, dmax: np.ndarray) -> np.ndarray:
        """max |Ψ| over the grid points covering each interval [dmin, dmax]."""
        i0, i1 = self._range(dmin, dmax)
        b0, b1 = i0 // _POOL, i1 // _POOL
        lev = np.floor(np.log2(b1 - b0 + 1)).astype(np.int64)
        return np.maximum(self._levels[lev, b0], self._levels[lev, b1 - (1 << lev) + 1])

    def set_roughness(self, threshold: float) -> None:
        """Mark where |Δ⁴_h Ψ| > threshold and > |Δ⁴_2h Ψ|/4 (a smooth Ψ gives ≈ 1/16)."""
        v = self._values
        c = np.arange(8, self.n + 9)
        d4h = v[c - 2] - 4 * v[c - 1] + 6 * v[c] - 4 * v[c + 1] + v[c + 2]
        d42h = v[c - 4] - 4 * v[c - 2] + 6 * v[c] - 4 * v[c + 2] + v[c + 4]
        rough = (np.abs(d4h) > threshold) & (4 * np.abs(d4h) > np.abs(d42h))
        # the end of a compact support (Ψ ≡ 0 beyond) is not analytic even where Ψ is C^∞ there
        nonzero = np.nonzero(v[8 : self.n + 9])[0]
        if nonzero.size and nonzero[-1] < self.n:
            rough[nonzero[-1] : nonzero[-1] + 2] = True
        # a flagged point taints the stencil around it
        rough = np.convolve(rough.astype(np.int64), np.ones(9, dtype=np.int64), mode="same") > 0
        self._rough = np.concatenate([[0], np.cumsum(rough)])

    def rough(self, dmin: np.ndarray, dmax: np.ndarray) -> np.ndarray:
        """Whether Ψ is rough somewhere on the grid points covering [dmin, dmax]."""
        i0, i1 = self._range(dmin, dmax)
        return self._rough[i1 + 1] > self._rough[i0]


@dataclass(frozen=True)
class BlockPartition:
    """Cluster pairs (target, source): low-rank blocks, dense leaf blocks, and the dropped count."""

    lowrank: np.ndarray
    dense: np.ndarray
    n_dropped: int


def _children_or_self(tree: ClusterTree, c: np.ndarray) -> np.ndarray:
    """(n, 2) children of each cluster; a leaf stands for itself (second entry -1)."""
    out = tree.children[c].copy()
    leaf = out[:, 0] < 0
    out[leaf, 0] = c[leaf]
    return out


def block_partition(
    target: ClusterTree,
    source: ClusterTree,
    eta: float,
    table: RadialTable,
    drop: float,
    symmetric: bool = False,
) -> BlockPartition:
    """Partition target × source into dropped, admissible and dense blocks (module docstring).

    With `symmetric` (target and source are the same tree) only the pairs (τ, σ) on or above the
    diagonal are kept: splitting (τ, τ) yields (τ1, τ1), (τ1, τ2), (τ2, τ2) but not (τ2, τ1).
    """
    lowrank, dense, n_dropped = [], [], 0
    if target.start.size and source.start.size:
        t, s = np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64)
    else:
        t = s = np.zeros(0, dtype=np.int64)
    diam_t, diam_s = target.diam, source.diam
    while t.size:
        gap = np.maximum(0.0, np.maximum(source.lo[s] - target.hi[t], target.lo[t] - source.hi[s]))
        span = np.maximum(target.hi[t] - source.lo[s], source.hi[s] - target.lo[t])
        dist, dmax = np.linalg.norm(gap, axis=1), np.linalg.norm(span, axis=1)
        keep = table.bound(dist, dmax) > drop
        n_dropped += int(np.count_nonzero(~keep))
        t, s, dist, dmax = t[keep], s[keep], dist[keep], dmax[keep]
        adm = (eta * dist >= np.maximum(diam_t[t], diam_s[s])) & ~table.rough(dist, dmax)
        lowrank.append(np.stack([t[adm], s[adm]], axis=1))
        t, s = t[~adm], s[~adm]
        both = target.leaf[t] & source.leaf[s]
        dense.append(np.stack([t[both], s[both]], axis=1))
        tc, sc = _children_or_self(target, t[~both]), _children_or_self(source, s[~both])
        tt = np.repeat(tc, 2, axis=1)
        ss = np.tile(sc, (1, 2))
        ok = (tt >= 0) & (ss >= 0)
        if symmetric:
            ok &= (tt <= ss) | (t[~both] != s[~both])[:, None]
        t, s = tt[ok], ss[ok]
    empty = np.zeros((0, 2), dtype=np.int64)
    return BlockPartition(
        lowrank=np.concatenate([empty, *lowrank]),
        dense=np.concatenate([empty, *dense]),
        n_dropped=n_dropped,
    )
