"""The model registry: every model kind a run can build, registered once.

    [solver] model = "nonlocal" | "local" | "network" | "kinetic"   (or any registered name)

A `ModelKind` says everything the runner, the checkpoints, the time-step checks and the failure
messages need to know about a kind: its config table, how to build it (`Setup`), the parts of
the standard form it provides (so the schemes it can use, `fem_fhn.timestepping.schemes_for`),
the layout of its state (the axis over nodes or particles, their global ids and coordinates),
the settings a restart must share with its checkpoint, and its stable-step rule. Nothing else
in the package branches on the kind. A new model is added with `register_model` (see
docs/architecture.md, "Adding a model").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fem_fhn.params import ParameterError
from fem_fhn.timestepping import SCHEMES, schemes_for

if TYPE_CHECKING:
    from fem_fhn.config import RunConfig
    from fem_fhn.mesh import NodalMesh


@dataclass
class Setup:
    """What a run needs besides the output: built from a config, nothing written yet.

    Attributes:
        kind: the registry entry of the model.
        nodes: the nodal mesh; rho0: owned ρ0 values.
        model: the model (`fem_fhn.standard_form.Model`).
        y0: initial state; integrator: has advance(model, t, y, t_target).
        fields: the names `fields_of` returns (written at every output time).
        outputs: factories out_dir -> model outputs obs(t, y, step) of the raw state (particle
            files, phase-space pictures), called at output times besides the observers.
        info: model facts for summary.json.
        output_fields: y -> {name: nodal values} as written and summarised (default
            model.fields_of; the network marks its empty nodes NaN).
        observers: factories out_dir -> observers obs(output) of the model's own series
            (the connectome's regions.csv and sensors.csv), closed at the end.
    """

    kind: ModelKind
    nodes: NodalMesh
    rho0: np.ndarray
    model: object
    y0: np.ndarray
    integrator: object
    fields: tuple[str, ...]
    outputs: list[Callable[[Path], Callable]] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    output_fields: Callable | None = None
    observers: list[Callable[[Path], Callable]] = field(default_factory=list)

    def fields_of(self, y: np.ndarray) -> dict[str, np.ndarray]:
        """The nodal fields of state y as the output files and diagnostics take them."""
        return (self.output_fields or self.model.fields_of)(y)


def _node_ids(setup: Setup) -> np.ndarray:
    return setup.nodes.global_index


def _node_points(setup: Setup) -> np.ndarray:
    return setup.nodes.coords


def _no_physics(config: RunConfig, setup: Setup) -> dict:
    return {}


def _no_check(config: RunConfig, setup: Setup) -> None:
    return None


def _model_stable_dt(setup: Setup, t: float) -> float:
    return setup.model.max_stable_dt()


@dataclass(frozen=True)
class ModelKind:
    """One model kind.

    Attributes:
        name: the value of [solver] model.
        build: build(config, nodes, rho0, kernel) -> Setup.
        parts: the parts of the standard form its models provide.
        default_scheme: time.scheme when left out ("auto").
        table: the config table that belongs to it (`RunConfig.table(name)`), or None.
        node_axis: the axis of its state arrays that runs over `ids`.
        ids: setup -> global ids of the owned state rows (checkpoints sort by them).
        points: setup -> coordinates of the owned state rows (checked on restart).
        physics: (config, setup) -> {key: value} a restart must share, besides the common ones.
        check: (config, setup) -> None, raises for a built model that cannot run as configured.
        stable_dt: (setup, t) -> the explicit step bound of the built model.
        hints: extra likely causes named when a run fails.
        files: config -> the extra files and folders its model outputs write.
        inputs: config -> {key: path} of the files its table reads (their SHA-256 is stored in
            checkpoints, and a restart with changed files is refused).
        what: what `ids` number ("mesh nodes", "particles"), for messages.
    """

    name: str
    build: Callable[..., Setup]
    parts: frozenset[str]
    default_scheme: str
    table: str | None = None
    node_axis: int = 1
    ids: Callable[[Setup], np.ndarray] = _node_ids
    points: Callable[[Setup], np.ndarray] = _node_points
    physics: Callable[..., dict] = _no_physics
    check: Callable[..., None] = _no_check
    stable_dt: Callable[[Setup, float], float] = _model_stable_dt
    hints: tuple[str, ...] = ()
    files: Callable[..., list[str]] = lambda config: []
    inputs: Callable[..., dict] = lambda config: {}
    what: str = "mesh nodes"

    @property
    def schemes(self) -> tuple[str, ...]:
        """The registered time schemes its models can use."""
        return schemes_for(self.parts)


MODELS: dict[str, ModelKind] = {}


def register_model(kind: ModelKind, replace: bool = False) -> ModelKind:
    """Add a model kind to the registry (`replace`: overwrite one of the same name); the
    built-in kinds come first."""
    _load_builtin()
    if kind.name in MODELS and not replace:
        raise ValueError(f"a model kind named {kind.name!r} is registered already")
    if kind.default_scheme not in kind.schemes:
        raise ValueError(
            f"model kind {kind.name!r}: its default scheme {kind.default_scheme!r} needs parts "
            f"it does not provide ({', '.join(sorted(kind.parts))})"
        )
    MODELS[kind.name] = kind
    return kind


def model_names() -> tuple[str, ...]:
    """The names of the registered model kinds."""
    _load_builtin()
    return tuple(MODELS)


def kind_of(config: RunConfig) -> ModelKind:
    """The registered kind that [solver] model names."""
    _load_builtin()
    name = config.solver.model
    if name not in MODELS:
        raise ParameterError(f"solver.model = {name!r} is not allowed: one of {', '.join(MODELS)}")
    return MODELS[name]


def scheme_of(config: RunConfig, kind: ModelKind) -> str:
    """time.scheme, or the kind's default for "auto"; refused if the kind cannot use it (with a
    [connectome], whose delay history only fixed-step schemes honour, too)."""
    scheme = config.time.scheme
    parts = kind.parts | ({"history"} if config.connectome is not None else set())
    allowed = schemes_for(parts)
    if scheme == "auto":
        return kind.default_scheme
    if scheme not in allowed:
        extra = " and [connectome]" if "history" in parts else ""
        raise ParameterError(
            f"time.scheme = {scheme!r} is not allowed with solver.model = {kind.name!r}{extra}: "
            f"one of {', '.join(allowed)} (the schemes whose parts the model provides)"
        )
    return scheme


def check_tables(config: RunConfig, kind: ModelKind) -> None:
    """A table that belongs to another model kind than the chosen one is refused, named."""
    owners = {k.table: k.name for k in MODELS.values() if k.table}
    for table, owner in owners.items():
        if table != kind.table and config.table(table) is not None:
            raise ParameterError(
                f"[{table}] is not allowed with solver.model = {kind.name!r}: the table belongs "
                f"to solver.model = {owner!r} (set [solver] model = {owner!r}, or remove [{table}])"
            )


def all_schemes() -> tuple[str, ...]:
    """Every registered time scheme, and "auto" (the model's default)."""
    return ("auto", *SCHEMES)


def _load_builtin() -> None:
    """The four built-in kinds register themselves when `fem_fhn.models` is imported."""
    import fem_fhn.models  # noqa: F401
