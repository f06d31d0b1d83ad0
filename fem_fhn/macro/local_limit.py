"""Kernels rescaled towards the local limit of the nonlocal operator (docs/science.md).

For a radial kernel Ψ on ℝ^d and δ > 0,

    Ψ_δ(x) = δ^{−(d+2)} Ψ(x/δ),        Ψ̂_δ(k) = δ^{−2} Ψ̂(δk),
    ∫ Ψ_δ dx = δ^{−2} ∫ Ψ dx,          σ_δ = (1/2d) ∫ |x|² Ψ_δ(x) dx = σ,

so the second moment is independent of δ and, for smooth V and ρ0 away from the boundary,

    L_ρ0^δ(V) = ∫ Ψ_δ(x − x') (V(x') − V(x)) ρ0(x') dx'  →  (σ/ρ0) ∇·(ρ0² ∇V)   as δ → 0,

with an O(δ²) error for smooth data (ρ0 ≡ ρ̄: Fourier symbol ρ̄ δ^{−2}(Ψ̂(δk) − Ψ̂(0)) =
−ρ̄ σ |k|² + O(δ² |k|⁴)). The local model is `fem_fhn.macro.local_rd.LocalFHN`.

Warning: the nodal quadrature samples Ψ_δ at the mesh nodes, so it is accurate only
while the rescaled width δ·width stays well above the mesh size — roughly δ·width ≳ 20 h on
unstructured meshes (uniform grids, where the lumped quadrature is the trapezoidal rule, tolerate
far less). Refine h together with δ; on a fixed mesh the error stops decreasing and then grows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fem_fhn.kernels import Kernel
from fem_fhn.params import require, require_finite

__all__ = ["RescaledKernel", "rescaled"]


@dataclass(frozen=True)
class RescaledKernel:
    """Ψ_δ(r) = δ^{−(d+2)} Ψ(r/δ): exact transform, mass δ^{−2}·mass, second moment σ of Ψ.

    Meets the `fem_fhn.kernels.Kernel` protocol (value, `fourier`, `mass`, `second_moment`,
    `support`, `smooth`, `dim`, `width`, `strength`).

    Attributes:
        kernel: the kernel Ψ being rescaled.
        delta: the scale δ > 0.
    """

    kernel: Kernel
    delta: float

    def __post_init__(self) -> None:
        require_finite("delta", self.delta)
        require(self.delta > 0, "delta", self.delta, "a scale > 0")
        ok = all(hasattr(self.kernel, name) for name in ("fourier", "second_moment", "dim"))
        require(ok, "kernel", self.kernel, "a kernel of fem_fhn.kernels")

    @property
    def dim(self) -> int:
        return int(self.kernel.dim)

    @property
    def width(self) -> float:
        return float(self.delta * self.kernel.width)

    @property
    def strength(self) -> float:
        return float(self.kernel.strength) / self.delta**2

    def __call__(self, r: np.ndarray) -> np.ndarray:
        r = np.abs(np.asarray(r, dtype=float))
        return self.delta ** (-(self.dim + 2)) * self.kernel(r / self.delta)

    def fourier(self, k: np.ndarray) -> np.ndarray:
        k = np.abs(np.asarray(k, dtype=float))
        return self.kernel.fourier(self.delta * k) / self.delta**2

    @property
    def mass(self) -> float:
        return float(self.kernel.mass) / self.delta**2

    @property
    def second_moment(self) -> float:
        return float(self.kernel.second_moment)

    @property
    def support(self) -> float:
        support = float(self.kernel.support)
        return support if math.isinf(support) else self.delta * support

    @property
    def smooth(self) -> bool:
        return bool(self.kernel.smooth)


def rescaled(kernel: Kernel, delta: float) -> RescaledKernel:
    """Ψ_δ(x) = δ^{−(d+2)} Ψ(x/δ), whose nonlocal operator tends to (σ/ρ0) ∇·(ρ0² ∇V) as δ → 0.

    σ = kernel.second_moment (σ = s²/2 for a unit-mass Gaussian of width s) is kept fixed; the
    mass grows like δ^{−2}, so explicit time steps of the nonlocal model shrink like δ². The
    nodal quadrature needs δ·width ≳ 20 h (see the module docstring): refine the mesh with δ.
    """
    return RescaledKernel(kernel, float(delta))
