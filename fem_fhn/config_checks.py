"""Checks across the tables of a config, run by `fem_fhn.config.parse_config` once every table is
valid on its own: the network's positions file, the fields (expressions parsed, files present and
readable), the mesh source, geodesic kernels, the dispersion grid and the budget of steps and
outputs. Each refuses with one `ConfigError` line naming the key, the value and what is allowed.
"""

from __future__ import annotations

from pathlib import Path

from fem_fhn.config import ConfigError, RunConfig
from fem_fhn.params import require


def check_network(config: RunConfig, n_given: bool) -> RunConfig:
    """A positions file of [network]: a finite (n, d) array; n is its number of rows (a given
    network.n must agree)."""
    from dataclasses import replace

    from fem_fhn.mesh import load_numbers

    net = config.network
    if net is None or not net.positions:
        return config
    path = config.path(net.positions)
    if not path.is_file():
        raise ConfigError(
            f"network.positions = {net.positions!r} is not allowed: file {str(path)!r} does "
            "not exist; allowed: a .npy file of positions (n, d)"
        )
    if path.suffix != ".npy":
        raise ConfigError(
            f"network.positions = {net.positions!r} is not allowed: allowed: a .npy file of "
            "positions (n, d)"
        )
    rows = load_numbers(path, "network.positions", net.positions, ndim=2).shape[0]
    if n_given and net.n != rows:
        raise ConfigError(
            f"network.n = {net.n!r} is not allowed with network.positions = {net.positions!r}, "
            f"which holds {rows} positions; allowed: n = {rows}, or leave n out"
        )
    return replace(config, network=replace(net, n=rows))


def check_dispersion(config: RunConfig) -> None:
    """[dispersion]: map parameters the kernel and model have; a k grid that resolves Ψ̂."""
    disp = config.dispersion
    if disp is None:
        return
    from fem_fhn import stability

    kernel = config.kernel.build(disp.dim)
    if disp.map:
        names = stability.map_names(config.model, kernel)
        for key in ("param1", "param2"):
            value = disp.map[key]
            require(value in names, f"dispersion.map.{key}", value, f"one of {', '.join(names)}")
    width = float(kernel.width)
    limit = K_STEPS_PER_WIDTH * (disp.n_k - 1) / width
    require(
        disp.k_max <= limit,
        "dispersion.k_max",
        disp.k_max,
        f"k_max <= {limit:.6g}: the grid step k_max/(n_k - 1) must resolve the kernel's Fourier "
        f"transform (at most {K_STEPS_PER_WIDTH:g}/width, width {width:g}); raise "
        "dispersion.n_k for a longer range",
    )


#: the k grid of `fem-fhn dispersion` takes steps of at most this many 1/width
K_STEPS_PER_WIDTH = 0.5


def check_budget(config: RunConfig) -> None:
    """Output times and time steps against [budget] (`fem_fhn.budget`)."""
    from fem_fhn import budget

    budget.check_outputs(config)
    if isinstance(config.time.dt, float):
        budget.check_steps(config, config.time.dt)


def check_fields(config: RunConfig) -> None:
    """Cross-table checks, and expressions parsed now so that a bad one fails before any work."""
    if config.time.dt == "auto" and config.time.scheme == "adaptive":
        raise ConfigError("time.dt = 'auto' is not allowed with the adaptive scheme: an initial dt")
    from fem_fhn.registry import model_names

    models = model_names()
    if config.solver.model not in models:
        raise ConfigError(
            f"solver.model = {config.solver.model!r} is not allowed: one of {', '.join(models)}"
        )
    config.field_source(config.rho0.value, "rho0.value")
    config.field_source(config.initial.V, "initial.V")
    config.field_source(config.initial.W, "initial.W")
    config.field_source(config.stimulus.I, "stimulus.I", ("x", "y", "z", "t"))
    from fem_fhn.mesh import load_numbers

    for key, value in (
        ("rho0.value", config.rho0.value),
        ("initial.V", config.initial.V),
        ("initial.W", config.initial.W),
    ):
        source = config.field_source(value, key)
        if isinstance(source, Path) and not source.is_file():
            raise ConfigError(
                f"{key} = {value!r}: file {str(source)!r} does not exist; allowed: a number, "
                "an expression, or a .npy/.csv/.txt file with one value per mesh node"
            )
        if isinstance(source, Path):
            load_numbers(source, key, value)
    if isinstance(config.rho0.value, float) and config.rho0.value < 0:
        raise ConfigError(f"rho0.value = {config.rho0.value!r} is not allowed: rho0 >= 0")
    src = config.mesh_source()
    if isinstance(src, tuple):
        check_surface_list(config, src)
        return
    if config.mesh.h > 0 and isinstance(src, Path):
        raise ConfigError(
            f"mesh.h = {config.mesh.h!r} applies to bundled domains only, not to the file "
            f"{config.mesh.source!r}; allowed: leave mesh.h out (or 0) for a mesh file"
        )
    if isinstance(src, Path) and src.is_dir():
        raise ConfigError(
            f"mesh.source = {config.mesh.source!r} is not allowed: {str(src)!r} is a folder; "
            "allowed: a .msh or .xdmf mesh file, or a bundled domain"
        )
    if isinstance(src, Path) and not src.is_file():
        raise ConfigError(f"mesh.source = {config.mesh.source!r}: file {str(src)!r} does not exist")


def check_distance(config: RunConfig) -> None:
    """Geodesic kernels: the mesh-node methods that can hold them, and no [network];
    single-precision storage only for them."""
    if config.kernel.distance != "geodesic":
        if config.nonlocal_.precision == "single":
            raise ConfigError(
                "nonlocal.precision = 'single' is not allowed with kernel.distance = "
                f"{config.kernel.distance!r}: auto or double (single-precision storage is for "
                "the sparse geodesic matrix)"
            )
        return
    from fem_fhn.nonlocal_.geodesic import GEODESIC_METHODS

    method = config.nonlocal_.method
    if method == "dense" and config.nonlocal_.precision == "single":
        raise ConfigError(
            "nonlocal.precision = 'single' is not allowed with nonlocal.method = 'dense': auto or "
            "double (the dense geodesic matrix is the double-precision reference)"
        )
    if method not in (*GEODESIC_METHODS, "auto"):
        raise ConfigError(
            f"nonlocal.method = {method!r} is not allowed with kernel.distance = 'geodesic': "
            f"one of {', '.join(GEODESIC_METHODS)}, auto ({method} is Euclidean only)"
        )
    if config.solver.model == "network":
        raise ConfigError(
            "kernel.distance = 'geodesic' is not allowed with solver.model = 'network': "
            "allowed: 'euclidean' (chordal distances between the neurons; geodesic distances "
            "are tabulated between mesh nodes, within the cutoff, and the neurons lie inside "
            "the triangles)"
        )


def check_surface_list(config: RunConfig, paths: tuple[Path, ...]) -> None:
    """A list in mesh.source: existing surface files, and no mesh.h."""
    from fem_fhn.surface import is_surface_file

    given = list(config.mesh.source)
    for shown, path in zip(given, paths, strict=True):
        if not is_surface_file(path) or path.suffix in (".msh", ".xdmf"):
            raise ConfigError(
                f"mesh.source = {given!r} is not allowed: {shown!r} is not a surface file; "
                "allowed: a list of surface files (.gii, FreeSurfer, TVB .zip, .obj/.ply/.stl/...)"
            )
        if not path.is_file():
            raise ConfigError(f"mesh.source = {given!r}: file {str(path)!r} does not exist")
    if config.mesh.h > 0:
        raise ConfigError(
            f"mesh.h = {config.mesh.h!r} applies to bundled domains only, not to surface files"
        )
