"""Hydrodynamic limit diagnostics: relative entropy, the proof's other quantities, rates in ε.

    H(ε) = ∫ ρ0 (|V − V^ε|² + |W − W^ε|²)/2 dx ≈ Σ_i m_i ρ0_i (|V_i − V^ε_i|² + |W_i − W^ε_i|²)/2,

(V, W) the macroscopic solution and (V^ε, W^ε) the moments of the kinetic density at the same time.
The theorem bounds H by C_T ε^{1/(d+6)}; an O(ε) moment error gives H ∝ ε². On a finite velocity
grid H saturates at a floor H₀ (the grid error, measured at a tiny ε), so `fit_rate` fits
log H against log ε only over the ε with H ≥ factor · H₀. `limit_history` records H and the
other quantities of the proof (`fem_fhn.kinetic.diagnostics`) over a run.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from mpi4py import MPI

from fem_fhn.analysis import ENTROPY_PARTS, convergence_rate, entropy_split, relative_entropy
from fem_fhn.kinetic import diagnostics
from fem_fhn.params import ParameterError

__all__ = ["HISTORY_COLUMNS", "EntropyRate", "fit_rate", "limit_history", "relative_entropy"]


class EntropyRate(NamedTuple):
    """Least-squares slope of log H against log ε over the ε values in `window`."""

    rate: float
    window: np.ndarray


def fit_rate(
    eps: np.ndarray, H: np.ndarray, floor: float, factor: float = 10.0, min_points: int = 3
) -> EntropyRate:
    """Rate p of H ≈ C ε^p, fitted only where H ≥ factor · floor.

    Args:
        eps: the ε values (> 0).
        H: relative entropies H(ε).
        floor: the grid floor H₀ (H at a tiny ε).
        factor: how far above the floor a point must be.
        min_points: fewest points for a fit.

    Returns:
        EntropyRate(rate, window): the slope and the ε values it used (sorted decreasing).

    Raises:
        ParameterError: if fewer than `min_points` values are above factor · floor (refine the
            velocity grid to lower the floor, or add larger ε).
    """
    eps = np.asarray(eps, dtype=float)
    H = np.asarray(H, dtype=float)
    keep = (H >= factor * floor) & (eps > 0) & (H > 0)
    if keep.sum() < min_points:
        raise ParameterError(
            f"only {int(keep.sum())} of {eps.size} values of H(eps) are >= {factor:g} x the grid "
            f"floor {floor:.3g} (needs {min_points}): refine the velocity grid or add larger eps"
        )
    order = np.argsort(eps[keep])[::-1]
    e, h = eps[keep][order], H[keep][order]
    return EntropyRate(convergence_rate(e, h).rate, e)


HISTORY_COLUMNS = (
    "relative_entropy",
    *ENTROPY_PARTS,
    "dissipation",
    "dissipation_unweighted",
    "int_dissipation",
    "int_dissipation_unweighted",
    "int_error_term",
    "moment4",
    "int_moment6",
)

#: time-integrated node quantities (keys of `diagnostics.flow_integrals` and `_integrands`)
_INTEGRATED = ("dissipation", "dissipation_unweighted", "error_term", "moment6")


class _MeteredRelaxation:
    """A kinetic model whose relaxation flows are integrated in time as the splitting runs them.

    Over a span of equal steps h starting at t0, every `relax(f, s, active)` call adds, on the
    active nodes, the exact integrals over the flow of duration s (`diagnostics.flow_integrals`),
    the error term multiplied by V − V^ε with V the macroscopic solution at the step time
    t0 + k h nearest to the middle of the flow on the node's relaxation clock (the relaxation
    time it has had in the span: the merged half steps of a Strang splitting are centred on
    the step times). Everything else is the wrapped model's.
    """

    def __init__(self, model):
        self._model = model

    def __getattr__(self, name):
        return getattr(self._model, name)

    def begin_span(self, h: float, V_steps: np.ndarray) -> None:
        """Start a span of steps h; V_steps[k] is the macroscopic V at the k-th step time."""
        n = self._model.rho0.size
        self.h, self.V_steps = h, V_steps
        self.relaxed = np.zeros(n)
        self.integrals = {key: np.zeros(n) for key in _INTEGRATED}

    def relax(self, f: np.ndarray, dt: float, active: np.ndarray | None = None) -> np.ndarray:
        model = self._model
        flows = diagnostics.flow_integrals(f, model.grid, model.rho0, dt, model.eps)
        mask = np.ones(f.shape[0], dtype=bool) if active is None else np.asarray(active, bool)
        k = np.clip(np.rint((self.relaxed + 0.5 * dt) / self.h), 0, len(self.V_steps) - 1)
        V_macro = np.take_along_axis(self.V_steps, k.astype(np.int64)[None, :], 0)[0]
        flows["error_term"] = (V_macro - flows["V"]) * flows["error_term"]
        for key in _INTEGRATED:
            self.integrals[key][mask] += flows[key][mask]
        self.relaxed[mask] += dt
        return model.relax(f, dt, active)


def _integrands(model, f: np.ndarray, V_macro: np.ndarray) -> dict[str, np.ndarray]:
    """The integrated node quantities at one state (the error term times V − V^ε)."""
    nodal = diagnostics.node_diagnostics(f, model.grid, model.rho0, model.params.N)
    V_eps = diagnostics.central_moments(f, model.grid, 1)[1]
    nodal["error_term"] = (V_macro - V_eps) * nodal["error_term"]
    return nodal


def limit_history(
    kinetic,
    stepper,
    f0: np.ndarray,
    macro,
    integrator,
    y0: np.ndarray,
    times: np.ndarray,
    masses: np.ndarray,
    eta: float,
) -> dict[str, np.ndarray]:
    """The HISTORY_COLUMNS at each output time for a kinetic run and a macroscopic run.

    The kinetic run advances exactly as `stepper.advance` between output times (the macroscopic
    one with the same steps h). Time integrals ∫_0^t ∫ ... dx ds are taken

    - through the relaxation exactly, along its flows (`diagnostics.flow_integrals`): the only
      part of the splitting that dissipates, and the one whose time scale ε/ρ can be ≪ h;
    - on nodes whose relaxation the splitting puts into the transport drift (no relaxation
      flow; only with kinetic.diffusion > 0 or relaxation = "drift"), by the trapezoid rule
      over each step: the run then advances one step at a time.

    Columns: relative_entropy H = ∫ρ0^ε(|V − V^ε|² + |W − W^ε|²)/2 (ρ0^ε the kinetic density) and
    its split (`fem_fhn.analysis.entropy_split` with η = eta); dissipation ∫ρ0^ε ∫f|v − V^ε|²,
    dissipation_unweighted ∫∫f|v − V^ε|² and their time integrals; int_error_term
    ∫_0^t ∫ (V − V^ε) E(f) dx ds; moment4 ∫∫(v⁴ + w⁴)f; int_moment6 ∫_0^t ∫∫ v⁶ f.

    Args:
        kinetic, stepper, f0: the kinetic model, its `APSplitting` and initial density.
        macro, integrator, y0: the macroscopic model (`NonlocalFHN` or its weighted form), its
            fixed-step integrator (step ≥ the splitting's) and initial state.
        times: output times (times[0] is the initial time).
        masses: lumped masses of the owned nodes.
        eta: density threshold of the entropy split.

    Returns:
        {column: values at the output times} (the same on every rank).
    """
    comm = kinetic.comm
    meter = _MeteredRelaxation(kinetic)
    acc = {key: np.zeros(f0.shape[0]) for key in _INTEGRATED}
    history = {key: [] for key in HISTORY_COLUMNS}

    def record(f: np.ndarray, y: np.ndarray) -> None:
        V, W = (macro.fields_of(y)[key] for key in ("V", "W"))
        m = kinetic.moments(f)
        args = (masses, kinetic.rho0, V, W, m[3], m[4])
        history["relative_entropy"].append(relative_entropy(*args, comm))
        for key, value in entropy_split(*args, eta, comm).items():
            history[key].append(value)
        nodal = diagnostics.node_diagnostics(f, kinetic.grid, kinetic.rho0, kinetic.params.N)
        for key in ("dissipation", "dissipation_unweighted", "moment4"):
            history[key].append(diagnostics.integrate(masses, nodal[key], comm))
        for key, column in (
            ("dissipation", "int_dissipation"),
            ("dissipation_unweighted", "int_dissipation_unweighted"),
            ("error_term", "int_error_term"),
            ("moment6", "int_moment6"),
        ):
            history[column].append(diagnostics.integrate(masses, acc[key], comm))

    f, y = f0, y0
    record(f, y)
    for k in range(1, len(times)):
        t0, t1 = times[k - 1], times[k]
        n = stepper.n_steps(t0, t1)
        h = (t1 - t0) / n
        drift, _ = stepper.modes(kinetic, t0, h)
        spans = n if comm.allreduce(bool(drift.any()), op=MPI.LOR) else 1
        per_span = n // spans
        for i in range(spans):
            ta, tb = t0 + i * per_span * h, (t1 if i == spans - 1 else t0 + (i + 1) * per_span * h)
            ys = [y]
            for j in range(per_span):
                s = ta + j * h
                ys.append(
                    integrator.advance(macro, s, ys[-1], tb if j == per_span - 1 else s + h)[1]
                )
            V_steps = np.array([macro.fields_of(u)["V"] for u in ys])
            meter.begin_span(h, V_steps)
            _, f_next, _ = stepper.advance(meter, ta, f, tb)
            for key in _INTEGRATED:
                acc[key] += meter.integrals[key]
            rest = np.clip(1.0 - meter.relaxed / (tb - ta), 0.0, 1.0)
            if np.any(rest > 1e-12):
                a, b = (
                    _integrands(kinetic, f, V_steps[0]),
                    _integrands(kinetic, f_next, V_steps[-1]),
                )
                for key in _INTEGRATED:
                    acc[key] += rest * 0.5 * (tb - ta) * (a[key] + b[key])
            f, y = f_next, ys[-1]
        record(f, y)
    return {key: np.asarray(values) for key, values in history.items()}
