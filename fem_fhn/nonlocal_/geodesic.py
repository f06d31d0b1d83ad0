"""The nonlocal operator with geodesic distances on a triangle surface.

With `[kernel] distance = "geodesic"` the reference quadrature measures distances along the
surface instead of through space:

    (K u)_i = Σ_j Ψ(d_g(x_i, x_j)) w_j u_j,     d_g ≤ R,

where d_g is the fast-marching geodesic distance of `fem_fhn.geodesic` and R the kernel's cutoff:
its support radius, or for a kernel of unbounded support the truncation radius beyond which
|Ψ| ≤ tol · max |Ψ| (`truncation_radius`). The distances within R are computed once, for the owned
rows, as a sparse matrix over all N nodes; every method builds its K from it:

- "sparse": the CSR block A_ij = Ψ(d_ij) w_j (exact for the truncated kernel);
- "dense": the same block stored as a dense array (the reference for tests);
- "hmatrix": the same CSR block. Geodesic distances carry no low-rank structure that an H-matrix
  of Euclidean clusters could use, and within the cutoff every entry is stored anyway; the
  operator's `info()` says so ("stored": "sparse");
- "nufft" and "split" are Euclidean (Fourier) methods and are refused.

Under MPI the surface (coordinates and triangles, in input numbering) is gathered on every rank
once, and each rank marches from its own nodes only.
"""

from __future__ import annotations

import math
import time

import numpy as np
from mpi4py import MPI
from scipy import sparse

from fem_fhn.geodesic import geodesic_neighbours
from fem_fhn.kernels import decay_radius
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
    order of `parallel.gather_rows` of the owned nodes, i.e. the operators' column order).

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
    table = geodesic_neighbours(coords, triangles, cutoff, nodes.global_index.astype(np.int64))
    position = np.empty(n_global, dtype=np.int64)
    position[gathered_index] = np.arange(n_global)
    result = sparse.csr_array(
        (table.data, position[table.indices], table.indptr), shape=(nodes.n_owned, n_global)
    )
    result.sort_indices()
    return result


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
    """

    def __init__(
        self,
        distances: sparse.csr_array,
        weights: np.ndarray,
        kernel,
        comm: MPI.Comm,
        method: str = "sparse",
        cutoff: float = math.inf,
    ):
        _check_method(method)
        start = time.perf_counter()
        self.comm = comm
        self.kernel = kernel
        self.method = method
        self.cutoff = cutoff
        self.n_local = distances.shape[0]
        self.counts = row_counts(comm, self.n_local)
        self.n_global = int(self.counts.sum())
        all_weights = gather_rows(comm, np.asarray(weights, dtype=float), self.counts)
        values = np.asarray(kernel(distances.data), dtype=float) * all_weights[distances.indices]
        index = np.int32 if max(distances.nnz, self.n_global) < 2**31 - 1 else np.int64
        matrix = sparse.csr_array(
            (values, distances.indices.astype(index), distances.indptr.astype(index)),
            distances.shape,
        )
        self.matrix = matrix.toarray() if method == "dense" else matrix
        self.build_time = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)

    def apply(self, u: np.ndarray) -> np.ndarray:
        """(K u)_i = Σ_{d_g(x_i, x_j) ≤ R} Ψ(d_g(x_i, x_j)) w_j u_j for the owned rows."""
        return self.matrix @ gather_rows(self.comm, u, self.counts)

    def memory_bytes(self) -> int:
        m = self.matrix
        if isinstance(m, np.ndarray):
            return int(m.nbytes)
        return int(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes)

    def info(self) -> dict:
        """Build time, memory, distance kind, cutoff and storage (collective)."""
        nnz = self.matrix.size if isinstance(self.matrix, np.ndarray) else self.matrix.nnz
        return {
            "method": self.method,
            "distance": "geodesic",
            "stored": "dense" if isinstance(self.matrix, np.ndarray) else "sparse",
            "cutoff": self.cutoff,
            "n_global": self.n_global,
            "build_time_s": self.build_time,
            "memory_bytes_per_rank_max": int(self.comm.allreduce(self.memory_bytes(), op=MPI.MAX)),
            "nnz": int(self.comm.allreduce(int(nnz), op=MPI.SUM)),
        }


def geodesic_operator(nodes, kernel, method: str, tol: float, profile=None) -> GeodesicOperator:
    """K with geodesic distances on the nodes of a triangle mesh, within the kernel's cutoff.

    `profile` (default: the kernel) is the function evaluated at the distances, e.g. the negative
    part of the kernel, within the kernel's own cutoff.

    Raises:
        ParameterError: for a method other than GEODESIC_METHODS ("auto" takes "sparse") or a
            mesh that is not made of triangles.
    """
    method = "sparse" if method == "auto" else method
    _check_method(method)
    if nodes.tdim != 2:
        raise ParameterError(
            f"kernel.distance = 'geodesic' is not allowed on a mesh of {nodes.tdim}D cells: "
            "geodesic distances are computed on triangle meshes (surfaces)"
        )
    start = time.perf_counter()
    cutoff = truncation_radius(kernel, tol)
    distances = mesh_geodesic_distances(nodes, cutoff)
    values = kernel if profile is None else profile
    op = GeodesicOperator(distances, nodes.masses, values, nodes.comm, method, cutoff)
    op.build_time = nodes.comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
    return op
