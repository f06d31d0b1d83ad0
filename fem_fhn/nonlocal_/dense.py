"""Dense reference quadrature of the nonlocal operator, row-distributed over MPI.

Each rank stores the block A_ij = Ψ(|x_i − x_j|) w_j for its owned rows i and all N points j, so
applying K is one Allgatherv of u and one matrix product: (K u)_i = Σ_j A_ij u_j.

Memory: 8 · n_local · N bytes per rank (N = 20 000 on one rank: 3.2 GB).
"""

from __future__ import annotations

import time

import numpy as np
from mpi4py import MPI
from scipy.spatial.distance import cdist

from fem_fhn.nonlocal_.base import write_into
from fem_fhn.parallel import gather_rows, row_counts

#: rows evaluated at once while building: each temporary block (distances, kernel values)
#: holds ~64 MB, and a kernel evaluation makes about three of them at a time
_BUILD_CHUNK_ENTRIES = 8_000_000


class DenseOperator:
    """K u with the full block of kernel values stored per rank.

    Args:
        points: owned points, shape (n_local, d).
        weights: owned quadrature weights, shape (n_local,).
        kernel: radial kernel; called on an array of distances.
        comm: communicator over which the points are distributed.
        tol: ignored (the dense quadrature is the reference).
    """

    method = "dense"

    def __init__(
        self, points: np.ndarray, weights: np.ndarray, kernel, comm: MPI.Comm, tol: float = 0.0
    ):
        start = time.perf_counter()
        self.comm = comm
        self.kernel = kernel
        self.n_local = points.shape[0]
        self.counts = row_counts(comm, self.n_local)
        self.n_global = int(self.counts.sum())
        all_points = gather_rows(comm, points, self.counts)
        all_weights = gather_rows(comm, weights, self.counts)
        self.matrix = np.empty((self.n_local, self.n_global))
        chunk = max(1, _BUILD_CHUNK_ENTRIES // max(self.n_global, 1))
        for i0 in range(0, self.n_local, chunk):
            block = self.matrix[i0 : i0 + chunk]
            block[:] = kernel(cdist(points[i0 : i0 + chunk], all_points))
            block *= all_weights
        self.build_time = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)

    def apply(self, u: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(K u)_i = Σ_j Ψ(|x_i − x_j|) w_j u_j for the owned rows (into `out` if given)."""
        return write_into(out, self.matrix @ gather_rows(self.comm, u, self.counts))

    def info(self) -> dict:
        return {
            "method": self.method,
            "n_global": self.n_global,
            "build_time_s": self.build_time,
            "memory_bytes_per_rank_max": int(self.comm.allreduce(self.matrix.nbytes, op=MPI.MAX)),
        }
