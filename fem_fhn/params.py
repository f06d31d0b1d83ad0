"""Physical parameters of the FitzHugh–Nagumo dynamics, as frozen, validated dataclasses.

The single-neuron system (docs/science.md) is

    v' = N(v) − w + I_ext,        w' = τ (v + a − b w),        N(v) = v − v³.

Every model of the package (neuron, network, kinetic, macroscopic) takes one `FHNParameters`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


class ParameterError(ValueError):
    """A parameter (or config value) outside its allowed range; the message names key and value."""


def require(condition: bool, key: str, value: object, allowed: str) -> None:
    """Raise `ParameterError` naming `key`, `value` and what is allowed unless `condition` holds."""
    if not condition:
        raise ParameterError(f"{key} = {value!r} is not allowed: {allowed}")


def require_finite(key: str, value: float) -> None:
    require(isinstance(value, int | float) and not isinstance(value, bool), key, value, "a number")
    require(math.isfinite(value), key, value, "a finite number")


@dataclass(frozen=True)
class FHNParameters:
    """FitzHugh–Nagumo parameters: v' = v − v³ − w + I_ext, w' = τ (v + a − b w).

    Attributes:
        a: offset of the w-nullcline.
        b: slope parameter of the recovery (b ≥ 0).
        tau: time-scale ratio τ ≥ 0 (τ = 0 freezes w).
        I_ext: constant external current.
    """

    a: float = 0.7 / math.sqrt(3.0)
    b: float = 0.8
    tau: float = 0.08
    I_ext: float = 0.0

    def __post_init__(self) -> None:
        for key in ("a", "b", "tau", "I_ext"):
            require_finite(key, getattr(self, key))
        require(self.b >= 0, "b", self.b, "b >= 0")
        require(self.tau >= 0, "tau", self.tau, "tau >= 0 (tau = 0 freezes w)")

    @staticmethod
    def N(v: np.ndarray | float) -> np.ndarray | float:
        """Cubic nonlinearity N(v) = v − v³."""
        return v - v * v * v

    @staticmethod
    def dN(v: np.ndarray | float) -> np.ndarray | float:
        """Derivative N'(v) = 1 − 3 v²."""
        return 1.0 - 3.0 * v * v

    def recovery(self, v: np.ndarray | float, w: np.ndarray | float) -> np.ndarray | float:
        """Right-hand side of the w equation, τ (v + a − b w)."""
        return self.tau * (v + self.a - self.b * w)

    def replace(self, **changes: float) -> FHNParameters:
        """A copy with some fields changed (validated again)."""
        return FHNParameters(**{**asdict(self), **changes})

    def as_dict(self) -> dict[str, float]:
        return asdict(self)
