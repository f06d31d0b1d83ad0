"""Run a macroscopic simulation from a validated `RunConfig`: the engine behind `fem-fhn run`.

Everything that can be checked is checked before the output folder is created, so a bad input
leaves nothing behind; output files are closed cleanly even when the run fails.
"""

from __future__ import annotations

import logging
import os
import platform
from dataclasses import asdict
from pathlib import Path

import numpy as np
from mpi4py import MPI

from fem_fhn.config import ConfigError, RunConfig
from fem_fhn.io import Diagnostics, FieldWriter, write_json
from fem_fhn.macro import MODEL_FORMS, Stimulus
from fem_fhn.mesh import NodalMesh
from fem_fhn.nonlocal_ import NonlocalLaplacian, make_operator
from fem_fhn.simulation import Simulation
from fem_fhn.timestepping import make_integrator

log = logging.getLogger("fem_fhn")


def check_output_dir(path: Path) -> None:
    """Fail early (ConfigError) if `path` cannot be created or written."""
    path = Path(path).absolute()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"output folder {str(path)!r} exists and is not a folder")
    parent = path
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(
            f"output folder {str(path)!r} cannot be created: {str(parent)!r} is a file"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"output folder {str(path)!r} is not writable")


def build_model(config: RunConfig, comm: MPI.Comm):
    """Mesh, ρ0, kernel, operator, model and initial state from a config (no output written)."""
    nodes = NodalMesh.load(config.mesh_source(), comm)
    rho0 = nodes.density(config.field_source(config.rho0.value, "rho0.value"), "rho0.value")
    kernel = config.kernel.build(nodes.dim)
    op = make_operator(
        nodes.coords, nodes.masses, kernel, config.nonlocal_.method, comm, config.nonlocal_.tol
    )
    laplacian = NonlocalLaplacian(op, rho0)
    stim_src = config.field_source(config.stimulus.I, "stimulus.I", ("x", "y", "z", "t"))
    stimulus = None if stim_src == 0.0 else Stimulus(stim_src, nodes.coords)
    model = MODEL_FORMS[config.solver.form](laplacian, config.model, stimulus)
    V0 = nodes.field(config.field_source(config.initial.V, "initial.V"), "initial.V")
    W0 = nodes.field(config.field_source(config.initial.W, "initial.W"), "initial.W")
    return nodes, model, model.state(V0, W0)


def run(config: RunConfig, out_dir: Path | str | None = None, comm: MPI.Comm | None = None) -> dict:
    """Run the macroscopic model described by `config`; returns the summary (also on disk)."""
    comm = MPI.COMM_WORLD if comm is None else comm
    out = Path(out_dir if out_dir is not None else config.output.dir)
    check_output_dir(out)
    nodes, model, y0 = build_model(config, comm)
    t = config.time
    integrator = make_integrator(t.scheme, t.dt, t.rtol, t.atol)
    if t.scheme != "adaptive" and t.dt > model.max_stable_dt() and comm.rank == 0:
        log.warning(
            "time.dt = %g exceeds the explicit stability estimate %.3g", t.dt, model.max_stable_dt()
        )

    if comm.rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    comm.barrier()
    writer = FieldWriter(
        nodes, model.fields_of, ("V", "W"), out, config.output.formats, static={"rho0": model.rho0}
    )
    diagnostics = Diagnostics(nodes, model.fields_of, model.rho0)
    sim = Simulation(
        model,
        integrator,
        np.linspace(0.0, t.t_end, t.n_outputs + 1),
        [writer, diagnostics],
        progress=config.output.progress,
    )
    try:
        sim.run(y0)
    finally:
        writer.close()
        diagnostics.write_csv(out / "diagnostics.csv", comm)
    summary = {
        "model": "nonlocal_fhn",
        "config": config.source,
        "parameters": asdict(config.model),
        "kernel": {**config.kernel.spec, "dim": nodes.dim},
        "nonlocal": {**asdict(config.nonlocal_), **model.laplacian.op.info()},
        "mesh": {
            "source": str(config.mesh.source),
            "dim": nodes.dim,
            "nodes": nodes.n_global,
            "cells": comm.allreduce(nodes.mesh.topology.index_map(nodes.dim).size_local),
        },
        "time": {**asdict(config.time), "steps": sim.steps, "wall_time_s": sim.wall_time},
        "solver": asdict(config.solver),
        "ranks": comm.size,
        "final": {k: v for k, v in diagnostics.rows[-1].items() if k not in ("step",)},
        "python": platform.python_version(),
    }
    if (
        comm.rank == 0
        and (config.output.png or config.output.gif)
        and "vtk" in config.output.formats
    ):
        from fem_fhn.render import render_fields

        summary["pictures"] = render_fields(
            out / "vtk" / "fields.pvd",
            "V",
            png=out / "V.png" if config.output.png else None,
            gif=out / "V.gif" if config.output.gif else None,
        )
    write_json(out / "summary.json", summary, comm)
    return summary
