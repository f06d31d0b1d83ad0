"""Asymptotic-preserving splitting for the kinetic model (docs/discretisation.md).

One step of size Δt (Strang splitting):

    f ← R(Δt/2) f,    f ← T_SSP(Δt) f,    f ← R(Δt/2) f,

with R the exact relaxation flow (cloud-in-cell remap, `KineticFHN.relax`) and T_SSP one SSP-RK2
(Heun / Shu–Osher) or SSP-RK3 step of the transport (`KineticFHN.transport_rhs`); "lie" splitting
is f ← T_SSP(Δt) R(Δt) f. The closing half relaxation of a step and the opening half of the next
are applied together (one exact flow over Δt). Steps are equal, n = ⌈(t_target − t)/dt⌉ of them,
so every target time is hit exactly (the interface of `fem_fhn.timestepping`:
`advance(model, t, f, t_target) -> (t_target, f, n_steps)`).

Time step. The transport is positive and stable under Δt (A_v/Δv + A_w/Δw + D/Δv²) ≤ 1/2 with A the
drift-speed bounds of the model (`KineticFHN.speeds`), which do not involve ε. A larger Δt raises
ParameterError naming the largest stable Δt (no silent sub-stepping).

Per node, each step chooses where the relaxation goes and which v-flux the transport uses:

    resolved:  ε = ∞, or the noise keeps f at least two cells wide in v against the relaxation,
               D ε/ρ_i ≥ (2 Δv)² (the variance of the Ornstein–Uhlenbeck balance).
    drift:     resolved, and the relaxation velocity (bounded by (ρ_i/ε)(v_max − v_min)) fits in
               the CFL budget: Δt (A_v,i + ρ_i L/ε)/Δv + Δt A_w/Δw + Δt D/Δv² ≤ 1/2. The
               relaxation is then part of the drift (MUSCL, no splitting error, no remap
               diffusion): docs/discretisation.md's remedy for e^{−ρΔt/ε} ≈ 1.
    remap:     otherwise. f is then concentrated in v (one or two cells per w-row, or about to
               be), and the transport uses the donor-cell fluxes, whose moment rates are exactly
               the cell-centre quadratures Σ a_v(v_k, w_l) f_kl ΔvΔw and Σ a_w(v_k, w_l) f_kl ΔvΔw
               (`fem_fhn.kinetic.transport`).

`relaxation` = "remap" or "drift" forces the first choice ("drift" raises if it does not fit), and
`v_flux` = "muscl" or "donor" forces the second ("auto": donor exactly on the remapped nodes);
the donor choice applies to the w-flux too.

Asymptotic preservation. As ε → 0 every node is remapped and the remap puts each w-row's mass on
the two cells around V; the relaxation conserves ρ, j and q = ∫ f w; the donor transport moves
j by Σ a_v(v_k, w_l) f_kl ΔvΔw = ρ (N(V) − W + I + L_ρ(V)) + O(Δv²) (only N is nonlinear, and the
two-cell variance is ≤ Δv²/4) and q by the donor w-flux, exactly τ(ρV + aρ − b q). So, on the
moments, an SSP-RK2 transport step is Heun's method for the macroscopic model
(`make_integrator("heun")`) and SSP-RK3 is its "ssprk3" tableau (each stage recomputes Ψ*j), with
Δt free of ε and O(Δv² + Δw²) velocity-grid errors. Strang splitting is second order for ε ≫ Δt;
the order drops when ε ~ Δt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from mpi4py import MPI

from fem_fhn.kinetic import transport
from fem_fhn.params import ParameterError, require
from fem_fhn.timestepping import equal_steps

__all__ = [
    "MACRO_LIMIT",
    "RELAXATION_MODES",
    "SPLITTINGS",
    "TRANSPORT_SCHEMES",
    "V_FLUXES",
    "APSplitting",
]

TRANSPORT_SCHEMES = ("ssprk2", "ssprk3")
SPLITTINGS = ("strang", "lie")
RELAXATION_MODES = ("auto", "remap", "drift")
V_FLUXES = ("auto", "muscl", "donor")

#: the macroscopic integrator (fem_fhn.timestepping) each transport scheme reduces to as ε → 0
MACRO_LIMIT = {"ssprk2": "heun", "ssprk3": "ssprk3"}

#: a node is resolved in v when the noise keeps f at least this many cells wide
RESOLVED_CELLS = 2.0


def _choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    require(value in allowed, key, value, f"one of {', '.join(allowed)}")


@dataclass
class APSplitting:
    """Strang (or Lie) splitting of exact relaxation and SSP-RK transport (module docstring).

    Attributes:
        dt: largest step; steps are equal and hit each target time.
        transport_scheme: "ssprk2" or "ssprk3".
        splitting: "strang" or "lie".
        relaxation: "auto", "remap" or "drift".
        v_flux: "auto", "muscl" or "donor".
    """

    dt: float
    transport_scheme: str = "ssprk2"
    splitting: str = "strang"
    relaxation: str = "auto"
    v_flux: str = "auto"
    last_drift_nodes: int = field(default=0, init=False)
    fixed_step = True

    def __post_init__(self) -> None:
        ok = isinstance(self.dt, int | float) and math.isfinite(self.dt) and self.dt > 0
        require(ok, "time.dt", self.dt, "dt > 0")
        _choice("kinetic.transport_scheme", self.transport_scheme, TRANSPORT_SCHEMES)
        _choice("kinetic.splitting", self.splitting, SPLITTINGS)
        _choice("kinetic.relaxation", self.relaxation, RELAXATION_MODES)
        _choice("kinetic.v_flux", self.v_flux, V_FLUXES)

    @property
    def splits_exactly(self) -> bool:
        """Strang splitting merges the half relaxations of consecutive steps inside one
        `advance`: an interval advanced in pieces does not repeat the same steps."""
        return self.splitting != "strang"

    @property
    def macro_limit(self) -> str:
        """Name of the macroscopic integrator this splitting reduces to as ε → 0."""
        return MACRO_LIMIT[self.transport_scheme]

    def n_steps(self, t: float, t_target: float) -> int:
        return equal_steps(self.dt, t, t_target)

    def check_cfl(self, model, t: float, h: float) -> np.ndarray:
        """Per-node CFL number of the transport without relaxation; raises if any exceeds 1/2."""
        grid = model.grid
        speed_v, speed_w = model.speeds(t)
        base = h * (speed_v / grid.dv + speed_w / grid.dw + model.diffusion / grid.dv**2)
        worst = model.comm.allreduce(float(base.max(initial=0.0)), op=MPI.MAX)
        if worst > transport.CFL * (1 + 1e-12):
            raise ParameterError(
                f"time.dt = {h:g} is not allowed: the kinetic transport needs dt <= "
                f"{model.max_stable_dt(t):.6g} (CFL: dt (A_v/dv + A_w/dw + D/dv^2) <= 1/2 "
                f"with A_v = {float(speed_v.max(initial=0)):.4g}, A_w = {speed_w:.4g})"
            )
        return base

    def modes(self, model, t: float, h: float) -> tuple[np.ndarray, np.ndarray]:
        """(drift, donor) per node: relaxation in the drift, and donor-cell v-flux.

        Raises:
            ParameterError: if h exceeds the transport CFL bound (or, with "drift", the bound
                including the relaxation velocity).
        """
        base = self.check_cfl(model, t, h)
        n = base.shape[0]
        if math.isinf(model.eps):
            drift = np.zeros(n, dtype=bool)
            remap = drift
        else:
            fits = base + h * model.relaxation_speed() / model.grid.dv <= transport.CFL
            if self.relaxation == "drift":
                if not model.comm.allreduce(bool(fits.all()), op=MPI.LAND):
                    raise ParameterError(
                        f"time.dt = {h:g} is not allowed with kinetic.relaxation = 'drift' at "
                        f"eps = {model.eps:g}: the relaxation velocity needs dt <= "
                        f"{model.max_stable_dt(t, with_relaxation=True):.6g} "
                        "(use 'auto' or 'remap')"
                    )
                drift = np.ones(n, dtype=bool)
            elif self.relaxation == "remap":
                drift = np.zeros(n, dtype=bool)
            else:
                spread = model.diffusion * model.eps / np.maximum(model.rho0, 1e-300)
                drift = fits & (spread >= (RESOLVED_CELLS * model.grid.dv) ** 2)
            remap = ~drift
        if self.v_flux == "auto":
            donor = remap
        else:
            donor = np.full(n, self.v_flux == "donor")
        return drift, donor

    def _transport(self, model, t: float, f: np.ndarray, h: float, rate, donor) -> np.ndarray:
        """One SSP-RK step (Shu–Osher form) of the transport."""

        def euler(s: float, g: np.ndarray) -> np.ndarray:
            out = model.transport_rhs(s, g, rate, donor)
            out *= h
            out += g
            return out

        if self.transport_scheme == "ssprk2":
            f2 = euler(t + h, euler(t, f))
            f2 += f
            f2 *= 0.5
            return f2
        f2 = euler(t + h, euler(t, f))
        f2 *= 0.25
        f2 += 0.75 * f
        f3 = euler(t + 0.5 * h, f2)
        f3 *= 2.0 / 3.0
        f3 += f / 3.0
        return f3

    def step(self, model, t: float, f: np.ndarray, h: float) -> np.ndarray:
        """One splitting step of size h from time t."""
        return self._run(model, t, f, 1, h)

    def advance(self, model, t: float, f: np.ndarray, t_target: float):
        """Advance f from t to t_target in equal steps ≤ dt; returns (t_target, f, n_steps).

        The relaxation has no communication; the transport stages (Ψ*j) and the CFL check are
        collective, so every rank must call this together.
        """
        n = self.n_steps(t, t_target)
        return t_target, self._run(model, t, f, n, (t_target - t) / n), n

    def _run(self, model, t: float, f: np.ndarray, n: int, h: float) -> np.ndarray:
        pending, pending_nodes = 0.0, None
        for i in range(n):
            ti = t + i * h
            drift, donor = self.modes(model, ti, h)
            remap = np.zeros_like(drift) if math.isinf(model.eps) else ~drift
            self.last_drift_nodes = int(drift.sum())
            rate = np.where(drift, model.relax_rate(), 0.0)
            if self.splitting == "lie":
                if remap.any():
                    f = model.relax(f, h, remap)
                f = self._transport(model, ti, f, h, rate, donor)
                continue
            if pending_nodes is not None and not np.array_equal(pending_nodes, remap):
                f = model.relax(f, pending, pending_nodes)
                pending = 0.0
            if remap.any():
                f = model.relax(f, pending + 0.5 * h, remap)
            f = self._transport(model, ti, f, h, rate, donor)
            pending, pending_nodes = 0.5 * h, remap
        if pending_nodes is not None and pending_nodes.any():
            f = model.relax(f, pending, pending_nodes)
        return f
