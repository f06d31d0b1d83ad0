"""The nonlocal operator with geodesic distances on a triangle surface.

With `[kernel] distance = "geodesic"` the reference quadrature measures distances along the
surface instead of through space:

    (K u)_i = Σ_j Ψ(d_g(x_i, x_j)) w_j u_j,     d_g ≤ R,

where d_g is the fast-marching geodesic distance of `fem_fhn.geodesic` and R the kernel's cutoff:
its support radius, or for a kernel of unbounded support the truncation radius beyond which
|Ψ| ≤ tol · max |Ψ| (`truncation_radius`). The distances within R are computed once, for the owned
rows, as a sparse matrix over all N nodes; every method builds its K from it:

- "sparse": the CSR block A_ij = Ψ(d_ij) w_j (exact for the truncated kernel), stored for a fast
  product (`packed.PackedCSR`: rows and columns along the Morton curve of the nodes, narrow
  column indices; on one rank the symmetric S_ij = Ψ(d_ij) once, A u = S (w u)) in the
  precision of `[nonlocal] precision`: "double"; "single" (float32 values, float64 sums:
  |error_i| ≤ 2^−24 Σ_j |A_ij||u_j|); "auto" takes single when that bound, 6·10^−8, is within
  `tol`;
- "dense": the same block stored as a dense array in double precision (the reference for tests);
- "hmatrix": the same CSR block as "sparse". Geodesic distances carry no low-rank structure that
  an H-matrix of Euclidean clusters could use, and within the cutoff every entry is stored
  anyway; the operator's `info()` says so ("stored": "sparse");
- "nufft" and "split" are Euclidean (Fourier) methods and are refused.

Under MPI the surface (coordinates and triangles, in input numbering) is gathered on every rank
once, and each rank marches from its own nodes only.
"""

from __future__ import annotations

import math
import time

import numpy as np
from mpi4py import MPI
from numba import njit
from scipy import sparse

from fem_fhn.geodesic import geodesic_neighbours
from fem_fhn.kernels import decay_radius
from fem_fhn.nonlocal_.base import write_into
from fem_fhn.nonlocal_.packed import (
    PRECISIONS,
    SINGLE_ROUNDOFF,
    PackedCSR,
    curve_order,
    transposed,
)
from fem_fhn.parallel import gather_rows, row_counts
from fem_fhn.params import ParameterError

#: methods that take a geodesic kernel (all from the sparse matrix of distances within the cutoff)
GEODESIC_METHODS = ("dense", "sparse", "hmatrix")

#: points of the grid on which the truncation radius of an unbounded kernel is searched
_GRID = 20_001


def _check_method(method: str) -> None:
    """Refuse a method that cannot hold a geodesic kernel, naming both keys."""
    if method not in GEODESIC_METHODS:
        raise ParameterError(
            f"nonlocal.method = {method!r} is not allowed with kernel.distance = 'geodesic': "
            f"one of {', '.join(GEODESIC_METHODS)} (nufft and split are Euclidean only)"
        )


def storage_precision(precision: str, method: str, tol: float) -> str:
    """The precision K is stored in: "dense" always double; "auto" single when the single-precision
    bound 2^−24 (relative to Σ_j |K_ij||u_j|) is within tol, else double.

    Raises:
        ParameterError: for an unknown precision, or "single" with the dense method.
    """
    if precision not in PRECISIONS:
        raise ParameterError(
            f"nonlocal.precision = {precision!r} is not allowed: one of {', '.join(PRECISIONS)}"
        )
    if method == "dense":
        if precision == "single":
            raise ParameterError(
                "nonlocal.precision = 'single' is not allowed with nonlocal.method = 'dense': "
                "auto or double (the dense geodesic matrix is the double-precision reference)"
            )
        return "double"
    if precision == "auto":
        return "single" if tol >= SINGLE_ROUNDOFF else "double"
    return precision


def truncation_radius(kernel, tol: float) -> float:
    """The kernel's cutoff R: its support radius, or the smallest grid radius beyond which
    |Ψ(r)| ≤ tol · max |Ψ| (searched on [0, decay radius]) for a kernel of unbounded support."""
    support = float(getattr(kernel, "support", math.inf))
    if math.isfinite(support):
        return support
    end = decay_radius(kernel, int(kernel.dim), float(kernel.width))
    r = np.linspace(0.0, end, _GRID)
    values = np.abs(np.asarray(kernel(r), dtype=float))
    above = np.flatnonzero(values > tol * values.max())
    return float(r[min(above[-1] + 1, _GRID - 1)]) if above.size else float(r[1])


def mesh_geodesic_distances(nodes, cutoff: float) -> sparse.csr_array:
    """Geodesic distances ≤ cutoff from each owned node (rows) to all N nodes (columns in the
    order of `parallel.gather_rows` of the owned nodes, i.e. the operators' column order),
    symmetrised (`symmetrised`).

    Collective. The mesh must be a triangle mesh (a surface in 3D or a planar mesh).
    """
    comm = nodes.comm
    mesh = nodes.mesh
    counts = row_counts(comm, nodes.n_owned)
    n_global = int(counts.sum())
    gathered_index = gather_rows(comm, nodes.global_index.astype(np.int64), counts)
    coords = np.zeros((n_global, 3))
    coords[gathered_index, : nodes.dim] = gather_rows(comm, nodes.coords, counts)
    n_cells = mesh.topology.index_map(mesh.topology.dim).size_local
    input_index = np.asarray(mesh.geometry.input_global_indices, dtype=np.int64)
    cells = input_index[mesh.geometry.dofmaps[0][:n_cells]]
    triangles = np.concatenate(comm.allgather(cells))
    sources = nodes.global_index.astype(np.int64)
    table = geodesic_neighbours(coords, triangles, cutoff, sources, sort=False)
    position = np.empty(n_global, dtype=np.int64)
    position[gathered_index] = np.arange(n_global)
    result = sparse.csr_array(
        (table.data, position[table.indices], table.indptr), shape=(nodes.n_owned, n_global)
    )
    return symmetrised(result, comm, counts)


def symmetrised(table: sparse.csr_array, comm: MPI.Comm, counts: np.ndarray) -> sparse.csr_array:
    """min(d_ij, d_ji) on the union of both patterns, for owned rows × all columns (columns in
    `gather_rows` order, rows distributed as `counts`).

    A march from x_i and one from x_j give slightly different d_ij and d_ji; fast marching
    over-estimates distances, so the smaller is the better one, and a symmetric table makes
    Ψ(d_ij) symmetric: L_ρ0 then conserves Σ_i m_i ρ0_i V_i and is symmetric in the ρ0-weighted
    inner product, as with Euclidean distances. A pair within the cutoff one way only takes that
    way's distance. The transposed entries of other ranks' rows come in one all-to-all exchange.
    """
    if comm.size == 1:
        n = table.shape[0]
        every = np.arange(n)
        t_ptr, t_idx, t_val, _ = transposed(
            table.indptr, table.indices, table.data, n, every, every, False
        )
        theirs = sparse.csr_array((t_val, t_idx, t_ptr), shape=table.shape)
    else:
        offsets = np.concatenate([[0], np.cumsum(counts)])
        coo = table.tocoo()
        rows = coo.row.astype(np.int64) + offsets[comm.rank]
        columns = coo.col.astype(np.int64)
        owner = np.searchsorted(offsets, columns, side="right") - 1
        by_owner = np.argsort(owner, kind="stable")
        cuts = np.searchsorted(owner[by_owner], np.arange(comm.size + 1))
        parts = [by_owner[cuts[r] : cuts[r + 1]] for r in range(comm.size)]
        received = comm.alltoall([(columns[p], rows[p], coo.data[p]) for p in parts])
        t_rows = np.concatenate([r[0] for r in received]) - offsets[comm.rank]
        t_columns = np.concatenate([r[1] for r in received])
        t_data = np.concatenate([r[2] for r in received])
        theirs = sparse.csr_array((t_data, (t_rows, t_columns)), shape=table.shape)
    indptr, indices, data = _min_union(
        table.shape[1],
        table.indptr,
        table.indices,
        table.data,
        theirs.indptr,
        theirs.indices,
        theirs.data,
    )
    return sparse.csr_array((data, indices, indptr), shape=table.shape)


@njit(cache=True)
def _min_union(n_columns, a_ptr, a_idx, a_val, b_ptr, b_idx, b_val):  # pragma: no cover
    """Row by row, the entries of A and B on the union of their patterns, min where both have
    one (CSR arrays in, CSR arrays out; rows need not be sorted, no duplicates within a row)."""
    n_rows = a_ptr.size - 1
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    indices = np.empty(a_idx.size + b_idx.size, dtype=a_idx.dtype)
    data = np.empty(a_idx.size + b_idx.size)
    where = np.full(n_columns, -1, dtype=np.int64)  # output position of a column in the row
    p = 0
    for i in range(n_rows):
        start = p
        for k in range(a_ptr[i], a_ptr[i + 1]):
            j = a_idx[k]
            indices[p] = j
            data[p] = a_val[k]
            where[j] = p
            p += 1
        for k in range(b_ptr[i], b_ptr[i + 1]):
            j = b_idx[k]
            q = where[j]
            if q >= start:
                data[q] = min(data[q], b_val[k])
            else:
                indices[p] = j
                data[p] = b_val[k]
                where[j] = p
                p += 1
        indptr[i + 1] = p
    return indptr, indices[:p].copy(), data[:p].copy()


class GeodesicOperator:
    """K u with Ψ evaluated at precomputed geodesic distances (module docstring).

    Args:
        distances: owned rows × all N columns of geodesic distances within the cutoff (explicit
            zeros on the diagonal), columns in `gather_rows` order.
        weights: owned quadrature weights, shape (n_local,).
        kernel: radial kernel.
        comm: communicator over which the rows are distributed.
        method: "dense", "sparse" or "hmatrix" (how K is stored: see the module docstring).
        cutoff: the radius R the distances were computed within.
        precision: "double" or "single": the storage of the sparse K (`storage_precision`).
        points: owned node coordinates with `global_index`: the sparse K is stored along their
            Morton curve (default: in the given order).
        global_index: owned nodes' global indices (ties of the curve order).
        symmetric: the table is symmetric (as `mesh_geodesic_distances` makes it): on one rank
            K = S diag(w), S_ij = Ψ(d_ij), is stored once (`PackedCSR` symmetric).
    """

    def __init__(
        self,
        distances: sparse.csr_array,
        weights: np.ndarray,
        kernel,
        comm: MPI.Comm,
        method: str = "sparse",
        cutoff: float = math.inf,
        precision: str = "double",
        points: np.ndarray | None = None,
        global_index: np.ndarray | None = None,
        symmetric: bool = False,
    ):
        _check_method(method)
        start = time.perf_counter()
        self.comm = comm
        self.kernel = kernel
        self.method = method
        self.cutoff = cutoff
        self.precision = storage_precision(precision, method, 0.0)
        self.n_local = distances.shape[0]
        self.counts = row_counts(comm, self.n_local)
        self.n_global = int(self.counts.sum())
        all_weights = gather_rows(comm, np.asarray(weights, dtype=float), self.counts)
        # one rank, a symmetric table: S_ij = Ψ(d_ij) stored once (half the entries to read),
        # K u = S (w u)
        self.symmetric = symmetric and method != "dense" and comm.size == 1
        self.column_weights = all_weights if self.symmetric else None
        values = np.asarray(kernel(distances.data), dtype=float)
        if not self.symmetric:
            values = values * all_weights[distances.indices]
        matrix = sparse.csr_array((values, distances.indices, distances.indptr), distances.shape)
        if method == "dense":
            self.matrix = matrix.toarray()
        else:
            rows = columns = None
            if points is not None:
                keys = np.asarray(global_index, dtype=np.int64)
                rows = curve_order(np.asarray(points, dtype=float), keys)
                all_points = gather_rows(comm, np.asarray(points, dtype=float), self.counts)
                all_keys = gather_rows(comm, keys, self.counts)
                columns = curve_order(all_points, all_keys)
            self.matrix = PackedCSR(matrix, self.precision, rows, columns, self.symmetric)
        self.build_time = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)

    def apply(self, u: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(K u)_i = Σ_{d_g(x_i, x_j) ≤ R} Ψ(d_g(x_i, x_j)) w_j u_j for the owned rows (into
        `out` if given)."""
        u_all = gather_rows(self.comm, u, self.counts)
        if self.column_weights is not None:
            u_all = self.column_weights * u_all
        return write_into(out, self.matrix @ u_all)

    def memory_bytes(self) -> int:
        return int(self.matrix.nbytes)

    def info(self) -> dict:
        """Build time, memory, distance kind, cutoff and storage (collective)."""
        nnz = self.matrix.size if isinstance(self.matrix, np.ndarray) else self.matrix.nnz
        return {
            "method": self.method,
            "distance": "geodesic",
            "stored": "dense" if isinstance(self.matrix, np.ndarray) else "sparse",
            "precision": self.precision,
            "symmetric": self.symmetric,
            "cutoff": self.cutoff,
            "n_global": self.n_global,
            "build_time_s": self.build_time,
            "memory_bytes_per_rank_max": int(self.comm.allreduce(self.memory_bytes(), op=MPI.MAX)),
            "nnz": int(self.comm.allreduce(int(nnz), op=MPI.SUM)),
        }


def geodesic_operator(
    nodes, kernel, method: str, tol: float, profile=None, precision: str = "auto"
) -> GeodesicOperator:
    """K with geodesic distances on the nodes of a triangle mesh, within the kernel's cutoff,
    stored along the nodes' Morton curve in the precision `storage_precision` picks.

    `profile` (default: the kernel) is the function evaluated at the distances, e.g. the negative
    part of the kernel, within the kernel's own cutoff.

    Raises:
        ParameterError: for a method other than GEODESIC_METHODS ("auto" takes "sparse") or a
            mesh that is not made of triangles.
    """
    method = "sparse" if method == "auto" else method
    _check_method(method)
    precision = storage_precision(precision, method, tol)
    if nodes.tdim != 2:
        raise ParameterError(
            f"kernel.distance = 'geodesic' is not allowed on a mesh of {nodes.tdim}D cells: "
            "geodesic distances are computed on triangle meshes (surfaces)"
        )
    start = time.perf_counter()
    cutoff = truncation_radius(kernel, tol)
    distances = mesh_geodesic_distances(nodes, cutoff)
    values = kernel if profile is None else profile
    op = GeodesicOperator(
        distances,
        nodes.masses,
        values,
        nodes.comm,
        method,
        cutoff,
        precision,
        nodes.coords,
        nodes.global_index,
        symmetric=True,
    )
    op.build_time = nodes.comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
    return op
