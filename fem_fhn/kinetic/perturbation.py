"""Ill-prepared initial data for the hydrodynamic limit: moments perturbed by a size s = c ε^α.

The theorem allows kinetic initial moments (ρ0^ε, V0^ε, W0^ε) that differ from the macroscopic
(ρ0, V0, W0) as long as

    ‖ρ0^ε − ρ0‖²_{L²} + ∫ ρ0^ε (|V0^ε − V0|² + |W0^ε − W0|²) dx ≤ C ε^{1/(d+6)}.

With a fixed smooth shape φ, |φ| ≤ 1,

    φ(x) = cos(π ξ(x)),   ξ(x) = (1/d) Σ_k (x_k − min x_k)/(max x_k − min x_k) ∈ [0, 1]

(the bounding box of the mesh; a flat coordinate is left out of the mean), the perturbed moments are

    ρ0^ε = ρ0 max(1 + s φ, 0),   V0^ε = V0 + s φ,   W0^ε = W0 + s φ.

ρ0^ε ≥ 0, it vanishes exactly where ρ0 does (a vacuum stays a vacuum), and for s ≤ 1 the max
is inactive, so that

    ‖ρ0^ε − ρ0‖²_{L²} = s² ∫ ρ0² φ²,   ∫ ρ0^ε (|V0^ε − V0|² + |W0^ε − W0|²) = 2 s² ∫ ρ0^ε φ²,

both ≤ C s² = C c² ε^{2α}: the theorem's hypothesis for α ≥ 1/(2(d+6)). Integrals use the lumped
masses (Σ_i m_i u_i over every rank).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from mpi4py import MPI

from fem_fhn.kinetic.diagnostics import integrate
from fem_fhn.parallel import bounding_box

__all__ = ["PerturbedMoments", "perturbation_shape", "perturbed_moments", "theorem_exponent"]


def theorem_exponent(dim: int) -> float:
    """α = 1/(2(d+6)): the slowest size whose square meets the theorem's ε^{1/(d+6)}."""
    return 1.0 / (2.0 * (dim + 6))


def perturbation_shape(coords: np.ndarray, comm: MPI.Comm | None = None) -> np.ndarray:
    """φ(x) = cos(π ξ(x)) at the owned nodes (module docstring); rank-independent."""
    coords = np.atleast_2d(np.asarray(coords, dtype=float))
    lo, hi = bounding_box(MPI.COMM_SELF if comm is None else comm, coords)
    span = hi - lo
    used = span > 0
    xi = np.mean((coords[:, used] - lo[used]) / span[used], axis=1) if used.any() else 0.0
    return np.cos(np.pi * np.broadcast_to(xi, (coords.shape[0],)))


class PerturbedMoments(NamedTuple):
    """Kinetic initial moments of size s and the two parts of the theorem's hypothesis."""

    rho: np.ndarray
    V: np.ndarray
    W: np.ndarray
    size: float
    rho_part: float  # ‖ρ0^ε − ρ0‖²_{L²}
    moment_part: float  # ∫ ρ0^ε (|V0^ε − V0|² + |W0^ε − W0|²)


def perturbed_moments(
    masses: np.ndarray,
    rho0: np.ndarray,
    V0: np.ndarray,
    W0: np.ndarray,
    shape: np.ndarray,
    size: float,
    comm: MPI.Comm | None = None,
) -> PerturbedMoments:
    """(ρ0^ε, V0^ε, W0^ε) = (ρ0 max(1 + s φ, 0), V0 + s φ, W0 + s φ) and the hypothesis' parts."""
    rho = np.asarray(rho0, dtype=float) * np.maximum(1.0 + size * shape, 0.0)
    V = np.asarray(V0, dtype=float) + size * shape
    W = np.asarray(W0, dtype=float) + size * shape
    rho_part = integrate(masses, (rho - rho0) ** 2, comm)
    moment_part = integrate(masses, rho * ((V - V0) ** 2 + (W - W0) ** 2), comm)
    return PerturbedMoments(rho, V, W, float(size), rho_part, moment_part)
