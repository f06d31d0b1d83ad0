"""The model contract: what every model is, and the parts of the standard form it provides.

A model advances a state array y (its owned rows; any shape) whose named fields on the mesh
nodes it can compute. Its equation is written in one of the standard forms, and it says which
parts it provides in `parts`; each time-stepping scheme (`fem_fhn.timestepping.SCHEMES`) needs
some of them:

    "rhs"                    dy/dt = F(t, y)                      explicit RK, adaptive
    "explicit" + "implicit"  dy/dt = E(t, y) − M⁻¹ L y_0          IMEX RK
    "transport" + "flow"     dy/dt = T(t, y) + R(y)               AP splitting

and, optionally, "history": state besides y that follows the solution step by step (the
connectome's delayed region means), told of every completed step by `after_step(t, y)`, saved
with `history_state()` and given back with `restore_history(state)`; only the schemes with fixed
steps honour it.

In the second form L is linear and stiff and acts on field 0 only, M is a mass matrix (the local
model's diffusion M⁻¹ A, the network's (1/ε) graph Laplacian); the model's `implicit_part`
solves (M + c L) x = M r. In the third, R is a stiff relaxation whose flow the model computes
exactly (the kinetic model's `relax`), T its transport.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

#: the method(s) each part of the standard form stands for
PART_METHODS = {
    "rhs": ("rhs",),
    "explicit": ("explicit",),
    "implicit": ("implicit_part",),
    "transport": ("transport_rhs",),
    "flow": ("relax",),
    "history": ("after_step", "history_state", "restore_history"),
}


@runtime_checkable
class Model(Protocol):
    """What every model is.

    Attributes:
        comm: the MPI communicator of its state.
        fields: the names `fields_of` returns.
        parts: the parts of the standard form it provides (keys of `PART_METHODS`).
    """

    comm: object
    fields: tuple[str, ...]
    parts: frozenset[str]

    def fields_of(self, y: np.ndarray) -> dict[str, np.ndarray]:
        """The named fields of state y at the owned mesh nodes."""
        ...


class ImplicitPart(Protocol):
    """The stiff linear part I(y) = −M⁻¹ L y_0 of a model, for the IMEX engine."""

    def solve(self, r: np.ndarray, c: float, guess: np.ndarray | None = None) -> np.ndarray:
        """x with (M + c L) x = M r, i.e. (I + c M⁻¹ L) x = r (c > 0; owned values)."""
        ...

    def apply(self, v: np.ndarray) -> np.ndarray:
        """−M⁻¹ L v."""
        ...

    def info(self) -> dict:
        """Solver counters for summary.json."""
        ...


def missing_methods(model: object) -> list[str]:
    """The methods a model's declared `parts` promise but it lacks (empty: it keeps them)."""
    return [
        f"{part}: {name}"
        for part in sorted(getattr(model, "parts", ()))
        for name in PART_METHODS.get(part, (f"unknown part {part!r}",))
        if not callable(getattr(model, name, None))
    ]
