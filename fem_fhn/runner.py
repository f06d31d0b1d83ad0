"""Run a simulation from a validated `RunConfig`: the engine behind `fem-fhn run`.

The model is chosen by the config: the macroscopic nonlocal system by default, the network with a
[network] table. Everything that can be checked is checked before the output folder is created,
so a bad input leaves nothing behind; output files are closed cleanly even when the run fails.
"""

from __future__ import annotations

import logging
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from mpi4py import MPI

from fem_fhn.config import ConfigError, RunConfig
from fem_fhn.io import Diagnostics, FieldWriter, write_json
from fem_fhn.macro import MODEL_FORMS, Stimulus
from fem_fhn.mesh import NodalMesh
from fem_fhn.nonlocal_ import NonlocalLaplacian, make_operator
from fem_fhn.nonlocal_.geodesic import geodesic_operator
from fem_fhn.profiling import phases
from fem_fhn.simulation import Simulation
from fem_fhn.timestepping import IMEX_SCHEMES, make_integrator
from fem_fhn.validation import check_inputs

log = logging.getLogger("fem_fhn")


@dataclass
class Setup:
    """What a run needs besides the output: built from a config, nothing written yet.

    Attributes:
        nodes: the nodal mesh; rho0: owned ρ0 values.
        model: has comm, rhs/advance-compatible methods and fields_of(y) -> {name: nodal values}.
        y0: initial state; integrator: has advance(model, t, y, t_target).
        fields: the names fields_of returns (written at every output time).
        outputs: factories out_dir -> extra observers (e.g. particle files).
        info: model facts for summary.json.
        output_fields: y -> {name: nodal values} as written and summarised (default
            model.fields_of; the network marks its empty nodes NaN).
    """

    nodes: NodalMesh
    rho0: np.ndarray
    model: object
    y0: np.ndarray
    integrator: object
    fields: tuple[str, ...]
    outputs: list[Callable[[Path], Callable]] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    output_fields: Callable | None = None

    def fields_of(self, y: np.ndarray) -> dict[str, np.ndarray]:
        """The nodal fields of state y as the output files and diagnostics take them."""
        return (self.output_fields or self.model.fields_of)(y)


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


def _stimulus(config: RunConfig, coords: np.ndarray) -> Stimulus | None:
    source = config.field_source(config.stimulus.I, "stimulus.I", ("x", "y", "z", "t"))
    return None if source == 0.0 else Stimulus(source, coords)


def _initial_sources(config: RunConfig):
    V0 = config.field_source(config.initial.V, "initial.V")
    W0 = config.field_source(config.initial.W, "initial.W")
    return V0, W0


def time_step(config: RunConfig, model, **bound) -> float:
    """time.dt, or for "auto" 0.9 × the model's stability limit (`bound`: its options)."""
    if config.time.dt != "auto":
        return config.time.dt
    dt = 0.9 * model.max_stable_dt(**bound)
    if model.comm.rank == 0:
        log.info("time.dt = 'auto': dt = %.4g", dt)
    return dt


def report_step(config: RunConfig, integrator, comm: MPI.Comm) -> None:
    """Say so when the step taken is shorter than time.dt (dt does not divide the interval)."""
    used = step_used(config, integrator)
    dt = getattr(integrator, "dt", None)
    if used is not None and dt is not None and used < dt * (1 - 1e-9) and comm.rank == 0:
        (log.info if config.time.dt == "auto" else log.warning)(
            "time.dt = %g does not divide the output interval t_end/n_outputs = %g: steps of "
            "%g are taken (summary.json time.dt_used)",
            dt,
            config.time.t_end / config.time.n_outputs,
            used,
        )


def build_local(config: RunConfig, nodes: NodalMesh, rho0: np.ndarray, kernel) -> Setup:
    """The local limit (σ/ρ0)∇·(ρ0²∇V) with σ = the kernel's second moment; IMEX in time."""
    from fem_fhn.macro.local_rd import IMEXStepper, LocalFHN

    model = LocalFHN.from_kernel(
        nodes, config.model, kernel, rho0, stimulus=_stimulus(config, nodes.coords)
    )
    V0, W0 = (
        nodes.field(s, k)
        for s, k in zip(_initial_sources(config), ("initial.V", "initial.W"), strict=True)
    )
    t = config.time
    if t.scheme in IMEX_SCHEMES:
        integrator = IMEXStepper(
            time_step(config, model), t.scheme, linear_solver=config.solver.linear_solver
        )
    else:
        integrator = make_integrator(t.scheme, time_step(config, model), t.rtol, t.atol)
        if nodes.comm.rank == 0:
            log.warning(
                "solver.model = 'local' with the explicit scheme %r: the diffusion limits "
                "dt like h²; an IMEX scheme (imex-ars222) does not",
                t.scheme,
            )
    info = {"model": "local_fhn", "sigma": kernel.second_moment}
    return Setup(nodes, rho0, model, model.state(V0, W0), integrator, ("V", "W"), info=info)


def _mesh_unit(config: RunConfig) -> str:
    """The unit of the mesh's coordinates when none is stated ("" for a file without one)."""
    from fem_fhn.mesh import mesh_units

    source = config.mesh_source()
    return mesh_units(source)[0] if isinstance(source, Path | tuple) else ""


def mesh_operator(config: RunConfig, nodes: NodalMesh, kernel):
    """K on the mesh nodes with the method of [nonlocal]: Euclidean (chordal on a surface in
    space) or, for [kernel] distance = "geodesic", along the surface within the kernel's cutoff."""
    method, tol = config.nonlocal_.method, config.nonlocal_.tol
    if config.kernel.distance == "geodesic":
        return geodesic_operator(nodes, kernel, method, tol)
    return make_operator(nodes.coords, nodes.masses, kernel, method, nodes.comm, tol)


def build_macro(config: RunConfig, nodes: NodalMesh, rho0: np.ndarray, kernel) -> Setup:
    """The macroscopic nonlocal FHN system on the mesh nodes (V or Z form), or its local limit."""
    if config.solver.model == "local":
        return build_local(config, nodes, rho0, kernel)
    op = mesh_operator(config, nodes, kernel)
    model = MODEL_FORMS[config.solver.form](
        NonlocalLaplacian(op, rho0), config.model, _stimulus(config, nodes.coords)
    )
    V0, W0 = (
        nodes.field(s, k)
        for s, k in zip(_initial_sources(config), ("initial.V", "initial.W"), strict=True)
    )
    t = config.time
    dt = time_step(config, model)
    integrator = make_integrator(t.scheme, dt, t.rtol, t.atol)
    bound = model.max_stable_dt()
    used = step_used(config, integrator)
    if used is not None and used > bound and nodes.comm.rank == 0:
        log.warning("time step %g exceeds the explicit stability estimate %.3g", used, bound)
    info = {"model": "nonlocal_fhn", "nonlocal": {**asdict(config.nonlocal_), **op.info()}}
    return Setup(nodes, rho0, model, model.state(V0, W0), integrator, ("V", "W"), info=info)


def build_network(config: RunConfig, nodes: NodalMesh, rho0: np.ndarray, kernel) -> Setup:
    """The particle network of [network], coupled by Ψ and (1/ε)χ_r."""
    from fem_fhn.network import (
        NetworkFHN,
        ParticleWriter,
        initial_state,
        make_network_integrator,
        place_particles,
        radius_for,
        sample_particles,
    )
    from fem_fhn.network.moments import mark_empty

    net = config.network
    if net.positions:
        positions = np.load(config.path(net.positions))
        particles = place_particles(nodes, positions, mass=nodes.integrate(rho0))
    else:
        particles = sample_particles(nodes, rho0, net.n, seed=net.seed)
    n_global = nodes.comm.allreduce(particles.n_owned)
    radius = (
        radius_for(nodes, rho0, n_global, net.neighbours)
        if net.radius == "auto"
        else float(net.radius)
    )
    stimulus = _stimulus(config, particles.positions)
    model = NetworkFHN.from_particles(
        particles,
        config.model,
        kernel,
        eps=net.eps,
        radius=radius,
        method=config.nonlocal_.method,
        tol=config.nonlocal_.tol,
        profile=net.profile,
        stimulus=stimulus,
    )
    V0, W0 = _initial_sources(config)
    y0 = initial_state(particles, V0, W0, spread=(net.spread_v, net.spread_w), seed=net.seed + 1)
    t = config.time
    dt = time_step(config, model, implicit_short_range=t.scheme in IMEX_SCHEMES)
    integrator = make_network_integrator(
        t.scheme, dt, net.noise, net.noise_seed, net.ksp_rtol, t.rtol, t.atol
    )
    if nodes.comm.rank == 0 and math.isfinite(net.eps) and radius**2 / net.eps > 0.1:
        log.warning(
            "network: r²/ε = %.3g is not small: the short-range term acts like a "
            "diffusion of strength ≈ r²/ε (docs/discretisation.md)",
            radius**2 / net.eps,
        )
    outputs = []
    if net.write_particles:
        outputs.append(lambda out: ParticleWriter(particles, out / "particles"))
    info = {**model.info(), "radius": radius, "network": asdict(net)}
    fields = ("V", "W", "rho")
    return Setup(
        nodes,
        rho0,
        model,
        y0,
        integrator,
        fields,
        outputs,
        info,
        lambda y: mark_empty(model.fields_of(y)),
    )


def build_kinetic(config: RunConfig, nodes: NodalMesh, rho0: np.ndarray, kernel) -> Setup:
    """The kinetic density of [kinetic] on a velocity grid per node, AP splitting in time."""
    from fem_fhn.kinetic import APSplitting, KineticFHN, VelocityGrid, suggest_grid
    from fem_fhn.kinetic.model import negative_coupling
    from fem_fhn.plot import PhaseSpacePictures

    kin = config.kinetic
    op = mesh_operator(config, nodes, kernel)
    stimulus = _stimulus(config, nodes.coords)
    V0, W0 = (
        nodes.field(s, k)
        for s, k in zip(_initial_sources(config), ("initial.V", "initial.W"), strict=True)
    )
    current = _current_range(config, stimulus, nodes.comm)
    geodesic = config.kernel.distance == "geodesic"
    tol = config.nonlocal_.tol if geodesic else None
    k_neg_rho = negative_coupling(nodes, kernel, rho0, nodes.comm, tol)
    if kin.v_min == "auto":
        inhibition = nodes.comm.allreduce(float(k_neg_rho.max(initial=0.0)), op=MPI.MAX)
        grid = suggest_grid(
            config.model,
            current,
            n_v=kin.n_v,
            n_w=kin.n_w,
            inhibition=inhibition,
            contain=_initial_range(nodes.comm, V0, W0, kin),
        )
    else:
        grid = VelocityGrid(kin.v_min, kin.v_max, kin.n_v, kin.w_min, kin.w_max, kin.n_w)
    model = KineticFHN(
        nodes,
        config.model,
        op,
        grid,
        kin.eps,
        rho0,
        stimulus,
        kin.diffusion,
        kernel=kernel,
        limiter=kin.limiter,
        backend=kin.backend,
        current_bounds=current,
        k_neg_rho=k_neg_rho,
    )
    stepper = APSplitting(
        time_step(config, model), kin.transport_scheme, kin.splitting, kin.relaxation, kin.v_flux
    )
    f0 = model.state(V0, W0, kin.sigma_v, kin.sigma_w)
    outputs = []
    if kin.probes and config.output.png:
        outputs.append(lambda out: PhaseSpacePictures(model, kin.probes, out))
    info = {
        "model": "kinetic_fhn",
        "kinetic": {**asdict(kin), **model.info()},
        "nonlocal": {**asdict(config.nonlocal_), **op.info()},
    }
    return Setup(nodes, rho0, model, f0, stepper, KineticFHN.fields, outputs, info)


def _initial_range(comm, V0, W0, kin) -> tuple[tuple[float, float], tuple[float, float]]:
    """The (v, w) box holding the initial data with 3 standard deviations of spread."""

    def span(u, s):
        lo = comm.allreduce(float(np.min(u, initial=np.inf)), op=MPI.MIN) - 3 * s
        hi = comm.allreduce(float(np.max(u, initial=-np.inf)), op=MPI.MAX) + 3 * s
        return lo, hi

    return span(V0, kin.sigma_v), span(W0, kin.sigma_w)


def _current_range(config: RunConfig, stimulus, comm) -> tuple[float, float]:
    """Range of the total current I_ext + I(x, t) over the output times."""
    values = [config.model.I_ext]
    if stimulus is not None:
        for t in np.linspace(0.0, config.time.t_end, config.time.n_outputs + 1):
            current = np.atleast_1d(stimulus(t)) + config.model.I_ext
            values += [float(current.min(initial=np.inf)), float(current.max(initial=-np.inf))]
    lo = comm.allreduce(min(values), op=MPI.MIN)
    hi = comm.allreduce(max(values), op=MPI.MAX)
    return lo, hi


BUILDERS = {"macro": build_macro, "network": build_network, "kinetic": build_kinetic}


def model_kind(config: RunConfig) -> str:
    """Which model a run builds; [kinetic] and [network] together serve `fem-fhn compare` only."""
    if config.network is not None and config.kinetic is not None:
        raise ConfigError(
            "[network] and [kinetic] are both given: a run has one model "
            "(both together are for fem-fhn compare)"
        )
    if config.kinetic is not None:
        return "kinetic"
    return "network" if config.network is not None else "macro"


def prepare(config: RunConfig, comm: MPI.Comm) -> tuple[NodalMesh, np.ndarray, object]:
    """The mesh, ρ0 and kernel of a config, shared by every model."""
    with phases.timed("mesh"):
        nodes = NodalMesh.load(config.mesh_source(), comm, config.mesh.h or None, config.mesh.units)
    check_inputs(config, nodes)  # mesh quality, fields finite on the mesh, kernel sign
    rho0 = nodes.density(config.field_source(config.rho0.value, "rho0.value"), "rho0.value")
    return nodes, rho0, config.kernel.build(nodes.tdim)


def build(config: RunConfig, comm: MPI.Comm, prepared=None, kind: str | None = None) -> Setup:
    """The model chosen by the config (or `kind`), on `prepared` = prepare(config) if given."""
    kind = model_kind(config) if kind is None else kind
    nodes, rho0, kernel = prepare(config, comm) if prepared is None else prepared
    with phases.timed("build"):
        setup = BUILDERS[kind](config, nodes, rho0, kernel)
    report_step(config, setup.integrator, comm)
    return setup


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


def step_used(config: RunConfig, integrator) -> float | None:
    """The time step a fixed-step integrator takes: (output interval)/n, n = ⌈interval/dt⌉ —
    at most time.dt, shorter when dt does not divide the output interval (None: adaptive)."""
    if not hasattr(integrator, "n_steps"):
        return None
    interval = config.time.t_end / config.time.n_outputs
    return interval / integrator.n_steps(0.0, interval)


def output_files(config: RunConfig, setup: Setup, pictures: dict) -> list[str]:
    """The files and folders a run writes in its output folder (as the final line lists them)."""
    names = {"vtx": "fields.bp", "xdmf": "fields.xdmf", "vtk": "vtk/fields.pvd"}
    files = [names[f] for f in config.output.formats]
    files += [Path(p).name for p in pictures.values()]
    if config.kinetic is not None and config.kinetic.probes and config.output.png:
        files.append("phase_space.png")
    if config.network is not None and config.network.write_particles:
        files.append("particles/particles.pvd")
    return [*files, "diagnostics.csv", "summary.json", config.checkpoint.dir + "/"]


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
        observers: factories setup ↦ observer obs(t, y, step), called at every output time
            after the writers (e.g. a front tracker).
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
    # --- checkpoint/restart and fault handling (fem_fhn.checkpoint, fem_fhn.simulation) ---
    from contextlib import nullcontext

    from fem_fhn import checkpoint
    from fem_fhn.simulation import SimulationError, StopRequest

    comm = MPI.COMM_WORLD if comm is None else comm
    started = time.perf_counter()
    phases.reset()
    prepared = preflight(config, comm, out_dir, restart)
    setup, out, found, resumed = prepared.setup, prepared.out, prepared.found, prepared.resumed
    nodes, model = setup.nodes, setup.model

    segment = None
    if comm.rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        if found is not None and out.resolve() == found.run_dir.resolve():
            segment = checkpoint.set_aside(out)
    comm.barrier()
    error = None
    t = config.time
    times = np.linspace(0.0, t.t_end, t.n_outputs + 1)
    diagnostics = Diagnostics(nodes, setup.fields_of, setup.rho0, out / "diagnostics.csv")
    if resumed is not None:
        diagnostics.rows = list(resumed.rows)
    record = _Record(config, setup, out, comm, diagnostics, resumed, segment)
    saver = checkpoint.Checkpointer(config, setup, out, times, diagnostics, resumed)
    sim = Simulation(
        model,
        setup.integrator,
        times,
        progress=config.output.progress,
        chunk_steps=config.checkpoint.signal_steps,
        checkpoint=record.after(saver),
        checkpoint_every=config.checkpoint.every,
    )
    record.sim = sim
    record.write()
    # handlers installed now, after the build: PETSc installs its own when it starts
    handler = stop if isinstance(stop, StopRequest) else None if stop is None else nullcontext(stop)
    with StopRequest() if handler is None else handler as stop_now:
        sim.stop = stop_now
        writer = None
        try:
            diagnostics.begin()
            writer = FieldWriter(
                nodes,
                setup.fields_of,
                setup.fields,
                out,
                config.output.formats,
                static={"rho0": setup.rho0},
            )
            sim.observers = [
                phases.timing("output")(obs)
                for obs in (
                    writer,
                    diagnostics,
                    *(make(out) for make in setup.outputs),
                    *(make(setup) for make in observers),
                )
            ]
            profiler = _Profiler(out, comm) if profile else nullcontext()
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
                    writer.close()
                    diagnostics.close()
            if error is not None:
                record.extra["error"] = " ".join(str(error).split())
            late = int(stop_now()) if sim.status == "completed" else 0
            if late:
                record.extra["signal_after_completion"] = _signal_name(late)
            elif comm.rank == 0 and sim.status == "completed":
                with phases.timed("pictures"):
                    record.extra["pictures"] = _pictures(config, out)
            if profile:
                record.extra["profile"] = profiler.file_name
        except BaseException as err:  # a second signal (SystemExit, KeyboardInterrupt)
            record.ended_by(err)
            raise
        record.extra["phases_s"] = phases.report(time.perf_counter() - started, comm)
        summary = record.write()
    if error is not None:
        raise error
    return summary


class _Profiler:
    """cProfile over a block; the dump goes to out/profile.prof (rank 0) or profile.rank<r>.prof."""

    def __init__(self, out: Path, comm: MPI.Comm):
        self.file_name = "profile.prof" if comm.rank == 0 else f"profile.rank{comm.rank}.prof"
        self.path = out / self.file_name

    def __enter__(self):
        import cProfile

        self.profile = cProfile.Profile()
        self.profile.enable()
        return self

    def __exit__(self, *exc) -> None:
        self.profile.disable()
        self.profile.dump_stats(str(self.path))


def _signal_name(number: int) -> str:
    import signal

    return signal.Signals(number).name


def _pictures(config: RunConfig, out: Path) -> dict:
    """V.png and V.gif from the VTK series, as [output] png and gif ask (rank 0)."""
    if not (config.output.png or config.output.gif) or "vtk" not in config.output.formats:
        return {}
    from fem_fhn.render import render_fields

    return render_fields(
        out / "vtk" / "fields.pvd",
        "V",
        png=out / "V.png" if config.output.png else None,
        gif=out / "V.gif" if config.output.gif else None,
    )


class _Record:
    """summary.json of a run, written atomically whenever the run's state changes."""

    def __init__(self, config, setup, out, comm, diagnostics, resumed, segment):
        self.config, self.setup, self.out, self.comm = config, setup, out, comm
        self.diagnostics, self.resumed, self.segment = diagnostics, resumed, segment
        self.sim: Simulation | None = None
        self.extra: dict = {}
        self.forced: dict = {}
        self.saved: dict | None = None  # the last checkpoint written

    def after(self, saver):
        """The checkpoint hook: write the checkpoint, then the summary saying where it is."""

        def checkpoint(t, y, position, reason):
            with phases.timed("checkpoints"):
                where = saver(t, y, position, reason)
            self.saved = {"dir": where, "t": position.t, "steps": position.steps}
            self.write()
            return where

        return checkpoint

    def ended_by(self, err: BaseException) -> None:
        """The process is being ended (a second signal): say so before it goes."""
        import signal

        number = int(getattr(err, "code", 0) or 0) - 128
        if isinstance(err, KeyboardInterrupt):
            number = int(signal.SIGINT)
        self.forced = {"status": "interrupted"}
        if number > 0:
            self.forced |= {"signal": _signal_name(number), "signal_number": number}
        self.forced["error"] = f"ended by {type(err).__name__} before the run finished"
        try:
            self.write()
        except Exception:  # the original exception is what matters
            pass

    def summary(self) -> dict:
        config, setup, comm, sim = self.config, self.setup, self.comm, self.sim
        nodes = setup.nodes
        rows = self.diagnostics.rows
        used = step_used(config, setup.integrator)
        time_info = {**asdict(config.time), "steps": sim.steps, "wall_time_s": sim.wall_time}
        if used is not None:
            time_info["dt_used"] = used
        summary = {
            "config": config.source,
            "status": sim.status if sim.status != "new" else "running",
            **setup.info,
            "parameters": asdict(config.model),
            "kernel": {
                **config.kernel.spec,
                "dim": nodes.tdim,
                "distance": config.kernel.distance,
            },
            "mesh": {
                "source": str(config.mesh.source),
                "dim": nodes.dim,
                "tdim": nodes.tdim,
                "units": config.mesh.units or _mesh_unit(config),
                "nodes": nodes.n_global,
                "cells": self.cells,
            },
            "time": time_info,
            "solver": asdict(config.solver),
            "ranks": comm.size,
            "final": {k: v for k, v in (rows[-1] if rows else {}).items() if k != "step"},
            "python": platform.python_version(),
            "output": str(self.out),
        }
        if self.saved is not None:
            summary["checkpoint"] = dict(self.saved)
        if sim.signal:
            summary["signal"] = _signal_name(sim.signal)
            summary["signal_number"] = sim.signal
        if self.resumed is not None:
            summary["restarts"] = self.resumed.restarts
            if self.segment is not None:
                summary["previous_segment"] = str(self.segment)
        summary.update(self.extra)
        summary.update(self.forced)
        summary["files"] = output_files(config, setup, summary.get("pictures", {}))
        if "profile" in summary:
            summary["files"].append(summary["profile"])
        return summary

    @property
    def cells(self) -> int:
        if not hasattr(self, "_cells"):
            mesh = self.setup.nodes.mesh
            self._cells = self.comm.allreduce(mesh.topology.index_map(mesh.topology.dim).size_local)
        return self._cells

    def write(self) -> dict:
        """Build the summary and replace summary.json with it (rank 0 writes); returns it."""
        summary = self.summary()
        write_json(self.out / "summary.json", summary, self.comm)
        return summary
