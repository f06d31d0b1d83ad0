"""Hydrodynamic limit diagnostics: relative entropy and its rate in ε (DESIGN §1.5, §6).

    H(ε) = ∫ ρ0 (|V − V^ε|² + |W − W^ε|²)/2 dx ≈ Σ_i m_i ρ0_i (|V_i − V^ε_i|² + |W_i − W^ε_i|²)/2,

(V, W) the macroscopic solution and (V^ε, W^ε) the moments of the kinetic density at the same time.
The theorem bounds H by C_T ε^{1/(d+6)}; an O(ε) moment error gives H ∝ ε². On a finite velocity
grid H saturates at a floor H₀ (the grid error, measured at a tiny ε), so `fit_rate` fits
log H against log ε only over the ε with H ≥ factor · H₀.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from fem_fhn.analysis import convergence_rate, relative_entropy
from fem_fhn.params import ParameterError

__all__ = ["EntropyRate", "entropy_history", "fit_rate", "relative_entropy"]


class EntropyRate(NamedTuple):
    """Least-squares slope of log H against log ε over the ε values in `window`."""

    rate: float
    window: np.ndarray


def fit_rate(
    eps: np.ndarray, H: np.ndarray, floor: float, factor: float = 10.0, min_points: int = 3
) -> EntropyRate:
    """Rate p of H ≈ C ε^p, fitted only where H ≥ factor · floor.

    Args:
        eps: the ε values (> 0).
        H: relative entropies H(ε).
        floor: the grid floor H₀ (H at a tiny ε).
        factor: how far above the floor a point must be.
        min_points: fewest points for a fit.

    Returns:
        EntropyRate(rate, window): the slope and the ε values it used (sorted decreasing).

    Raises:
        ParameterError: if fewer than `min_points` values are above factor · floor (refine the
            velocity grid to lower the floor, or add larger ε).
    """
    eps = np.asarray(eps, dtype=float)
    H = np.asarray(H, dtype=float)
    keep = (H >= factor * floor) & (eps > 0) & (H > 0)
    if keep.sum() < min_points:
        raise ParameterError(
            f"only {int(keep.sum())} of {eps.size} values of H(eps) are >= {factor:g} x the grid "
            f"floor {floor:.3g} (needs {min_points}): refine the velocity grid or add larger eps"
        )
    order = np.argsort(eps[keep])[::-1]
    e, h = eps[keep][order], H[keep][order]
    return EntropyRate(convergence_rate(e, h).rate, e)


def entropy_history(
    kinetic,
    stepper,
    f0: np.ndarray,
    macro,
    integrator,
    y0: np.ndarray,
    times: np.ndarray,
    masses: np.ndarray,
) -> np.ndarray:
    """H at each output time for a kinetic run and a macroscopic run from matching data.

    Args:
        kinetic, stepper, f0: the kinetic model, its `APSplitting` and initial density.
        macro, integrator, y0: `NonlocalFHN`, its integrator and initial state (V0, W0).
        times: output times (times[0] is the initial time).
        masses: lumped masses of the owned nodes.

    Returns:
        H(t) at every output time (the same on every rank).
    """
    f, y = f0, y0
    out = []
    for k, t in enumerate(times):
        if k > 0:
            _, f, _ = stepper.advance(kinetic, times[k - 1], f, t)
            _, y, _ = integrator.advance(macro, times[k - 1], y, t)
        fields = kinetic.fields_of(f)
        out.append(
            relative_entropy(
                masses, kinetic.rho0, y[0], y[1], fields["V"], fields["W"], kinetic.comm
            )
        )
    return np.asarray(out)
