"""Checkpoints: a run's state on disk, keyed by global ids, so a run resumes on any number of ranks.

A checkpoint is a folder (OUT/checkpoint by default: [checkpoint] dir) holding

    meta.json    written by rank 0 after every piece is complete: format and version, the model
                 kind ([solver] model: "nonlocal", "local", "network", "kinetic", ...), the
                 reason ("periodic",
                 "interrupted", "failed" — the last good state before a failure — or "final"),
                 the time t, the step count, the `Position` (output interval and step inside it)
                 with the interval's bounds, the ranks and the pieces with their row counts, the
                 state layout, the physics of the run (compared on restart, `physics`), the
                 SHA-256 of every input file (`inputs`: mesh, ρ0, initial data, positions;
                 a restart whose files differ is refused), the
                 [time] table, the integrator's state (`integrator_state`: the current step of
                 the adaptive PETSc TS, the step counter that numbers the network's noise), the
                 diagnostics rows up to t and the restarts before this segment.
    rank<r>.h5   one piece per writing rank (h5py), with the datasets
                     ids     int64 (n,)         global ids, increasing: the input node number of
                                                the mesh (`NodalMesh.global_index`) or, for the
                                                network, the particle id (`NetworkFHN.global_id`)
                     state   float64 (n, ...)   the state of these ids, one row per id: (V, W) or
                                                (ρ0V, ρ0W) per node for the macroscopic and local
                                                models, (v, w) per particle for the network, the
                                                (n_v, n_w) grid of f per node for kinetic
                     points  float64 (n, d)     node coordinates / particle positions (checked on
                                                restart: a different mesh is refused)
                 and the attributes rank, ranks, kind and t.
    history.h5   (rank 0, only for models with a history: the connectome's delayed region
                 means) the arrays of `model.history_state()`, global and the same on every
                 rank, given back to `model.restore_history` on restart.

State layout: the macroscopic, local and network states are arrays (n_fields, n_local), the kinetic
state is (n_local, n_v, n_w); the kind's `node_axis` (`fem_fhn.registry`) says which axis runs
over the ids, and the pieces always store it first.

Atomic replacement: every rank writes its piece into `<dir>.tmp/`; after a barrier rank 0 writes
meta.json there, renames the previous `<dir>/` to `<dir>.old/`, `<dir>.tmp/` to `<dir>/`, and
removes `<dir>.old/`. A folder without meta.json is never used; if a crash leaves several complete
folders, `locate` takes the one with the most steps.

Restart (`resume`): every rank reads the ids of every piece, selects its own with
`np.searchsorted` and rebuilds the state in its own order, so the number of ranks may change.
Refused (one line, nothing written): a meta.json whose position is not a finite t ≥ 0 with
steps ≥ 0, changed physics or input files, a state that is not finite everywhere.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
import time as _time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fem_fhn.connectome.config import input_files as connectome_files
from fem_fhn.connectome.config import physics as connectome_physics
from fem_fhn.io import jsonable
from fem_fhn.params import ParameterError
from fem_fhn.simulation import Position, SimulationError

FORMAT = "fem_fhn checkpoint"
VERSION = 1
META = "meta.json"
HISTORY = "history.h5"  # the model's state besides the nodal state (the connectome's delays)
#: files and folders of a run segment that a restart in the same folder moves to segment<k>/
SEGMENT_OUTPUTS = (
    "fields.bp",
    "fields.xdmf",
    "fields.h5",
    "vtk",
    "particles",
    "phase_space.png",
    "V.png",
    "V.gif",
    "probes.csv",
)
_BLOCK_BYTES = 1 << 26


def _h5py():
    """h5py, bound to the HDF5 library it ships with.

    Importing `dolfinx.fem.petsc` makes llvmlite load libpetsc, and with it PETSc's own HDF5, into
    the global symbol scope; an h5py imported after that would bind to that HDF5 ("Not a
    datatype" errors). RTLD_DEEPBIND puts h5py's own libraries first (all its extension modules
    load with `import h5py`).
    """
    if "h5py" in sys.modules:
        return sys.modules["h5py"]
    flags = sys.getdlopenflags()
    sys.setdlopenflags(flags | getattr(os, "RTLD_DEEPBIND", 0))
    try:
        import h5py
    finally:
        sys.setdlopenflags(flags)
    return h5py


def _config_error(message: str) -> ParameterError:
    from fem_fhn.config import ConfigError

    return ConfigError(message)


def _resolved(source, value):
    """A field or mesh source as compared on restart: files by absolute path, else as given."""
    if isinstance(source, tuple):  # several surface files merged into one mesh
        return [str(path.resolve()) for path in source]
    return str(source.resolve()) if isinstance(source, Path) else value


def physics(config, setup) -> dict:
    """The settings a restart must share with its checkpoint, as a flat {key: value} dict.

    [model], [kernel] (with its distance), ρ0, the stimulus, the mesh (source, h, units), the
    model kind and what defines its state: the form (V or Z) of the nonlocal model; ε, D and
    the velocity grid (as resolved, "auto" included) of the kinetic model; n, the positions (seed
    or file), the radius (as resolved), the profile, ε, the noise and its seed of the network (the
    kind's `fem_fhn.registry.ModelKind.physics`).
    """
    out = {"model kind": setup.kind.name}
    out.update({f"model.{k}": v for k, v in asdict(config.model).items()})
    out.update({f"kernel.{k}": v for k, v in config.kernel.spec.items()})
    if config.kernel.distance != "euclidean":  # (checkpoints without the key are Euclidean)
        out["kernel.distance"] = config.kernel.distance
    rho0 = config.rho0.value
    out["rho0.value"] = _resolved(config.field_source(rho0, "rho0.value"), rho0)
    out["stimulus.I"] = config.stimulus.I
    out["mesh.source"] = _resolved(config.mesh_source(), config.mesh.source)
    out["mesh.h"] = config.mesh.h
    if config.mesh.units:
        out["mesh.units"] = config.mesh.units
    out.update(setup.kind.physics(config, setup))
    out.update(connectome_physics(config))
    return _normalised(out)


def sha256(path: Path) -> str:
    """The SHA-256 of a file's contents (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def input_files(config) -> dict[str, Path]:
    """{key: path} of every file a run reads besides the config: the mesh (a bundled domain's
    committed mesh too, unless generated at mesh.h), ρ0, initial data, and those of the model
    kind's table (network positions)."""
    from fem_fhn.mesh import resolve_mesh_source

    files = {}
    source = config.mesh_source()
    if isinstance(source, tuple):  # surface files merged into one mesh
        files.update({f"mesh.source[{i}]": path for i, path in enumerate(source)})
    elif isinstance(source, Path):
        files["mesh.source"] = source
    elif not config.mesh.h:
        files["mesh.source"] = resolve_mesh_source(source)
    for key, value in (
        ("rho0.value", config.rho0.value),
        ("initial.V", config.initial.V),
        ("initial.W", config.initial.W),
    ):
        field = config.field_source(value, key)
        if isinstance(field, Path):
            files[key] = field
    from fem_fhn.registry import kind_of

    files.update(kind_of(config).inputs(config))
    files.update(connectome_files(config))
    return files


def inputs(config) -> dict[str, dict]:
    """{key: {"path", "sha256"}} of `input_files`."""
    return {
        key: {"path": str(path), "sha256": sha256(path)}
        for key, path in input_files(config).items()
    }


def changed_inputs(saved: dict, current: dict) -> list[str]:
    """'key (path: why)' for every input file whose contents differ from the checkpoint's."""
    out = []
    for key in sorted(set(saved) | set(current)):
        old, new = saved.get(key), current.get(key)
        if (old or {}).get("sha256") == (new or {}).get("sha256"):
            continue
        if old is None:
            why = "not an input of the checkpointed run"
        elif new is None:
            why = "an input of the checkpointed run, not of this one"
        else:
            why = "contents differ"
        out.append(f"{key} ({(new or old)['path']!r}: {why})")
    return out


def differences(saved: dict, current: dict) -> list[str]:
    """'key = current (checkpoint: saved)' for every key whose values differ.

    Numbers agree within 1e-12 relative: values resolved at run time (the network's "auto"
    radius, the kinetic "auto" box) are sums whose rounding depends on the number of ranks.
    """
    out = []
    for key in sorted(set(saved) | set(current)):
        old, new = saved.get(key, "(not set)"), current.get(key, "(not set)")
        if not _same(old, new):
            out.append(f"{key} = {new!r} (checkpoint: {old!r})")
    return out


def _same(a, b) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool):
        if isinstance(b, bool):
            return False
        return a == b or abs(a - b) <= 1e-12 * max(abs(a), abs(b))
    return a == b


def integrator_state(integrator) -> dict:
    """What an integrator needs besides the state to continue identically."""
    state = {"type": type(integrator).__name__}
    dt = getattr(integrator, "dt", None)
    if dt is not None:
        state["dt"] = float(dt)
    ts = getattr(integrator, "_ts", None)
    if ts is not None:  # AdaptivePETSc: the step the TS would take next
        state["current_dt"] = float(ts.getTimeStep())
    step_count = getattr(integrator, "step_count", None)
    if step_count is not None:  # the IMEX noise is numbered by step
        state["step_count"] = int(step_count)
    return state


def restore_integrator(integrator, state: dict) -> None:
    """Put back the counters and the adaptive step (the step count only if the scheme matches)."""
    if "step_count" in state and getattr(integrator, "step_count", None) is not None:
        integrator.step_count = int(state["step_count"])
    same = state.get("type") == type(integrator).__name__
    if same and "current_dt" in state and getattr(integrator, "_ts", None) is None:
        integrator.dt = float(state["current_dt"])


@dataclass
class Located:
    """A checkpoint found for --restart: its folder, the run folder holding it, its meta.json."""

    ckpt_dir: Path
    run_dir: Path
    meta: dict


@dataclass
class Resumed:
    """What a restarted run starts from (`resume`)."""

    y: np.ndarray
    position: Position
    rows: list[dict]
    located: Located

    @property
    def restarts(self) -> list[dict]:
        """The restarts of the run so far, this one last."""
        meta = self.located.meta
        return [
            *meta.get("restarts", []),
            {
                "from": str(self.located.ckpt_dir),
                "t": meta["t"],
                "steps": meta["steps"],
                "reason": meta["reason"],
                "ranks": meta["ranks"],
            },
        ]


def read_meta(ckpt_dir: Path) -> dict:
    """meta.json of a checkpoint folder (ConfigError if missing, unreadable or not a checkpoint)."""
    path = Path(ckpt_dir) / META
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise _config_error(
            f"checkpoint file {str(path)!r} cannot be read ({err}); allowed: the meta.json "
            "written by fem-fhn run"
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _config_error(
            f"checkpoint file {str(path)!r} is not a fem_fhn checkpoint; allowed: the "
            "meta.json written by fem-fhn run"
        )
    if meta.get("version") != VERSION:
        raise _config_error(
            f"checkpoint version {meta.get('version')!r} in {str(path)!r} is not supported; "
            f"allowed: version {VERSION}"
        )
    missing = [key for key in _REQUIRED if key not in meta]
    if missing:
        raise _config_error(
            f"checkpoint file {str(path)!r} lacks {', '.join(missing)}; allowed: a complete "
            "meta.json written by fem-fhn run"
        )
    bad = _bad_position(meta)
    if bad:
        raise _config_error(
            f"checkpoint file {str(path)!r} is not allowed: {bad}; allowed: a meta.json written "
            "by fem-fhn run (a finite time t >= 0, steps >= 0, a position inside the run)"
        )
    return meta


def _integer(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _bad_position(meta: dict) -> str | None:
    """What is wrong with the position fields of a meta.json (None if nothing)."""
    t, steps, pos, interval = meta["t"], meta["steps"], meta["position"], meta["interval"]
    if not (_number(t) and t >= 0):
        return f"t = {t!r}"
    if not (_integer(steps) and steps >= 0):
        return f"steps = {steps!r}"
    if not isinstance(pos, dict) or not all(k in pos for k in ("index", "substep", "t", "steps")):
        return f"position = {pos!r}"
    ok = _integer(pos["index"]) and pos["index"] >= 0 and _integer(pos["substep"])
    ok = ok and pos["substep"] >= -1 and _number(pos["t"]) and pos["t"] == t
    ok = ok and _integer(pos["steps"]) and pos["steps"] == steps
    if not ok:
        return f"position = {pos!r} (t = {t!r}, steps = {steps!r})"
    ok = isinstance(interval, list) and len(interval) == 2 and all(map(_number, interval))
    if not (ok and interval[0] <= t <= interval[1] * (1 + 1e-12) + 1e-12):
        return f"interval = {interval!r} does not hold t = {t!r}"
    return None


_REQUIRED = (
    "kind",
    "reason",
    "t",
    "steps",
    "position",
    "interval",
    "ranks",
    "pieces",
    "n_global",
    "node_axis",
    "state_shape",
    "physics",
)


def _find(path: Path, name: str) -> Located:
    if not path.exists():
        raise _config_error(
            f"--restart {str(path)!r} is not allowed: the folder does not exist; allowed: the "
            f"output folder of an earlier run, holding {name}/{META}"
        )
    if not path.is_dir():
        raise _config_error(
            f"--restart {str(path)!r} is not allowed: it is not a folder; allowed: the output "
            f"folder of an earlier run, holding {name}/{META}"
        )
    found = []
    for folder, run_dir in [
        *((path / f"{name}{suffix}", path) for suffix in ("", ".tmp", ".old")),
        (path, path.parent),
    ]:
        if (folder / META).is_file():
            found.append(Located(folder, run_dir, read_meta(folder)))
    if not found:
        raise _config_error(
            f"--restart {str(path)!r} is not allowed: it holds no checkpoint "
            f"({str(path / name / META)!r} is missing); allowed: an output folder with a "
            "checkpoint (a run writes one at its end, every [checkpoint] every output times and "
            "when stopped by SIGINT/SIGTERM)"
        )
    return max(found, key=lambda c: int(c.meta.get("steps", -1)))


def locate(path: Path | str, name: str = "checkpoint", comm=None) -> Located:
    """The checkpoint for `--restart path`: path/<name> (or path itself if it is one).

    Rank 0 looks and reads meta.json; every rank gets the answer or raises the same ConfigError.
    """
    from mpi4py import MPI

    comm = MPI.COMM_WORLD if comm is None else comm
    answer = None
    if comm.rank == 0:
        try:
            answer = _find(Path(path), name)
        except ParameterError as err:
            answer = err
    answer = comm.bcast(answer, root=0)
    if isinstance(answer, Exception):
        raise answer
    return answer


def start_position(meta: dict, time_config) -> Position:
    """Where a restart starts on the output times of `time_config` (the [time] table)."""
    pos = Position.from_dict(meta["position"])
    t_end, n_out = float(time_config.t_end), int(time_config.n_outputs)
    tol = 1e-12 * max(1.0, abs(t_end))
    if pos.t >= t_end - tol:
        raise _config_error(
            f"time.t_end = {t_end!r} is not allowed with this restart: the checkpoint is at "
            f"t = {pos.t:g} (reason {meta['reason']!r}); allowed: t_end > {pos.t:g}"
        )
    times = np.linspace(0.0, t_end, n_out + 1)
    k = pos.index
    t0, t1 = meta["interval"]
    if k < n_out and times[k] == t0 and times[k + 1] == t1:
        return pos
    k = int(np.clip(np.searchsorted(times, pos.t, side="right") - 1, 0, n_out - 1))
    if abs(times[k] - pos.t) <= tol:
        return Position(k, 0, pos.t, pos.steps)
    return Position(k, -1, pos.t, pos.steps)


def resume(located: Located, config, setup) -> Resumed:
    """Check a checkpoint against this run and read this rank's part of its state.

    Raises:
        ConfigError: the physics, the model kind, the mesh or the particles differ, or the
            checkpoint is at or after time.t_end.
    """
    meta = located.meta
    where = str(located.ckpt_dir)
    diffs = differences(meta.get("physics", {}), physics(config, setup))
    if diffs:
        raise _config_error(
            f"--restart {where!r} is not allowed: the physics differs from the checkpoint: "
            f"{'; '.join(diffs)}; allowed: the same [model], [kernel], [rho0], [stimulus], "
            "[mesh] and model settings as the checkpointed run"
        )
    from mpi4py import MPI

    comm = setup.nodes.comm
    current = comm.bcast(inputs(config) if comm.rank == 0 else None, root=0)
    changed = changed_inputs(meta.get("inputs", current), current)
    if changed:
        raise _config_error(
            f"--restart {where!r} is not allowed: input files differ from the checkpointed "
            f"run's: {'; '.join(changed)}; allowed: the same input files (the checkpoint "
            "stores their SHA-256)"
        )
    position = start_position(meta, config.time)
    kind = setup.kind  # the same kind as the checkpoint's: part of the physics compared above
    ids = np.asarray(kind.ids(setup), dtype=np.int64)
    points = np.asarray(kind.points(setup), dtype=float)
    rows = _read_rows(located.ckpt_dir, meta, ids, points, comm, kind.what)
    n_bad = comm.allreduce(int(np.count_nonzero(~np.isfinite(rows))), op=MPI.SUM)
    if n_bad:
        raise _config_error(
            f"--restart {where!r} is not allowed: the checkpointed state has {n_bad} values "
            "that are not finite; allowed: a checkpoint of a finite state"
        )
    y = np.ascontiguousarray(np.moveaxis(rows, 0, kind.node_axis))
    restore_integrator(setup.integrator, meta.get("integrator", {}))
    if "history" in setup.model.parts:
        history = read_history(located.ckpt_dir / HISTORY, where)
        t_history = float(np.asarray(history.get("t", [math.nan])).ravel()[0])
        if not abs(t_history - position.t) <= 1e-12 * max(1.0, abs(position.t)):
            raise _config_error(
                f"--restart {where!r} is not allowed: its delay history is at t = "
                f"{t_history:g}, its state at t = {position.t:g} (a checkpoint written after a "
                "failure); allowed: a periodic, interrupted or final checkpoint"
            )
        setup.model.restore_history(history)
    return Resumed(y, position, list(meta.get("diagnostics", [])), located)


def _read_selected(dataset, idx: np.ndarray) -> np.ndarray:
    """dataset[idx] for increasing idx, read in blocks of at most 64 MiB."""
    out = np.empty((len(idx), *dataset.shape[1:]), dtype=dataset.dtype)
    if len(idx) == 0:
        return out
    row_bytes = dataset.dtype.itemsize * int(np.prod(dataset.shape[1:], dtype=np.int64))
    block = max(1, _BLOCK_BYTES // max(row_bytes, 1))
    start, stop_all, j = int(idx[0]), int(idx[-1]) + 1, 0
    while start < stop_all:
        stop = min(start + block, stop_all)
        lo, hi = np.searchsorted(idx, [start, stop])
        if hi > lo:
            out[j : j + hi - lo] = dataset[start:stop][idx[lo:hi] - start]
            j += hi - lo
        start = stop
    return out


def _read_rows(ckpt_dir: Path, meta: dict, ids: np.ndarray, points: np.ndarray, comm, what: str):
    from mpi4py import MPI

    h5py = _h5py()

    shape = tuple(meta["state_shape"])
    order = np.argsort(ids, kind="stable")
    wanted = ids[order]
    rows = np.zeros((len(ids), *shape))
    hits = np.zeros(len(ids), dtype=np.int64)
    deviation = 0.0
    error = None
    try:
        for piece in meta["pieces"]:
            with h5py.File(Path(ckpt_dir) / piece, "r") as f:
                have = f["ids"][...]
                if len(have) == 0 or len(wanted) == 0:
                    continue
                pos = np.minimum(np.searchsorted(have, wanted), len(have) - 1)
                hit = have[pos] == wanted
                if not hit.any():
                    continue
                sel, dest = pos[hit], order[hit]
                data = _read_selected(f["state"], sel)
                if data.shape[1:] != shape:
                    raise ValueError(f"{piece}: state rows {data.shape[1:]}, meta says {shape}")
                rows[dest] = data
                hits[dest] += 1
                stored = _read_selected(f["points"], sel)
                if stored.shape == points[dest].shape:
                    deviation = max(deviation, float(np.abs(stored - points[dest]).max()))
                else:
                    deviation = math.inf
    except (OSError, KeyError, ValueError) as err:
        error = f"{type(err).__name__}: {err}"
    errors = [e for e in comm.allgather(error) if e]
    if errors:
        raise _config_error(
            f"checkpoint {str(ckpt_dir)!r} cannot be read ({errors[0]}); allowed: a complete "
            "checkpoint written by fem-fhn run"
        )
    missing = comm.allreduce(int(np.count_nonzero(hits == 0)), op=MPI.SUM)
    doubled = comm.allreduce(int(np.count_nonzero(hits > 1)), op=MPI.SUM)
    n_here = comm.allreduce(len(ids), op=MPI.SUM)
    if missing or doubled or n_here != int(meta["n_global"]):
        raise _config_error(
            f"--restart {str(ckpt_dir)!r} is not allowed: the checkpoint holds "
            f"{meta['n_global']} {what}, this run has {n_here} ({missing} not found); "
            "allowed: the same mesh (and particles) as the checkpointed run"
        )
    scale = comm.allreduce(float(np.abs(points).max(initial=0.0)), op=MPI.MAX)
    deviation = comm.allreduce(deviation, op=MPI.MAX)
    if not deviation <= 1e-10 * (1.0 + scale):
        raise _config_error(
            f"--restart {str(ckpt_dir)!r} is not allowed: the {what} lie elsewhere than in the "
            f"checkpoint (by up to {deviation:.3g}); allowed: the same mesh as the checkpointed run"
        )
    return rows


def write_history(path: Path, state: dict[str, np.ndarray]) -> str | None:
    """Write a model's history (global arrays, e.g. delayed region means) to HISTORY (rank 0);
    returns an error message or None. An empty history writes nothing."""
    if not state:
        return None
    try:
        with _h5py().File(path, "w") as f:
            for name, value in state.items():
                f.create_dataset(name, data=np.asarray(value))
    except (OSError, ValueError) as err:
        return str(err)
    return None


def read_history(path: Path, where: str) -> dict[str, np.ndarray]:
    """The arrays of HISTORY (every rank reads the same file)."""
    try:
        with _h5py().File(path, "r") as f:
            return {name: f[name][...] for name in f}
    except (OSError, KeyError) as err:
        raise _config_error(
            f"--restart {where!r} is not allowed: the checkpoint has no readable {HISTORY} "
            f"({type(err).__name__}); allowed: a checkpoint of a run with the same [connectome]"
        ) from None


class Checkpointer:
    """Writes checkpoints of one run: `checkpoint(t, y, position, reason)` (a Simulation hook).

    Args:
        config: the run's config ([checkpoint] dir, [time], the physics).
        setup: the built run (`fem_fhn.registry.Setup`).
        out_dir: the output folder; the checkpoint is out_dir/<[checkpoint] dir>.
        output_times: the run's output times (to record the interval of a position).
        diagnostics: its rows up to t are stored, so a restart continues diagnostics.csv.
        resumed: the checkpoint this run restarted from (its restarts are carried on).
    """

    def __init__(self, config, setup, out_dir, output_times, diagnostics=None, resumed=None):
        self.kind = setup.kind.name
        self.comm = setup.nodes.comm
        self.dir = Path(out_dir) / config.checkpoint.dir
        self.axis = setup.kind.node_axis
        ids = np.asarray(setup.kind.ids(setup), dtype=np.int64)
        self.order = np.argsort(ids, kind="stable")
        self.ids = ids[self.order]
        self.points = np.asarray(setup.kind.points(setup), dtype=float)[self.order]
        self.integrator = setup.integrator
        self.times = np.asarray(output_times, dtype=float)
        self.diagnostics = diagnostics
        self.static = {
            "format": FORMAT,
            "version": VERSION,
            "kind": self.kind,
            "node_axis": self.axis,
            "fields": list(setup.fields),
            "physics": physics(config, setup),
            "inputs": self.comm.bcast(inputs(config) if self.comm.rank == 0 else None, root=0),
            "time": asdict(config.time),
            "config": config.source,
            "restarts": resumed.restarts if resumed is not None else [],
        }
        self.counts = self.comm.allgather(len(self.ids))
        self.history = setup.model.history_state if "history" in setup.model.parts else None

    def __call__(self, t: float, y: np.ndarray, position: Position, reason: str) -> str:
        """Write the checkpoint atomically (collective); returns its folder."""
        h5py = _h5py()
        comm = self.comm
        tmp = self.dir.with_name(self.dir.name + ".tmp")
        old = self.dir.with_name(self.dir.name + ".old")
        error = None
        if comm.rank == 0:
            try:
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir(parents=True)
            except OSError as err:
                error = str(err)
        self._agree(comm.bcast(error, root=0))
        rows = np.ascontiguousarray(np.moveaxis(np.asarray(y, dtype=float), self.axis, 0))
        rows = rows[self.order]
        try:
            with h5py.File(tmp / f"rank{comm.rank}.h5", "w") as f:
                f.create_dataset("ids", data=self.ids)
                f.create_dataset("state", data=rows)
                f.create_dataset("points", data=self.points)
                f.attrs.update(
                    {"rank": comm.rank, "ranks": comm.size, "kind": self.kind, "t": float(t)}
                )
        except (OSError, ValueError) as err:
            error = f"rank {comm.rank}: {err}"
        self._agree(next((e for e in comm.allgather(error) if e), None))
        if comm.rank == 0 and self.history is not None:
            error = write_history(tmp / HISTORY, self.history())
        self._agree(comm.bcast(error, root=0))
        if comm.rank == 0:
            k = min(position.index, len(self.times) - 2)
            meta = {
                **self.static,
                "reason": reason,
                "t": float(t),
                "steps": int(position.steps),
                "position": position.to_dict(),
                "interval": [float(self.times[k]), float(self.times[k + 1])],
                "ranks": comm.size,
                "pieces": [f"rank{r}.h5" for r in range(comm.size)],
                "counts": self.counts,
                "n_global": int(sum(self.counts)),
                "state_shape": list(rows.shape[1:]),
                "integrator": integrator_state(self.integrator),
                "diagnostics": self._rows(t),
                "written": _time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            try:
                (tmp / META).write_text(json.dumps(meta, indent=1, default=jsonable) + "\n")
                shutil.rmtree(old, ignore_errors=True)
                if self.dir.exists():
                    self.dir.rename(old)
                tmp.rename(self.dir)
                shutil.rmtree(old, ignore_errors=True)
            except OSError as err:
                error = str(err)
        self._agree(comm.bcast(error, root=0))
        return str(self.dir)

    def _rows(self, t: float) -> list[dict]:
        if self.diagnostics is None:
            return []
        return [row for row in self.diagnostics.rows if row["t"] <= t]

    def _agree(self, error: str | None) -> None:
        if error:
            raise SimulationError(f"cannot write the checkpoint {str(self.dir)!r}: {error}")


def read_global(path: Path | str, name: str = "checkpoint") -> tuple[dict, np.ndarray, np.ndarray]:
    """(meta, ids, state rows) of a whole checkpoint in increasing id order (no MPI; any rank).

    `path` is a checkpoint folder or a run folder holding `name`/. Rows have the node axis first.
    """
    h5py = _h5py()
    path = Path(path)
    folder = path if (path / META).is_file() else path / name
    meta = read_meta(folder)
    ids, rows = [], []
    for piece in meta["pieces"]:
        with h5py.File(folder / piece, "r") as f:
            ids.append(f["ids"][...])
            rows.append(f["state"][...])
    ids_all, rows_all = np.concatenate(ids), np.concatenate(rows)
    order = np.argsort(ids_all, kind="stable")
    return meta, ids_all[order], rows_all[order]


def set_aside(out_dir: Path | str) -> Path | None:
    """Move an earlier segment's field files (SEGMENT_OUTPUTS) to out_dir/segment<k>/ (rank 0).

    Used when a restart continues in the folder of the run it restarts, so that no frame of the
    earlier segment is overwritten. Returns the segment folder (None if there was nothing).
    """
    out_dir = Path(out_dir)
    present = [out_dir / name for name in SEGMENT_OUTPUTS if (out_dir / name).exists()]
    if not present:
        return None
    k = 0
    while (out_dir / f"segment{k}").exists():
        k += 1
    segment = out_dir / f"segment{k}"
    segment.mkdir()
    for item in present:
        item.rename(segment / item.name)
    return segment


def _normalised(data: dict) -> dict:
    """The dict as it reads back from JSON (tuples become lists, numpy scalars numbers)."""
    return json.loads(json.dumps(data, default=jsonable))
