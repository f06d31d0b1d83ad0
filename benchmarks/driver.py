"""What the benchmark scripts share: one-thread environment, a case in its own process, timings,
peak memory, sampled operator errors, the results table and the JSON record.

A script ``benchmarks/bench_<name>.py`` plays two roles. As the driver (serial) it runs each case
with :func:`launch` in a fresh process, under ``mpirun -n R`` when asked, so that ``ru_maxrss``
is that case's own peak; it prints the cases with :func:`format_table` and writes
``benchmarks/results/<name>.json`` with :func:`write_json`. As a case (``--case ...``) it
measures and hands its record back with :func:`emit`, one JSON line on rank 0.

numpy and MPI are imported inside the functions only: :func:`one_thread` must run before numpy
loads its BLAS.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
MARKER = "BENCH_CASE_JSON "
THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")
#: facts of the machine and the run that :func:`machine_info` knows (other names: modules)
FACTS: dict[str, Callable[[], Any]] = {
    "date": lambda: datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    "hostname": socket.gethostname,
    "cpu_count": os.cpu_count,
    "load_average": os.getloadavg,
    "python": platform.python_version,
    "command": lambda: " ".join([Path(sys.executable).name, *sys.argv]),
}
MACHINE = ("date", "hostname", "cpu_count", "python", "numpy", "command")

#: a table column: (header, key of the row or a function of the row, format of the value)
Column = tuple[str, str | Callable[[dict], Any], str]


# --------------------------------------------------------------------------- command line


def one_thread(force: bool = False) -> None:
    """One numba/OpenMP/BLAS thread per process: set THREAD_VARIABLES to 1 where the caller has
    not set them (``force``: everywhere). Call before numpy is imported."""
    for name in THREAD_VARIABLES:
        if force or name not in os.environ:
            os.environ[name] = "1"


def thread_env(names: Iterable[str] = THREAD_VARIABLES) -> dict[str, str | None]:
    """The thread variables as this process sees them (None where unset)."""
    return {name: os.environ.get(name) for name in names}


def make_parser(doc: str, name: str, case: bool = True) -> argparse.ArgumentParser:
    """Parser described by the first paragraph of `doc`, with ``--output`` (default
    ``benchmarks/results/<name>.json``) and, with `case`, the hidden ``--case`` of one case."""
    parser = argparse.ArgumentParser(description=" ".join(doc.split("\n\n")[0].split()))
    output = RESULTS / f"{name}.json"
    parser.add_argument("--output", type=Path, default=output, help="JSON result file")
    if case:
        parser.add_argument("--case", help=argparse.SUPPRESS)
    return parser


def require_positive(args: argparse.Namespace, *names: str) -> None:
    """Refuse, in one line (exit 1), an option among `names` below 1 (lists: any entry)."""
    for name in names:
        value = getattr(args, name)
        if min(value if isinstance(value, list) else [value]) < 1:
            flag = "--" + name.replace("_", "-")
            sys.exit(f"{flag} = {value} is not allowed: whole numbers >= 1")


# --------------------------------------------------------------------------- one case per process


def emit(record: dict, comm=None) -> None:
    """Hand a case's record to the driver: one marked JSON line (on rank 0 of `comm`)."""
    if comm is None or comm.rank == 0:
        print(MARKER + json.dumps(record), flush=True)


def mpirun(ranks: int) -> list[str]:
    """``mpirun -n ranks python``: the mpirun next to ``sys.executable`` (exit if missing)."""
    launcher = Path(sys.executable).parent / "mpirun"
    if not launcher.exists():
        sys.exit(f"mpirun not found next to {sys.executable}")
    return [str(launcher), "-n", str(ranks), sys.executable]


@dataclass
class Launched:
    """A case's record, the command that ran it and the wall time of its process."""

    record: dict
    command: str
    wall_s: float


class CaseFailed(RuntimeError):
    """A case that exited non-zero, printed no record or ran past its timeout."""

    def __init__(self, status: str, command: str, output: str, wall_s: float):
        self.status, self.command, self.output, self.wall_s = status, command, output, wall_s
        super().__init__(f"{status}: {command}\n{output}")

    @property
    def last_line(self) -> str:
        """The last line the case wrote (its error, as a rule), else the status."""
        lines = self.output.strip().splitlines()
        return lines[-1] if lines else self.status


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def launch(
    script: str | Path,
    args: Sequence[str],
    ranks: int | None = None,
    threads: int | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    python: str | None = None,
) -> Launched:
    """Run ``python script args`` (under ``mpirun -n ranks`` when `ranks` is given) in a fresh
    process and return the record it emits. `threads` sets every THREAD_VARIABLES (and is
    written before the command), `env` adds variables, `python` names another interpreter (of
    another environment; serial only). Raises CaseFailed."""
    serial = [python or sys.executable]
    cmd = [*(mpirun(ranks) if ranks is not None else serial), str(Path(script).resolve())]
    cmd += list(args)
    environ = dict(os.environ, **(env or {}))
    prefix = ""
    if threads is not None:
        environ.update({name: str(threads) for name in THREAD_VARIABLES})
        prefix = " ".join(f"{name}={threads}" for name in THREAD_VARIABLES) + " "
    command = prefix + " ".join(cmd)
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=environ, check=False, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise CaseFailed(f"timeout after {timeout:g} s", command, "", timeout) from None
    wall = time.perf_counter() - start
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARKER)]
    if proc.returncode != 0 or len(lines) != 1:
        output = _tail(proc.stderr) or _tail(proc.stdout)
        raise CaseFailed(f"failed (exit {proc.returncode})", command, output, wall)
    return Launched(json.loads(lines[0][len(MARKER) :]), command, wall)


# --------------------------------------------------------------------------- measures


@dataclass
class Times:
    """Wall and CPU seconds of one call per repetition (max over ranks)."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def median(values: Iterable[float]) -> float:
    """The median, as a float."""
    return float(statistics.median(values))


def _max_over_ranks(comm, values: list[float]) -> list[float]:
    if comm is None:
        return values
    import numpy as np
    from mpi4py import MPI

    array = np.array(values, dtype=float)
    comm.Allreduce(MPI.IN_PLACE, array, op=MPI.MAX)
    return array.tolist()


def rounds(
    calls: Mapping[str, Callable[[], object]],
    repeat: int,
    warmup: int = 0,
    comm=None,
    alternate: bool = False,
) -> dict[str, Times]:
    """Time `repeat` rounds of one call of each of `calls`, after `warmup` untimed rounds.

    Interleaving lets the drifts of a loaded machine hit every call alike; with `alternate`,
    every other round runs the calls in reverse order. With `comm`, each call follows a
    ``comm.Barrier()`` and each time is the max over the ranks.
    """
    for _ in range(warmup):
        for call in calls.values():
            call()
    times = {name: Times() for name in calls}
    for r in range(repeat):
        for name in reversed(calls) if alternate and r % 2 else calls:
            if comm is not None:
                comm.Barrier()
            wall, cpu = time.perf_counter(), time.process_time()
            calls[name]()
            times[name].wall.append(time.perf_counter() - wall)
            times[name].cpu.append(time.process_time() - cpu)
    for t in times.values():
        t.wall, t.cpu = _max_over_ranks(comm, t.wall), _max_over_ranks(comm, t.cpu)
    return times


def timed(call: Callable[[], object], repeat: int, warmup: int = 0, comm=None) -> Times:
    """Times of `repeat` calls after `warmup` untimed ones (see :func:`rounds`)."""
    return rounds({"call": call}, repeat, warmup, comm)["call"]


def peak_mb(comm=None) -> float:
    """High-water resident set size of this process in MB (10^6 bytes; ``ru_maxrss`` is in KiB
    on Linux), the max over the ranks of `comm`."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6
    return rss if comm is None else _max_over_ranks(comm, [rss])[0]


def sampled_error(targets, approx, sources, strengths, kernel) -> tuple[float, float]:
    """Error of an approximate kernel sum on a few target points, by direct sums:
    (max_i |approx_i − Σ_j Ψ(|y_i − x_j|) s_j|, max_i Σ_j |Ψ(|y_i − x_j|)| |s_j|) over the
    targets y_i, with sources x_j and strengths s_j = w_j u_j. The ratio of the two is the
    measure of ``make_operator``'s tol."""
    import numpy as np
    from scipy.spatial.distance import cdist

    err, scale = 0.0, 0.0
    for i0 in range(0, len(targets), 8):
        psi = kernel(cdist(targets[i0 : i0 + 8], sources))
        err = max(err, float(np.max(np.abs(approx[i0 : i0 + 8] - psi @ strengths))))
        scale = max(scale, float(np.max(np.abs(psi) @ np.abs(strengths))))
    return err, scale


def measure_operator(
    build: Callable[[], Any], points, weights, kernel, u, rng, repeat: int, tol: float
) -> tuple[Any, dict[str, Any]]:
    """Build an operator K̃ for (K u)_i = Σ_j Ψ(|x_i − x_j|) w_j u_j in this process and measure
    it: build_s (and build_cpu_s); apply_s, the median of `repeat` applies after a warm-up (all
    in apply_s_all; apply_cpu_s the median CPU time);
    error_over_tol, the :func:`sampled_error` ratio on 64 rows drawn from `rng`, over `tol`;
    peak_mb of the process after the build and the applies (the error check's direct sums come
    after it). Returns (operator, measures)."""
    start, cpu = time.perf_counter(), time.process_time()
    op = build()
    build_s, build_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    approx = op.apply(u)
    times = timed(lambda: op.apply(u), repeat)
    peak = peak_mb()  # the operator's build and applies, before the direct sums of the check
    rows = rng.choice(len(weights), size=min(64, len(weights)), replace=False)
    err, scale = sampled_error(points[rows], approx[rows], points, weights * u, kernel)
    return op, {
        "build_s": build_s,
        "build_cpu_s": build_cpu_s,
        "apply_s": median(times.wall),
        "apply_cpu_s": median(times.cpu),
        "apply_s_all": times.wall,
        "error_over_tol": err / (tol * scale),
        "peak_mb": peak,
    }


# --------------------------------------------------------------------------- report


def format_table(columns: Sequence[Column], rows: Iterable[dict]) -> str:
    """Fixed-width Markdown table; a column is (header, key or function of the row, format);
    '-' where the value is missing or None."""

    def cell(row: dict, key: str | Callable[[dict], Any], fmt: str) -> str:
        value = key(row) if callable(key) else row.get(key)
        return "-" if value is None else fmt.format(value)

    header = [name for name, _, _ in columns]
    body = [[cell(row, key, fmt) for _, key, fmt in columns] for row in rows]
    widths = [max([len(h), *(len(cells[i]) for cells in body)]) for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"
    return "\n".join([line(header), rule, *map(line, body)])


def yes_no(flag: bool | None) -> str | None:
    """'yes' / 'NO' for a target's pass flag (None stays None: not evaluated)."""
    return None if flag is None else ("yes" if flag else "NO")


def target(description: str, value, threshold: float, relation: str, note: str = "") -> dict:
    """A target record: met is value `relation` threshold ('>=' or '<='), None without value."""
    met = None
    if value is not None:
        met = bool(value >= threshold) if relation == ">=" else bool(value <= threshold)
    return {
        "description": description,
        "value": value,
        "threshold": threshold,
        "relation": relation,
        "met": met,
        "note": note,
    }


def format_targets(targets: Mapping[str, dict]) -> str:
    """One line per target: name, description, value, threshold, met / NOT met / not run, note.
    Records of :func:`target` or shorter ones with only 'value' and 'met'."""
    lines = []
    for name, t in targets.items():
        status = {True: "met", False: "NOT met", None: "not run"}[t["met"]]
        value = t["value"]
        number = isinstance(value, int | float) and not isinstance(value, bool)
        text = "-" if value is None else f"{value:.3g}" if number else str(value)
        if "description" in t:
            text = f"{t['description']} = {text} ({t['relation']} {t['threshold']:g})"
        note = f"; {t['note']}" if t.get("note") else ""
        lines.append(f"- {name}: {text}: {status}{note}")
    return "\n".join(lines)


def machine_info(
    fields: Iterable[str] = MACHINE, names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The facts named in `fields` (FACTS, or a module: its ``__version__``), each under the key
    ``names.get(field, field)``."""
    info = {}
    for name in fields:
        if name in FACTS:
            value = FACTS[name]()
        else:
            value = getattr(importlib.import_module(name), "__version__", "unknown")
        info[(names or {}).get(name, name)] = value
    return info


def write_json(path: Path, record: dict) -> None:
    """Write `record` to `path` (folders made as needed) and say so."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {path}")
