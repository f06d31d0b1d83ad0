"""A fifth model kind, defined and registered here only: nonlocal diffusion with linear decay.

    ∂_t u = L_ρ0(u) − k u,     L_ρ0(u)(x) = ∫ Ψ(x − x') (u(x') − u(x)) ρ0(x') dx',

with k from its own table [decay] rate. L_ρ0 is symmetric in the ρ0-weighted sum, so
∫ρ0 u(t) = e^{−kt} ∫ρ0 u(0) exactly (up to the time-stepping error). It provides the whole
right-hand side ("rhs"), so it runs with every explicit and adaptive scheme of the registry.

Run as a script it is `fem-fhn` with this model registered:

    python tests/fifth_model.py run CONFIG [--out DIR] [--restart DIR]
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mpi4py import MPI

from fem_fhn.config import register_table
from fem_fhn.nonlocal_ import NonlocalLaplacian, make_operator
from fem_fhn.params import require
from fem_fhn.registry import ModelKind, Setup, register_model

NAME = "linear-decay"


@dataclass(frozen=True)
class DecayConfig:
    """The [decay] table: the decay rate k ≥ 0."""

    rate: float = 0.5

    def __post_init__(self):
        require(self.rate >= 0, "decay.rate", self.rate, "a rate >= 0")


class LinearDecay:
    """∂_t u = L_ρ0(u) − k u on the owned mesh nodes; the state is u, shape (1, n_owned)."""

    fields = ("u",)
    parts = frozenset({"rhs"})

    def __init__(self, laplacian: NonlocalLaplacian, rate: float):
        self.laplacian, self.rate = laplacian, float(rate)
        self.comm = laplacian.op.comm

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        return (self.laplacian(y[0]) - self.rate * y[0])[None, :]

    def fields_of(self, y: np.ndarray) -> dict[str, np.ndarray]:
        return {"u": y[0]}

    def max_stable_dt(self) -> float:
        """RK step bound 1 / (2 max K|Ψ|ρ0 + k)."""
        local = float(np.max(np.abs(self.laplacian.K_rho0), initial=0.0))
        return 1.0 / (2.0 * self.comm.allreduce(local, op=MPI.MAX) + self.rate)


def build(config, nodes, rho0, kernel) -> Setup:
    """The model from [kernel], [nonlocal], [initial] V (as u) and [decay]."""
    from fem_fhn.models import integrator_for, time_step

    nl = config.nonlocal_
    op = make_operator(nodes.coords, nodes.masses, kernel, nl.method, nodes.comm, nl.tol)
    decay = config.table("decay") or DecayConfig()
    model = LinearDecay(NonlocalLaplacian(op, rho0), decay.rate)
    u0 = nodes.field(config.field_source(config.initial.V, "initial.V"), "initial.V")
    integrator = integrator_for(config, KIND, time_step(config, model))
    info = {"model": NAME, "decay": {"rate": decay.rate}}
    return Setup(KIND, nodes, rho0, model, u0[None, :], integrator, model.fields, info=info)


def physics(config, setup) -> dict:
    return {"decay.rate": setup.model.rate}


register_table("decay", DecayConfig)
KIND = register_model(
    ModelKind(NAME, build, LinearDecay.parts, "rk4", table="decay", physics=physics),
    replace=True,
)

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    from fem_fhn.cli import main

    sys.exit(main(sys.argv[1:]))
