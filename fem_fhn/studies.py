"""Studies that run several models on one setup and compare them.

`limit_study` shows the hydrodynamic limit: for each ε it runs the kinetic model and the
macroscopic nonlocal model (the integrator the kinetic splitting reduces to as ε → 0, same Δt,
so time-discretisation errors cancel) and records over time every quantity of the proof
(`fem_fhn.kinetic.limit.limit_history`):

    H(t) = ∫ ρ0^ε (|V − V^ε|² + |W − W^ε|²)/2 dx                 theorem: ≤ C ε^{1/(d+6)}
    ∫_0^t ∫ ρ0^ε ∫ f^ε |v − V^ε|² dv dw dx ds                     ≤ C ε
    ∫_0^t ∫ ∫ f^ε |v − V^ε|² dv dw dx ds                          ≤ C ε^{2/(d+6)}
    |∫_0^t ∫ (V − V^ε) E(f^ε) dx ds|,  E = ∫ f^ε (N(v) − N(V^ε))  ≤ C ε^{1/(d+6)}
    sup_t ∫∫ (v⁴ + w⁴) f^ε,   ∫_0^t ∫∫ v⁶ f^ε                     bounded uniformly in ε.

A run at ε = 1e-8 (well-prepared data) measures each quantity's velocity-grid floor; a rate is
fitted only where the value is ≥ 10 × its floor. About ε² is expected for H (an O(ε) moment
error), ε for the dissipation integrals.

[limit_study] perturbation = c > 0 starts the kinetic runs from ill-prepared moments of size
c ε^α (`fem_fhn.kinetic.perturbation`); eta splits H over ρ0^ε > η, 0 < ρ0^ε ≤ η, ρ0^ε = 0. A
density that vanishes on part of the mesh needs the ρ0-weighted macroscopic form
([solver] form = "Z").
"""

from __future__ import annotations

import csv
import dataclasses
import logging
from pathlib import Path

import numpy as np
from mpi4py import MPI

from fem_fhn.analysis import ENTROPY_PARTS
from fem_fhn.config import ConfigError, RunConfig, load_config
from fem_fhn.io import write_json
from fem_fhn.kinetic.limit import HISTORY_COLUMNS, fit_rate, limit_history
from fem_fhn.kinetic.perturbation import perturbation_shape, perturbed_moments, theorem_exponent
from fem_fhn.macro import MODEL_FORMS
from fem_fhn.nonlocal_ import NonlocalLaplacian
from fem_fhn.params import ParameterError
from fem_fhn.runner import build, check_output_dir
from fem_fhn.simulation import SimulationError
from fem_fhn.timestepping import make_integrator

log = logging.getLogger("fem_fhn")

FLOOR_EPS = 1e-8
FLOOR_FACTOR = 10.0

#: per-ε summaries of the histories: name -> (column, reduction over t)
SUMMARIES = {
    "sup_relative_entropy": ("relative_entropy", "sup"),
    "int_dissipation": ("int_dissipation", "final"),
    "int_dissipation_unweighted": ("int_dissipation_unweighted", "final"),
    "sup_abs_int_error_term": ("int_error_term", "sup_abs"),
    "sup_moment4": ("moment4", "sup"),
    "int_moment6": ("int_moment6", "final"),
    "initial_relative_entropy": ("relative_entropy", "initial"),
    "final_relative_entropy": ("relative_entropy", "final"),
    **{f"sup_{part}": (part, "sup") for part in ENTROPY_PARTS},
}

#: the rates fitted against ε, and the theorem's exponent as a function of d
RATES = {
    "sup_relative_entropy": lambda d: 1.0 / (d + 6),
    "int_dissipation": lambda d: 1.0,
    "int_dissipation_unweighted": lambda d: 2.0 / (d + 6),
    "sup_abs_int_error_term": lambda d: 1.0 / (d + 6),
}

#: quantities the theorem bounds uniformly in ε (reported as max/min over ε)
BOUNDED = ("sup_moment4", "int_moment6")


def _kinetic_config(path: str | Path) -> RunConfig:
    config = load_config(path)
    if config.kinetic is None:
        raise ConfigError(f"{path}: the limit study needs a [kinetic] table")
    return config


def _reduce(values: np.ndarray, how: str) -> float:
    if how == "sup":
        return float(values.max())
    if how == "sup_abs":
        return float(np.abs(values).max())
    return float(values[0] if how == "initial" else values[-1])


def _runs(config: RunConfig, setup, eps: list[float], alpha: float) -> tuple[dict, dict]:
    """(runs, data): per ε the kinetic model and initial density, and the perturbation facts.

    Everything is built before any run, so bad perturbation sizes fail before any work.
    """
    kinetic, f0 = setup.model, setup.y0
    c = config.limit_study.perturbation
    runs = {FLOOR_EPS: (kinetic.with_eps(FLOOR_EPS), f0)}
    data = {}
    if c == 0:
        runs.update({e: (kinetic.with_eps(e), f0) for e in eps})
        return runs, data
    nodes, kin = setup.nodes, config.kinetic
    m = kinetic.moments(f0)
    shape = perturbation_shape(nodes.coords, nodes.comm)
    for e in eps:
        p = perturbed_moments(
            nodes.masses, kinetic.rho0, m[3], m[4], shape, c * e**alpha, nodes.comm
        )
        model = kinetic.with_eps(e, p.rho)
        try:
            f = model.state(p.V, p.W, kin.sigma_v, kin.sigma_w)
        except ParameterError as err:
            raise ConfigError(
                f"limit_study.perturbation = {c!r} is not allowed at eps = {e:g} (size "
                f"{p.size:.3g}): {err}; allowed: a smaller size, or a wider [kinetic] box"
            ) from None
        runs[e] = (model, f)
        data[e] = {"size": p.size, "rho_part": p.rho_part, "moment_part": p.moment_part}
    return runs, data


def _time_step(config: RunConfig, stepper, runs: dict):
    """The splitting with one Δt that every run's transport takes (perturbed ρ can need less)."""
    stable = min(model.max_stable_dt() for model, _ in runs.values())
    if stepper.dt <= stable * (1 + 1e-12):
        return stepper
    if config.time.dt != "auto":
        raise ConfigError(
            f"time.dt = {config.time.dt!r} is not allowed with limit_study.perturbation = "
            f"{config.limit_study.perturbation!r}: the perturbed densities need dt <= {stable:.6g}"
        )
    return dataclasses.replace(stepper, dt=0.9 * stable)


def _fit(eps: list[float], values: list[float], floor: float, theorem: float) -> dict:
    """Rate of values ≈ C ε^p above 10 × floor, next to the theorem's exponent."""
    entry = {"values": values, "floor": floor, "theorem_rate": theorem, "rate": None, "window": []}
    try:
        fit = fit_rate(np.array(eps), np.array(values), abs(floor), FLOOR_FACTOR)
        entry.update(rate=fit.rate, window=fit.window.tolist())
    except ParameterError as err:
        entry["error"] = str(err)
    return entry


def limit_study(
    config_path: str | Path, eps: list[float], out_dir: str | Path, comm: MPI.Comm | None = None
) -> dict:
    """Run the kinetic model for each ε and the macroscopic model; write the study to out_dir.

    Writes:
      limit_study.csv: eps, t and the `HISTORY_COLUMNS` at every output time (floor run included);
      limit_summary.csv: one row per ε (floor included) with the `SUMMARIES` and, for
        ill-prepared data, the perturbation size and the two parts of the theorem's hypothesis;
      limit_rate.json: per quantity its values, floor, fitted rate and window next to the
        theorem's exponent ("quantities"), the max/min over ε of the moment bounds ("bounded"),
        the perturbation facts and rates ("perturbation"), and, as before, the entropy's
        sup_relative_entropy, floor, rate, window and theorem_rate at the top level;
      limit_rate.png: one log-log panel per quantity with the theorem's slope.

    Raises:
        ConfigError: bad config, ε list or perturbation (nothing written).
        SimulationError: fewer than 3 ε values clear 10 × the entropy's floor (files written,
            rate missing).
    """
    comm = MPI.COMM_WORLD if comm is None else comm
    eps = sorted({float(e) for e in eps}, reverse=True)
    if not eps or min(eps) <= 0:
        raise ConfigError(f"--eps {eps} is not allowed: one or more values > 0")
    config = _kinetic_config(config_path)
    out = Path(out_dir)
    check_output_dir(out)
    setup = build(config, comm, kind="kinetic")
    kinetic, nodes = setup.model, setup.nodes
    dim = nodes.tdim  # the manifold's dimension (2 on a surface in space)
    ls = config.limit_study
    vacuum = comm.allreduce(int(np.sum(setup.rho0 == 0)), op=MPI.SUM)
    if vacuum and config.solver.form == "V":
        raise ConfigError(
            f"solver.form = 'V' is not allowed: rho0 vanishes at {vacuum} nodes, where V is "
            "undefined; allowed: 'Z' (the rho0-weighted macroscopic form)"
        )
    alpha = (
        theorem_exponent(dim)
        if ls.perturbation_exponent == "theorem"
        else float(ls.perturbation_exponent)
    )
    runs, data = _runs(config, setup, eps, alpha)
    stepper = _time_step(config, setup.integrator, runs)
    macro_cls = MODEL_FORMS[config.solver.form]
    macro = macro_cls(NonlocalLaplacian(kinetic.op, setup.rho0), config.model, kinetic.stimulus)
    integrator = make_integrator(stepper.macro_limit, stepper.dt)
    m0 = kinetic.moments(setup.y0)
    y0 = macro.state(m0[3], m0[4])
    times = np.linspace(0.0, config.time.t_end, config.time.n_outputs + 1)
    histories = {}
    for e in [*eps, FLOOR_EPS]:
        if comm.rank == 0:
            log.info("limit study: eps = %g", e)
        model, f0 = runs[e]
        histories[e] = limit_history(
            model, stepper, f0, macro, integrator, y0, times, nodes.masses, ls.eta
        )
    summary = {
        name: {e: _reduce(h[column], how) for e, h in histories.items()}
        for name, (column, how) in SUMMARIES.items()
    }
    quantities = {
        name: _fit(eps, [summary[name][e] for e in eps], summary[name][FLOOR_EPS], rate(dim))
        for name, rate in RATES.items()
    }
    bounded = {
        name: {
            "values": [summary[name][e] for e in eps],
            "max_over_min": max(summary[name][e] for e in eps) / min(summary[name][e] for e in eps),
        }
        for name in BOUNDED
    }
    entropy = quantities["sup_relative_entropy"]
    result = {
        "config": str(config_path),
        "dim": dim,
        "eps": eps,
        "sup_relative_entropy": entropy["values"],
        "floor_eps": FLOOR_EPS,
        "floor": entropy["floor"],
        "floor_factor": FLOOR_FACTOR,
        "theorem_rate": entropy["theorem_rate"],
        "rate": entropy["rate"],
        "window": entropy["window"],
        "quantities": quantities,
        "bounded": bounded,
        "eta": ls.eta,
        "entropy_split": {part: [summary[f"sup_{part}"][e] for e in eps] for part in ENTROPY_PARTS},
        "vacuum_nodes": vacuum,
        "macro_form": config.solver.form,
        "dt": stepper.dt,
        "macro_integrator": stepper.macro_limit,
        "grid": kinetic.info()["grid"],
        "times": times.tolist(),
    }
    if data:
        result["perturbation"] = _perturbation_report(
            ls.perturbation, alpha, dim, eps, data, summary
        )
    failure = entropy.get("error")
    if failure is not None:
        result["error"] = failure
    if comm.rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        _write_csvs(out, times, histories, summary, data)
        result["plot"] = str(limit_plot(result, out / "limit_rate.png"))
    write_json(out / "limit_rate.json", result, comm)
    if failure is not None:
        raise SimulationError(f"limit study written to {out}/ but no rate: {failure}")
    return result


def describe_limit_study(result: dict) -> str:
    """One line per measured quantity: its rate (or max/min over ε) next to the theorem's."""
    lines = []
    for name, q in result["quantities"].items():
        rate = "no rate" if q["rate"] is None else f"rate {q['rate']:.3f}"
        lines.append(f"  {name}: {rate} (theorem: {q['theorem_rate']:.3f})")
    for name, q in result["bounded"].items():
        lines.append(f"  {name}: max/min over eps {q['max_over_min']:.3f} (theorem: bounded)")
    if "perturbation" in result:
        r = result["perturbation"]["rates"]
        lines.append(
            "  ill-prepared data: rates of "
            + ", ".join(
                f"{key} {r[key]:.3f}" if r[key] is not None else f"{key} none"
                for key in ("hypothesis", "initial_relative_entropy", "final_relative_entropy")
            )
            + f" (expected 2 alpha = {r['expected']:.3f})"
        )
    return "\n".join(lines)


def _perturbation_report(
    c: float, alpha: float, dim: int, eps: list[float], data: dict, summary: dict
) -> dict:
    """Sizes, the hypothesis' parts, initial and final H per ε, and their rates in ε."""
    report = {
        "size_constant": c,
        "exponent": alpha,
        "theorem_exponent": theorem_exponent(dim),
        "size": [data[e]["size"] for e in eps],
        "rho_part": [data[e]["rho_part"] for e in eps],
        "moment_part": [data[e]["moment_part"] for e in eps],
        "initial_relative_entropy": [summary["initial_relative_entropy"][e] for e in eps],
        "final_relative_entropy": [summary["final_relative_entropy"][e] for e in eps],
        "rates": {},
    }
    hypothesis = [data[e]["rho_part"] + data[e]["moment_part"] for e in eps]
    report["hypothesis"] = hypothesis
    series = {
        "hypothesis": hypothesis,
        "initial_relative_entropy": report["initial_relative_entropy"],
        "final_relative_entropy": report["final_relative_entropy"],
    }
    for name, values in series.items():
        try:
            fit = fit_rate(np.array(eps), np.array(values), 0.0, FLOOR_FACTOR)
            report["rates"][name] = fit.rate
        except ParameterError as err:
            report["rates"][name] = None
            report.setdefault("errors", {})[name] = str(err)
    report["rates"]["expected"] = 2.0 * alpha
    return report


def _write_csvs(out: Path, times: np.ndarray, histories: dict, summary: dict, data: dict) -> None:
    with open(out / "limit_study.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["eps", "t", *HISTORY_COLUMNS])
        for e, history in histories.items():
            for k, t in enumerate(times):
                writer.writerow([e, t, *(history[c][k] for c in HISTORY_COLUMNS)])
    extra = ("size", "rho_part", "moment_part") if data else ()
    with open(out / "limit_summary.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["eps", *extra, *SUMMARIES])
        for e in histories:
            row = [data.get(e, {}).get(key, 0.0) for key in extra]
            writer.writerow([e, *row, *(summary[name][e] for name in SUMMARIES)])


PANELS = (
    ("sup_relative_entropy", "sup_t H"),
    ("int_dissipation", "∫₀ᵀ∫ρ0∫f|v−V|²"),
    ("int_dissipation_unweighted", "∫₀ᵀ∫∫f|v−V|²"),
    ("sup_abs_int_error_term", "sup_t |∫₀ᵗ∫(V−V^ε)E(f)|"),
    ("sup_moment4", "sup_t ∫∫(v⁴+w⁴)f"),
    ("int_moment6", "∫₀ᵀ∫∫v⁶f"),
)


def limit_plot(result: dict, out_png: Path) -> Path:
    """One log-log panel per quantity against ε: data, floor, fit and the theorem's slope."""
    from fem_fhn.plot import figure, save

    eps = np.array(result["eps"])
    e_ref = np.array([eps.min(), eps.max()])
    fig = figure((15, 8.5))
    axes = fig.subplots(2, 3).ravel()
    for ax, (name, label) in zip(axes, PANELS, strict=True):
        if name in result["quantities"]:
            q = result["quantities"][name]
            values = np.abs(np.array(q["values"]))
            p = q["theorem_rate"]
            guide = f"theorem: ε^{p:.3g}"
            ax.axhline(abs(q["floor"]), color="grey", ls=":", label=f"floor (ε = {FLOOR_EPS:g})")
        else:
            q = result["bounded"][name]
            values = np.array(q["values"])
            p = 0.0
            guide = f"theorem: bounded (max/min {q['max_over_min']:.3g})"
        ax.loglog(eps, values, "o-", label=label)
        ax.loglog(e_ref, values.max() * (e_ref / eps.max()) ** p, "k--", label=guide)
        if q.get("rate") is not None:
            window = np.array(q["window"])
            keep = np.isin(eps, window)
            c = np.exp(np.mean(np.log(values[keep]) - q["rate"] * np.log(window)))
            ax.loglog(window, c * window ** q["rate"], "r-", lw=2, label=f"fit: {q['rate']:.2f}")
        if name == "sup_relative_entropy":
            _entropy_extras(ax, result, eps)
        ax.set_xlabel("ε")
        ax.set_title(label, fontsize=10)
        ax.legend(fontsize=7)
    fig.suptitle("Hydrodynamic limit, kinetic → macroscopic: the quantities of the proof")
    return save(fig, out_png)


def _entropy_extras(ax, result: dict, eps: np.ndarray) -> None:
    """Initial H (ill-prepared data) and the entropy split on the entropy panel."""
    if "perturbation" in result:
        initial = np.array(result["perturbation"]["initial_relative_entropy"])
        ax.loglog(eps, initial, "s--", label="H(0) (ill-prepared)")
    split = result["entropy_split"]
    if any(v > 0 for v in split["entropy_rho0_le_eta"]):
        eta = result["eta"]
        ax.loglog(eps, split["entropy_rho0_gt_eta"], "^:", label=f"sup H on ρ0 > {eta:g}")
        ax.loglog(eps, split["entropy_rho0_le_eta"], "v:", label=f"sup H on 0 < ρ0 ≤ {eta:g}")


def compare(
    config_path: str | Path, ns: list[int], out_dir: str | Path, comm: MPI.Comm | None = None
) -> dict:
    """Network (for each n) against the kinetic and macroscopic models on one setup.

    The config holds a [network] table (ε, profile, neighbours, seed, ...) and optionally a
    [kinetic] table; the mesh may be a curve or surface in space (distances chordal, d the
    mesh's own dimension). For each n the short-range radius is r(n) = `radius_for(n, neighbours)`
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
    if config.kernel.distance == "geodesic":
        raise ConfigError(
            "kernel.distance = 'geodesic' is not allowed with fem-fhn compare: allowed: "
            "'euclidean' (the network takes chordal distances between its neurons, so the "
            "models compared must too)"
        )
    out = Path(out_dir)
    check_output_dir(out)
    prepared = prepare(config, comm)
    nodes, rho0, _ = prepared
    times = np.linspace(0.0, config.time.t_end, config.time.n_outputs + 1)
    references = {}  # name -> list of (V, W) at the output times
    net = config.network
    if config.kinetic is not None:
        auto = replace(config.time, scheme="auto")  # the kinetic model's own splitting
        kin = build(replace(config, network=None, time=auto), comm, prepared, "kinetic")
        references["kinetic"] = _history(kin, times)
        net = replace(net, spread_v=config.kinetic.sigma_v, spread_w=config.kinetic.sigma_w)
    dt = config.time.dt
    macro_time = replace(config.time, scheme="rk4")
    macro = build(
        replace(config, network=None, kinetic=None, time=macro_time), comm, prepared, "nonlocal"
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
