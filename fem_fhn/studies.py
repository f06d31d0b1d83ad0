"""Studies that run several models on one setup and compare them.

`limit_study` shows the hydrodynamic limit (DESIGN §1.5): for each ε it runs the kinetic model and
records the relative entropy

    H(t) = ∫ ρ0 (|V − V^ε|² + |W − W^ε|²)/2 dx

against the macroscopic nonlocal model run from the same initial moments with the integrator the
kinetic splitting reduces to as ε → 0 (same Δt, so time-discretisation errors cancel). A run at
ε = 1e-8 measures the velocity-grid floor H₀; the rate of sup_t H against ε is fitted only where
H ≥ 10 H₀ (DESIGN §6). The theorem's bound is H ≤ C ε^{1/(d+6)}; about ε² is expected.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np
from mpi4py import MPI

from fem_fhn.config import ConfigError, RunConfig, load_config
from fem_fhn.io import write_json
from fem_fhn.kinetic.limit import entropy_history, fit_rate
from fem_fhn.macro import NonlocalFHN
from fem_fhn.nonlocal_ import NonlocalLaplacian
from fem_fhn.params import ParameterError
from fem_fhn.runner import build, check_output_dir
from fem_fhn.simulation import SimulationError
from fem_fhn.timestepping import make_integrator

log = logging.getLogger("fem_fhn")

FLOOR_EPS = 1e-8
FLOOR_FACTOR = 10.0


def _kinetic_config(path: str | Path) -> RunConfig:
    config = load_config(path)
    if config.kinetic is None:
        raise ConfigError(f"{path}: the limit study needs a [kinetic] table")
    return config


def limit_study(
    config_path: str | Path, eps: list[float], out_dir: str | Path, comm: MPI.Comm | None = None
) -> dict:
    """Run the kinetic model for each ε and the macroscopic model; write the study to out_dir.

    Writes limit_study.csv (eps, t, relative_entropy; the floor run included), limit_rate.json
    (sup_t H per ε, the floor, the fit window and rate, the theorem's exponent 1/(d+6)) and
    limit_rate.png (log-log plot with the ε^{1/(d+6)} slope beside the data).

    Raises:
        ConfigError: bad config or ε list (nothing written).
        SimulationError: fewer than 3 ε values clear 10 H₀ (files written, rate missing).
    """
    comm = MPI.COMM_WORLD if comm is None else comm
    eps = sorted({float(e) for e in eps}, reverse=True)
    if not eps or min(eps) <= 0:
        raise ConfigError(f"--eps {eps} is not allowed: one or more values > 0")
    config = _kinetic_config(config_path)
    out = Path(out_dir)
    check_output_dir(out)
    setup = build(config, comm)
    kinetic, stepper, f0 = setup.model, setup.integrator, setup.y0
    fields0 = kinetic.fields_of(f0)
    macro = NonlocalFHN(NonlocalLaplacian(kinetic.op, setup.rho0), config.model, kinetic.stimulus)
    integrator = make_integrator(stepper.macro_limit, stepper.dt)
    y0 = macro.state(fields0["V"], fields0["W"])
    times = np.linspace(0.0, config.time.t_end, config.time.n_outputs + 1)
    histories = {}
    for e in [*eps, FLOOR_EPS]:
        if comm.rank == 0:
            log.info("limit study: eps = %g", e)
        histories[e] = entropy_history(
            kinetic.with_eps(e), stepper, f0, macro, integrator, y0, times, setup.nodes.masses
        )
    sup = np.array([histories[e].max() for e in eps])
    floor = float(histories[FLOOR_EPS].max())
    dim = setup.nodes.dim
    result = {
        "config": str(config_path),
        "dim": dim,
        "eps": eps,
        "sup_relative_entropy": sup.tolist(),
        "floor_eps": FLOOR_EPS,
        "floor": floor,
        "floor_factor": FLOOR_FACTOR,
        "theorem_rate": 1.0 / (dim + 6),
        "dt": stepper.dt,
        "macro_integrator": stepper.macro_limit,
        "grid": kinetic.info()["grid"],
        "times": times.tolist(),
        "rate": None,
        "window": [],
    }
    failure = None
    try:
        fit = fit_rate(np.array(eps), sup, floor, FLOOR_FACTOR)
        result.update(rate=fit.rate, window=fit.window.tolist())
    except ParameterError as err:
        failure = str(err)
        result["error"] = failure
    if comm.rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "limit_study.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["eps", "t", "relative_entropy"])
            for e, history in histories.items():
                writer.writerows([e, t, h] for t, h in zip(times, history, strict=True))
        result["plot"] = str(limit_plot(result, out / "limit_rate.png"))
    write_json(out / "limit_rate.json", result, comm)
    if failure is not None:
        raise SimulationError(f"limit study written to {out}/ but no rate: {failure}")
    return result


def limit_plot(result: dict, out_png: Path) -> Path:
    """log-log sup_t H against ε, the fitted line, the floor and the theorem's slope."""
    from fem_fhn.plot import figure, save

    eps, sup = np.array(result["eps"]), np.array(result["sup_relative_entropy"])
    fig = figure((6.4, 4.8))
    ax = fig.subplots()
    ax.loglog(eps, sup, "o-", label="sup_t H(ε)")
    ax.axhline(result["floor"], color="grey", ls=":", label=f"grid floor H₀ (ε = {FLOOR_EPS:g})")
    e_ref = np.array([eps.min(), eps.max()])
    p = result["theorem_rate"]
    ax.loglog(
        e_ref,
        sup.max() * (e_ref / eps.max()) ** p,
        "k--",
        label=f"theorem's bound slope ε^(1/(d+6)) = ε^{p:.3f}",
    )
    if result["rate"] is not None:
        window = np.array(result["window"])
        c = np.exp(np.mean(np.log(sup[np.isin(eps, window)]) - result["rate"] * np.log(window)))
        ax.loglog(
            window,
            c * window ** result["rate"],
            "r-",
            lw=2,
            label=f"fit over H ≥ {FLOOR_FACTOR:g} H₀: slope {result['rate']:.2f}",
        )
    ax.set_xlabel("ε")
    ax.set_ylabel("sup_t ∫ρ0(|V−V^ε|²+|W−W^ε|²)/2")
    ax.set_title("Hydrodynamic limit: kinetic → macroscopic")
    ax.legend(fontsize=8)
    return save(fig, out_png)
