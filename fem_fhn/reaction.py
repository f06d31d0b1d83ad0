"""The FitzHugh–Nagumo reaction, one component composed into every model.

    R_V(V, W, x, t) = N(V) − W + I_ext + I(x, t),   N(V) = V − V³,
    R_W(V, W)       = τ (V + a − b W).

Its explicit step bound is 1/max|N'(V)| = 1/max(1, 3 v_max² − 1) for |V| ≤ v_max.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from fem_fhn.params import FHNParameters

if TYPE_CHECKING:
    from fem_fhn.macro.stimulus import Stimulus


@dataclass
class FHNReaction:
    """The FHN reaction with its parameters and optional stimulus I(x, t).

    Attributes:
        params: a, b, τ and the constant current I_ext.
        stimulus: the space–time current I(x, t) on the model's points, or None.
    """

    params: FHNParameters
    stimulus: Stimulus | None = None

    def current(self, t: float) -> np.ndarray | float:
        """I_ext + I(x, t): the constant current of the parameters plus the stimulus."""
        I_ext = self.params.I_ext
        return I_ext if self.stimulus is None else I_ext + self.stimulus(t)

    def rates(self, t: float, V: np.ndarray, W: np.ndarray) -> np.ndarray:
        """(R_V, R_W) stacked, shape (2, n)."""
        p = self.params
        return np.stack([p.N(V) - W + self.current(t), p.recovery(V, W)])

    @staticmethod
    def max_rate(v_max: float = 1.5) -> float:
        """max(1, 3 v_max² − 1): the largest |N'(V)| for |V| ≤ v_max (at least 1)."""
        return max(1.0, 3.0 * v_max**2 - 1.0)


class Reacting:
    """Models whose V and W react through an `FHNReaction` held as `fhn`; by default their state
    is the rows (V, W) at their points (models with another state override `state`/`fields_of`)."""

    fhn: FHNReaction

    @property
    def params(self) -> FHNParameters:
        return self.fhn.params

    @property
    def stimulus(self) -> Stimulus | None:
        return self.fhn.stimulus

    def current(self, t: float) -> np.ndarray | float:
        """I_ext(x, t) including the constant params.I_ext."""
        return self.fhn.current(t)

    def state(self, V: np.ndarray, W: np.ndarray) -> np.ndarray:
        """The state array (V, W), shape (2, n)."""
        return np.stack([V, W]).astype(float)

    def fields_of(self, y: np.ndarray) -> dict[str, np.ndarray]:
        return {"V": y[0], "W": y[1]}
