"""The short-range interaction graph of the network: neighbours within radius r.

For particles x_j with weights ω_j the graph holds, for the owned rows i and all columns j ≠ i
with |x_i − x_j| ≤ r,

    a_ij = χ_r(|x_i − x_j|) ω_j,        χ_r = `kernels.Bump(width=r, dim=d)` (∫χ_r = 1)
                                        or `kernels.Indicator(width=r, dim=d)`,

and its graph Laplacian

    (L v)_i = Σ_j a_ij (v_i − v_j) = deg_i v_i − Σ_j a_ij v_j,        deg_i = Σ_j a_ij.

On a curve or surface in space the distances are chordal (through space) and χ_r keeps its
normalisation in the manifold's dimension (`dim`, 2 for a surface): for r small against the
curvature radius ∫_surface χ_r(|x − y|) dy = 1 + O(r²).

The network model multiplies L by 1/ε. Facts: L 1 = 0; Ω L (Ω = diag ω) is symmetric positive
semi-definite, so Σ_i ω_i (L v)_i = 0 and L is self-adjoint in the ω-weighted inner product.

Columns are numbered in the global ordering of the gathered positions (rank blocks in rank
order, each block in the rank's particle order), the same ordering `gather_rows` and the nonlocal
operators use. Neighbours are found with one `scipy.spatial.cKDTree` over all (gathered)
positions: memory is O(n) positions per rank plus the owned rows (≈ 12 bytes per neighbour),
fine up to ~10⁶ particles.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
from mpi4py import MPI
from scipy.spatial import cKDTree

from fem_fhn import kernels
from fem_fhn.ordering import morton_order
from fem_fhn.parallel import gather_rows, row_counts
from fem_fhn.params import require

__all__ = ["PROFILES", "ShortRangeGraph", "short_range_graph"]

PROFILES = {"bump": kernels.Bump, "indicator": kernels.Indicator}


class ShortRangeGraph:
    """Owned rows of the weighted neighbour graph a_ij = χ_r(|x_i − x_j|) ω_j and its Laplacian.

    Attributes:
        comm: communicator.
        radius: r.
        kernel: χ_r.
        weights: owned weights ω_i.
        counts: particles per rank; offset: first global row of this rank.
        adjacency: scipy CSR (n_owned × n_global) of a_ij (no diagonal).
        degree: deg_i = Σ_j a_ij.
        order: permutation of the owned particles along the Morton curve
            (`fem_fhn.ordering`), the storage order of the implicit solver's matrix.
    """

    def __init__(
        self,
        comm: MPI.Comm,
        radius: float,
        kernel,
        weights: np.ndarray,
        counts: np.ndarray,
        adjacency: sp.csr_matrix,
        build_time: float = 0.0,
        order: np.ndarray | None = None,
    ):
        self.comm, self.radius, self.kernel = comm, float(radius), kernel
        self.weights = np.asarray(weights, dtype=float)
        self.counts = counts
        self.n_local = int(counts[comm.rank])
        self.n_global = int(counts.sum())
        self.offset = int(counts[: comm.rank].sum())
        self.adjacency = adjacency
        self.degree = np.asarray(adjacency.sum(axis=1)).ravel()
        self._rows = np.repeat(np.arange(self.n_local), np.diff(adjacency.indptr))
        self.build_time = build_time
        self.order = np.arange(self.n_local) if order is None else np.asarray(order)

    def laplacian(self, v: np.ndarray) -> np.ndarray:
        """(L v)_i = Σ_j a_ij (v_i − v_j) for the owned rows (difference form: no cancellation)."""
        v_all = gather_rows(self.comm, np.ascontiguousarray(v, dtype=float), self.counts)
        a = self.adjacency
        diff = a.data * (v[self._rows] - v_all[a.indices])
        return np.bincount(self._rows, weights=diff, minlength=self.n_local)

    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """(owned row i, global column j) of every stored entry."""
        return self._rows, self.adjacency.indices

    def max_degree(self) -> float:
        return float(self.comm.allreduce(float(self.degree.max(initial=0.0)), op=MPI.MAX))

    def info(self) -> dict:
        nnz = self.comm.allreduce(int(self.adjacency.nnz))
        return {
            "radius": self.radius,
            "kernel": type(self.kernel).__name__,
            "n_global": self.n_global,
            "edges": nnz,
            "mean_neighbours": nnz / max(self.n_global, 1),
            "max_degree": self.max_degree(),
            "build_time_s": self.build_time,
        }


def short_range_graph(
    positions: np.ndarray,
    weights: np.ndarray | float,
    radius: float,
    comm: MPI.Comm | None = None,
    profile: str = "bump",
    dim: int | None = None,
) -> ShortRangeGraph:
    """Build the short-range graph of the owned `positions` against all positions.

    Args:
        positions: owned positions, shape (n_local, d).
        weights: owned weights ω (array or one number for all).
        radius: r > 0.
        comm: communicator (default COMM_WORLD).
        profile: "bump" (C^∞, default) or "indicator" (χ_r = 1/|B_r| on the ball).
        dim: the dimension χ_r is normalised in (default: the positions' d; 2 for particles on
            a surface in 3D).
    """
    start = time.perf_counter()
    comm = MPI.COMM_WORLD if comm is None else comm
    positions = np.asarray(positions, dtype=float)
    if positions.ndim == 1:
        positions = positions[:, None]
    n_local, d = positions.shape
    dim = d if dim is None else int(dim)
    require(1 <= dim <= d, "dim", dim, f"1 <= dim <= {d} (the positions' dimension)")
    weights = np.broadcast_to(np.asarray(weights, dtype=float), (n_local,)).copy()
    require(radius > 0, "radius", radius, "r > 0")
    require(profile in PROFILES, "profile", profile, f"one of {', '.join(PROFILES)}")
    kernel = PROFILES[profile](width=float(radius), dim=dim)
    counts = row_counts(comm, n_local)
    offset = int(counts[: comm.rank].sum())
    all_positions = gather_rows(comm, positions, counts)
    all_weights = gather_rows(comm, weights, counts)
    n_global = int(counts.sum())
    tree = cKDTree(all_positions)
    pairs = cKDTree(positions).sparse_distance_matrix(tree, radius, output_type="ndarray")
    i, j, dist = pairs["i"], pairs["j"], pairs["v"]
    keep = j != i + offset
    i, j, dist = i[keep], j[keep], dist[keep]
    a = kernel(dist) * all_weights[j]
    adjacency = sp.csr_matrix((a, (i, j)), shape=(n_local, n_global))
    adjacency.sum_duplicates()
    adjacency.sort_indices()
    order = morton_order(positions)
    build_time = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
    return ShortRangeGraph(comm, radius, kernel, weights, counts, adjacency, build_time, order)
