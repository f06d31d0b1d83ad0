"""Figures of the dispersion relation and Turing maps, and the `dispersion` command behind them.

Matplotlib is imported inside the functions and draws on the Agg canvas (no pyplot), as in
`fem_fhn.plot`. The command reads a TOML file with the tables

    [model]       a, b, tau, I_ext                    (FHNParameters; default values if absent)
    [kernel]      type = "mexican_hat", ...           (as in run configs, without dim)
    [dispersion]  k_max = 60.0, n_k = 2001, rho = 1.0, V_star = 0.7071, dim = 2,
                  map = {param1 = "tau", range1 = [0.1, 2], param2 = "rho", range2 = [0, 2], n = 41}

(every [dispersion] key is optional; other tables are ignored) and writes dispersion.png,
parameter_map.png (with `map`) and dispersion.json.
"""

from __future__ import annotations

import json
import math
import numbers
import tomllib
from pathlib import Path

import numpy as np

from fem_fhn import kernels, stability
from fem_fhn.params import FHNParameters, ParameterError

__all__ = [
    "DISPERSION_KEYS",
    "dispersion_command",
    "dispersion_figure",
    "parameter_map_figure",
    "read_dispersion_config",
]

DISPERSION_KEYS = ("k_max", "n_k", "rho", "V_star", "dim", "map")
MAP_KEYS = ("param1", "range1", "param2", "range2", "n")


def _figure(size):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, out_png: str | Path) -> Path:
    path = Path(out_png)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def dispersion_figure(
    params: FHNParameters,
    kernel,
    k,
    out_png: str | Path,
    rho: float = 1.0,
    V_star: float | None = None,
) -> Path:
    """Re λ_1,2(k) and Im λ_1(k) of the linearised system (`stability.dispersion`), as a PNG.

    The unstable bands are shaded and the fastest mode k_max is marked; the title gives the
    parameters, the homogeneous state and the kind of instability.
    """
    k = np.asarray(k, dtype=float)
    lam = stability.dispersion(params, kernel, k, rho, V_star)
    info = stability.instabilities(params, kernel, k, rho, V_star)
    fig = _figure((7.5, 5.5))
    ax_re, ax_im = fig.subplots(2, 1, sharex=True)
    ax_re.plot(k, lam[:, 0].real, label="Re λ₁")
    ax_re.plot(k, lam[:, 1].real, "--", label="Re λ₂")
    ax_im.plot(k, lam[:, 0].imag, color="C2", label="Im λ₁")
    for ax in (ax_re, ax_im):
        ax.axhline(0.0, color="0.5", lw=0.8)
        for lo, hi in info.bands:
            ax.axvspan(lo, hi, color="C3", alpha=0.12)
        ax.legend(loc="best")
    if info.unstable:
        ax_re.plot([info.k_max], [info.lambda_max.real], "o", color="C3")
        where = (info.k_max, info.lambda_max.real)
        ax_re.annotate(
            f"k_max = {info.k_max:.3g}", where, xytext=(8, -14), textcoords="offset points"
        )
    ax_re.set_ylabel("growth rate Re λ")
    ax_im.set_ylabel("frequency Im λ")
    ax_im.set_xlabel("wavenumber |k|")
    state = f"V* = {info.V_star:.4g}, W* = {info.W_star:.4g}, ρ̄ = {rho:g}"
    verdict = f"unstable ({info.kind})" if info.unstable else "stable"
    fig.suptitle(
        f"a = {params.a:.4g}, b = {params.b:.4g}, τ = {params.tau:.4g}, I = {params.I_ext:.4g}; "
        f"{state}: {verdict}",
        fontsize=9,
    )
    return _save(fig, out_png)


def parameter_map_figure(
    growth: np.ndarray,
    kind: np.ndarray,
    name1: str,
    values1,
    name2: str,
    values2,
    out_png: str | Path,
) -> Path:
    """Two panels over the (name1, name2) plane: max Re λ (zero contour drawn) and the kind code.

    Args:
        growth, kind: the arrays of `stability.parameter_map`, indexed [i1, i2].
        name1, values1: the parameter on the horizontal axis and its values.
        name2, values2: the parameter on the vertical axis and its values.
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap, TwoSlopeNorm

    values1, values2 = np.asarray(values1, dtype=float), np.asarray(values2, dtype=float)
    fig = _figure((11, 4.5))
    ax_g, ax_k = fig.subplots(1, 2)
    g = np.asarray(growth, dtype=float).T
    finite = g[np.isfinite(g)]
    lo = float(finite.min()) if finite.size else -1.0
    hi = float(finite.max()) if finite.size else 1.0
    norm = TwoSlopeNorm(0.0, min(lo, -1e-9), max(hi, 1e-9))
    mesh = ax_g.pcolormesh(values1, values2, g, shading="nearest", cmap="RdBu_r", norm=norm)
    fig.colorbar(mesh, ax=ax_g, label="max_k Re λ")
    if finite.size and lo < 0 < hi and min(g.shape) > 1:
        ax_g.contour(values1, values2, g, levels=[0.0], colors="k", linewidths=1.0)
    ax_g.set_title("growth rate of the fastest mode")
    labels = ["no stable state", "stable", "stationary (Turing)", "oscillatory (waves)"]
    cmap = ListedColormap(["0.6", "white", "C1", "C0"])
    codes = ax_k.pcolormesh(
        values1,
        values2,
        np.asarray(kind).T,
        shading="nearest",
        cmap=cmap,
        norm=BoundaryNorm([-1.5, -0.5, 0.5, 1.5, 2.5], cmap.N),
    )
    bar = fig.colorbar(codes, ax=ax_k, ticks=[-1, 0, 1, 2])
    bar.ax.set_yticklabels(labels)
    ax_k.set_title("kind of the fastest mode")
    for ax in (ax_g, ax_k):
        ax.set_xlabel(name1)
        ax.set_ylabel(name2)
    return _save(fig, out_png)


# --------------------------------------------------------------------------- the command


def _config_error(message: str) -> Exception:
    from fem_fhn.config import ConfigError

    return ConfigError(message)


def _number(key: str, value, allowed: str = "a finite number") -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok:
        raise _config_error(f"{key} = {value!r} is not allowed: {allowed}")
    return float(value)


def _table(data: dict, name: str) -> dict:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise _config_error(f"[{name}] must be a table, got {table!r}")
    return dict(table)


def _check_keys(table: dict, where: str, allowed) -> None:
    for key in table:
        if key not in allowed:
            raise _config_error(
                f"unknown key '{where}.{key}' = {table[key]!r}; allowed: {', '.join(allowed)}"
            )


def _range(key: str, value) -> tuple[float, float]:
    ok = isinstance(value, list) and len(value) == 2
    if ok:
        lo, hi = (_number(key, v, "a list [lo, hi] of two numbers, lo < hi") for v in value)
        ok = lo < hi
    if not ok:
        raise _config_error(
            f"{key} = {value!r} is not allowed: a list [lo, hi] of numbers, lo < hi"
        )
    return lo, hi


def _integer(key: str, value, least: int) -> int:
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= least):
        raise _config_error(f"{key} = {value!r} is not allowed: an integer >= {least}")
    return value


def read_dispersion_config(path: str | Path) -> dict:
    """Read and validate the TOML tables of the dispersion command (module docstring).

    Returns:
        {"params", "kernel", "kernel_spec", "k", "rho", "V_star", "map"} with map None or
        {"name1", "values1", "name2", "values2"}.

    Raises:
        ConfigError: naming the key, the value and what is allowed.
    """
    from fem_fhn.config import KernelConfig

    path = Path(path)
    if not path.is_file():
        raise _config_error(f"config file {str(path)!r} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise _config_error(f"config file {str(path)!r} is not valid TOML: {err}") from None
    model = _table(data, "model")
    _check_keys(model, "model", ("a", "b", "tau", "I_ext"))
    try:
        params = FHNParameters(**{k: _number(f"model.{k}", v) for k, v in model.items()})
    except ParameterError as err:
        raise _config_error(f"model.{err}") from None
    disp = _table(data, "dispersion")
    _check_keys(disp, "dispersion", DISPERSION_KEYS)
    dim = _integer("dispersion.dim", disp.get("dim", 2), 1)
    if dim > 3:
        raise _config_error(f"dispersion.dim = {dim!r} is not allowed: 1, 2 or 3")
    spec = _table(data, "kernel") or dict(KernelConfig().spec)
    if "dim" in spec:
        raise _config_error("kernel.dim is not allowed here: give the dimension as dispersion.dim")
    try:
        kernel = kernels.make_kernel({**spec, "dim": dim})
    except ParameterError as err:
        raise _config_error(str(err)) from None
    k_max = _number("dispersion.k_max", disp.get("k_max", 10.0 / kernel.width))
    if k_max <= 0:
        raise _config_error(f"dispersion.k_max = {k_max!r} is not allowed: a wavenumber > 0")
    n_k = _integer("dispersion.n_k", disp.get("n_k", 2001), 2)
    rho = _number("dispersion.rho", disp.get("rho", 1.0))
    if rho < 0:
        raise _config_error(f"dispersion.rho = {rho!r} is not allowed: a density >= 0")
    V_star = disp.get("V_star")
    V_star = None if V_star is None else _number("dispersion.V_star", V_star)
    config = {
        "params": params,
        "kernel": kernel,
        "kernel_spec": {**spec, "dim": dim},
        "k": np.linspace(0.0, k_max, n_k),
        "rho": rho,
        "V_star": V_star,
        "map": None,
    }
    if "map" in disp:
        table = disp["map"]
        if not isinstance(table, dict):
            raise _config_error(f"dispersion.map = {table!r} is not allowed: a table")
        _check_keys(table, "dispersion.map", MAP_KEYS)
        names = stability.map_names(params, kernel)
        for key in ("param1", "param2", "range1", "range2"):
            if key not in table:
                raise _config_error(f"dispersion.map.{key} is missing ({', '.join(MAP_KEYS)})")
        for key in ("param1", "param2"):
            if table[key] not in names:
                allowed = f"one of {', '.join(names)}"
                raise _config_error(
                    f"dispersion.map.{key} = {table[key]!r} is not allowed: {allowed}"
                )
        n = _integer("dispersion.map.n", table.get("n", 41), 2)
        config["map"] = {
            "name1": table["param1"],
            "values1": np.linspace(*_range("dispersion.map.range1", table["range1"]), n),
            "name2": table["param2"],
            "values2": np.linspace(*_range("dispersion.map.range2", table["range2"]), n),
        }
    return config


def dispersion_command(config_path: str | Path, out_dir: str | Path) -> dict:
    """`fem-fhn dispersion CONFIG --out DIR`: curves, optional map and a JSON summary.

    Writes DIR/dispersion.png, DIR/parameter_map.png (if [dispersion] has a map) and
    DIR/dispersion.json (parameters, kernel, k range, the `Instability` fields, 2π/k_max, and for
    the map its axes, growth and kind arrays). Runs serially: call it on one rank.

    Returns:
        The JSON summary as a dict.
    """
    config = read_dispersion_config(config_path)
    out = Path(out_dir)
    params, kernel, k = config["params"], config["kernel"], config["k"]
    rho, V_star = config["rho"], config["V_star"]
    try:
        info = stability.instabilities(params, kernel, k, rho, V_star)
    except ParameterError as err:
        raise _config_error(f"dispersion.{err}") from None
    files = {
        "dispersion": str(dispersion_figure(params, kernel, k, out / "dispersion.png", rho, V_star))
    }
    summary = {
        "parameters": params.as_dict(),
        "kernel": config["kernel_spec"],
        "k_range": [float(k[0]), float(k[-1])],
        "n_k": int(k.size),
        "rho": rho,
        **info.as_dict(),
    }
    if config["map"] is not None:
        m = config["map"]
        growth, kind = stability.parameter_map(
            params, kernel, m["name1"], m["values1"], m["name2"], m["values2"], k, rho, V_star
        )
        path = parameter_map_figure(
            growth,
            kind,
            m["name1"],
            m["values1"],
            m["name2"],
            m["values2"],
            out / "parameter_map.png",
        )
        files["parameter_map"] = str(path)
        summary["map"] = {
            "param1": m["name1"],
            "values1": m["values1"].tolist(),
            "param2": m["name2"],
            "values2": m["values2"].tolist(),
            "growth": [[None if not np.isfinite(g) else float(g) for g in row] for row in growth],
            "kind": kind.tolist(),
            "kind_codes": stability.KIND_CODES,
            "unstable_fraction": float(np.mean(kind > 0)),
        }
    summary["files"] = files
    out.mkdir(parents=True, exist_ok=True)
    (out / "dispersion.json").write_text(json.dumps(summary, indent=2, default=float))
    return summary
