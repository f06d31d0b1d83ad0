"""A sparse matrix stored for a fast product y = A x on mesh nodes.

    y_i = Σ_j A_ij x_j      (accumulated in double precision)

The product of a sparse matrix with 10^6–10^7 entries is bound by reading the entries and by
gathering x_j from scattered places; the storage here cuts both:

- **order**: rows and columns follow the Morton curve of their points (`fem_fhn.ordering`), so
  neighbouring rows read neighbouring entries of x and the gather stays in cache. On TVB's 16 384
  vertex cortex (7.3·10^6 entries) this alone takes scipy's product from 4.5 to 3.5 ms. The column
  order depends on the points only (ties by global index), so a fully stored row sums its
  entries in the same order on any number of ranks (symmetric storage differs by round-off).
- **indices**: column indices in the narrowest unsigned type that holds the column count
  (uint16 up to 65 536 columns, uint32 up to 2^32).
- **symmetric** storage of a symmetric matrix on one rank: the diagonal and the strict upper
  triangle, each entry read once and used twice (y_i += A_ij x_j, y_j += A_ij x_i), half the
  entries to read (on the cortex 2.6 ms per product; `benchmarks/bench_cortex_levers.py`).
- **precision** "single": the values are stored as float32, each rounded with relative error at
  most u = 2^−24 ≈ 6·10^−8, and multiplied and summed in float64, so for every row

      |y_i(single) − y_i(double)| ≤ u Σ_j |A_ij| |x_j|  (+ the float64 rounding of the sum),

  i.e. the relative error in the measure max_i Σ_j |A_ij||x_j| is at most 6·10^−8. (The gain
  is small where the product is bound by its gathers rather than by the bytes of the values.)
"""

from __future__ import annotations

import numpy as np
from numba import njit
from scipy import sparse

from fem_fhn.ordering import morton_order

#: the bound on the relative error of single-precision storage (float32 unit roundoff)
SINGLE_ROUNDOFF = 2.0**-24
#: `[nonlocal] precision`: "auto" picks double or single by the requested tolerance
PRECISIONS = ("auto", "double", "single")
#: value types of the two precisions
DTYPES = {"double": np.float64, "single": np.float32}


@njit(cache=True)
def _csr_product(indptr, indices, data, x, y):  # pragma: no cover - compiled
    """y_i = Σ_k data[k] x[indices[k]] over the row's entries, in float64 with four partial sums
    (independent chains; the order depends on the row's stored order only)."""
    for i in range(indptr.size - 1):
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        k = indptr[i]
        end = indptr[i + 1]
        while k + 4 <= end:
            s0 += np.float64(data[k]) * x[indices[k]]
            s1 += np.float64(data[k + 1]) * x[indices[k + 1]]
            s2 += np.float64(data[k + 2]) * x[indices[k + 2]]
            s3 += np.float64(data[k + 3]) * x[indices[k + 3]]
            k += 4
        while k < end:
            s0 += np.float64(data[k]) * x[indices[k]]
            k += 1
        y[i] = (s0 + s1) + (s2 + s3)


@njit(cache=True)
def _symmetric_product(indptr, indices, data, diagonal, x, y):  # pragma: no cover - compiled
    """y = A x for A = D + U + Uᵀ from the diagonal D and the strict upper triangle U (CSR):
    row i's sum over U plus the scatter y_j += U_ij x_i, in float64."""
    for i in range(indptr.size - 1):
        y[i] = np.float64(diagonal[i]) * x[i]
    for i in range(indptr.size - 1):
        s0 = 0.0
        s1 = 0.0
        xi = x[i]
        k = indptr[i]
        end = indptr[i + 1]
        while k + 2 <= end:
            j0 = indices[k]
            j1 = indices[k + 1]
            a0 = np.float64(data[k])
            a1 = np.float64(data[k + 1])
            s0 += a0 * x[j0]
            s1 += a1 * x[j1]
            y[j0] += a0 * xi
            y[j1] += a1 * xi
            k += 2
        while k < end:
            j0 = indices[k]
            a0 = np.float64(data[k])
            s0 += a0 * x[j0]
            y[j0] += a0 * xi
            k += 1
        y[i] += s0 + s1


@njit(cache=True)
def _reordered(indptr, indices, data, row_order, rank):  # pragma: no cover - compiled
    """The CSR matrix with its rows taken in `row_order` and column j renumbered rank[j], each
    row sorted by column (no duplicates within a row)."""
    n_rows = row_order.size
    ptr = np.zeros(n_rows + 1, dtype=np.int64)
    for i in range(n_rows):
        ptr[i + 1] = ptr[i] + indptr[row_order[i] + 1] - indptr[row_order[i]]
    out_idx = np.empty(ptr[n_rows], dtype=np.int64)
    out_val = np.empty(ptr[n_rows], dtype=data.dtype)
    for i in range(n_rows):
        r = row_order[i]
        span = rank[indices[indptr[r] : indptr[r + 1]]]
        by_column = np.argsort(span)
        out_idx[ptr[i] : ptr[i + 1]] = span[by_column]
        out_val[ptr[i] : ptr[i + 1]] = data[indptr[r] : indptr[r + 1]][by_column]
    return ptr, out_idx, out_val


@njit(cache=True)
def transposed(indptr, indices, data, n_columns, row_order, rank, lower):  # pragma: no cover
    """Bᵀ for B the CSR matrix with its rows taken in `row_order` and column j renumbered
    rank[j], by counting (B_ij lands in row j at column i; rows are walked in increasing i, so
    each row of Bᵀ comes sorted by column). With `lower`, only B's strict lower triangle is
    transposed, giving the strict upper triangle of Bᵀ (that of B itself when B is symmetric),
    and B's diagonal is returned apart (else zeros).

    Returns:
        The CSR arrays of Bᵀ (n_columns rows) and the diagonal of B.
    """
    n_rows = row_order.size
    ptr = np.zeros(n_columns + 1, dtype=np.int64)
    diagonal = np.zeros(n_rows, dtype=data.dtype)
    for i in range(n_rows):
        r = row_order[i]
        for k in range(indptr[r], indptr[r + 1]):
            j = rank[indices[k]]
            if not lower or j < i:
                ptr[j + 1] += 1
            elif j == i:
                diagonal[i] += data[k]
    for j in range(n_columns):
        ptr[j + 1] += ptr[j]
    fill = ptr[:n_columns].copy()
    out_idx = np.empty(ptr[n_columns], dtype=np.int64)
    out_val = np.empty(ptr[n_columns], dtype=data.dtype)
    for i in range(n_rows):
        r = row_order[i]
        for k in range(indptr[r], indptr[r + 1]):
            j = rank[indices[k]]
            if not lower or j < i:
                out_idx[fill[j]] = i
                out_val[fill[j]] = data[k]
                fill[j] += 1
    return ptr, out_idx, out_val, diagonal


def index_type(n_columns: int) -> type:
    """The narrowest unsigned integer type that holds the column indices 0 … n_columns − 1."""
    for dtype in (np.uint16, np.uint32):
        if n_columns <= np.iinfo(dtype).max + 1:
            return dtype
    return np.int64


def curve_order(points: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The permutation that sorts points along the Morton curve, ties by `keys` (e.g. global
    indices), so that it depends on the points and keys only, not on their given order."""
    by_key = np.argsort(keys, kind="stable")
    return by_key[morton_order(points[by_key])]


class PackedCSR:
    """A CSR matrix with Morton-ordered rows and columns, narrow indices and float32 or float64
    values, optionally stored as a symmetric matrix (see the module docstring).

    Args:
        matrix: the CSR matrix, rows × columns in the caller's order.
        precision: "double" or "single" (the values' storage).
        row_order: permutation of the rows to store them in (default: as given).
        column_order: permutation of the columns to store them in (default: as given).
        symmetric: store only the diagonal and the strict upper triangle; the matrix must be
            square and symmetric, and the row and column orders equal.
    """

    def __init__(
        self,
        matrix: sparse.csr_array,
        precision: str = "double",
        row_order: np.ndarray | None = None,
        column_order: np.ndarray | None = None,
        symmetric: bool = False,
    ):
        n_rows, n_columns = matrix.shape
        if symmetric and (n_rows != n_columns or not _same(row_order, column_order)):
            raise ValueError("symmetric storage needs a square matrix and one order")
        self.shape = matrix.shape
        self.precision = precision
        self.row_order = np.arange(n_rows) if row_order is None else np.asarray(row_order)
        self.column_order = (
            np.arange(n_columns) if column_order is None else np.asarray(column_order)
        )
        rank = np.empty(n_columns, dtype=np.int64)
        rank[self.column_order] = np.arange(n_columns)
        matrix = sparse.csr_array(matrix)
        self.symmetric = symmetric
        self.diagonal = np.zeros(0, dtype=DTYPES[precision])
        if symmetric:  # the upper triangle is the transposed lower one, and comes sorted
            arrays = (matrix.indptr, matrix.indices, matrix.data, n_rows, self.row_order, rank)
            indptr, indices, data, diagonal = transposed(*arrays, True)
            self.diagonal = diagonal.astype(DTYPES[precision])
        else:
            arrays = (matrix.indptr, matrix.indices, matrix.data, self.row_order, rank)
            indptr, indices, data = _reordered(*arrays)
        self._store(indptr, indices, data, int(matrix.nnz))

    @classmethod
    def from_stored(
        cls,
        shape: tuple[int, int],
        indptr: np.ndarray,
        indices: np.ndarray,
        data: np.ndarray,
        row_order: np.ndarray,
        column_order: np.ndarray,
        diagonal: np.ndarray | None = None,
        precision: str = "double",
    ) -> PackedCSR:
        """A PackedCSR from arrays already in stored form: rows and columns in `row_order` and
        `column_order`, column indices sorted within each row; with `diagonal` the arrays are the
        strict upper triangle of a symmetric matrix (one order for rows and columns)."""
        self = cls.__new__(cls)
        self.shape = tuple(shape)
        self.precision = precision
        self.row_order, self.column_order = np.asarray(row_order), np.asarray(column_order)
        self.symmetric = diagonal is not None
        self.diagonal = np.zeros(0 if diagonal is None else len(diagonal), DTYPES[precision])
        if diagonal is not None:
            self.diagonal[:] = diagonal
        upper = len(indices)
        nnz = 2 * upper + int(np.count_nonzero(self.diagonal)) if self.symmetric else upper
        self._store(indptr, indices, data, nnz)
        return self

    def _store(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, nnz: int) -> None:
        """Keep the stored arrays in their narrowest types (nnz: the whole matrix's entries)."""
        self.nnz = nnz
        pointer = np.int32 if len(indices) < np.iinfo(np.int32).max else np.int64
        self.indptr = indptr.astype(pointer, copy=False)
        self.indices = indices.astype(index_type(self.shape[1]), copy=False)
        self.data = data.astype(DTYPES[self.precision], copy=False)

    def __matmul__(self, x: np.ndarray) -> np.ndarray:
        """A x in the caller's row and column order, float64."""
        x_stored = np.ascontiguousarray(np.asarray(x, dtype=np.float64)[self.column_order])
        y_stored = np.empty(self.shape[0])
        if self.symmetric:
            _symmetric_product(
                self.indptr, self.indices, self.data, self.diagonal, x_stored, y_stored
            )
        else:
            _csr_product(self.indptr, self.indices, self.data, x_stored, y_stored)
        y = np.empty(self.shape[0])
        y[self.row_order] = y_stored
        return y

    @property
    def nbytes(self) -> int:
        """Bytes of the stored entries, indices, row pointers and permutations."""
        arrays = (self.data, self.indices, self.indptr, self.diagonal)
        arrays += (self.row_order, self.column_order)
        return int(sum(a.nbytes for a in arrays))

    def tocsr(self) -> sparse.csr_array:
        """The stored matrix (its values as stored) back in the caller's order, float64."""
        stored = sparse.csr_array(
            (self.data.astype(np.float64), self.indices, self.indptr), shape=self.shape
        )
        if self.symmetric:
            stored = stored + stored.T + sparse.diags_array(self.diagonal.astype(np.float64))
        stored = sparse.csr_array(stored)[:, np.argsort(self.column_order)]
        inverse = np.empty_like(self.row_order)
        inverse[self.row_order] = np.arange(self.row_order.size)
        result = stored[inverse]
        result.sort_indices()
        return sparse.csr_array(result)


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """Whether two optional permutations are equal (None: the identity)."""
    if a is None and b is None:
        return True
    identity = np.arange(len(b if a is None else a))
    return np.array_equal(identity if a is None else a, identity if b is None else b)
