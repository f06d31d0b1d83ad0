"""External current I_ext(x, t) on the owned nodes: a constant, an expression, or a callable."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fem_fhn.expressions import Expression


class Stimulus:
    """I_ext(x, t) evaluated on fixed points.

    Args:
        source: a number; an `Expression` of x, y, z, t; or a callable f(coords, t) returning an
            array of shape (n,) (or a scalar).
        coords: owned node coordinates, shape (n, dim).
    """

    def __init__(self, source: float | Expression | Callable, coords: np.ndarray):
        self.source = source
        self.coords = coords
        n, dim = coords.shape
        self._xyz = {name: coords[:, i] if i < dim else np.zeros(n) for i, name in enumerate("xyz")}
        self._constant = None
        if isinstance(source, int | float):
            self._constant = float(source)
        elif isinstance(source, Expression) and not source.uses_time:
            self._constant = np.broadcast_to(source(**self._xyz), (n,)).copy()

    def __call__(self, t: float) -> np.ndarray | float:
        if self._constant is not None:
            return self._constant
        if isinstance(self.source, Expression):
            return self.source(**self._xyz, t=t)
        return self.source(self.coords, t)


def total_current(I_ext: float, stimulus: Stimulus | None, t: float) -> np.ndarray | float:
    """I_ext + I(x, t): the constant current of the parameters plus the optional stimulus."""
    return I_ext if stimulus is None else I_ext + stimulus(t)
