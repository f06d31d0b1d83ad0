"""The record of a run: summary.json, built in one place, and what a run leaves besides its fields.

`RunRecord.summary` assembles the summary (config, status, model facts, parameters, mesh, time,
solver, ranks, final diagnostics, checkpoint, signals, restarts, pictures, files); `write`
replaces summary.json atomically with it whenever the run's state changes.
"""

from __future__ import annotations

import platform
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from mpi4py import MPI

from fem_fhn.io import write_json
from fem_fhn.profiling import phases

if TYPE_CHECKING:
    from fem_fhn.config import RunConfig
    from fem_fhn.registry import Setup
    from fem_fhn.simulation import Simulation


def step_used(config: RunConfig, integrator) -> float | None:
    """The time step a fixed-step integrator takes: (output interval)/n, n = ⌈interval/dt⌉ —
    at most time.dt, shorter when dt does not divide the output interval (None: adaptive)."""
    if not integrator.fixed_step:
        return None
    interval = config.time.t_end / config.time.n_outputs
    return interval / integrator.n_steps(0.0, interval)


def output_files(config: RunConfig, setup: Setup, pictures: dict) -> list[str]:
    """The files and folders a run writes in its output folder (as the final line lists them)."""
    names = {"vtx": "fields.bp", "xdmf": "fields.xdmf", "vtk": "vtk/fields.pvd"}
    files = [names[f] for f in config.output.formats]
    files += [Path(p).name for p in pictures.values()]
    files += setup.kind.files(config)
    if config.connectome is not None:
        from fem_fhn.connectome.output import output_names

        files += output_names(config)
    if config.output.probes:
        files.append("probes.csv")
    return [*files, "diagnostics.csv", "summary.json", config.checkpoint.dir + "/"]


class Profiler:
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


def signal_name(number: int) -> str:
    import signal

    return signal.Signals(number).name


def mesh_unit(config: RunConfig) -> str:
    """The unit of the mesh's coordinates when none is stated ("" for a file without one)."""
    from fem_fhn.mesh import mesh_units

    source = config.mesh_source()
    return mesh_units(source)[0] if isinstance(source, Path | tuple) else ""


def pictures(config: RunConfig, out: Path, field: str = "V") -> dict:
    """<field>.png and <field>.gif from the VTK series, as [output] png and gif ask (rank 0)."""
    if not (config.output.png or config.output.gif) or "vtk" not in config.output.formats:
        return {}
    from fem_fhn.render import render_fields

    return render_fields(
        out / "vtk" / "fields.pvd",
        field,
        png=out / f"{field}.png" if config.output.png else None,
        gif=out / f"{field}.gif" if config.output.gif else None,
    )


class RunRecord:
    """summary.json of a run, written atomically whenever the run's state changes."""

    def __init__(self, config, setup, out, comm, diagnostics, resumed, segment):
        self.config, self.setup, self.out, self.comm = config, setup, out, comm
        self.diagnostics, self.resumed, self.segment = diagnostics, resumed, segment
        self.sim: Simulation | None = None
        self.extra: dict = {}
        self.forced: dict = {}
        self.saved: dict | None = None  # the last checkpoint written
        self._cells: int | None = None

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
            self.forced |= {"signal": signal_name(number), "signal_number": number}
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
        time_info["scheme"] = setup.integrator.scheme.name  # "auto" resolved
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
                "units": config.mesh.units or mesh_unit(config),
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
            summary["signal"] = signal_name(sim.signal)
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
        if self._cells is None:
            mesh = self.setup.nodes.mesh
            self._cells = self.comm.allreduce(mesh.topology.index_map(mesh.topology.dim).size_local)
        return self._cells

    def write(self) -> dict:
        """Build the summary and replace summary.json with it (rank 0 writes); returns it."""
        summary = self.summary()
        write_json(self.out / "summary.json", summary, self.comm)
        return summary
