"""Nonlocal operators K and L_ρ0 behind one factory.

    op = make_operator(points, weights, kernel, method="dense")
    op.apply(u)   # (K u)_i = Σ_j Ψ(|x_i − x_j|) w_j u_j

Methods: "dense" (the reference quadrature), "hmatrix" (hierarchical matrix with ACA, any
kernel), "nufft" (type-1/type-2 NUFFT convolution, smooth kernels), "sparse" (exact, compact
kernels), "split" (exact sparse near part + NUFFT far part, kernels with a cusp or a jump), and
"auto" (picks by N, kernel support and smoothness, and logs why; see `choose_method`).

On the nodes of a curve or surface in space (points with more coordinates than kernel.dim) the
distances are chordal and the kernel keeps its normalisation in its own dimension; nufft then uses
Ψ's transform in the surrounding space (`embedded.InSpace`) and split is refused. Geodesic
distances: `fem_fhn.nonlocal_.geodesic`.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from mpi4py import MPI

from fem_fhn.nonlocal_.base import NonlocalOperator, as_points
from fem_fhn.nonlocal_.dense import DenseOperator
from fem_fhn.nonlocal_.embedded import InSpace
from fem_fhn.nonlocal_.hmatrix import HMatrixOperator
from fem_fhn.nonlocal_.laplacian import NonlocalLaplacian
from fem_fhn.nonlocal_.nufft import NufftOperator
from fem_fhn.nonlocal_.sparse import SparseOperator
from fem_fhn.nonlocal_.split import SplitOperator, singular_points
from fem_fhn.parallel import bounding_box
from fem_fhn.params import ParameterError

__all__ = [
    "METHODS",
    "DenseOperator",
    "HMatrixOperator",
    "NonlocalLaplacian",
    "NonlocalOperator",
    "SplitOperator",
    "make_operator",
]

log = logging.getLogger(__name__)

METHODS = {
    "dense": DenseOperator,
    "hmatrix": HMatrixOperator,
    "nufft": NufftOperator,
    "sparse": SparseOperator,
    "split": SplitOperator,
}


#: methods built on the kernel's Fourier transform in the points' dimension (flat space only)
EUCLIDEAN_ONLY = ("nufft", "split")

#: up to this many points "auto" keeps the exact dense quadrature
DENSE_MAX = 5_000
#: "auto" takes "sparse" for a compact kernel with at most this many neighbours per point
SPARSE_MAX_NEIGHBOURS = 2_000
#: "auto" takes "split" for a cusp kernel (1D, 2D) from this many points on: 2D exponential of
#: width 0.05, one thread: at 10^5 points the split builds in 3.4 s against the H-matrix's 6.6 s,
#: applies in 0.041 s against 0.043 s and takes 0.45 GB against 1.43 GB; at 3·10^4 the H-matrix
#: applies faster (0.009 s against 0.014 s); at 10^6 the split takes 1.4 GB, the H-matrix
#: ~12 kB per point would not fit
SPLIT_MIN = 100_000


def choose_method(n_global: int, kernel, tol: float, volume: float) -> tuple[str, str]:
    """The method "auto" picks for N points in a bounding box of `volume`, and why.

    dense for small N; sparse for a compact kernel with few neighbours per point (exact); nufft
    for a smooth kernel (spectrally accurate); split in 1D and 2D from SPLIT_MIN points on for a
    kernel whose only non-smooth point is a cusp at r = 0 (exponential, user kernels with
    smooth=False and unbounded support); hmatrix otherwise (any kernel, any tol; a jump at the
    support edge of a wide kernel; 3D, where the split's far part needs too many Fourier modes).
    """
    if n_global <= DENSE_MAX:
        return "dense", f"N = {n_global} <= {DENSE_MAX}: the exact quadrature is cheap"
    support = getattr(kernel, "support", math.inf)
    dim = getattr(kernel, "dim", 2)
    if math.isfinite(support) and volume > 0:
        ball = math.pi ** (dim / 2) / math.gamma(dim / 2 + 1) * support**dim
        neighbours = n_global * min(ball / volume, 1.0)
        if neighbours <= SPARSE_MAX_NEIGHBOURS:
            return "sparse", f"compact kernel with about {neighbours:.0f} neighbours per point"
    if getattr(kernel, "smooth", False):
        return "nufft", f"smooth translation-invariant kernel, N = {n_global}"
    cusp, edge = singular_points(kernel) if hasattr(kernel, "fourier") else (False, None)
    if "split" in METHODS and cusp and edge is None and dim <= 2 and n_global >= SPLIT_MIN:
        return "split", f"kernel with a cusp at r = 0, N = {n_global}: sparse near part + NUFFT"
    return "hmatrix", f"N = {n_global}, kernel {type(kernel).__name__} (any kernel, tol {tol:g})"


def make_operator(
    points: np.ndarray,
    weights: np.ndarray,
    kernel,
    method: str = "dense",
    comm: MPI.Comm | None = None,
    tol: float = 1e-8,
) -> NonlocalOperator:
    """Build K for owned `points` (n_local, d) with `weights` (n_local,) and a radial `kernel`.

    Args:
        points: owned points; d equals the kernel's dimension, or exceeds it for the nodes of a
            curve or surface in space (distances are then chordal, through space; the kernel
            keeps the normalisation of its own dimension; nufft uses its transform in the
            surrounding space, `InSpace`; split is refused).
        weights: owned quadrature weights.
        kernel: a kernel of `fem_fhn.kernels` (or any callable of the distance with `dim`).
        method: one of METHODS or "auto".
        comm: communicator (default COMM_WORLD); each rank passes its own points.
        tol: requested relative accuracy (fast methods; "dense" is exact).
    """
    comm = MPI.COMM_WORLD if comm is None else comm
    points = as_points(points)
    weights = np.asarray(weights, dtype=float)
    if points.ndim != 2 or weights.shape != (points.shape[0],):
        raise ParameterError(
            f"points {points.shape} and weights {weights.shape} do not match: "
            "expected points (n, d) and weights (n,)"
        )
    dim = getattr(kernel, "dim", points.shape[1])
    if points.shape[1] < dim:
        raise ParameterError(
            f"kernel.dim = {dim} does not match the points' dimension {points.shape[1]}"
        )
    manifold = points.shape[1] > dim  # a curve or surface in space: chordal distances
    if manifold and method == "split":
        raise ParameterError(
            f"nonlocal.method = 'split' is not allowed on a {dim}D mesh in {points.shape[1]}D "
            "space: one of dense, sparse, hmatrix, nufft, auto"
        )
    if method == "auto":
        n_global = comm.allreduce(points.shape[0])
        if manifold:  # the measure of the manifold (sum of the weights) sets the density
            volume = comm.allreduce(float(weights.sum()))
        else:
            lo, hi = bounding_box(comm, points)
            volume = float(np.prod(hi - lo))
        method, reason = choose_method(n_global, kernel, tol, volume)
        if manifold and method == "split":
            method, reason = "hmatrix", f"split is for flat domains only ({reason})"
        if comm.rank == 0:
            log.info("nonlocal method 'auto' chose %s: %s", method, reason)
        if method in EUCLIDEAN_ONLY:
            try:
                return _build(method, points, weights, kernel, comm, tol, manifold)
            except ParameterError as err:  # e.g. too many Fourier modes for this tol
                if comm.rank == 0:
                    log.info("nonlocal method 'auto': %s refused (%s), using hmatrix", method, err)
                method = "hmatrix"
    if method not in METHODS:
        allowed = ", ".join([*METHODS, "auto"])
        raise ParameterError(f"method = {method!r} is not allowed: one of {allowed}")
    return _build(method, points, weights, kernel, comm, tol, manifold)


def _build(method, points, weights, kernel, comm, tol, manifold: bool) -> NonlocalOperator:
    """The operator of one method; nufft on a curve or surface in space takes the transform of Ψ
    in the surrounding space (`InSpace`)."""
    if manifold and method == "nufft":
        kernel = InSpace(kernel, points.shape[1])
    return METHODS[method](points, weights, kernel, comm, tol=tol)
