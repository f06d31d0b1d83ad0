"""Sparse nonlocal operator for compactly supported kernels, row-distributed over MPI.

For a kernel with Ψ(r) = 0 beyond its support radius R the reference quadrature

    (K u)_i = Σ_j Ψ(|x_i − x_j|) w_j u_j

only involves the neighbours |x_i − x_j| ≤ R, so each rank stores the CSR block

    A_ij = Ψ(|x_i − x_j|) w_j,    i owned (n_local rows),  j = 0 … N − 1 (all points),

and applying K is one Allgatherv of u and one sparse product (K u)_i = Σ_j A_ij u_j. The result
equals the dense quadrature up to round-off (the diagonal r = 0 is included).

Neighbours are found with `scipy.spatial.cKDTree.sparse_distance_matrix` between a tree of a chunk
of owned points and a tree of all N points (gathered once); chunks bound the temporary memory.

Cost: with a fixed support radius the number of neighbours per row grows like N·|B_R|/|Ω|, so
the number of stored entries (and the memory, about 12 bytes per entry) grows like N²; the method
pays off when N·|B_R|/|Ω| ≪ N, i.e. when the support is small compared with the domain.
"""

from __future__ import annotations

import math
import time

import numpy as np
from mpi4py import MPI
from numba import njit
from scipy import sparse
from scipy.spatial import cKDTree

from fem_fhn.parallel import gather_rows, row_counts
from fem_fhn.params import ParameterError

#: pairs found per neighbour-search chunk (each pair holds 24 bytes while building, and the
#: kernel evaluation some ten temporaries of 8: ~100 MB)
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
    """K u with the kernel values of the neighbours within the support stored as a CSR block.

    Args:
        points: owned points, shape (n_local, d).
        weights: owned quadrature weights, shape (n_local,).
        kernel: radial kernel with a finite `support` (Ψ(r) = 0 for r > support).
        comm: communicator over which the points are distributed.
        tol: ignored (the method is exact up to round-off).
        single: store the values in single precision (products and sums stay in double): each
            row then errs by at most 2^−24 Σ_j |A_ij| |u_j|, and the block takes 8 instead of 12
            bytes per entry.

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
        points = np.ascontiguousarray(points, dtype=float)
        if points.ndim == 1:
            points = points[:, None]
        self.comm = comm
        self.kernel = kernel
        self.support = support
        self.n_local = points.shape[0]
        self.counts = row_counts(comm, self.n_local)
        self.n_global = int(self.counts.sum())
        all_points = gather_rows(comm, points, self.counts)
        all_weights = gather_rows(comm, np.asarray(weights, dtype=float), self.counts)
        self.single = bool(single)
        self.matrix = self._assemble(points, all_points, all_weights)
        self.build_time = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)

    def _assemble(
        self, points: np.ndarray, all_points: np.ndarray, all_weights: np.ndarray
    ) -> sparse.csr_array:
        """CSR block A_ij = Ψ(r_ij) w_j over the pairs r_ij ≤ support, chunk by chunk of rows."""
        shape = (self.n_local, self.n_global)
        if self.n_local == 0 or self.n_global == 0:
            return sparse.csr_array(shape)
        radius = self.support * (1.0 + _RADIUS_SLACK)
        tree = cKDTree(all_points)
        # first guess of the neighbours per row: uniform density over the bounding box
        extent = np.maximum(np.ptp(all_points, axis=0), radius)
        dim = points.shape[1]
        ball = math.pi ** (dim / 2) / math.gamma(dim / 2 + 1) * radius**dim
        per_row = max(1.0, self.n_global * min(1.0, ball / float(np.prod(extent))))
        index = np.int32 if self.n_global < np.iinfo(np.int32).max else np.int64
        data, indices, row_nnz = [], [], []
        i0 = 0
        while i0 < self.n_local:
            n_rows = int(min(self.n_local - i0, max(1, _PAIRS_PER_CHUNK // per_row)))
            chunk = cKDTree(points[i0 : i0 + n_rows])
            pairs = chunk.sparse_distance_matrix(tree, radius, output_type="ndarray")
            cols = pairs["j"].astype(index)
            values = np.asarray(self.kernel(pairs["v"]), dtype=float) * all_weights[cols]
            block = sparse.csr_array(
                (values, (pairs["i"].astype(index), cols)), shape=(n_rows, self.n_global)
            )
            del pairs, cols, values
            block.eliminate_zeros()
            data.append(block.data.astype(np.float32) if self.single else block.data)
            indices.append(block.indices.astype(index, copy=False))
            row_nnz.append(np.diff(block.indptr))
            per_row = max(1.0, block.nnz / n_rows)
            i0 += n_rows
        nnz = sum(len(d) for d in data)
        indptr = np.zeros(self.n_local + 1, dtype=np.int32 if nnz < 2**31 - 1 else np.int64)
        np.cumsum(np.concatenate(row_nnz), out=indptr[1:])
        # the chunks are moved into the final arrays one by one (peak: the matrix plus one chunk)
        values = np.empty(nnz, dtype=np.float32 if self.single else float)
        columns = np.empty(nnz, dtype=index)
        start = 0
        data.reverse(), indices.reverse()
        while data:
            chunk_values, chunk_columns = data.pop(), indices.pop()
            values[start : start + len(chunk_values)] = chunk_values
            columns[start : start + len(chunk_values)] = chunk_columns
            start += len(chunk_values)
            del chunk_values, chunk_columns
        return sparse.csr_array((values, columns, indptr), shape=shape)

    def apply(self, u: np.ndarray) -> np.ndarray:
        """(K u)_i = Σ_{|x_i − x_j| ≤ R} Ψ(|x_i − x_j|) w_j u_j for the owned rows.

        Args:
            u: owned values, shape (n_local,) or (n_local, m), float64 or complex128.
        """
        u_all = gather_rows(self.comm, u, self.counts)
        if not self.single:
            return self.matrix @ u_all
        m = self.matrix
        if u_all.ndim == 1:
            out = np.zeros(self.n_local, dtype=u_all.dtype)
            _csr_vector(m.indptr, m.indices, m.data, np.ascontiguousarray(u_all), out)
            return out
        columns = np.ascontiguousarray(u_all.reshape(u_all.shape[0], -1))
        out = np.zeros((self.n_local, columns.shape[1]), dtype=columns.dtype)
        _csr_product(m.indptr, m.indices, m.data, columns, out)
        return out.reshape((self.n_local, *u_all.shape[1:]))

    @property
    def nnz(self) -> int:
        """Stored entries on this rank."""
        return int(self.matrix.nnz)

    def memory_bytes(self) -> int:
        """Bytes of this rank's CSR block (values, column indices, row pointers)."""
        m = self.matrix
        return int(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes)

    def info(self) -> dict:
        """Build time, memory and the number of stored entries (collective: call on every rank).

        Keys: method, n_global, build_time_s, memory_bytes_per_rank_max, nnz (all ranks),
        nnz_per_row (mean), support.
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
        }


@njit(cache=True)
def _csr_product(indptr, indices, data, x, out) -> None:
    """out += A x for a CSR block A (single-precision values) and columns x (n, m), in x's type."""
    for i in range(indptr.size - 1):
        for k in range(indptr[i], indptr[i + 1]):
            a = np.float64(data[k])
            j = indices[k]
            for c in range(x.shape[1]):
                out[i, c] += a * x[j, c]


@njit(cache=True)
def _csr_vector(indptr, indices, data, x, out) -> None:
    """out = A x for one column x (the common case of `_csr_product`)."""
    for i in range(indptr.size - 1):
        total = out[i]
        for k in range(indptr[i], indptr[i + 1]):
            total += np.float64(data[k]) * x[indices[k]]
        out[i] = total
