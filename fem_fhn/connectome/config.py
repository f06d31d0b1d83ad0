"""The [connectome] table: region coupling with conduction delays for the nonlocal macro model.

    [connectome]
    zip = "connectivity_76.zip"          # a TVB connectivity zip, or:
    weights = "W.npy"                    # .npy/.csv/.txt matrices (n_regions x n_regions)
    tract_lengths = "L.npy"              # optional with weights (none: no delays)
    labels = "regionMapping_16k_76.txt"  # region index per mesh vertex (input node order),
                                         # or lh.aparc.annot / *.label.gii (matched by name),
                                         # or one file per [mesh] source file:
                                         # ["lh.aparc.annot", "rh.aparc.annot"]
    speed = 3.0                          # conduction speed (mesh length unit per time unit)
    G = 0.1                              # global coupling strength
    projection = "projection_eeg_65_surface_16k.npy"   # optional sensors x vertices (.npy/.mat)
    sensors = "eeg_brainstorm_65.txt"    # optional sensor names: one line "name x y z" each
    regions_csv = true                   # write regions.csv / regions.png

Paths are relative to the config file. Everything that does not need the mesh is checked when
the config is read (`check`), the label count of each file of a list against its surface file
too; the total label count and the projection's columns when the run is built (`build`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fem_fhn.connectome.coupling import (
    ConnectomeCoupling,
    RegionMeans,
    check_scheme,
    coupling_rate,
)
from fem_fhn.connectome.data import (
    Connectome,
    SensorProjection,
    read_connectome,
    read_labels,
    read_projection,
    read_sensor_names,
    read_tvb_zip,
    refuse,
)
from fem_fhn.params import require

#: one file, or a list of files (a TOML list, kept as a tuple)
LabelFiles = str | tuple[str, ...]


@dataclass(frozen=True)
class ConnectomeConfig:
    """Region coupling G Σ_l W_kl (V̄_l(t − d_kl) − V̄_k(t)) of the nonlocal model, d_kl = L_kl /
    speed rounded to whole steps (fixed-step schemes only); time.dt = "auto" counts its rate
    2 |G| max_k Σ_l |W_kl|. Region labels from a parcellation (.annot, .label.gii) are matched
    to the connectome's region names (a zip with centres.txt): the label's name, else for a
    file of one hemisphere (lh./rh. prefix, hemi-L/R, .L./.R.) the first of ctx-lh-, ctx_lh_,
    lh-, lh_, lh., l_, L_, l, L before it (rh: the same with r, R) that names a region
    ("precentral" of lh.aparc.annot: "l_precentral" of connectivity_68); without names they
    are taken in the order of the file's label table. A list of label files, one per [mesh]
    source file, is concatenated in the mesh's vertex order, each file holding one label per
    vertex of its surface (without names, a table's regions are numbered after those of the
    tables before it). Unlabelled vertices are refused.

    See the module docstring for an example table.
    """

    zip: str = ""  # a TVB connectivity zip (weights.txt, tract_lengths.txt, centres.txt)
    weights: str = ""  # W (n x n), .npy/.csv/.txt, instead of zip
    tract_lengths: str = ""  # L (n x n) with weights (none: no delays)
    labels: LabelFiles = ""  # region per vertex: a file, or a list with one per mesh.source file
    speed: float = math.inf  # conduction speed, mesh length unit per time unit (inf: no delays)
    G: float = 1.0  # global coupling strength
    projection: str = ""  # sensors x vertices matrix (.npy/.mat) for sensors.csv
    sensors: str = ""  # sensor names, one line "name x y z" per projection row
    regions_csv: bool = True  # write regions.csv and regions.png

    def __post_init__(self):
        one = "either zip (a TVB connectivity zip) or weights (with optional tract_lengths)"
        require(bool(self.zip) != bool(self.weights), "connectome.zip", self.zip, one)
        if self.zip and self.tract_lengths:
            require(False, "connectome.tract_lengths", self.tract_lengths, "leave it out with zip")
        require(bool(self.labels), "connectome.labels", self.labels, "a file of region labels")
        require(self.speed > 0, "connectome.speed", self.speed, "a speed > 0 (inf: no delays)")
        if self.sensors and not self.projection:
            require(False, "connectome.sensors", self.sensors, "sensor names with a projection")


#: key -> what connectome.speed = inf means (config.INFINITE_OK)
INFINITE = {"connectome.speed": "inf: no delays"}


def load(config) -> Connectome:
    """The connectome of a run config's [connectome] table (paths relative to the config)."""
    c = config.connectome
    if c.zip:
        return read_tvb_zip(config.path(c.zip), "connectome.zip", c.zip)
    lengths = config.path(c.tract_lengths) if c.tract_lengths else None
    return read_connectome(config.path(c.weights), lengths)


def max_rate(config) -> float:
    """The coupling's rate for explicit steps, 2 |G| max_k Σ_l |W_kl| (`coupling_rate`), of the
    [connectome] table (0 without one): what time.dt = "auto" counts before the coupling is
    built (its delays need the step)."""
    if config.connectome is None:
        return 0.0
    return coupling_rate(load(config).weights, config.connectome.G)


def load_labels(config, connectome: Connectome, counts: list[int] | None = None) -> np.ndarray:
    """Region index per vertex in input node order (a parcellation's labels matched to the
    connectome's region names when it has them, see `fem_fhn.connectome.data`); a list of
    files concatenated, file i holding counts[i] labels (None: not checked)."""
    c = config.connectome
    names = connectome.names if connectome.has_names else None
    several = isinstance(c.labels, tuple)
    paths = [config.path(p) for p in c.labels] if several else config.path(c.labels)
    return read_labels(paths, connectome.n_regions, "connectome.labels", names, shown(c), counts)


def shown(c: ConnectomeConfig) -> str | list[str]:
    """connectome.labels as the config writes it (a list for several files)."""
    return list(c.labels) if isinstance(c.labels, tuple) else c.labels


def surface_counts(config) -> list[int] | None:
    """The number of vertices of each [mesh] source file when connectome.labels lists one file
    per source file (None otherwise: the total is checked against the mesh by `build`).

    Raises:
        ParameterError: a list of labels whose length is not the number of mesh source files.
    """
    labels, source = config.connectome.labels, config.mesh.source
    if not isinstance(labels, tuple):
        return None
    sources = source if isinstance(source, tuple) else (source,)
    if len(labels) != len(sources):
        why = f"{len(labels)} label file(s) for {len(sources)} mesh.source file(s)"
        allowed = "one label file, or a list with one label file per mesh.source file, in order"
        raise refuse("connectome.labels", list(labels), why, allowed)
    if not isinstance(source, tuple):
        return None
    from fem_fhn.surface import read_surface

    return [len(read_surface(path).vertices) for path in config.mesh_source()]


def input_files(config) -> dict[str, Path]:
    """{key: path} of the files [connectome] reads (checksummed by checkpoints); a list of label
    files as connectome.labels[i]."""
    c = config.connectome
    if c is None:
        return {}
    keys = ("zip", "weights", "tract_lengths", "labels", "projection", "sensors")
    files = {}
    for k in keys:
        value = getattr(c, k)
        if isinstance(value, tuple):
            files.update({f"connectome.{k}[{i}]": config.path(v) for i, v in enumerate(value)})
        elif value:
            files[f"connectome.{k}"] = config.path(value)
    return files


def physics(config) -> dict:
    """The [connectome] settings a restart must share."""
    c = config.connectome
    if c is None:
        return {}
    return {"connectome.speed": c.speed, "connectome.G": c.G}


def check(config) -> None:
    """Checks that need no mesh: the model and scheme, the files and their contents."""
    c = config.connectome
    if c is None:
        return
    other = [t for t in ("network", "kinetic") if getattr(config, t) is not None]
    if other or config.solver.model != "nonlocal":
        what = f"[{other[0]}]" if other else f"solver.model = {config.solver.model!r}"
        raise refuse(
            "connectome",
            what,
            "the coupling is part of the nonlocal macroscopic model",
            "[connectome] with solver.model = 'nonlocal' and no [network] or [kinetic]",
        )
    check_scheme(config.time.scheme)
    counts = surface_counts(config)
    connectome = load(config)
    load_labels(config, connectome, counts)
    if c.projection:
        sensor_names(config, read_projection(config.path(c.projection)))


def sensor_names(config, projection: SensorProjection) -> list[str]:
    """Names of the sensors kept from the projection: from [connectome] sensors, or
    sensor<row number in the file>."""
    c = config.connectome
    if c.sensors:
        names = read_sensor_names(config.path(c.sensors), projection.n_rows)
    else:
        names = [f"sensor{j}" for j in range(projection.n_rows)]
    return [names[j] for j in projection.rows]


def build(config, nodes, rho0: np.ndarray, dt: float) -> ConnectomeCoupling:
    """The coupling on the owned vertices.

    Args:
        config: the run config (with a [connectome] table).
        nodes: the nodal mesh (`fem_fhn.mesh.NodalMesh`).
        rho0: owned ρ0.
        dt: the fixed time step the integrator takes (delays are whole multiples of it).
    """
    c = config.connectome
    connectome = load(config)
    labels = load_labels(config, connectome)
    if labels.size != nodes.n_global:
        files = "the files have" if isinstance(c.labels, tuple) else "the file has"
        raise refuse(
            "connectome.labels",
            shown(c),
            f"{files} {labels.size} labels, the mesh has {nodes.n_global} vertices",
            "one region label per vertex, in input node order",
        )
    owned = labels[nodes.global_index]
    means = RegionMeans(owned, nodes.masses, rho0, connectome.n_regions, nodes.comm)
    return ConnectomeCoupling(connectome, means, c.G, c.speed, dt)


def outputs(config, nodes, coupling: ConnectomeCoupling, field: str = "V") -> list:
    """Factories out_dir ↦ observer of the outputs: regions.csv and, with a projection,
    sensors.csv.

    Args:
        field: the name of the field the coupling acts on (V).
    """
    from fem_fhn.connectome.output import Projection, check_projection, region_writer, sensor_writer

    c, comm = config.connectome, nodes.comm
    t_end = config.time.t_end if config.output.png else None  # pictures at the last output
    regions = coupling.connectome.names
    factories = []
    if c.regions_csv:
        factories.append(
            lambda out: region_writer(coupling.means, regions, field, out, t_end, comm)
        )
    if c.projection:
        data = read_projection(config.path(c.projection))
        check_projection(data.matrix, nodes.n_global)
        projection = Projection(data.matrix, nodes.global_index, comm)
        sensors = sensor_names(config, data)
        left_out = data.n_rows - len(data.rows)
        if left_out and comm.rank == 0:
            logging.getLogger("fem_fhn").warning(
                "connectome.projection: %d of %d sensors have no finite projection and are "
                "left out",
                left_out,
                data.n_rows,
            )
        factories.append(lambda out: sensor_writer(projection, field, out, t_end, comm, sensors))
    return factories
