"""Region and sensor time series: observers obs(t, y, step) for a run's output times.

    regions.csv   t, then the ρ0-weighted mean V̄_k of every region (one row per output time)
    sensors.csv   t, then s = P V for a sensors × vertices projection P (global vertex order)
    sensors.png   the sensor traces, drawn at the last output time (regions.png likewise)

Rank 0 appends each row and flushes it. A run resumed in the same folder keeps the rows before
its first output time. The values do not depend on the number of ranks beyond round-off: the
region means and the projection are sums of owned partial sums (one Allreduce each).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from mpi4py import MPI

from fem_fhn.connectome.coupling import RegionMeans
from fem_fhn.connectome.data import refuse


def output_names(config) -> list[str]:
    """The files the [connectome] table of a run config adds to its output folder."""
    table, png = config.connectome, config.output.png
    names = []
    for stem, wanted in (("regions", table.regions_csv), ("sensors", bool(table.projection))):
        names += [f"{stem}.csv", *([f"{stem}.png"] if png else [])] if wanted else []
    return names


class Projection:
    """s = P V for the columns of P that belong to the owned vertices (one Allreduce).

    Args:
        matrix: P, shape (n_sensors, n_global vertices), columns in input node order.
        global_index: owned vertices' input node numbers.
        comm: communicator.
    """

    def __init__(self, matrix: np.ndarray, global_index: np.ndarray, comm: MPI.Comm):
        self.n_sensors = matrix.shape[0]
        self.local = np.ascontiguousarray(matrix[:, np.asarray(global_index, dtype=np.int64)])
        self.comm = comm

    def __call__(self, V: np.ndarray) -> np.ndarray:
        out = np.empty(self.n_sensors)
        self.comm.Allreduce(self.local @ V, out, op=MPI.SUM)
        return out


def check_projection(matrix: np.ndarray, n_vertices: int, key: str = "connectome.projection"):
    """Refuse a projection whose columns are not the mesh's vertices."""
    if matrix.shape[1] != n_vertices:
        raise refuse(
            key,
            f"shape {matrix.shape}",
            f"the mesh has {n_vertices} vertices",
            f"a sensors x vertices matrix with {n_vertices} columns (input node order)",
        )


class SeriesWriter:
    """An observer writing `t, values(V)` rows to a CSV file (rank 0) at each output
    (`fem_fhn.simulation.Output`), plotted at `t_end`.

    Args:
        values: V ↦ array of len(names), the same on every rank (collective).
        names: column names after t.
        field: the name of the output's field (V).
        path: the CSV file.
        t_end: the last output time (draws `png` there); None: no plot.
        png: the picture of the series.
        comm: communicator.
    """

    def __init__(
        self,
        values: Callable[[np.ndarray], np.ndarray],
        names: Sequence[str],
        field: str,
        path: Path,
        comm: MPI.Comm,
        t_end: float | None = None,
        png: Path | None = None,
        ylabel: str = "V",
    ):
        self.values, self.names, self.field = values, list(names), field
        self.path, self.comm, self.t_end, self.png, self.ylabel = (
            Path(path),
            comm,
            t_end,
            png,
            ylabel,
        )
        self._file = None

    def __call__(self, output) -> None:
        t = output.t
        row = self.values(output.fields[self.field])
        if self.comm.rank != 0:
            return
        if self._file is None:
            self._open(t)
        self._writer.writerow([repr(float(t)), *(repr(float(v)) for v in row)])
        self._file.flush()
        if self.png is not None and self.t_end is not None and t >= self.t_end * (1 - 1e-12):
            self.close()
            plot_series(self.path, self.png, self.ylabel)

    def _open(self, t_first: float) -> None:
        """Start the file, keeping the rows of an earlier segment before t_first."""
        kept = []
        if self.path.is_file():
            times, data, names = read_series(self.path)
            if names == self.names:
                kept = [r for r in zip(times, data, strict=True) if r[0] < t_first - 1e-12]
        self._file = open(self.path, "w", newline="")  # noqa: SIM115 (closed by close())
        self._writer = csv.writer(self._file)
        self._writer.writerow(["t", *self.names])
        for t, row in kept:
            self._writer.writerow([repr(float(t)), *(repr(float(v)) for v in row)])

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None


def read_series(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(times, values (n_times, n_columns), column names) of a series CSV."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    names = rows[0][1:]
    data = np.array([[float(v) for v in r] for r in rows[1:]]).reshape(-1, len(names) + 1)
    return data[:, 0], data[:, 1:], names


def plot_series(csv_path: Path, png: Path, ylabel: str = "V", max_traces: int = 80) -> Path:
    """The columns of a series CSV as stacked traces (offset by their common spread)."""
    from fem_fhn.plot import figure, save

    times, data, names = read_series(csv_path)
    shown = data[:, :max_traces]
    present = np.isfinite(shown).any(axis=0)
    centred = shown - np.where(present, np.nanmean(np.where(present, shown, 0.0), axis=0), 0.0)
    finite = centred[np.isfinite(centred)]
    spread = float(np.ptp(finite)) if finite.size else 1.0
    offset = spread if spread > 0 else 1.0
    fig = figure((8.0, max(3.0, 0.18 * shown.shape[1] + 1.5)))
    ax = fig.add_subplot()
    for j in range(shown.shape[1]):
        ax.plot(times, centred[:, j] + j * offset, lw=0.8)  # each trace about its own mean
    ax.set_yticks(np.arange(shown.shape[1]) * offset, names[: shown.shape[1]], fontsize=5)
    ax.set_xlabel("t")
    ax.set_ylabel(f"{ylabel} (offset per trace)")
    return save(fig, png)


def region_writer(
    means: RegionMeans, names, field: str, out_dir: Path, t_end: float | None, comm: MPI.Comm
) -> SeriesWriter:
    """regions.csv (and regions.png at t_end) of the region means of the named field."""
    out = Path(out_dir)

    def values(V: np.ndarray) -> np.ndarray:  # NaN: a region without ρ0-mass has no mean
        return np.where(means.present, means(V), np.nan)

    return SeriesWriter(values, names, field, out / "regions.csv", comm, t_end, out / "regions.png")


def sensor_writer(
    projection: Projection,
    field: str,
    out_dir: Path,
    t_end: float | None,
    comm: MPI.Comm,
    names=None,
) -> SeriesWriter:
    """sensors.csv (and sensors.png at t_end) of the projection P V of the named field."""
    names = names or [f"sensor{j}" for j in range(projection.n_sensors)]
    return SeriesWriter(
        projection,
        names,
        field,
        Path(out_dir) / "sensors.csv",
        comm,
        t_end,
        Path(out_dir) / "sensors.png",
        ylabel="sensor signal",
    )
