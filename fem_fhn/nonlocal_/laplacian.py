"""The nonlocal diffusion operator L_ρ0 built on any backend of K.

    L_ρ0(V)_i = Σ_j Ψ(|x_i − x_j|) m_j ρ0_j (V_j − V_i) = (K(ρ0 V))_i − V_i (K ρ0)_i.

Facts: Σ_i m_i ρ0_i L(V)_i = 0, L is symmetric in the ρ0-weighted inner product, L(constant) = 0.
"""

from __future__ import annotations

import numpy as np

from fem_fhn.nonlocal_.base import NonlocalOperator


class NonlocalLaplacian:
    """L_ρ0 for a fixed ρ0; K ρ0 is computed once.

    Args:
        op: the operator K on the nodes (weights = lumped masses).
        rho0: owned nodal values of ρ0 ≥ 0.
    """

    def __init__(self, op: NonlocalOperator, rho0: np.ndarray):
        self.op = op
        self.rho0 = np.asarray(rho0, dtype=float)
        self.K_rho0 = op.apply(self.rho0)
        self._Ku = np.empty_like(self.K_rho0)  # K's result, written in place every call

    def __call__(self, V: np.ndarray) -> np.ndarray:
        """L_ρ0(V) = K(ρ0 V) − V K ρ0."""
        return self.op.apply(self.rho0 * V, out=self._Ku) - V * self.K_rho0

    def weighted(self, Z: np.ndarray) -> np.ndarray:
        """ρ0 L_ρ0(V) from Z = ρ0 V, without dividing by ρ0: ρ0 K(Z) − Z K ρ0."""
        return self.rho0 * self.op.apply(Z, out=self._Ku) - Z * self.K_rho0
