"""A kernel of a curve or surface seen as a radial function in the space around it.

On a d-dimensional manifold in ℝ^D (a surface in 3D: d = 2, D = 3) the kernel keeps its values
Ψ(r) and its normalisation in d dimensions, and with chordal distances r = |x − y| the operator

    (K u)_i = Σ_j Ψ(|x_i − x_j|) w_j u_j

is a sum over points of ℝ^D. The Fourier methods need the transform of r ↦ Ψ(r) in ℝ^D, not in
ℝ^d: `InSpace` provides it by the projection rule of `fem_fhn.nonlocal_.nufft` (the trapezoid rule
on the projection A(x) = 2π ∫_{|x|}^∞ Ψ(r) r dr of Ψ onto a line, for D = 3).
"""

from __future__ import annotations

import functools

import numpy as np


class InSpace:
    """Ψ of `kernel` (normalised in kernel.dim) as a radial function on ℝ^dim.

    Args:
        kernel: a radial kernel with width, support, smooth and values Ψ(r).
        dim: the dimension D of the surrounding space (> kernel.dim).
    """

    def __init__(self, kernel, dim: int):
        self.kernel = kernel
        self.dim = int(dim)
        self.width = float(kernel.width)
        self.support = float(kernel.support)
        self.smooth = bool(getattr(kernel, "smooth", False))
        self.strength = getattr(kernel, "strength", 1.0)

    def __call__(self, r: np.ndarray) -> np.ndarray:
        return self.kernel(r)

    @functools.cached_property
    def _transform(self):
        from fem_fhn.nonlocal_.nufft import _ProjectedFourier

        return _ProjectedFourier(self)

    def fourier(self, k: np.ndarray) -> np.ndarray:
        """Ψ̂(k) = ∫_{ℝ^D} Ψ(|x|) e^{−ik·x} dx (a function of |k|)."""
        return self._transform(k)
