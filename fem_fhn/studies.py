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


def compare(
    config_path: str | Path, ns: list[int], out_dir: str | Path, comm: MPI.Comm | None = None
) -> dict:
    """Network (for each n) against the kinetic and macroscopic models on one setup.

    The config holds a [network] table (ε, profile, neighbours, seed, ...) and optionally a
    [kinetic] table. For each n the short-range radius is r(n) = `radius_for(n, neighbours)`
    (about `neighbours` particles within r: r ∝ n^{-1/d}), unless [network] radius is a number;
    the particles' initial spread is the kinetic (σ_v, σ_w) when [kinetic] is given. The
    macroscopic model runs with RK4 at the network's Δt. At every output time the distance
    D = (∫ρ0(|V_a − V_b|² + |W_a − W_b|²)/2)^{1/2} between moments on the mesh is recorded.

    Writes compare.csv (model, n, r, t, distance to the macroscopic and to the kinetic moments),
    compare.json (sup_t distances per n, fitted log-log slopes against n, r(n)) and compare.png.
    """
    from dataclasses import replace

    from fem_fhn.analysis import convergence_rate, relative_entropy
    from fem_fhn.runner import prepare

    comm = MPI.COMM_WORLD if comm is None else comm
    ns = sorted({int(n) for n in ns})
    if not ns or min(ns) < 2:
        raise ConfigError(f"--n {ns} is not allowed: particle counts >= 2")
    config = load_config(config_path)
    if config.network is None:
        raise ConfigError(f"{config_path}: compare needs a [network] table")
    out = Path(out_dir)
    check_output_dir(out)
    prepared = prepare(config, comm)
    nodes, rho0, _ = prepared
    times = np.linspace(0.0, config.time.t_end, config.time.n_outputs + 1)
    references = {}  # name -> list of (V, W) at the output times
    net = config.network
    if config.kinetic is not None:
        kin = build(replace(config, network=None), comm, prepared, "kinetic")
        references["kinetic"] = _history(kin, times)
        net = replace(net, spread_v=config.kinetic.sigma_v, spread_w=config.kinetic.sigma_w)
    dt = config.time.dt
    macro_time = replace(config.time, scheme="rk4")
    macro = build(
        replace(config, network=None, kinetic=None, time=macro_time), comm, prepared, "macro"
    )
    references["macro"] = _history(macro, times)

    def distance(a, b) -> float:
        H = relative_entropy(nodes.masses, rho0, a[0], a[1], b[0], b[1], comm)
        return float(np.sqrt(max(H, 0.0)))

    rows, result = [], {"config": str(config_path), "dt": dt, "n": ns, "radius": [], "sup": {}}
    if "kinetic" in references:
        d = [
            distance(k, m) for k, m in zip(references["kinetic"], references["macro"], strict=True)
        ]
        rows += [("kinetic", "", "", t, di, "") for t, di in zip(times, d, strict=True)]
        result["kinetic_vs_macro_sup"] = max(d)
    for n in ns:
        if comm.rank == 0:
            log.info("compare: network n = %d", n)
        setup = build(
            replace(config, kinetic=None, network=replace(net, n=n)), comm, prepared, "network"
        )
        history = _history(setup, times)
        radius = setup.info["radius"]
        result["radius"].append(radius)
        dist = {
            name: [distance(h, r) for h, r in zip(history, ref, strict=True)]
            for name, ref in references.items()
        }
        for name, values in dist.items():
            result["sup"].setdefault(name, []).append(max(values))
        for k, t in enumerate(times):
            rows.append(
                (
                    "network",
                    n,
                    radius,
                    t,
                    dist["macro"][k],
                    dist.get("kinetic", [""] * len(times))[k],
                )
            )
    if len(ns) >= 2:
        result["slope"] = {
            name: convergence_rate(ns, sup).rate
            for name, sup in result["sup"].items()
            if all(s > 0 for s in sup)
        }
    if comm.rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "compare.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["model", "n", "r", "t", "distance_to_macro", "distance_to_kinetic"])
            writer.writerows(rows)
        result["plot"] = str(compare_plot(result, out / "compare.png"))
    write_json(out / "compare.json", result, comm)
    return result


def _history(setup, times: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Nodal (V, W) of a built model at the output times."""
    y, out = setup.y0, []
    for k, t in enumerate(times):
        if k > 0:
            _, y, _ = setup.integrator.advance(setup.model, times[k - 1], y, t)
        fields = setup.model.fields_of(y)
        out.append((fields["V"].copy(), fields["W"].copy()))
    return out


def compare_plot(result: dict, out_png: Path) -> Path:
    """log-log sup_t distance of the network moments against n, with an n^{-1/2} guide."""
    from fem_fhn.plot import figure, save

    ns = np.array(result["n"], dtype=float)
    fig = figure((6.4, 4.8))
    ax = fig.subplots()
    for name, sup in result["sup"].items():
        slope = result.get("slope", {}).get(name)
        label = f"network vs {name}" + ("" if slope is None else f" (slope {slope:.2f})")
        ax.loglog(ns, sup, "o-", label=label)
    first = max(s[0] for s in result["sup"].values())
    ax.loglog(ns, first * (ns / ns[0]) ** -0.5, "k--", label="n^(-1/2)")
    if "kinetic_vs_macro_sup" in result:
        ax.axhline(result["kinetic_vs_macro_sup"], color="grey", ls=":", label="kinetic vs macro")
    ax.set_xlabel("n (neurons)")
    ax.set_ylabel("sup_t D(moments)")
    ax.set_title("Network → mean field")
    ax.legend(fontsize=8)
    return save(fig, out_png)
