"""Geodesic distances on a triangle surface within a cutoff, by fast marching with unfolding.

For every source vertex s the distance d(s, ·) along the surface is computed for the vertices with
d ≤ cutoff, in increasing order (Dijkstra's order). A vertex C of a triangle (A, B, C) whose other
two vertices are already final is updated by unfolding the triangle into the plane: with A at the
origin, B at (e, 0), e = |AB|, and C on the positive side, the virtual source S on the other side of
AB with |SA| = d_A and |SB| = d_B is

    S = (s_x, −√(d_A² − s_x²)),     s_x = (d_A² − d_B² + e²) / (2 e),

and d_C = |C − S| if the segment SC crosses the edge AB (the front reaches C through the
triangle), otherwise min(d_A + |AC|, d_B + |BC|) (through a vertex). Each update is exact for a
point source on a flat patch; on a curved surface the error is of second order in the mesh size.
Vertices reached only along edges get d_A + |AC| (an upper bound).

The unfolded geometry of every corner (e, |AC|, |BC|, C's plane coordinates) is computed once
for all sources; the front is a binary heap of vertices with decrease-key, ordered by (distance,
vertex index), so the order in which vertices become final, and every distance, is that of a
Dijkstra queue on the same pairs. Per source only the vertices it reached are reset.

The method is chosen for the kernels of neural fields: it needs only the vertices within the
cutoff of each source (cost ∝ n_sources × neighbours × log), where exact window propagation
costs about ten times more and the heat method needs a global solve per source.

    rows = geodesic_neighbours(vertices, triangles, cutoff, sources)   # CSR of distances
"""

from __future__ import annotations

import numpy as np
from numba import njit
from scipy import sparse


def vertex_triangles(triangles: np.ndarray, n_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """The triangles around each vertex as CSR arrays (pointer, triangle index)."""
    tri = np.asarray(triangles, dtype=np.int64)
    owners = tri.ravel()
    order = np.argsort(owners, kind="stable")
    ptr = np.zeros(n_vertices + 1, dtype=np.int64)
    np.add.at(ptr, owners + 1, 1)
    return np.cumsum(ptr), (order // 3).astype(np.int64)


@njit(cache=True)
def _norm(p, q):
    return np.sqrt((p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2 + (p[2] - q[2]) ** 2)


@njit(cache=True)
def _corner(pa, pb, pc):
    """The unfolded geometry of the corner C of triangle (A, B, C): e = |AB|, |AC|, |BC| and C's
    coordinates (c_x, c_y) with A at the origin and B at (e, 0) (c_x = 0 when e = 0)."""
    e = _norm(pa, pb)
    ac = _norm(pa, pc)
    bc = _norm(pb, pc)
    if e <= 0.0:
        return e, ac, bc, 0.0, 0.0
    cx = (ac * ac - bc * bc + e * e) / (2.0 * e)
    cy = np.sqrt(max(ac * ac - cx * cx, 0.0))
    return e, ac, bc, cx, cy


@njit(cache=True)
def _unfolded_update(e, ac, bc, cx, cy, da, db):
    """d_C from d_A, d_B and the corner's geometry (`_corner`; the module docstring)."""
    through_vertex = min(da + ac, db + bc)
    if e <= 0.0:
        return through_vertex
    sx = (da * da - db * db + e * e) / (2.0 * e)
    s2 = da * da - sx * sx
    if s2 < 0.0 or cy <= 0.0:
        return through_vertex
    sy = -np.sqrt(s2)
    crossing = sx + (cx - sx) * (-sy) / (cy - sy)
    if crossing < 0.0 or crossing > e:
        return through_vertex
    return min(np.sqrt((cx - sx) ** 2 + (cy - sy) ** 2), through_vertex)


@njit(cache=True)
def triangle_update(pa, pb, pc, da, db):
    """Distance at C from the final distances d_A, d_B at A and B (module docstring)."""
    e, ac, bc, cx, cy = _corner(pa, pb, pc)
    return _unfolded_update(e, ac, bc, cx, cy, da, db)


@njit(cache=True)
def _corners(vertices, triangles, vt_ptr, vt_idx):  # pragma: no cover - compiled
    """For each vertex A, its corners (B, C) in both orientations of every triangle around it,
    sorted by C, as CSR arrays: pointer, (B, C) pairs and the rows (e, |AC|, |BC|, c_x, c_y)
    of `_corner`."""
    n = vt_ptr.size - 1
    ptr = np.zeros(n + 1, dtype=np.int64)
    for v in range(n):
        ptr[v + 1] = ptr[v] + 2 * (vt_ptr[v + 1] - vt_ptr[v])
    pairs = np.empty((ptr[n], 2), dtype=np.int32)
    geometry = np.empty((ptr[n], 5))
    for v in range(n):
        p = ptr[v]
        for k in range(vt_ptr[v], vt_ptr[v + 1]):
            t = vt_idx[k]
            for i in range(3):
                c = triangles[t, i]
                if c == v:
                    continue
                o = triangles[t, 0] + triangles[t, 1] + triangles[t, 2] - v - c
                pairs[p, 0] = o
                pairs[p, 1] = c
                e, ac, bc, cx, cy = _corner(vertices[v], vertices[o], vertices[c])
                geometry[p, 0] = e
                geometry[p, 1] = ac
                geometry[p, 2] = bc
                geometry[p, 3] = cx
                geometry[p, 4] = cy
                p += 1
        by_c = ptr[v] + np.argsort(pairs[ptr[v] : p, 1], kind="mergesort")
        pairs[ptr[v] : p] = pairs[by_c]
        geometry[ptr[v] : p] = geometry[by_c]
    return ptr, pairs, geometry


@njit(cache=True)
def _before(key_a, a, key_b, b):  # pragma: no cover - compiled
    """Heap order: (d_a, a) < (d_b, b)."""
    return key_a < key_b or (key_a == key_b and a < b)


@njit(cache=True)
def _place(heap, keys, where, k, v, key):  # pragma: no cover - compiled
    """Put vertex v with key d_v at heap position k."""
    heap[k] = v
    keys[k] = key
    where[v] = k


@njit(cache=True)
def _sift_up(heap, keys, where, k, v, key):  # pragma: no cover - compiled
    """Place vertex v with key d_v at heap position k or above it."""
    while k > 0:
        parent = (k - 1) >> 1
        if not _before(key, v, keys[parent], heap[parent]):
            break
        _place(heap, keys, where, k, heap[parent], keys[parent])
        k = parent
    _place(heap, keys, where, k, v, key)


@njit(cache=True)
def _pop(heap, keys, where, size):  # pragma: no cover - compiled
    """Remove and return the heap's first vertex (the heap holds `size` vertices)."""
    top = heap[0]
    where[top] = -1
    size -= 1
    if size == 0:
        return top
    v = heap[size]
    key = keys[size]
    k = 0
    while True:
        child = 2 * k + 1
        if child >= size:
            break
        if child + 1 < size and _before(keys[child + 1], heap[child + 1], keys[child], heap[child]):
            child += 1
        if not _before(keys[child], heap[child], key, v):
            break
        _place(heap, keys, where, k, heap[child], keys[child])
        k = child
    _place(heap, keys, where, k, v, key)
    return top


@njit(cache=True)
def _march(src, corner_ptr, pairs, geometry, cutoff, dist, final, heap, keys, where, out_idx):
    """Fast marching from `src` up to `cutoff`.

    Writes the vertices reached (d ≤ cutoff) to `out_idx` in the order they become final and
    returns their count; their distances are left in `dist` (and `final` set) for the caller,
    which resets both on these vertices. The front is a binary heap of vertices ordered by
    (distance, index) with decrease-key (`keys`: the distances of its vertices, `where`: a
    vertex's place in it, −1 when absent), so
    vertices become final in the order of the (distance, index) pairs.
    """
    n_out = 0
    dist[src] = 0.0
    _place(heap, keys, where, 0, src, 0.0)
    size = 1
    while size > 0:
        v = _pop(heap, keys, where, size)
        size -= 1
        final[v] = True
        out_idx[n_out] = v
        n_out += 1
        dv = dist[v]
        best = np.inf  # the smallest update of the current neighbour (corners sorted by C)
        end = corner_ptr[v + 1]
        for k in range(corner_ptr[v], end):
            c = pairs[k, 1]
            if not final[c]:
                o = pairs[k, 0]
                if final[o]:
                    dc = _unfolded_update(
                        geometry[k, 0],
                        geometry[k, 1],
                        geometry[k, 2],
                        geometry[k, 3],
                        geometry[k, 4],
                        dv,
                        dist[o],
                    )
                else:
                    dc = dv + geometry[k, 1]
                best = min(best, dc)
            if k + 1 < end and pairs[k + 1, 1] == c:
                continue
            if best < dist[c] and best <= cutoff:
                dist[c] = best
                if where[c] < 0:
                    size += 1
                    _sift_up(heap, keys, where, size - 1, c, best)
                else:
                    _sift_up(heap, keys, where, where[c], c, best)
            best = np.inf
    return n_out


@njit(cache=True)
def _march_all(sources, n, corner_ptr, pairs, geometry, cutoff, capacity, sort):
    """Rows of (vertex indices, distances) from every source, as CSR arrays; each row sorted by
    vertex with `sort`, else in the order the vertices became final."""
    dist = np.full(n, np.inf)
    final = np.zeros(n, dtype=np.bool_)
    heap = np.empty(n, dtype=np.int32)
    keys = np.empty(n)
    where = np.full(n, -1, dtype=np.int32)
    indptr = np.zeros(sources.shape[0] + 1, dtype=np.int64)
    indices = np.empty(capacity, dtype=np.int64)
    values = np.empty(capacity, dtype=np.float64)
    row_idx = np.empty(n, dtype=np.int64)
    nnz = 0
    for r in range(sources.shape[0]):
        count = _march(
            sources[r], corner_ptr, pairs, geometry, cutoff, dist, final, heap, keys, where, row_idx
        )
        if nnz + count > indices.shape[0]:
            size = max(2 * indices.shape[0], nnz + count)
            grown_i = np.empty(size, dtype=np.int64)
            grown_v = np.empty(size, dtype=np.float64)
            grown_i[:nnz] = indices[:nnz]
            grown_v[:nnz] = values[:nnz]
            indices, values = grown_i, grown_v
        row = row_idx[:count]
        if sort:
            row.sort()
        for k in range(count):
            v = row[k]
            indices[nnz + k] = v
            values[nnz + k] = dist[v]
            dist[v] = np.inf
            final[v] = False
        nnz += count
        indptr[r + 1] = nnz
    return indptr, indices[:nnz], values[:nnz]


def geodesic_neighbours(
    vertices: np.ndarray,
    triangles: np.ndarray,
    cutoff: float,
    sources: np.ndarray | None = None,
    sort: bool = True,
) -> sparse.csr_matrix:
    """Geodesic distances d(s, v) ≤ cutoff from each source s (rows) to the vertices v (columns).

    Args:
        vertices: (n, 3) vertex coordinates of a triangle surface (any number of components).
        triangles: (m, 3) vertex indices.
        cutoff: largest distance kept (in the units of the vertices), > 0.
        sources: the rows, as vertex indices (default: every vertex).
        sort: sort each row's columns (else they come in the order of increasing distance, for
            a caller that reorders them anyway).

    Returns:
        A CSR matrix of shape (len(sources), n) whose stored entries are the distances (the
        source itself is stored, with distance 0, as an explicit entry).
    """
    vertices = np.ascontiguousarray(vertices, dtype=np.float64)
    if vertices.ndim != 2 or vertices.shape[1] not in (2, 3):
        raise ValueError(f"vertices of shape {vertices.shape}: expected (n, 2) or (n, 3)")
    if vertices.shape[1] == 2:
        vertices = np.column_stack([vertices, np.zeros(len(vertices))])
    triangles = np.ascontiguousarray(triangles, dtype=np.int64)
    n = vertices.shape[0]
    sources = np.arange(n, dtype=np.int64) if sources is None else np.asarray(sources, np.int64)
    if not cutoff > 0:
        raise ValueError(f"cutoff = {cutoff!r} is not allowed: a distance > 0")
    corner_ptr, pairs, geometry = _corners(vertices, triangles, *vertex_triangles(triangles, n))
    capacity = max(16, 32 * len(sources))
    indptr, indices, values = _march_all(
        sources, n, corner_ptr, pairs, geometry, float(cutoff), capacity, sort
    )
    matrix = sparse.csr_matrix((values, indices, indptr), shape=(len(sources), n))
    matrix.has_sorted_indices = sort
    return matrix
