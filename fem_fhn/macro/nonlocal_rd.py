"""The macroscopic nonlocal FitzHugh–Nagumo system (docs/science.md), in two equivalent forms.

    ∂_t V − L_ρ0(V) = N(V) − W + I_ext(x, t),     ∂_t W = τ (V + a − b W),
    L_ρ0(V)(x) = ∫ Ψ(x − x') (V(x') − V(x)) ρ0(x') dx',     N(V) = V − V³,

discretised at the P1 nodes with the reference quadrature. Where ρ0 vanishes V is not
defined from kinetic moments; the weighted form evolves Z = (ρ0 V, ρ0 W) instead:

    ∂_t (ρ0 V) = ρ0 L_ρ0(V) + ρ0 N(V) − ρ0 W + ρ0 I_ext,   ∂_t (ρ0 W) = τ (ρ0 V + a ρ0 − b ρ0 W),

with ρ0 L_ρ0(V) = ρ0 K(Z_V) − Z_V K ρ0 and ρ0 N(V) = Z_V − Z_V³/ρ0² (zero where ρ0 = 0).

State arrays have shape (2, n_owned); the models hold no time step (see `fem_fhn.timestepping`).

An optional connectome coupling (`fem_fhn.connectome`) adds G Σ_l W_kl (V̄_l(t − d_kl) − V̄_k(t))
to ∂_t V (ρ0 times it to ∂_t (ρ0 V)); its delay history advances in `after_step`, which the
fixed-step integrators call once per completed step ("history" in `fem_fhn.standard_form`).
"""

from __future__ import annotations

import numpy as np
from mpi4py import MPI

from fem_fhn.macro.stimulus import Stimulus
from fem_fhn.nonlocal_ import NonlocalLaplacian
from fem_fhn.params import FHNParameters
from fem_fhn.profiling import phases
from fem_fhn.reaction import FHNReaction, Reacting


class NonlocalFHN(Reacting):
    """∂_t V = L_ρ0(V) + N(V) − W + I_ext,  ∂_t W = τ (V + a − b W)  on the owned nodes.

    Args:
        laplacian: L_ρ0 on the nodes (holds K and ρ0).
        params: FHN parameters (params.I_ext is added to `stimulus`).
        stimulus: optional space–time current I_ext(x, t).
    """

    fields = ("V", "W")
    parts = frozenset({"rhs"})

    def __init__(
        self,
        laplacian: NonlocalLaplacian,
        params: FHNParameters,
        stimulus: Stimulus | None = None,
    ):
        self.laplacian = laplacian
        self.fhn = FHNReaction(params, stimulus)
        self.comm = laplacian.op.comm
        self.rho0 = laplacian.rho0
        self.coupling = None

    # --- connectome coupling (fem_fhn.connectome): the hooks a delayed coupling needs ---

    def couple(self, coupling, y0: np.ndarray) -> None:
        """Add a connectome coupling; its history starts from the initial state y0. The model
        then provides the "history" part of the standard form (`after_step`, `history_state`,
        `restore_history`), which only the fixed-step schemes honour."""
        self.coupling = coupling
        self.parts = type(self).parts | {"history"}
        coupling.start(self.fields_of(y0)["V"])

    def after_step(self, t: float, y: np.ndarray) -> None:
        """Called by the fixed-step integrators after each completed step (state y at time t)."""
        if self.coupling is not None:
            self.coupling.advance_history(t, self.fields_of(y)["V"])

    def history_state(self) -> dict[str, np.ndarray]:
        """State besides y (the coupling's delay history; the same on every rank)."""
        return {} if self.coupling is None else self.coupling.history_state()

    def restore_history(self, state: dict[str, np.ndarray]) -> None:
        if self.coupling is not None:
            self.coupling.restore(state)

    @phases.timing("right-hand sides")
    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        dy = self.fhn.rates(t, y[0], y[1])
        dy[0] += self.laplacian(y[0])
        if self.coupling is not None:
            self.coupling.apply(t, y[0], dy[0])
        return dy

    def max_stable_dt(self, v_max: float = 1.5, connectome_rate: float | None = None) -> float:
        """Explicit-RK step bound: 1 / (2 max K|Ψ|ρ0 + max|N'| + r_C) (for |V| ≤ v_max), r_C the
        connectome coupling's rate 2 |G| max_k Σ_l |W_kl| (`fem_fhn.connectome.coupling_rate`).

        Args:
            v_max: the bound on |V| the reaction's rate is taken at.
            connectome_rate: r_C of a coupling not added yet (None: that of the coupling added
                with `couple`, 0 without one).
        """
        local = float(np.max(np.abs(self.laplacian.K_rho0), initial=0.0))
        kernel = self.comm.allreduce(local, op=MPI.MAX)
        if connectome_rate is None:
            connectome_rate = 0.0 if self.coupling is None else self.coupling.max_rate()
        return 1.0 / (2.0 * kernel + FHNReaction.max_rate(v_max) + connectome_rate)


class WeightedNonlocalFHN(NonlocalFHN):
    """The same system for Z = (ρ0 V, ρ0 W), well defined where ρ0 = 0 (Z stays 0 there)."""

    fields = ("V", "W")  # `fields_of` returns V and W; the state holds ρ0 V and ρ0 W

    def __init__(self, laplacian, params, stimulus=None):
        super().__init__(laplacian, params, stimulus)
        self.positive = self.rho0 > 0
        self._inv_rho = np.where(self.positive, 1.0 / np.where(self.positive, self.rho0, 1.0), 0.0)

    @phases.timing("right-hand sides")
    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        Z_V, Z_W = y
        p = self.params
        dy = np.empty_like(y)
        dy[0] = (
            self.laplacian.weighted(Z_V)
            + Z_V
            - Z_V**3 * self._inv_rho**2
            - Z_W
            + self.rho0 * self.current(t)
        )
        if self.coupling is not None:
            dy[0] += self.rho0 * self.coupling.term(t, Z_V * self._inv_rho)
        dy[1] = p.tau * (Z_V + p.a * self.rho0 - p.b * Z_W)
        return dy

    def state(self, V: np.ndarray, W: np.ndarray) -> np.ndarray:
        return np.stack([self.rho0 * V, self.rho0 * W]).astype(float)

    def fields_of(self, y: np.ndarray) -> dict[str, np.ndarray]:
        """V and W (zero where ρ0 = 0, where they are undefined)."""
        return {"V": y[0] * self._inv_rho, "W": y[1] * self._inv_rho}


MODEL_FORMS = {"V": NonlocalFHN, "Z": WeightedNonlocalFHN}
