"""Sparse nonlocal operator for compactly supported kernels, row-distributed over MPI.

For a kernel with Ψ(r) = 0 beyond its support radius R the reference quadrature

    (K u)_i = Σ_j Ψ(|x_i − x_j|) w_j u_j

only involves the neighbours |x_i − x_j| ≤ R, so K = S diag(w) with the sparse symmetric matrix

    S_ij = Ψ(|x_i − x_j|),    |x_i − x_j| ≤ R,

and applying K is one Allgatherv of u and one sparse product S (w ∘ u). The result equals the
dense quadrature up to round-off (the diagonal r = 0 is included).

Storage (`fem_fhn.nonlocal_.packed.PackedCSR`): rows and columns along the Morton curve of the
points, column indices in the narrowest unsigned type, values in double or single precision. On
one rank only the diagonal and the strict upper triangle of S are kept (4–8 bytes per pair of
neighbours for the value and 2–4 for its column); on several ranks each rank keeps its own rows
against all N columns. Neighbours are found on a cell grid straight into the stored pattern
(`fem_fhn.nonlocal_.neighbours`), so the build holds no more than the matrix and one chunk of
kernel evaluations.

Cost: with a fixed support radius the number of neighbours per row grows like N·|B_R|/|Ω|, so
the number of stored entries grows like N²; the method pays off when N·|B_R|/|Ω| ≪ N, i.e. when
the support is small compared with the domain.
"""

from __future__ import annotations

import math
import time

import numpy as np
from mpi4py import MPI
from numba import njit
from scipy import sparse

from fem_fhn.nonlocal_.base import as_points, write_into
from fem_fhn.nonlocal_.neighbours import within
from fem_fhn.nonlocal_.packed import DTYPES, PackedCSR, curve_order
from fem_fhn.parallel import gather_rows, row_counts
from fem_fhn.params import ParameterError

#: pairs evaluated per chunk of rows (the kernel evaluation holds some ten temporaries of 8 bytes
#: per pair: ~100 MB)
_PAIRS_PER_CHUNK = 1_000_000

#: relative widening of the search radius, so that pairs at exactly r = R reach the kernel
#: (which decides itself whether Ψ(R) is zero, e.g. the indicator includes r = R)
_RADIUS_SLACK = 1e-12


def kernel_name(kernel) -> str:
    """Readable kernel name for messages, e.g. 'exponential kernel (width 0.1, 2-D)'."""
    inner = getattr(kernel, "kernel", None)
    if inner is not None:  # a kernel seen in a larger space (`embedded.InSpace`)
        return f"{kernel_name(inner)} in {kernel.dim}-D space"
    cls = type(kernel).__name__
    snake = "".join("_" + c.lower() if c.isupper() else c for c in cls).lstrip("_")
    if cls == "Custom":
        snake = f"custom {getattr(kernel, 'name', 'custom')!r}"
    width = getattr(kernel, "width", None)
    dim = getattr(kernel, "dim", None)
    details = ", ".join(
        part
        for part in (
            f"width {width:g}" if isinstance(width, int | float) else "",
            f"{dim}-D" if dim is not None else "",
        )
        if part
    )
    return f"{snake} kernel ({details})" if details else f"{snake} kernel"


class SparseOperator:
    """K u with the kernel values of the neighbours within the support stored as a sparse matrix.

    K = S diag(w) with S_ij = Ψ(|x_i − x_j|) over the pairs within the support: S is stored
    (`PackedCSR`: rows and columns along the Morton curve of the points, narrow column indices)
    and applied to w ∘ u. On one rank S is symmetric and only its diagonal and strict upper
    triangle are stored (each value read once, used twice); on several ranks each rank stores its
    own rows against all columns, and every row sums its entries in the same order on any number
    of ranks.

    Args:
        points: owned points, shape (n_local, d).
        weights: owned quadrature weights, shape (n_local,).
        kernel: radial kernel with a finite `support` (Ψ(r) = 0 for r > support).
        comm: communicator over which the points are distributed.
        tol: ignored (the method is exact up to round-off).
        single: store the values in single precision (products and sums stay in double): each
            row then errs by at most 2^−24 Σ_j |Ψ_ij| w_j |u_j|.

    Raises:
        ParameterError: if the kernel's support is unbounded.
    """

    method = "sparse"

    def __init__(
        self,
        points: np.ndarray,
        weights: np.ndarray,
        kernel,
        comm: MPI.Comm,
        tol: float = 1e-8,
        single: bool = False,
    ):
        support = float(getattr(kernel, "support", math.inf))
        if not (math.isfinite(support) and support > 0):
            raise ParameterError(
                f"method 'sparse' needs a compactly supported kernel, but the "
                f"{kernel_name(kernel)} has support = {support:g}: use method 'dense', "
                "'hmatrix' or 'nufft' for it"
            )
        start = time.perf_counter()
        points = as_points(points)
        self.comm = comm
        self.kernel = kernel
        self.support = support
        self.n_local = points.shape[0]
        self.counts = row_counts(comm, self.n_local)
        self.n_global = int(self.counts.sum())
        all_points = gather_rows(comm, points, self.counts)
        self.all_weights = gather_rows(comm, np.asarray(weights, dtype=float), self.counts)
        self.single = bool(single)
        self.matrix = self._assemble(points, all_points)
        self.build_time = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)

    def _assemble(self, points: np.ndarray, all_points: np.ndarray) -> PackedCSR:
        """S_ij = Ψ(r_ij) over the pairs r_ij ≤ support, found by `neighbours.within` on the
        points in Morton order and evaluated chunk by chunk of rows."""
        offset = int(self.counts[: self.comm.rank].sum())
        columns = curve_order(all_points, np.arange(self.n_global))
        rows = curve_order(points, offset + np.arange(self.n_local))
        symmetric = self.comm.size == 1
        row_points, column_points = points[rows], all_points[columns]
        radius = self.support * (1.0 + _RADIUS_SLACK)
        ids = np.arange(self.n_local) if symmetric else None
        indptr, indices = within(row_points, column_points, radius, row_ids=ids, upper=symmetric)
        precision = "single" if self.single else "double"
        values = np.empty(len(indices), dtype=DTYPES[precision])
        per_row = max(1, len(indices) // max(self.n_local, 1))
        rows_per_chunk = max(1, _PAIRS_PER_CHUNK // per_row)
        for i0 in range(0, self.n_local, rows_per_chunk):
            i1 = min(i0 + rows_per_chunk, self.n_local)
            k0, k1 = indptr[i0], indptr[i1]
            row = np.repeat(np.arange(i0, i1), np.diff(indptr[i0 : i1 + 1]))
            r = np.linalg.norm(row_points[row] - column_points[indices[k0:k1]], axis=1)
            values[k0:k1] = np.asarray(self.kernel(r), dtype=float)
        keep = _drop_zeros(indptr, indices, values)
        indices, values = indices[:keep], values[:keep]
        diagonal = None
        if symmetric:
            diagonal = np.full(self.n_local, float(np.asarray(self.kernel(np.zeros(1)))[0]))
        shape = (self.n_local, self.n_global)
        return PackedCSR.from_stored(
            shape, indptr, indices, values, rows, columns, diagonal, precision
        )

    def apply(self, u: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(K u)_i = Σ_{|x_i − x_j| ≤ R} Ψ(|x_i − x_j|) w_j u_j for the owned rows.

        Args:
            u: owned values, shape (n_local,) or (n_local, m), float64 or complex128.
            out: where to write the result (optional).
        """
        u_all = gather_rows(self.comm, u, self.counts)
        columns = u_all.reshape(u_all.shape[0], -1)
        result = np.empty((self.n_local, columns.shape[1]), dtype=u_all.dtype)
        for c in range(columns.shape[1]):
            x = columns[:, c] * self.all_weights
            if np.iscomplexobj(x):
                result[:, c] = self.matrix @ x.real + 1j * (self.matrix @ x.imag)
            else:
                result[:, c] = self.matrix @ x
        return write_into(out, result.reshape((self.n_local, *u_all.shape[1:])))

    def tocsr(self) -> sparse.csr_array:
        """K = S diag(w) of the owned rows, as stored (single-precision values rounded)."""
        return sparse.csr_array(self.matrix.tocsr() @ sparse.diags_array(self.all_weights))

    @property
    def nnz(self) -> int:
        """Entries of this rank's rows (each of a symmetric pair counted)."""
        return int(self.matrix.nnz)

    def memory_bytes(self) -> int:
        """Bytes of this rank's stored matrix (values, indices, pointers, orders) and weights."""
        return int(self.matrix.nbytes + self.all_weights.nbytes)

    def info(self) -> dict:
        """Build time, memory and the number of entries (collective: call on every rank).

        Keys: method, n_global, build_time_s, memory_bytes_per_rank_max, nnz (all ranks),
        nnz_per_row (mean), support, symmetric (stored once).
        """
        nnz = int(self.comm.allreduce(self.nnz, op=MPI.SUM))
        return {
            "method": self.method,
            "n_global": self.n_global,
            "build_time_s": self.build_time,
            "memory_bytes_per_rank_max": int(self.comm.allreduce(self.memory_bytes(), op=MPI.MAX)),
            "nnz": nnz,
            "nnz_per_row": nnz / max(self.n_global, 1),
            "support": self.support,
            "symmetric": bool(self.matrix.symmetric),
        }


@njit(cache=True)
def _drop_zeros(indptr, indices, values):  # pragma: no cover - compiled
    """Remove the zero values in place (rows keep their order); returns the entries kept."""
    k = 0
    for i in range(indptr.size - 1):
        begin = indptr[i]
        end = indptr[i + 1]
        indptr[i] = k
        for m in range(begin, end):
            if values[m] != 0.0:
                values[k] = values[m]
                indices[k] = indices[m]
                k += 1
    indptr[indptr.size - 1] = k
    return k
