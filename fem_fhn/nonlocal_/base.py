"""The protocol every nonlocal-operator backend meets.

A backend approximates the reference quadrature of docs/discretisation.md,

    (K u)_i = Σ_j Ψ(|x_i − x_j|) w_j u_j,

for points x_j with weights w_j (lumped masses for mesh nodes, (∫ρ0)/n for network particles).
Under MPI each rank passes its own (owned, no ghosts) points, weights and values, and receives its
own rows of K u.

Every backend is built as `Backend(points, weights, kernel, comm, tol, ...)`:

    points   owned points, shape (n_local, d), d = kernel.dim (or more: chordal distances)
    weights  owned quadrature weights, shape (n_local,)
    kernel   a radial kernel (`fem_fhn.kernels.Kernel`)
    comm     the communicator over which the points are distributed
    tol      relative accuracy in the measure ‖K̃u − Ku‖∞ ≤ tol · max_i Σ_j |Ψ_ij| w_j |u_j|
"""

from __future__ import annotations

import math
import numbers
from typing import Protocol, runtime_checkable

import numpy as np
from mpi4py import MPI

from fem_fhn.params import ParameterError


@runtime_checkable
class NonlocalOperator(Protocol):
    """K: owned values (n_local,) or (n_local, m) ↦ owned rows of K u, same shape."""

    comm: MPI.Comm
    n_local: int
    n_global: int

    def apply(self, u: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(K u)_i = Σ_j Ψ(|x_i − x_j|) w_j u_j for the owned rows i; u may hold m columns.
        With `out` (the result's shape and type, not u itself) the result is written there and
        returned: a caller that applies K every step keeps one array instead of a new one per
        call."""
        ...

    def info(self) -> dict:
        """Build time, memory and method-specific facts, for logs and summary.json."""
        ...


def as_points(points: np.ndarray) -> np.ndarray:
    """Points as a C-contiguous float64 array of shape (n, d) (a 1-D array: d = 1)."""
    points = np.ascontiguousarray(points, dtype=float)
    return points[:, None] if points.ndim == 1 else points


def write_into(out: np.ndarray | None, result: np.ndarray) -> np.ndarray:
    """`result`, or `out` holding it (the `out` argument of `NonlocalOperator.apply`)."""
    if out is None:
        return result
    out[...] = result
    return out


def check_tol(tol, below_one: bool = False) -> float:
    """tol as a float: a finite number > 0 (and < 1 with `below_one`), else ParameterError."""
    ok = isinstance(tol, numbers.Real) and not isinstance(tol, bool) and math.isfinite(tol)
    ok = ok and tol > 0 and (tol < 1 or not below_one)
    if not ok:
        allowed = "a number in (0, 1)" if below_one else "a number > 0"
        raise ParameterError(f"tol = {tol!r} is not allowed: {allowed}")
    return float(tol)
