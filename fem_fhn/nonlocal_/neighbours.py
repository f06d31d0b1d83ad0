"""Pairs of points within a radius, written straight into CSR arrays (numba cell lists).

For row points x_i and column points y_j (d ≤ 3) the pattern

    { (i, j) : |x_i − y_j| ≤ R }          (or only j > c_i, see `upper`)

is found on a uniform grid of cells of side h ≥ R: the column points are sorted by cell once
(a counting sort), and each row visits the 3^d cells around its own. A first pass counts the
pairs of each row, a second writes their column indices, sorted within the row, into arrays of
exactly that size: the memory is the pattern itself (4 or 8 bytes per pair, plus the row
pointers), with no temporary per pair, where a tree search returns 24 bytes per pair (two 8-byte
indices and the distance) before they can be stored.

The number of cells is kept at most a few times the number of column points (h grows for points
that fill only a small part of their bounding box), so the grid never holds more than O(N)
integers.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from fem_fhn.nonlocal_.base import as_points

#: cells per column point at most (bounds the cell grid's memory)
_CELLS_PER_POINT = 4


def _padded(points: np.ndarray) -> np.ndarray:
    """Points as (n, 3) float64, missing axes zero."""
    points = as_points(points)
    out = np.zeros((points.shape[0], 3))
    out[:, : points.shape[1]] = points
    return out


def _cell_grid(
    columns: np.ndarray, dim: int, radius: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """(lower corner, cells per axis (3,), cell side h ≥ radius) over the columns' bounding box."""
    lo = columns.min(axis=0) if columns.size else np.zeros(3)
    hi = columns.max(axis=0) if columns.size else np.zeros(3)
    extent = np.maximum(hi - lo, 0.0)[:dim]
    side = max(radius, 1e-300)
    budget = _CELLS_PER_POINT * max(columns.shape[0], 1)
    while np.prod(np.floor(extent / side) + 1.0) > budget:
        side *= 1.5
    shape = np.ones(3, dtype=np.int64)
    shape[:dim] = (np.floor(extent / side) + 1).astype(np.int64)
    return lo, shape, side


@njit(cache=True)
def _cells_of(points, lo, shape, side):  # pragma: no cover - compiled
    """Flat cell index of each point (clamped into the grid)."""
    n = points.shape[0]
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        flat = 0
        for a in range(3):
            c = int(math.floor((points[i, a] - lo[a]) / side))
            c = min(max(c, 0), shape[a] - 1)
            flat = flat * shape[a] + c
        out[i] = flat
    return out


@njit(cache=True)
def _visit(rows, columns, start, members, lo, shape, side, reach, r2, ids, upper, indptr, indices):
    """Count (indices of size 0) or write the pairs of every row; `columns` sorted by cell,
    `members` their indices."""
    write = indices.size > 0
    for i in range(rows.shape[0]):
        x0, x1, x2 = rows[i, 0], rows[i, 1], rows[i, 2]
        c = np.empty(3, dtype=np.int64)
        for a in range(3):
            c[a] = min(max(int(math.floor((rows[i, a] - lo[a]) / side)), 0), shape[a] - 1)
        k = indptr[i] if write else 0
        for a in range(max(c[0] - reach, 0), min(c[0] + reach, shape[0] - 1) + 1):
            for b in range(max(c[1] - reach, 0), min(c[1] + reach, shape[1] - 1) + 1):
                for e in range(max(c[2] - reach, 0), min(c[2] + reach, shape[2] - 1) + 1):
                    cell = (a * shape[1] + b) * shape[2] + e
                    for m in range(start[cell], start[cell + 1]):
                        j = members[m]
                        if upper and j <= ids[i]:
                            continue
                        d0 = columns[m, 0] - x0
                        d1 = columns[m, 1] - x1
                        d2 = columns[m, 2] - x2
                        if d0 * d0 + d1 * d1 + d2 * d2 <= r2:
                            if write:
                                indices[k] = j
                            k += 1
        if write:
            indices[indptr[i] : k].sort()
        else:
            indptr[i + 1] = k


def within(
    rows: np.ndarray,
    columns: np.ndarray,
    radius: float,
    row_ids: np.ndarray | None = None,
    upper: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """CSR pattern (indptr, indices) of the pairs |x_i − y_j| ≤ radius, column indices ascending.

    Args:
        rows: row points x_i, shape (n_rows, d) or (n_rows,), d ≤ 3.
        columns: column points y_j, same d.
        radius: the search radius R ≥ 0.
        row_ids: with `upper`, the column index c_i of each row point (rows ⊂ columns).
        upper: keep only the pairs with j > c_i (the strict upper triangle of a symmetric
            pattern on the same points).

    Returns:
        indptr (int64, n_rows + 1) and indices (uint32 below 2^32 columns, else int64).
    """
    rows3, columns3 = _padded(rows), _padded(columns)
    dim = 1 if np.ndim(rows) == 1 else np.shape(rows)[1]
    lo, shape, side = _cell_grid(columns3, dim, float(radius))
    reach = int(math.ceil(radius / side)) if radius > 0 else 0
    cells = _cells_of(columns3, lo, shape, side)
    n_cells = int(np.prod(shape))
    start = np.zeros(n_cells + 1, dtype=np.int64)
    np.cumsum(np.bincount(cells, minlength=n_cells), out=start[1:])
    members = np.argsort(cells, kind="stable").astype(np.int64)
    columns3 = columns3[members]  # by cell: each cell's points are read contiguously
    ids = np.zeros(rows3.shape[0], dtype=np.int64) if row_ids is None else np.asarray(row_ids)
    ids = ids.astype(np.int64)
    r2 = float(radius) ** 2
    indptr = np.zeros(rows3.shape[0] + 1, dtype=np.int64)
    args = (rows3, columns3, start, members, lo, shape, side, reach, r2, ids, bool(upper))
    _visit(*args, indptr, np.zeros(0, dtype=np.int64))
    np.cumsum(indptr, out=indptr)
    index = np.uint32 if columns3.shape[0] <= 2**32 else np.int64
    indices = np.empty(int(indptr[-1]), dtype=index)
    if indices.size:
        _visit(*args, indptr, indices)
    return indptr, indices
