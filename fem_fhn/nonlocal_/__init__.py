"""Nonlocal operators K and L_ρ0 behind one factory.

    op = make_operator(points, weights, kernel, method="dense")
    op.apply(u)   # (K u)_i = Σ_j Ψ(|x_i − x_j|) w_j u_j

Methods: "dense" (the reference quadrature) and "auto" (picks the best available method).
"""

from __future__ import annotations

import logging

import numpy as np
from mpi4py import MPI

from fem_fhn.nonlocal_.base import NonlocalOperator
from fem_fhn.nonlocal_.dense import DenseOperator
from fem_fhn.nonlocal_.hmatrix import HMatrixOperator
from fem_fhn.nonlocal_.laplacian import NonlocalLaplacian
from fem_fhn.params import ParameterError

__all__ = [
    "METHODS",
    "DenseOperator",
    "HMatrixOperator",
    "NonlocalLaplacian",
    "NonlocalOperator",
    "make_operator",
]

log = logging.getLogger(__name__)

METHODS = {"dense": DenseOperator, "hmatrix": HMatrixOperator}


def choose_method(n_global: int, kernel, tol: float) -> tuple[str, str]:
    """The method "auto" picks, and why."""
    return "dense", f"dense is the only method available (N = {n_global})"


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
        points: owned points; d must equal the kernel's dimension.
        weights: owned quadrature weights.
        kernel: a kernel of `fem_fhn.kernels` (or any callable of the distance with `dim`).
        method: one of METHODS or "auto".
        comm: communicator (default COMM_WORLD); each rank passes its own points.
        tol: requested relative accuracy (fast methods; "dense" is exact).
    """
    comm = MPI.COMM_WORLD if comm is None else comm
    points = np.asarray(points, dtype=float)
    weights = np.asarray(weights, dtype=float)
    if points.ndim == 1:
        points = points[:, None]
    if points.ndim != 2 or weights.shape != (points.shape[0],):
        raise ParameterError(
            f"points {points.shape} and weights {weights.shape} do not match: "
            "expected points (n, d) and weights (n,)"
        )
    dim = getattr(kernel, "dim", points.shape[1])
    if points.shape[1] != dim:
        raise ParameterError(
            f"kernel.dim = {dim} does not match the points' dimension {points.shape[1]}"
        )
    if method == "auto":
        n_global = comm.allreduce(points.shape[0])
        method, reason = choose_method(n_global, kernel, tol)
        if comm.rank == 0:
            log.info("nonlocal method 'auto' chose %s: %s", method, reason)
    if method not in METHODS:
        allowed = ", ".join([*METHODS, "auto"])
        raise ParameterError(f"method = {method!r} is not allowed: one of {allowed}")
    return METHODS[method](points, weights, kernel, comm, tol=tol)
