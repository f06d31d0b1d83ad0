"""Run a simulation from a validated `RunConfig`: the engine behind `fem-fhn run`.

The model is the one [solver] model names in the registry (`fem_fhn.registry`). A run has three
steps, each one function: `preflight` checks everything that can be checked and builds the model
before the output folder is created (so a bad input leaves nothing behind); `run` advances it
with the writers, the checkpoints and the signal handling; the summary is built in one place,
`fem_fhn.report.RunRecord`. Output files are closed cleanly even when the run fails.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mpi4py import MPI

from fem_fhn.config import ConfigError, RunConfig
from fem_fhn.io import Diagnostics, Every, FieldWriter, ProbeWriter
from fem_fhn.mesh import NodalMesh
from fem_fhn.params import ParameterError
from fem_fhn.profiling import phases
from fem_fhn.registry import ModelKind, Setup, check_tables, kind_of, scheme_of
from fem_fhn.report import Profiler, RunRecord, pictures, signal_name, step_used
from fem_fhn.simulation import Simulation, failure_hints
from fem_fhn.validation import check_inputs

log = logging.getLogger("fem_fhn")

__all__ = ["Setup", "build", "preflight", "prepare", "run"]


def check_output_dir(path: Path, key: str = "--out") -> None:
    """Fail early (ConfigError naming `key`) if the folder `path` cannot be created or written."""
    shown = str(path)
    path = Path(path).absolute()
    allowed = "allowed: a folder that exists or can be created, and can be written"
    if path.exists() and not path.is_dir():
        raise ConfigError(
            f"{key} = {shown!r} is not allowed: it exists and is not a folder; {allowed}"
        )
    parent = path
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(
            f"{key} = {shown!r} is not allowed: the output folder cannot be created: "
            f"{str(parent)!r} is a file; {allowed}"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{key} = {shown!r} is not allowed: the output folder is not writable "
            f"({str(parent)!r} is not writable); {allowed}"
        )


def report_step(config: RunConfig, setup: Setup, comm: MPI.Comm) -> None:
    """Say so when the step taken is shorter than time.dt (dt does not divide the interval),
    and when it exceeds the model's explicit stability estimate (its kind's `stable_dt`)."""
    integrator = setup.integrator
    used = step_used(config, integrator)
    if used is None:
        return
    bound = setup.kind.stable_dt(setup, 0.0)
    if used > bound and comm.rank == 0:
        log.warning("time step %g exceeds the explicit stability estimate %.3g", used, bound)
    dt = integrator.dt
    if used < dt * (1 - 1e-9) and comm.rank == 0:
        (log.info if config.time.dt == "auto" else log.warning)(
            "time.dt = %g does not divide the output interval t_end/n_outputs = %g: steps of "
            "%g are taken (summary.json time.dt_used)",
            dt,
            config.time.t_end / config.time.n_outputs,
            used,
        )


def prepare(config: RunConfig, comm: MPI.Comm) -> tuple[NodalMesh, np.ndarray, object]:
    """The mesh, ρ0 and kernel of a config, shared by every model."""
    with phases.timed("mesh"):
        nodes = NodalMesh.load(config.mesh_source(), comm, config.mesh.h or None, config.mesh.units)
    check_inputs(config, nodes)  # mesh quality, fields finite on the mesh, kernel sign
    rho0 = nodes.density(config.field_source(config.rho0.value, "rho0.value"), "rho0.value")
    return nodes, rho0, config.kernel.build(nodes.tdim)


def build(config: RunConfig, comm: MPI.Comm, prepared=None, kind: str | None = None) -> Setup:
    """The model of [solver] model (or the registered kind named `kind`), on
    `prepared` = prepare(config) if given."""
    from dataclasses import replace

    if kind is not None:
        config = replace(config, solver=replace(config.solver, model=kind))
    entry = _kind(config)
    nodes, rho0, kernel = prepare(config, comm) if prepared is None else prepared
    with phases.timed("build"):
        setup = entry.build(config, nodes, rho0, kernel)
    report_step(config, setup, comm)
    return setup


def _kind(config: RunConfig) -> ModelKind:
    """The registered kind of the config, with its time scheme checked (ConfigError if not)."""
    try:
        entry = kind_of(config)
        scheme_of(config, entry)
    except ParameterError as err:
        raise ConfigError(str(err)) from None
    return entry


@dataclass
class Prepared:
    """A run checked and built, nothing written yet (`preflight`)."""

    setup: Setup
    out: Path
    found: object = None  # the checkpoint located for --restart
    resumed: object = None  # its state read for this run


def preflight(
    config: RunConfig,
    comm: MPI.Comm,
    out_dir: Path | str | None = None,
    restart: Path | str | None = None,
    out_key: str = "--out",
) -> Prepared:
    """Every check of a run before time stepping, and the model built: what `run` does before
    writing anything, and all that `fem-fhn validate` does.

    Raises:
        ConfigError: bad input (one line naming the key, the value and what is allowed).
    """
    from fem_fhn import checkpoint
    from fem_fhn.mesh import MeshError
    from fem_fhn.validation import check_setup, explain_mesh_error

    try:
        check_tables(config, _kind(config))
    except ParameterError as err:
        raise ConfigError(str(err)) from None
    found = None if restart is None else checkpoint.locate(restart, config.checkpoint.dir, comm)
    default = config.output.dir if found is None else found.run_dir
    out = Path(out_dir if out_dir is not None else default)
    check_output_dir(out, out_key if out_dir is not None else "output.dir")
    with _held_logs():  # a refused run prints its one line only
        try:
            setup = build(config, comm)
        except MeshError as err:
            raise ConfigError(explain_mesh_error(config, err)) from None
        check_setup(config, setup)
        resumed = None if found is None else checkpoint.resume(found, config, setup)
    return Prepared(setup, out, found, resumed)


@contextmanager
def _held_logs():
    """Hold the package's log records; emit them when the block ends normally, drop them when
    it raises."""
    held: list[logging.LogRecord] = []

    class Hold(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            held.append(record)

    handler, propagate = Hold(), log.propagate
    log.addHandler(handler)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.propagate = propagate
    for record in held:
        log.handle(record)


def observers_of(config: RunConfig, setup: Setup, out: Path, diagnostics: Diagnostics):
    """The run's own observers: the field files (every [output] every-th output time), the
    diagnostics, the model's series and the probes (every output time); returns (observers,
    things to close)."""
    writer = FieldWriter(
        setup.nodes, setup.fields, out, config.output.formats, static={"rho0": setup.rho0}
    )
    series = [make(out) for make in setup.observers]
    observers = [Every(writer, config.output.every, config.time.n_outputs), diagnostics, *series]
    closing = [writer, diagnostics, *series]
    if config.output.probes:
        probes = ProbeWriter(setup.nodes, config.output.probes, setup.fields, out / "probes.csv")
        observers.append(probes)
        closing.append(probes)
    return observers, closing


def simulation_of(config: RunConfig, setup: Setup, checkpoint_hook) -> Simulation:
    """The `Simulation` of a built run: its output times, checks, checkpoints and the likely
    causes of a failure that its model kind names."""
    t = config.time
    kind = setup.kind

    def hints(at: float) -> str:
        try:
            limit = float(kind.stable_dt(setup, at)) if setup.integrator.fixed_step else None
        except Exception:  # a hint only
            limit = None
        return failure_hints(setup.integrator, limit, kind.hints)

    return Simulation(
        setup.model,
        setup.integrator,
        np.linspace(0.0, t.t_end, t.n_outputs + 1),
        progress=config.output.progress,
        chunk_steps=config.checkpoint.signal_steps,
        checkpoint=checkpoint_hook,
        checkpoint_every=config.checkpoint.every,
        fields_of=setup.fields_of,
        hints=hints,
    )


def run(
    config: RunConfig,
    out_dir: Path | str | None = None,
    comm: MPI.Comm | None = None,
    restart: Path | str | None = None,
    stop: Callable[[], int] | None = None,
    observers: Sequence[Callable[[Setup], Callable]] = (),
    profile: bool = False,
) -> dict:
    """Run the model described by `config`; returns the summary (also written to summary.json).

    Args:
        config: the validated config.
        out_dir: output folder (default: [output] dir, or the restarted run's folder).
        comm: communicator (default COMM_WORLD).
        restart: an earlier output folder (or its checkpoint folder): continue from its
            checkpoint (`fem_fhn.checkpoint`). Continuing in that same folder first moves the
            earlier segment's field files to segment<k>/; diagnostics.csv keeps the whole history.
        stop: returns nonzero to stop the run (default: SIGINT/SIGTERM are caught for the run).
        observers: factories setup ↦ observer obs(output) (`fem_fhn.simulation.Output`), called
            at every output time after the writers (e.g. a front tracker).
        profile: also write a cProfile dump of the run (after the build) per rank:
            profile.prof (rank 0), profile.rank<r>.prof.

    A stopped run writes a checkpoint, closes its files and returns a summary with "status":
    "interrupted" and "signal"; a failed run writes the last good state as a checkpoint, the
    summary with "status": "failed", and raises SimulationError. Otherwise "status" is
    "completed"; a stop request that comes after the final checkpoint skips the pictures not yet
    drawn and is recorded as "signal_after_completion".

    The record is kept true whatever stops the process: diagnostics.csv gets a row at every
    output time, summary.json is replaced atomically at the start ("status": "running"), at
    every checkpoint and at the end; a process ended by a second signal leaves "interrupted".
    The final summary says where the wall time went (`phases_s`, see `fem_fhn.profiling`).
    """
    from fem_fhn import checkpoint
    from fem_fhn.simulation import SimulationError, StopRequest

    comm = MPI.COMM_WORLD if comm is None else comm
    started = time.perf_counter()
    phases.reset()
    prepared = preflight(config, comm, out_dir, restart)
    setup, out, found, resumed = prepared.setup, prepared.out, prepared.found, prepared.resumed

    segment = None
    if comm.rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        if found is not None and out.resolve() == found.run_dir.resolve():
            segment = checkpoint.set_aside(out)
    comm.barrier()
    times = np.linspace(0.0, config.time.t_end, config.time.n_outputs + 1)
    diagnostics = Diagnostics(setup.nodes, setup.rho0, out / "diagnostics.csv")
    if resumed is not None:
        diagnostics.rows = list(resumed.rows)
    record = RunRecord(config, setup, out, comm, diagnostics, resumed, segment)
    saver = checkpoint.Checkpointer(config, setup, out, times, diagnostics, resumed)
    sim = simulation_of(config, setup, record.after(saver))
    record.sim = sim
    record.write()
    error = None
    # handlers installed now, after the build: PETSc installs its own when it starts
    handler = stop if isinstance(stop, StopRequest) else None if stop is None else nullcontext(stop)
    with StopRequest() if handler is None else handler as stop_now:
        sim.stop = stop_now
        closing = []
        try:
            diagnostics.begin()
            own, closing = observers_of(config, setup, out, diagnostics)
            sim.observers = [
                phases.timing("output")(obs) for obs in (*own, *(make(setup) for make in observers))
            ]
            sim.model_outputs = [phases.timing("output")(make(out)) for make in setup.outputs]
            profiler = Profiler(out, comm) if profile else nullcontext()
            try:
                with profiler:
                    sim.run(
                        setup.y0 if resumed is None else resumed.y,
                        None if resumed is None else resumed.position,
                    )
            except SimulationError as err:
                error = err
            finally:
                with phases.timed("output"):
                    for item in closing:
                        item.close()
            _finish(config, out, sim, record, error, stop_now, profiler if profile else None)
        except BaseException as err:  # a second signal (SystemExit, KeyboardInterrupt)
            record.ended_by(err)
            raise
        record.extra["phases_s"] = phases.report(time.perf_counter() - started, comm)
        summary = record.write()
    if error is not None:
        raise error
    return summary


def _finish(config, out, sim, record, error, stop_now, profiler) -> None:
    """After the loop: the error, a late stop request, the pictures and the profile, recorded."""
    if error is not None:
        record.extra["error"] = " ".join(str(error).split())
    late = int(stop_now()) if sim.status == "completed" else 0
    if late:
        record.extra["signal_after_completion"] = signal_name(late)
    elif record.comm.rank == 0 and sim.status == "completed":
        with phases.timed("pictures"):
            record.extra["pictures"] = pictures(config, out, record.setup.fields[0])
    if profiler is not None:
        record.extra["profile"] = profiler.file_name
