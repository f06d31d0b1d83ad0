"""Figures of the dispersion relation and Turing maps, and the `dispersion` command behind them.

Matplotlib is imported inside the functions and draws on the Agg canvas (no pyplot), as in
`fem_fhn.plot`. The command reads a TOML file with the tables

    [model]       a, b, tau, I_ext                    (FHNParameters; default values if absent)
    [kernel]      type = "mexican_hat", ...           (as in run configs, without dim)
    [dispersion]  k_max = 60.0, n_k = 2001, rho = 1.0, V_star = 0.7071, dim = 2,
                  map = {param1 = "tau", range1 = [0.1, 2], param2 = "rho", range2 = [0, 2], n = 41}
                  n_k_kinetic = 20
    [kinetic]     eps = 1e-3, n_v = 64, n_w = 32, diffusion = 0.0, v_min, v_max, w_min, w_max
                  (optional: the kinetic linearised spectrum, `fem_fhn.stability_kinetic`)

(every [dispersion] key is optional; see `fem_fhn.config.DispersionConfig`; a run config works
too) and writes dispersion.png, parameter_map.png (with `map`) and dispersion.json. With a
[kinetic] table the rightmost eigenvalues of the kinetic operator L_k at n_k_kinetic wavenumbers
are drawn over the macroscopic curves (box bounds "auto": a box centred at the homogeneous state,
`fem_fhn.kinetic.linear.local_grid`; the other [kinetic] keys are not used here).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fem_fhn import stability
from fem_fhn.params import FHNParameters, ParameterError
from fem_fhn.plot import figure, save

__all__ = [
    "dispersion_command",
    "dispersion_figure",
    "parameter_map_figure",
    "read_dispersion_config",
]


def dispersion_figure(
    params: FHNParameters,
    kernel,
    k,
    out_png: str | Path,
    rho: float = 1.0,
    V_star: float | None = None,
    kinetic=None,
) -> Path:
    """Re λ_1,2(k) and Im λ_1(k) of the linearised system (`stability.dispersion`), as a PNG.

    The unstable bands are shaded and the fastest mode k_max is marked; the title gives the
    parameters, the homogeneous state and the kind of instability. `kinetic`, a
    `fem_fhn.stability_kinetic.KineticSpectrum`, adds its rightmost eigenvalues (dots) and the
    kinetic eigenvalues nearest λ_1,2 (circles) as markers.
    """
    k = np.asarray(k, dtype=float)
    lam = stability.dispersion(params, kernel, k, rho, V_star)
    info = stability.instabilities(params, kernel, k, rho, V_star)
    fig = figure((7.5, 5.5))
    ax_re, ax_im = fig.subplots(2, 1, sharex=True)
    ax_re.plot(k, lam[:, 0].real, label="Re λ₁")
    ax_re.plot(k, lam[:, 1].real, "--", label="Re λ₂")
    ax_im.plot(k, lam[:, 0].imag, color="C2", label="Im λ₁")
    if kinetic is not None:
        ring = {"marker": "o", "ls": "none", "mfc": "none", "color": "C3", "ms": 6}
        label = f"kinetic, rightmost (ε = {kinetic.state.eps:g})"
        kk = np.repeat(kinetic.k, kinetic.eigenvalues.shape[1])
        ax_re.plot(kk, kinetic.eigenvalues.real.ravel(), ".", color="0.35", ms=4, label=label)
        kk = np.repeat(kinetic.k, 2)
        ax_re.plot(kk, kinetic.matched.real.ravel(), **ring, label="kinetic ≈ λ₁,₂")
        ax_im.plot(kinetic.k, kinetic.matched.imag[:, 0], **ring, label="kinetic ≈ λ₁")
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
    return save(fig, out_png)


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
    fig = figure((11, 4.5))
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
    return save(fig, out_png)


# --------------------------------------------------------------------------- the command


def _config_error(message: str) -> Exception:
    from fem_fhn.config import ConfigError

    return ConfigError(message)


def read_dispersion_config(path: str | Path) -> dict:
    """Read and validate a config with `fem_fhn.config.load_config` for the dispersion command.

    Returns:
        {"params", "kernel", "kernel_spec", "k", "rho", "V_star", "map", "kinetic", "k_kinetic"}
        with map None or {"name1", "values1", "name2", "values2"}, kinetic the
        `KineticConfig` or None.

    Raises:
        ConfigError: naming the key, the value and what is allowed.
    """
    from fem_fhn.config import DispersionConfig, load_config

    config = load_config(path)
    disp = config.dispersion or DispersionConfig()
    kernel = config.kernel.build(disp.dim)
    params = config.model
    k_max = disp.k_max or 10.0 / kernel.width
    result = {
        "params": params,
        "kernel": kernel,
        "kernel_spec": {**config.kernel.spec, "dim": disp.dim},
        "k": np.linspace(0.0, k_max, disp.n_k),
        "rho": disp.rho,
        "V_star": None if disp.V_star == "rest" else disp.V_star,
        "map": None,
        "kinetic": config.kinetic,
        "k_kinetic": np.linspace(0.0, k_max, disp.n_k_kinetic),
    }
    if disp.map:
        names = stability.map_names(params, kernel)
        for key in ("param1", "param2"):
            if disp.map[key] not in names:
                raise _config_error(
                    f"dispersion.map.{key} = {disp.map[key]!r} is not allowed: "
                    f"one of {', '.join(names)}"
                )
        n = disp.map.get("n", 41)
        result["map"] = {
            "name1": disp.map["param1"],
            "values1": np.linspace(*disp.map["range1"], n),
            "name2": disp.map["param2"],
            "values2": np.linspace(*disp.map["range2"], n),
        }
    return result


def _kinetic_spectrum(config: dict):
    """The kinetic spectrum of the [kinetic] table at config["k_kinetic"] (or ConfigError)."""
    from fem_fhn.kinetic.grid import VelocityGrid
    from fem_fhn.stability_kinetic import kinetic_spectrum

    kin = config["kinetic"]
    if config["rho"] <= 0:
        raise _config_error(
            f"dispersion.rho = {config['rho']!r} is not allowed with [kinetic]: a density > 0"
        )
    try:
        if kin.v_min == "auto":
            grid = (kin.n_v, kin.n_w)
        else:
            grid = VelocityGrid(kin.v_min, kin.v_max, kin.n_v, kin.w_min, kin.w_max, kin.n_w)
        return kinetic_spectrum(
            config["params"],
            config["kernel"],
            config["k_kinetic"],
            grid,
            kin.eps,
            config["rho"],
            kin.diffusion,
            V_star=config["V_star"],
        )
    except ParameterError as err:
        message = str(err)
        raise _config_error(message if "kinetic" in message else f"kinetic: {message}") from None


def dispersion_command(config_path: str | Path, out_dir: str | Path) -> dict:
    """`fem-fhn dispersion CONFIG --out DIR`: curves, optional map and a JSON summary.

    Writes DIR/dispersion.png, DIR/parameter_map.png (if [dispersion] has a map) and
    DIR/dispersion.json (parameters, kernel, k range, the `Instability` fields, 2π/k_max, for
    the map its axes, growth and kind arrays, and with [kinetic] under "kinetic" the
    `KineticSpectrum.as_dict` fields: eigenvalues as [re, im] pairs, residuals, the matched
    eigenvalues and their distances to λ_1,2). Runs serially: call it on one rank.

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
    spectrum = None
    if config["kinetic"] is not None:
        spectrum = _kinetic_spectrum(config)
    png = dispersion_figure(params, kernel, k, out / "dispersion.png", rho, V_star, spectrum)
    files = {"dispersion": str(png)}
    summary = {
        "parameters": params.as_dict(),
        "kernel": config["kernel_spec"],
        "k_range": [float(k[0]), float(k[-1])],
        "n_k": int(k.size),
        "rho": rho,
        **info.as_dict(),
    }
    if spectrum is not None:
        summary["kinetic"] = spectrum.as_dict()
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
