"""Output: P1 fields for ParaView (VTX .bp, XDMF, VTK .pvd), diagnostics CSV and summary JSON.

The writers are observers that a `Simulation` calls at output times with an `Output` (the time,
the step and the model's named fields on the mesh nodes).

Files in the output folder:
    fields.bp/      VTX (ADIOS2) — open in ParaView with the "ADIOS2VTXReader"
    fields.xdmf/.h5 XDMF — open in ParaView with "XDMF Reader" (Xdmf3ReaderT)
    vtk/fields.pvd  VTK — ParaView and pyvista read it (used for the pictures)
    diagnostics.csv min/max/mean of V and W and ∫ρ0 V at each output time, a row appended (and
                    flushed) at every output time
    summary.json    parameters, mesh size, ranks, steps, wall time, final diagnostics; replaced
                    atomically whenever the run's state changes (start, checkpoints, end)
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
from mpi4py import MPI

from fem_fhn._fenics import dolfinx
from fem_fhn.mesh import NodalMesh
from fem_fhn.simulation import Output

FORMATS = ("vtx", "xdmf", "vtk")


class FieldWriter:
    """Write the model's fields and static fields (e.g. ρ0) as P1 functions at each call.

    Args:
        nodes: the nodal mesh.
        names: the field names the outputs carry.
        out_dir: output folder (exists).
        formats: subset of FORMATS.
        static: fields written unchanged at every time (ρ0).
    """

    def __init__(
        self,
        nodes: NodalMesh,
        names,
        out_dir: Path,
        formats=FORMATS,
        static: dict[str, np.ndarray] | None = None,
    ):
        self.nodes = nodes
        comm = nodes.comm
        self.functions = {name: nodes.function(name=name) for name in names}
        for name, values in (static or {}).items():
            self.functions[name] = nodes.function(values, name=name)
        funcs = list(self.functions.values())
        self.writers = []
        if "vtx" in formats:
            self.writers.append(dolfinx.io.VTXWriter(comm, Path(out_dir) / "fields.bp", funcs))
        if "xdmf" in formats:
            xdmf = dolfinx.io.XDMFFile(comm, Path(out_dir) / "fields.xdmf", "w")
            xdmf.write_mesh(nodes.mesh)
            self.writers.append(_XDMFSeries(xdmf, funcs))
        if "vtk" in formats:
            if comm.rank == 0:
                (Path(out_dir) / "vtk").mkdir(exist_ok=True)
            comm.barrier()
            vtk = dolfinx.io.VTKFile(comm, Path(out_dir) / "vtk" / "fields.pvd", "w")
            self.writers.append(_VTKSeries(vtk, funcs))

    def __call__(self, output: Output) -> None:
        for name, values in output.fields.items():
            self.nodes.assign(self.functions[name], values)
        for w in self.writers:
            w.write(output.t)

    def close(self) -> None:
        for w in self.writers:
            w.close()
        self.writers = []


class _XDMFSeries:
    def __init__(self, f, funcs):
        self.f, self.funcs = f, funcs

    def write(self, t):
        for u in self.funcs:
            self.f.write_function(u, t)

    def close(self):
        self.f.close()
        self.f = None  # finalise now: dolfinx's VTKFile writes its .pvd again when destroyed


class _VTKSeries(_XDMFSeries):
    def write(self, t):
        self.f.write_function(self.funcs, t)


class Diagnostics:
    """Min, max and mean (∫u/|Ω|) of each field and ∫ρ0 u of the first (V), at each output time.

    Nodes where a field is NaN (no data there, e.g. a network's empty nodes) are left out: the
    min and max run over the other nodes and the mean is ∫u/|Ω_u| over the part Ω_u where u is
    defined (lumped quadrature). With `path` set, rank 0 appends each row to that CSV file and
    flushes it, so the file holds every output time written so far whatever stops the run.
    """

    def __init__(self, nodes: NodalMesh, rho0: np.ndarray, path: Path | None = None):
        self.nodes, self.rho0 = nodes, rho0
        self.volume = nodes.integrate(np.ones(nodes.n_owned))
        self.rows: list[dict[str, float]] = []
        self.path = None if path is None else Path(path)
        self._file = None
        self._writer = None

    def summarise(self, fields: dict[str, np.ndarray]) -> dict[str, float]:
        comm = self.nodes.comm
        row = {}
        for name, u in fields.items():
            known = np.isfinite(u)
            part = u[known]
            row[f"min_{name}"] = comm.allreduce(float(part.min(initial=np.inf)), op=MPI.MIN)
            row[f"max_{name}"] = comm.allreduce(float(part.max(initial=-np.inf)), op=MPI.MAX)
            volume = self.nodes.integrate(known.astype(float))
            mean = self.nodes.integrate(np.where(known, u, 0.0)) / volume if volume > 0 else np.nan
            row[f"mean_{name}"] = mean
        name, u = next(iter(fields.items()))  # V for the FHN models
        row[f"int_rho0_{name}"] = self.nodes.integrate(np.where(np.isfinite(u), self.rho0 * u, 0.0))
        return row

    def __call__(self, output: Output) -> None:
        self.rows.append({"t": output.t, "step": output.step, **self.summarise(output.fields)})
        self._append(self.rows[-1])

    def begin(self) -> None:
        """Write the rows held so far (carried over from a checkpoint) to a new CSV file."""
        if self.path is None or self.nodes.comm.rank != 0 or not self.rows:
            return
        self._open(self.rows[0])
        self._writer.writerows(self.rows)
        self._file.flush()

    def _open(self, row: dict) -> None:
        self._file = open(self.path, "w", newline="")  # noqa: SIM115 (closed by close())
        self._writer = csv.DictWriter(self._file, fieldnames=list(row))
        self._writer.writeheader()

    def _append(self, row: dict) -> None:
        if self.path is None or self.nodes.comm.rank != 0:
            return
        if self._writer is None:
            self._open(row)
        self._writer.writerow(row)
        self._file.flush()

    def close(self) -> None:
        """Close the CSV file (rank 0)."""
        if self._file is not None:
            self._file.close()
        self._file = self._writer = None

    def write_csv(self, path: Path, comm: MPI.Comm) -> None:
        if comm.rank != 0 or not self.rows:
            return
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(self.rows[0]))
            writer.writeheader()
            writer.writerows(self.rows)


def write_json(path: Path, data: dict, comm: MPI.Comm) -> None:
    """Write `data` as indented JSON on rank 0 (numpy scalars converted), atomically: a reader
    (or a process killed meanwhile) sees the previous complete file or the new one."""
    if comm.rank == 0:
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, default=jsonable) + "\n")
        os.replace(tmp, path)


def jsonable(obj):
    """JSON form of numpy scalars and arrays and of paths (`json.dumps(..., default=jsonable)`)."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def nearest_node(comm: MPI.Comm, coords: np.ndarray, point) -> tuple[int, int, list[float]]:
    """The mesh node nearest to `point` over all ranks (collective).

    Returns (local index on the owning rank, -1 elsewhere; owning rank; its coordinates).
    Missing coordinates of `point` are 0, extra ones are ignored.
    """
    p = np.zeros(coords.shape[1])
    p[: min(len(point), len(p))] = list(point)[: len(p)]
    dist = np.linalg.norm(coords - p, axis=1)
    i = int(np.argmin(dist)) if dist.size else -1
    _, owner = comm.allreduce((float(dist[i]) if i >= 0 else np.inf, comm.rank), op=MPI.MINLOC)
    where = comm.bcast(coords[i].tolist() if owner == comm.rank else None, root=owner)
    return (i if owner == comm.rank else -1), owner, where


class Probe:
    """Observer recording named fields (default V) at the mesh nodes nearest to `points`.

    After a run, `times` and `values` (one row per output time; columns: for each point, each
    field) hold the same numbers on every rank; `where` holds the nodes' coordinates.
    """

    def __init__(self, nodes: NodalMesh, points, names=("V",)):
        self.comm, self.names = nodes.comm, tuple(names)
        found = [nearest_node(self.comm, nodes.coords, p) for p in points]
        self.index = [i for i, _, _ in found]
        self.where = [xyz for _, _, xyz in found]
        self.times, self.values = [], []

    def __call__(self, output: Output) -> None:
        local = np.array(
            [output.fields[name][i] if i >= 0 else 0.0 for i in self.index for name in self.names]
        )
        self.times.append(output.t)
        self.values.append(self.comm.allreduce(local, MPI.SUM))


class Every:
    """Call `observer` at every k-th output (by its number) and at the last one, the n-th."""

    def __init__(self, observer, k: int, n: int):
        self.observer, self.k, self.n = observer, k, n

    def __call__(self, output: Output) -> None:
        if output.index % self.k == 0 or output.index == self.n:
            self.observer(output)


class ProbeWriter(Probe):
    """Probes of every named field at the nodes nearest to `points`, a row per output time
    appended (and flushed) to the CSV file `path` by rank 0: t, step, then <field>@<j> for
    point j (its node's coordinates are in `where`)."""

    def __init__(self, nodes: NodalMesh, points, names, path: Path):
        super().__init__(nodes, points, names)
        self.path = Path(path)
        self._file = self._writer = None
        if self.comm.rank == 0:
            self._file = open(self.path, "w", newline="")  # noqa: SIM115 (closed by close())
            self._writer = csv.writer(self._file)
            columns = [f"{name}@{j}" for j in range(len(self.index)) for name in self.names]
            self._writer.writerow(["t", "step", *columns])
            self._file.flush()

    def __call__(self, output: Output) -> None:
        super().__call__(output)
        if self._writer is not None:
            values = self.values[-1].tolist()
            self._writer.writerow([repr(output.t), output.step, *map(repr, values)])
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = self._writer = None
