"""The protocol every nonlocal-operator backend meets.

A backend approximates the reference quadrature of docs/discretisation.md,

    (K u)_i = Σ_j Ψ(|x_i − x_j|) w_j u_j,

for points x_j with weights w_j (lumped masses for mesh nodes, (∫ρ0)/n for network particles).
Under MPI each rank passes its own (owned, no ghosts) points, weights and values, and receives its
own rows of K u.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from mpi4py import MPI


@runtime_checkable
class NonlocalOperator(Protocol):
    """K: owned values (n_local,) or (n_local, m) ↦ owned rows of K u, same shape."""

    comm: MPI.Comm
    n_local: int
    n_global: int

    def apply(self, u: np.ndarray) -> np.ndarray:
        """(K u)_i = Σ_j Ψ(|x_i − x_j|) w_j u_j for the owned rows i; u may hold m columns."""
        ...

    def info(self) -> dict:
        """Build time, memory and method-specific facts, for logs and summary.json."""
        ...
