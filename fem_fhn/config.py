"""TOML run configurations, validated section by section into frozen dataclasses.

Each TOML table maps one-to-one onto a dataclass; an unknown key, a value of the wrong type or out
of range raises `ConfigError` with a one-line message naming the key, the value and what is allowed.
Expressions (ρ0, initial data, stimulus) are parsed by `fem_fhn.expressions` — never `eval`.

    [mesh]      source = "folded", units     # bundled domain, .msh/.xdmf, surface file(s)
    [rho0]      value = 1.0                  # number, expression of x,y,z, or per-node data file
    [model]     a, b, tau, I_ext             # FHNParameters; form = "V" | "Z" in [solver]
    [kernel]    type = "gaussian", width = 0.1, strength = 1.0 (mexican_hat: width_exc, ...),
                distance = "euclidean" | "geodesic"
    [nonlocal]  method = "dense", tol = 1e-8, precision = "auto" (geodesic sparse: "single")
    [initial]   V = "...", W = "..."
    [stimulus]  I = "..."                    # expression of x, y, z, t (optional)
    [time]      t_end, dt, scheme, n_outputs, rtol, atol   # scheme "auto": the model's default
    [solver]    model = "nonlocal" | "local" | "network" | "kinetic", form = "V", linear_solver
    [output]    dir, formats, png, gif, progress
    [checkpoint] every, dir, signal_steps    # see fem_fhn.checkpoint
    [budget]    memory_gib, steps, outputs   # limits checked before a run (fem_fhn.budget)
    [limit_study] perturbation, perturbation_exponent, eta   # fem-fhn limit-study only
    [connectome] zip | weights, tract_lengths, labels, speed, G, projection  # fem_fhn.connectome
"""

from __future__ import annotations

import difflib
import math
import tomllib
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path

from fem_fhn import kernels
from fem_fhn.checkpoint import SEGMENT_OUTPUTS
from fem_fhn.connectome import config as connectome_config
from fem_fhn.connectome.config import ConnectomeConfig
from fem_fhn.expressions import Expression
from fem_fhn.io import FORMATS
from fem_fhn.macro import MODEL_FORMS
from fem_fhn.nonlocal_ import METHODS
from fem_fhn.nonlocal_.packed import PRECISIONS
from fem_fhn.params import FHNParameters, ParameterError, require
from fem_fhn.surface import UNITS, VERTEX_DATA_SUFFIXES
from fem_fhn.timestepping import SCHEMES

DEFAULT_CONFIG = Path(__file__).parent / "data" / "default.toml"
#: per-node data files: numbers, GIfTI data arrays, FreeSurfer morphometry (lh.curv, ...)
FIELD_FILE_SUFFIXES = (".npy", ".csv", ".txt", *VERTEX_DATA_SUFFIXES)


class ConfigError(ParameterError):
    """A config that cannot be run; the message names the key, the value and what is allowed."""


FieldValue = float | str  # a number, an expression, or a file path


def check_points(key: str, points: list) -> None:
    """A list of points [x, y, ...] of finite numbers (1 to 3 coordinates each)."""
    ok = all(isinstance(p, list) and 1 <= len(p) <= 3 for p in points)
    ok = ok and all(_is_number(c) and math.isfinite(c) for p in points for c in p)
    allowed = "a list of points [x, y, ...] of finite numbers, one coordinate per mesh axis"
    require(ok, key, points, allowed)


MeshSource = str | tuple[str, ...]  # one file or domain name, or a list of surface files
#: keys of type MeshSource (equal to connectome.LabelFiles): what each allows
FILE_LISTS = {
    "mesh.source": "a file or bundled domain name, or a list of surface files",
    "connectome.labels": "a file of region labels, or a list of them (one per mesh.source file)",
}


@dataclass(frozen=True)
class MeshConfig:
    """source: a bundled domain, a .msh/.xdmf file, a surface file (.gii, .gii.gz, FreeSurfer
    lh.pial etc., TVB .zip, .obj/.ply/.stl/.off/.vtu/.vtk) or a list of surface files merged into
    one mesh; h > 0 meshes a bundled domain at that size (0: the committed coarse mesh); units:
    the length unit of the coordinates ("mm", "cm", "m", "um"; "": the file's own: mm for GIfTI,
    FreeSurfer and TVB files, which a stated unit converts). Kernel widths are in this unit."""

    source: MeshSource = "folded"  # domain name, mesh or surface file, or a list of surface files
    h: float = 0.0
    units: str = ""  # length unit of the coordinates (surface files: converted from mm)

    def __post_init__(self):
        require(self.h >= 0, "mesh.h", self.h, "a mesh size > 0 (0: the bundled coarse mesh)")
        allowed = f'one of {", ".join(UNITS)}, or "" (the file\'s own unit)'
        require(self.units in ("", *UNITS), "mesh.units", self.units, allowed)


@dataclass(frozen=True)
class Rho0Config:
    value: FieldValue = 1.0


@dataclass(frozen=True)
class NonlocalConfig:
    method: str = "dense"
    tol: float = 1e-8
    precision: str = "auto"

    def __post_init__(self):
        allowed = (*METHODS, "auto")
        require(self.method in allowed, "nonlocal.method", self.method, f"one of {allowed}")
        require(0 < self.tol < 1, "nonlocal.tol", self.tol, "0 < tol < 1")
        require(
            self.precision in PRECISIONS,
            "nonlocal.precision",
            self.precision,
            f"one of {PRECISIONS} (single: geodesic kernels stored sparse)",
        )


@dataclass(frozen=True)
class InitialConfig:
    V: FieldValue = 0.0
    W: FieldValue = 0.0


@dataclass(frozen=True)
class StimulusConfig:
    I: FieldValue = 0.0  # noqa: E741

    def __post_init__(self):
        ok = not (isinstance(self.I, str) and self.I.strip().endswith(FIELD_FILE_SUFFIXES))
        require(ok, "stimulus.I", self.I, "a finite number or an expression of x, y, z, t")


@dataclass(frozen=True)
class TimeConfig:
    t_end: float = 10.0
    dt: float | str = 0.05  # "auto": 0.9 × the model's stability limit, [connectome] included
    scheme: str = "auto"  # "auto": the model's default (fem_fhn.registry)
    n_outputs: int = 20
    rtol: float = 1e-6
    atol: float = 1e-9

    def __post_init__(self):
        require(self.t_end > 0, "time.t_end", self.t_end, "t_end > 0")
        ok = self.dt == "auto" or (isinstance(self.dt, float) and self.dt > 0)
        require(ok, "time.dt", self.dt, 'dt > 0 or "auto"')
        allowed = ("auto", *SCHEMES)
        require(self.scheme in allowed, "time.scheme", self.scheme, f"one of {allowed}")
        require(self.n_outputs >= 1, "time.n_outputs", self.n_outputs, "an integer >= 1")
        require(self.rtol > 0, "time.rtol", self.rtol, "rtol > 0")
        require(self.atol > 0, "time.atol", self.atol, "atol > 0")


@dataclass(frozen=True)
class SolverConfig:
    """Which model a run builds (`fem_fhn.registry`: "nonlocal", "local", "network", "kinetic"
    or any registered kind); the form of the nonlocal system (V or ρ0-weighted Z) and the linear
    solver of the local model's implicit diffusion."""

    model: str = "nonlocal"
    form: str = "V"
    linear_solver: str = "cholesky"  # the local model's implicit solve (macro.local_rd)

    def __post_init__(self):
        from fem_fhn.macro.local_rd import LINEAR_SOLVERS

        allowed = f"one of {LINEAR_SOLVERS}"
        require(
            self.linear_solver in LINEAR_SOLVERS,
            "solver.linear_solver",
            self.linear_solver,
            allowed,
        )
        require(self.form in MODEL_FORMS, "solver.form", self.form, f"one of {tuple(MODEL_FORMS)}")


@dataclass(frozen=True)
class OutputConfig:
    """The [output] table: the folder, the field-file formats, the pictures, the progress bar;
    `every`: field files at every k-th output time (and the last; diagnostics at every one);
    `probes`: points [[x, y(, z)], ...] whose nearest nodes' fields go to probes.csv."""

    dir: str = "out/run"
    formats: tuple[str, ...] = FORMATS
    png: bool = True
    gif: bool = True
    progress: bool = True
    every: int = 1
    probes: list = field(default_factory=list)

    def __post_init__(self):
        for fmt in self.formats:
            require(fmt in FORMATS, "output.formats", fmt, f"a list of {FORMATS}")
        require(self.every >= 1, "output.every", self.every, "an integer >= 1")
        check_points("output.probes", self.probes)


@dataclass(frozen=True)
class CheckpointConfig:
    """The [checkpoint] table (`fem_fhn.checkpoint`): a checkpoint every `every` output times
    (0: only at the end, when stopped by SIGINT/SIGTERM and before a failure), in the folder `dir`
    inside the output folder; a stop request is looked at every `signal_steps` time steps of the
    fixed-step schemes (0: at output times only; see `fem_fhn.simulation`)."""

    every: int = 10
    dir: str = "checkpoint"
    signal_steps: int = 10

    def __post_init__(self):
        require(
            self.every >= 0, "checkpoint.every", self.every, "an integer >= 0 (0: only at the end)"
        )
        parts = Path(self.dir).parts
        ok = bool(parts) and not Path(self.dir).is_absolute() and ".." not in parts
        ok = ok and parts[0] not in (".", *_RUN_FILES) and not parts[0].startswith("segment")
        allowed = (
            "a folder name inside the output folder (relative, no '..', not one of the run's "
            f"own files {', '.join(_RUN_FILES)} or segment<k>)"
        )
        require(ok, "checkpoint.dir", self.dir, allowed)
        require(self.signal_steps >= 0, "checkpoint.signal_steps", self.signal_steps, ">= 0")


#: names the output folder uses for its own files and folders
_RUN_FILES = ("diagnostics.csv", "summary.json", "summary.json.tmp", *SEGMENT_OUTPUTS)


@dataclass(frozen=True)
class NetworkConfig:
    """The [network] table: n neurons sampled from ρ0, Φ = Ψ + (1/ε) χ_r (see fem_fhn.network)."""

    n: int = 10_000
    seed: int = 0
    positions: str = ""  # optional .npy file of positions (n, d) instead of sampling
    radius: float | str = "auto"  # r of χ_r, or "auto": about `neighbours` neighbours each
    neighbours: float = 30.0
    profile: str = "bump"
    eps: float = 1e-2
    spread_v: float = 0.0
    spread_w: float = 0.0
    noise: float = 0.0
    noise_seed: int = 0
    ksp_rtol: float | str = "auto"  # CG tolerance, "auto": from the step's accuracy
    write_particles: bool = True

    def __post_init__(self):
        require(self.n >= 1, "network.n", self.n, "an integer >= 1")
        ok = self.radius == "auto" or (isinstance(self.radius, float) and self.radius > 0)
        require(ok, "network.radius", self.radius, 'a number > 0 or "auto"')
        require(self.neighbours > 0, "network.neighbours", self.neighbours, "> 0")
        profiles = ("bump", "indicator")
        require(self.profile in profiles, "network.profile", self.profile, f"one of {profiles}")
        require(self.eps > 0, "network.eps", self.eps, "eps > 0 (math.inf: no short range)")
        for key in ("spread_v", "spread_w", "noise"):
            require(getattr(self, key) >= 0, f"network.{key}", getattr(self, key), ">= 0")
        ok = self.ksp_rtol == "auto" or (isinstance(self.ksp_rtol, float) and 0 < self.ksp_rtol < 1)
        require(ok, "network.ksp_rtol", self.ksp_rtol, '0 < ksp_rtol < 1 or "auto"')


@dataclass(frozen=True)
class KineticConfig:
    """The [kinetic] table: the mean-field density f(t, x, v, w) on a (v, w) grid per node.

    Box bounds "auto" choose the smallest invariant box (`fem_fhn.kinetic.suggest_grid`);
    probes = [[x, y], ...] are points whose nearest nodes get a picture of f(v, w) at the end.
    """

    eps: float = 1e-3
    n_v: int = 64
    n_w: int = 32
    v_min: float | str = "auto"
    v_max: float | str = "auto"
    w_min: float | str = "auto"
    w_max: float | str = "auto"
    sigma_v: float = 0.1
    sigma_w: float = 0.1
    diffusion: float = 0.0
    limiter: str = "mc"
    transport_scheme: str = "ssprk2"
    splitting: str = "strang"
    relaxation: str = "auto"
    v_flux: str = "auto"
    backend: str = "numba"
    probes: list = field(default_factory=list)

    def __post_init__(self):
        from fem_fhn.kinetic import model, stepper, transport

        require(self.eps > 0, "kinetic.eps", self.eps, "eps > 0 (inf: no relaxation)")
        for key in ("n_v", "n_w"):
            require(
                getattr(self, key) >= 4, f"kinetic.{key}", getattr(self, key), "an integer >= 4"
            )
        bounds = [getattr(self, k) for k in ("v_min", "v_max", "w_min", "w_max")]
        for key, value in zip(("v_min", "v_max", "w_min", "w_max"), bounds, strict=True):
            ok = value == "auto" or isinstance(value, float)
            require(ok, f"kinetic.{key}", value, 'a number or "auto"')
        autos = [b == "auto" for b in bounds]
        require(
            all(autos) or not any(autos),
            "kinetic.v_min",
            self.v_min,
            'all four box bounds numbers, or all "auto"',
        )
        for key in ("sigma_v", "sigma_w", "diffusion"):
            require(getattr(self, key) >= 0, f"kinetic.{key}", getattr(self, key), ">= 0")
        choices = {
            "limiter": tuple(transport.LIMITERS),
            "transport_scheme": stepper.TRANSPORT_SCHEMES,
            "splitting": stepper.SPLITTINGS,
            "relaxation": stepper.RELAXATION_MODES,
            "v_flux": stepper.V_FLUXES,
            "backend": model.BACKENDS,
        }
        for key, allowed in choices.items():
            value = getattr(self, key)
            require(value in allowed, f"kinetic.{key}", value, f"one of {allowed}")
        check_points("kinetic.probes", self.probes)


@dataclass(frozen=True)
class LimitStudyConfig:
    """The [limit_study] table of `fem-fhn limit-study` (see fem_fhn.studies).

    perturbation = c ≥ 0 starts the kinetic run from ill-prepared moments of size c ε^α,
    α = perturbation_exponent ("theorem": 1/(2(d+6))); eta > 0 splits the relative entropy into
    ρ0 > eta, 0 < ρ0 ≤ eta and ρ0 = 0.
    """

    perturbation: float = 0.0
    perturbation_exponent: float | str = "theorem"
    eta: float = 0.1

    def __post_init__(self):
        require(
            self.perturbation >= 0,
            "limit_study.perturbation",
            self.perturbation,
            "a size c >= 0 (0: well-prepared data)",
        )
        alpha = self.perturbation_exponent
        ok = alpha == "theorem" or (isinstance(alpha, float) and alpha > 0)
        require(ok, "limit_study.perturbation_exponent", alpha, 'a number > 0 or "theorem"')
        require(self.eta > 0, "limit_study.eta", self.eta, "a density threshold eta > 0")


MAP_KEYS = ("param1", "range1", "param2", "range2", "n")
#: the largest grids of `fem-fhn dispersion`: k points, kinetic k points, map points per axis
MAX_K_POINTS, MAX_K_KINETIC, MAX_MAP_POINTS = 10_000_000, 10_000, 2_000


@dataclass(frozen=True)
class DispersionConfig:
    """The [dispersion] table of `fem-fhn dispersion` (see fem_fhn.stability).

    k runs over [0, k_max] (k_max = 0: 10 / kernel width) in n_k points, around the homogeneous
    state V_star ("rest": the stable equilibrium) with density rho, for kernels in dimension dim;
    `map` = {param1, range1 = [lo, hi], param2, range2, n} adds a parameter-plane map. With a
    [kinetic] table the kinetic eigenvalues are computed at n_k_kinetic points of [0, k_max].
    """

    dim: int = 2
    k_max: float = 0.0
    n_k: int = 2001
    rho: float = 1.0
    V_star: float | str = "rest"
    map: dict = field(default_factory=dict)
    n_k_kinetic: int = 20

    def __post_init__(self):
        require(self.dim in (1, 2, 3), "dispersion.dim", self.dim, "1, 2 or 3")
        require(self.k_max >= 0, "dispersion.k_max", self.k_max, "a wavenumber > 0 (0: auto)")
        ok = 2 <= self.n_k <= MAX_K_POINTS
        require(ok, "dispersion.n_k", self.n_k, f"an integer 2 <= n_k <= {MAX_K_POINTS}")
        ok = 1 <= self.n_k_kinetic <= MAX_K_KINETIC
        allowed = f"an integer 1 <= n_k_kinetic <= {MAX_K_KINETIC}"
        require(ok, "dispersion.n_k_kinetic", self.n_k_kinetic, allowed)
        require(self.rho >= 0, "dispersion.rho", self.rho, "a density >= 0")
        ok = self.V_star == "rest" or isinstance(self.V_star, float)
        require(ok, "dispersion.V_star", self.V_star, 'a number or "rest"')
        if not self.map:
            return
        for key in self.map:
            if key not in MAP_KEYS:
                raise _unknown(key, MAP_KEYS, "dispersion.map.")
        for key in ("param1", "range1", "param2", "range2"):
            require(
                key in self.map, f"dispersion.map.{key}", None, f"given ({', '.join(MAP_KEYS)})"
            )
        for key in ("range1", "range2"):
            value = self.map[key]
            ok = isinstance(value, list) and len(value) == 2
            ok = ok and all(isinstance(v, int | float) and math.isfinite(v) for v in value)
            ok = ok and value[0] < value[1]
            require(ok, f"dispersion.map.{key}", value, "a list [lo, hi] of numbers, lo < hi")
        n = self.map.get("n", 41)
        ok = isinstance(n, int) and not isinstance(n, bool) and 2 <= n <= MAX_MAP_POINTS
        require(ok, "dispersion.map.n", n, f"an integer 2 <= n <= {MAX_MAP_POINTS}")


@dataclass(frozen=True)
class BudgetConfig:
    """The [budget] table: limits checked before a run starts (`fem_fhn.budget`).

    memory_gib: GiB per rank the run may take (0: the memory available on the machine, shared by
    the ranks running on it); steps: time steps of a fixed-step scheme; outputs: output times.
    """

    memory_gib: float = 0.0
    steps: int = 100_000_000
    outputs: int = 10_000

    def __post_init__(self):
        allowed = "GiB per rank > 0, or 0: the memory available on the machine"
        require(self.memory_gib >= 0, "budget.memory_gib", self.memory_gib, allowed)
        require(self.steps >= 1, "budget.steps", self.steps, "an integer >= 1")
        require(self.outputs >= 1, "budget.outputs", self.outputs, "an integer >= 1")


#: how the kernel measures the distance between two nodes
DISTANCES = ("euclidean", "geodesic")


@dataclass(frozen=True)
class KernelConfig:
    """The [kernel] table, passed to `kernels.make_kernel` with the mesh's topological dimension
    (2 for a surface in space: the kernel is normalised on the surface). distance: "euclidean"
    (straight, chordal through space on a surface) or "geodesic" (along a triangle surface,
    within the kernel's cutoff; methods dense, sparse, hmatrix)."""

    spec: dict = field(default_factory=lambda: {"type": "gaussian", "width": 0.1})
    allow_negative: bool = False  # Psi < 0 somewhere is refused by `fem-fhn run` unless true
    distance: str = "euclidean"  # or "geodesic": along a triangle surface

    def build(self, dim: int):
        return kernels.make_kernel({**self.spec, "dim": dim})


@dataclass(frozen=True)
class RunConfig:
    """A whole run: one attribute per TOML table."""

    mesh: MeshConfig = MeshConfig()
    rho0: Rho0Config = Rho0Config()
    model: FHNParameters = FHNParameters()
    kernel: KernelConfig = KernelConfig()
    nonlocal_: NonlocalConfig = NonlocalConfig()
    initial: InitialConfig = InitialConfig()
    stimulus: StimulusConfig = StimulusConfig()
    time: TimeConfig = TimeConfig()
    solver: SolverConfig = SolverConfig()
    output: OutputConfig = OutputConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    network: NetworkConfig | None = None
    kinetic: KineticConfig | None = None
    dispersion: DispersionConfig | None = None
    budget: BudgetConfig = BudgetConfig()
    limit_study: LimitStudyConfig = LimitStudyConfig()
    connectome: ConnectomeConfig | None = None
    base_dir: Path = Path(".")
    source: str = ""  # the config file it was read from
    tables: dict = field(default_factory=dict)  # tables of registered models (`register_table`)

    def table(self, name: str):
        """The table `name` as given (None if absent): a built-in one or a registered one."""
        if name in self.tables:
            return self.tables[name]
        attr = "nonlocal_" if name == "nonlocal" else name
        return getattr(self, attr, None) if name in SECTIONS else None

    def path(self, value: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    def field_source(self, value: FieldValue, key: str, variables=("x", "y", "z")):
        """A number, an `Expression`, or a `Path` for a field given in the config."""
        if isinstance(value, str) and value.strip().endswith(FIELD_FILE_SUFFIXES):
            return self.path(value.strip())
        if isinstance(value, str):
            return Expression(value, variables, key)
        return float(value)

    def mesh_source(self) -> str | Path | tuple[Path, ...]:
        src = self.mesh.source
        if isinstance(src, tuple):
            return tuple(self.path(s) for s in src)
        return self.path(src) if Path(src).suffix else src


SECTIONS = {
    "mesh": MeshConfig,
    "rho0": Rho0Config,
    "model": FHNParameters,
    "kernel": KernelConfig,
    "nonlocal": NonlocalConfig,
    "initial": InitialConfig,
    "stimulus": StimulusConfig,
    "time": TimeConfig,
    "solver": SolverConfig,
    "output": OutputConfig,
    "checkpoint": CheckpointConfig,
    "network": NetworkConfig,
    "kinetic": KineticConfig,
    "dispersion": DispersionConfig,
    "budget": BudgetConfig,
    "limit_study": LimitStudyConfig,
    "connectome": ConnectomeConfig,
}


#: tables added by models registered outside the package: name -> dataclass
TABLES: dict[str, type] = {}


def register_table(name: str, cls: type) -> None:
    """Accept the table [name] in configs, validated into the frozen dataclass `cls` like the
    built-in ones (its `__post_init__` raises `ParameterError` for bad values); a model kind
    names it as its `table` (`fem_fhn.registry.ModelKind`) and reads it with `config.table`."""
    if name in SECTIONS:
        raise ValueError(f"[{name}] is a built-in table")
    TABLES[name] = cls


def _unknown(key: str, allowed, where: str) -> ConfigError:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return ConfigError(f"unknown key '{where}{key}'{hint}; allowed: {', '.join(allowed)}")


#: float keys that also take inf (TOML `inf`): the limit the key's message documents
INFINITE_OK = {
    "kinetic.eps": "inf: no relaxation",
    "network.eps": "inf: no short-range term",
    **connectome_config.INFINITE,
}
#: keys holding a field on the mesh (a number, an expression or a file); the other `float | str`
#: keys take a number or one word (WORDS, default "auto")
FIELD_KEYS = {
    "rho0.value": "a finite number, an expression of x, y, z, or a .npy/.csv/.txt file",
    "initial.V": "a finite number, an expression of x, y, z, or a .npy/.csv/.txt file",
    "initial.W": "a finite number, an expression of x, y, z, or a .npy/.csv/.txt file",
    "stimulus.I": "a finite number or an expression of x, y, z, t",
}
WORDS = {"dispersion.V_star": "rest"}


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


#: annotations whose TOML values are taken as they are: (test of the value, what is allowed)
PLAIN_TYPES = {
    int: (lambda value: isinstance(value, int) and not isinstance(value, bool), "an integer"),
    bool: (lambda value: isinstance(value, bool), "true or false"),
    list: (lambda value: isinstance(value, list), "a list"),
    dict: (lambda value: isinstance(value, dict), "a table"),
    str: (lambda value: isinstance(value, str), "a string"),
}


def _check_type(key: str, value, hint) -> object:
    """Check a TOML value against a field annotation; return it converted."""
    if hint is float:
        finite = _is_number(value) and math.isfinite(value)
        if key in INFINITE_OK:
            ok = finite or (_is_number(value) and value == math.inf)
            require(ok, key, value, f"a finite number or inf ({INFINITE_OK[key]})")
            return float(value)
        require(finite, key, value, "a finite number")
        return float(value)
    if hint in PLAIN_TYPES:
        ok, allowed = PLAIN_TYPES[hint]
        require(ok(value), key, value, allowed)
        return value
    if hint == MeshSource:
        ok = isinstance(value, str) or (
            isinstance(value, list) and len(value) > 0 and all(isinstance(v, str) for v in value)
        )
        require(ok, key, value, FILE_LISTS.get(key, "a file name or a list of them"))
        return value if isinstance(value, str) else tuple(value)
    if hint == FieldValue:  # also float | str
        ok = isinstance(value, str) or (_is_number(value) and math.isfinite(value))
        allowed = FIELD_KEYS.get(key, f'a finite number or "{WORDS.get(key, "auto")}"')
        require(ok, key, value, allowed)
        return value if isinstance(value, str) else float(value)
    if typing.get_origin(hint) is tuple:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        require(ok, key, value, "a list of strings")
        return tuple(value)
    raise AssertionError(f"no check for {hint}")  # pragma: no cover


def _in_section(err: ParameterError, name: str) -> ConfigError:
    """The error under its section's key: checks made elsewhere name bare fields ("tau = ...")."""
    msg = str(err)
    return ConfigError(msg if msg.startswith(f"{name}.") else f"{name}.{msg}")


def _build_section(name: str, cls, table) -> object:
    if not isinstance(table, dict):
        raise ConfigError(f"[{name}] must be a table, got {table!r}")
    if cls is KernelConfig:
        spec = dict(table)
        allow_negative = _check_type(
            "kernel.allow_negative", spec.pop("allow_negative", False), bool
        )
        distance = spec.pop("distance", "euclidean")
        require(distance in DISTANCES, "kernel.distance", distance, f"one of {DISTANCES}")
        if "dim" in spec:
            raise ConfigError("kernel.dim is not allowed: the dimension is the mesh's")
        try:
            kernels.make_kernel({**spec, "dim": 2})  # validates type, keys and values
        except ParameterError as err:
            raise _in_section(err, "kernel") from None
        return KernelConfig(spec, allow_negative, distance)
    hints = typing.get_type_hints(cls)
    allowed = [f.name for f in fields(cls)]
    values = {}
    for key, value in table.items():
        if key not in allowed:
            raise _unknown(key, allowed, f"{name}.")
        values[key] = _check_type(f"{name}.{key}", value, hints[key])
    try:
        return cls(**values)
    except ParameterError as err:
        raise _in_section(err, name) from None


def parse_config(data: dict, base_dir: Path | str = ".", source: str = "") -> RunConfig:
    """Validate a parsed TOML document and build the `RunConfig`."""
    sections, extra = {}, {}
    for name, table in data.items():
        if name in TABLES:
            extra[name] = _build_section(name, TABLES[name], table)
            continue
        if name not in SECTIONS:
            raise _unknown(name, [*SECTIONS, *TABLES], "")
        attr = "nonlocal_" if name == "nonlocal" else name
        sections[attr] = _build_section(name, SECTIONS[name], table)
    config = RunConfig(**sections, base_dir=Path(base_dir), source=source, tables=extra)
    from fem_fhn import config_checks as checks

    config = checks.check_network(config, "n" in data.get("network", {}))
    checks.check_fields(config)
    checks.check_distance(config)
    try:
        checks.check_dispersion(config)
        checks.check_budget(config)
        connectome_config.check(config)
    except ConfigError:
        raise
    except ParameterError as err:  # `require` in the cross-table checks: a config error
        raise ConfigError(str(err)) from None
    return config


def load_config(path: Path | str | None = None) -> RunConfig:
    """Read and validate a TOML config (the bundled default when `path` is None)."""
    path = DEFAULT_CONFIG if path is None else Path(path)
    if path.is_dir():
        raise ConfigError(
            f"config = {str(path)!r} is not allowed: it is a folder; allowed: a TOML file"
        )
    if not path.is_file():
        raise ConfigError(
            f"config = {str(path)!r} is not allowed: the file does not exist; allowed: a TOML file"
        )
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = " ".join(str(err).split())[:120]
        raise ConfigError(
            f"config = {str(path)!r} is not allowed: it cannot be read as UTF-8 text ({reason}); "
            "allowed: a TOML file"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(
            f"config = {str(path)!r} is not allowed: it is not valid TOML ({err}); allowed: a "
            "TOML file"
        ) from None
    return parse_config(data, path.parent, str(path))
