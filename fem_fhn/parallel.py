"""Small MPI helpers shared by the distributed pieces (operators, models, output).

Each rank owns a contiguous block of a global ordering; `gather_rows` builds the global array on
every rank in rank order (Allgatherv), and `to_global_order` reorders owned values by a global index
(e.g. the input node index of the mesh) on rank 0, so results can be compared across rank counts.
"""

from __future__ import annotations

import numpy as np
from mpi4py import MPI


def row_counts(comm: MPI.Comm, n_local: int) -> np.ndarray:
    """Number of rows owned by each rank."""
    return np.asarray(comm.allgather(int(n_local)), dtype=np.int64)


def gather_rows(comm: MPI.Comm, local: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
    """Concatenate each rank's rows (in rank order) on every rank.

    Args:
        comm: communicator.
        local: owned rows, shape (n_local, ...) float64 (or int64).
        counts: rows per rank if already known (saves one collective).
    """
    local = np.ascontiguousarray(local)
    if comm.size == 1:
        return local
    if counts is None:
        counts = row_counts(comm, local.shape[0])
    width = int(np.prod(local.shape[1:], dtype=np.int64))
    out = np.empty((int(counts.sum()), *local.shape[1:]), dtype=local.dtype)
    sizes = counts * width
    comm.Allgatherv(local, [out, sizes, MPI._typedict[local.dtype.char]])
    return out


def to_global_order(
    comm: MPI.Comm, global_index: np.ndarray, values: np.ndarray, root: int = 0
) -> np.ndarray | None:
    """Values sorted by their global index, assembled on `root` (None elsewhere)."""
    idx = comm.gather(np.asarray(global_index, dtype=np.int64), root=root)
    val = comm.gather(np.asarray(values), root=root)
    if comm.rank != root:
        return None
    idx_all = np.concatenate(idx)
    order = np.argsort(idx_all, kind="stable")
    return np.concatenate(val)[order]


def bounding_box(comm: MPI.Comm, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper corners of the points (n_local, d) of all ranks (±inf where none)."""
    points = np.asarray(points, dtype=float)
    points = points[:, None] if points.ndim == 1 else points
    lo = points.min(axis=0, initial=np.inf)
    hi = points.max(axis=0, initial=-np.inf)
    comm.Allreduce(MPI.IN_PLACE, lo, op=MPI.MIN)
    comm.Allreduce(MPI.IN_PLACE, hi, op=MPI.MAX)
    return lo, hi
