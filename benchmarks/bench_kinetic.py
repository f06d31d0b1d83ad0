"""Benchmark of the kinetic FitzHugh–Nagumo solver (`fem_fhn.kinetic`): throughput, ε, MPI, size.

Problem (every part): the P1 nodes of ``dolfinx.mesh.create_unit_square(comm, m, m)`` with the
smallest m such that (m + 1)² ≥ ``--nodes`` (2 025 nodes for the default 2 000), lumped masses as
weights, ρ0 = 1, the Gaussian kernel ``fem_fhn.kernels.Gaussian(width=0.1, dim=2)`` with the
dense operator, ``FHNParameters()`` defaults, the invariant velocity box
``suggest_grid(params, n_v=64, n_w=64)``, velocity diffusion D = 0.02, the initial density
``model.state(V0, W0, 0.2, 0.2)`` with a front V0 = −0.5 + 1.5/(1 + exp((x − 0.3)/0.05)),
W0 = −0.2, and ``APSplitting(dt)`` (Strang, SSP-RK2 transport, "auto" relaxation) with
dt = 0.5 · ``model.max_stable_dt()`` (the transport CFL bound, which does not involve ε).
A cell update is one (node, v-cell, w-cell) triple advanced by one full step; one full step is
one ``APSplitting.step`` call (half relaxation, SSP-RK2 transport, half relaxation). Step times
are medians over the timed steps, each step preceded by ``comm.Barrier()`` and taken as the max
over ranks. Every case ends with a check that ρ is conserved to round-off and f ≥ 0.

Parts (``--parts``), each case in its own ``mpirun`` process (``ru_maxrss`` is a high-water mark):

- **throughput**: ε = 1e-3 on ``--nodes`` nodes, 1 rank, numba kernels against their numpy twins
  (``backend="numpy"``), NUMBA_NUM_THREADS (and the BLAS threads) as set by the caller (numba's
  default: every core); the thread count is reported. The numba case runs with an empty
  NUMBA_CACHE_DIR, so its first step includes the compilation of the kernels: compile time =
  first step − median step. Timed: ``--steps`` steps (numba) and ``--numpy-steps`` steps (numpy)
  after that first step, plus the median of a few calls of each ingredient of a step
  (transport right-hand side with its moments and Ψ*j apply, relaxation, mode choice).
  Targets: numba ≥ 2×10^7 cell-updates/s, and numba ≥ 4× its numpy twin.
- **eps**: wall time of ``APSplitting.advance`` to the fixed final time T = ``--eps-steps`` · dt
  for ε = 1, 1e-2, 1e-4 with the same dt, in one process (one warm-up step per ε, then
  ``--eps-repeat`` rounds interleaving the ε values; median per ε). With D = 0.02 the relaxation
  of ε = 1 fits in the transport drift on every node, while ε ≤ 1e-2 takes the exact-remap path
  (the "drift nodes" column). Target: time(ε = 1e-4) ≤ 1.5 × time(ε = 1).
- **mpi**: the throughput problem (numba, ε = 1e-3) on 1 rank × 1 thread, 2 ranks × 1 thread and
  1 rank × 2 threads (NUMBA_NUM_THREADS = OMP_NUM_THREADS = OPENBLAS_NUM_THREADS set per case).
  Target: speed-up t(1 rank × 1 thread) / t(2 ranks × 1 thread) ≥ 1.6.
- **large**: ``--large-nodes`` nodes (5 041 for 5 000) × 64 × 64 cells, numba, ε = 1e-3,
  ``--large-steps`` steps after one warm-up step on each of ``--large-ranks`` (1 rank: the
  caller's threads; R > 1 ranks: cpu_count // R threads each). Reported: per-step time,
  throughput, peak resident memory per rank (``ru_maxrss``, max over ranks) and the bytes of one
  density array per rank. Target: the run completes with ≥ 5 000 × 64 × 64 cells.

Usage::

    python benchmarks/bench_kinetic.py                          # every part, ~5 min on 2 cores
    python benchmarks/bench_kinetic.py --parts throughput mpi --nodes 2000 --steps 10

The driver launches ``mpirun -n R python benchmarks/bench_kinetic.py --case JSON`` (the mpirun
next to ``sys.executable``) per case, collects the JSON line each case prints on rank 0, prints a
table per part and writes ``benchmarks/results/bench_kinetic.json`` (cases, metadata, and a
``targets`` section with the measured value, the threshold and pass/fail per target).
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import driver  # noqa: E402
import numpy as np  # noqa: E402

PARTS = ("throughput", "eps", "mpi", "large")
KERNEL_WIDTH = 0.1
DIFFUSION = 0.02
DT_FRACTION = 0.5
THROUGHPUT_EPS = 1e-3
EPS_VALUES = (1.0, 1e-2, 1e-4)
SIGMA = 0.2
TARGET_CELL_RATE = 2e7
TARGET_NUMPY_RATIO = 4.0
TARGET_EPS_RATIO = 1.5
TARGET_MPI_SPEEDUP = 1.6
TARGET_LARGE_NODES = 5_000
INGREDIENT_REPEAT = 3


# --------------------------------------------------------------------------- one case (under MPI)


def _side(n_nodes: int) -> int:
    """Smallest m with (m + 1)² ≥ n_nodes (cells per side of the unit square)."""
    return max(1, math.ceil(math.sqrt(n_nodes)) - 1)


def _setup(comm, n_nodes: int, n_v: int, n_w: int, eps: float, backend: str):
    """Nodes, model, initial density, splitting and dt of the benchmark problem (docstring)."""
    from fem_fhn import kernels
    from fem_fhn._fenics import dolfinx
    from fem_fhn.kinetic import APSplitting, KineticFHN, suggest_grid
    from fem_fhn.mesh import NodalMesh
    from fem_fhn.nonlocal_ import make_operator
    from fem_fhn.params import FHNParameters

    m = _side(n_nodes)
    nodes = NodalMesh.from_mesh(dolfinx.mesh.create_unit_square(comm, m, m))
    params = FHNParameters()
    grid = suggest_grid(params, n_v=n_v, n_w=n_w)
    psi = kernels.Gaussian(width=KERNEL_WIDTH, dim=2)
    op = make_operator(nodes.coords, nodes.masses, psi, method="dense", comm=comm)
    rho0 = np.ones(nodes.n_owned)
    model = KineticFHN(nodes, params, op, grid, eps, rho0, diffusion=DIFFUSION, backend=backend)
    x = nodes.coords[:, 0]
    f0 = model.state(-0.5 + 1.5 / (1.0 + np.exp((x - 0.3) / 0.05)), -0.2, SIGMA, SIGMA)
    dt = DT_FRACTION * model.max_stable_dt()
    return nodes, model, f0, APSplitting(dt), dt


def _timed_steps(comm, stepper, model, f, dt: float, n: int, t0: float = 0.0):
    """n calls of stepper.step, each after a Barrier; returns (max-over-ranks times, f)."""
    state = {"f": f, "k": 0}

    def step() -> None:
        state["f"] = stepper.step(model, t0 + state["k"] * dt, state["f"], dt)
        state["k"] += 1

    return driver.timed(step, n, comm=comm).wall, state["f"]


def _check(comm, model, f) -> dict:
    """Conservation of ρ and positivity of f (global)."""
    from mpi4py import MPI

    rho = model.fields_of(f)["rho"]
    mass = comm.allreduce(float(np.abs(rho - model.rho0).max(initial=0.0)), op=MPI.MAX)
    f_min = comm.allreduce(float(f.min(initial=np.inf)), op=MPI.MIN)
    return {"max_abs_rho_error": mass, "f_min": f_min, "ok": bool(mass <= 1e-10 and f_min >= 0)}


def _threads() -> dict:
    import numba

    return {
        "numba_threads": int(numba.get_num_threads()),
        "numba_threading_layer": _threading_layer(),
        **{k.lower(): v for k, v in driver.thread_env().items()},
    }


def _threading_layer() -> str:
    import numba

    try:
        return str(numba.threading_layer())
    except ValueError:  # no parallel kernel has run yet
        return str(numba.config.THREADING_LAYER)


def _base_result(comm, nodes, model, dt: float) -> dict:
    from mpi4py import MPI

    g = model.grid
    return {
        "ranks": comm.size,
        "nodes": int(nodes.n_global),
        "n_local_max": int(comm.allreduce(nodes.n_owned, op=MPI.MAX)),
        "n_v": g.n_v,
        "n_w": g.n_w,
        "cells": int(nodes.n_global) * g.n_v * g.n_w,
        "grid": g.describe(),
        "dt": dt,
        "eps": model.eps,
        "backend": model.backend,
        "diffusion": model.diffusion,
    }


def _ingredients(comm, model, stepper, f, dt: float) -> dict:
    """Median time (ms, max over ranks) of each ingredient of a step, INGREDIENT_REPEAT calls."""
    drift, donor = stepper.modes(model, 0.0, dt)
    rate = np.where(drift, model.relax_rate(), 0.0)
    remap = ~drift
    rho, j = model._rho_j(f)
    calls = {
        "transport_rhs_ms": lambda: model.transport_rhs(0.0, f, rate, donor),
        "relax_ms": lambda: model.relax(f, 0.5 * dt, remap),
        "moments_rho_j_ms": lambda: model._rho_j(f),
        "op_apply_ms": lambda: model.op.apply(j),
        "modes_ms": lambda: stepper.modes(model, 0.0, dt),
    }
    return {
        name: 1e3 * driver.median(driver.timed(call, INGREDIENT_REPEAT, comm=comm).wall)
        for name, call in calls.items()
    }


def case_steps(spec: dict) -> dict:
    """throughput / mpi / large: first step, then spec['steps'] timed steps."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    t_start = time.perf_counter()
    nodes, model, f, stepper, dt = _setup(
        comm, spec["nodes"], spec["n_v"], spec["n_w"], spec["eps"], spec["backend"]
    )
    setup_s = comm.allreduce(time.perf_counter() - t_start, op=MPI.MAX)
    rss_setup = driver.peak_mb(comm)
    first, f = _timed_steps(comm, stepper, model, f, dt, 1)
    times, f = _timed_steps(comm, stepper, model, f, dt, spec["steps"], t0=dt)
    drift = comm.allreduce(stepper.last_drift_nodes)
    step_s = driver.median(times)
    result = _base_result(comm, nodes, model, dt)
    result.update(
        {
            "setup_s": setup_s,
            "first_step_s": float(first[0]),
            "compile_s": float(first[0]) - step_s,
            "cold_numba_cache": bool(spec.get("cold_cache", False)),
            "step_s": step_s,
            "step_s_all": times,
            "steps": spec["steps"],
            "cell_updates_per_s": result["cells"] / step_s,
            "drift_nodes": int(drift),
            "density_mb_per_rank": comm.allreduce(f.nbytes / 1e6, op=MPI.MAX),
            "rss_after_setup_mb_per_rank": rss_setup,
        }
    )
    if spec.get("ingredients"):
        result["ingredients"] = _ingredients(comm, model, stepper, f, dt)
    result.update(_check(comm, model, f))
    result["peak_rss_mb_per_rank"] = driver.peak_mb(comm)
    result.update(_threads())
    return result


def case_eps(spec: dict) -> dict:
    """eps: advance to T = spec['steps'] · dt for each ε, interleaved rounds, median per ε."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    nodes, base, f0, stepper, dt = _setup(
        comm, spec["nodes"], spec["n_v"], spec["n_w"], spec["eps_values"][0], spec["backend"]
    )
    models = [base if e == base.eps else base.with_eps(e) for e in spec["eps_values"]]
    t_end = spec["steps"] * dt
    drift = []
    for model in models:  # warm-up (compilation, caches) and the mode of each ε
        stepper.step(model, 0.0, f0, dt)
        drift.append(int(comm.allreduce(stepper.last_drift_nodes)))
    finals, steps = [f0] * len(models), [0] * len(models)

    def advance(k: int) -> None:
        _, finals[k], steps[k] = stepper.advance(models[k], 0.0, f0, t_end)

    calls = {str(k): (lambda k=k: advance(k)) for k in range(len(models))}
    times = driver.rounds(calls, spec["repeat"], comm=comm, alternate=True)
    result = _base_result(comm, nodes, base, dt)
    result.pop("eps")
    rows = []
    for k, model in enumerate(models):
        check = _check(comm, model, finals[k])
        wall, n = driver.median(times[str(k)].wall), int(steps[k])
        rows.append(
            {
                "eps": model.eps,
                "t_end": t_end,
                "steps": n,
                "wall_s": wall,
                "wall_s_all": times[str(k)].wall,
                "per_step_s": wall / n,
                "cell_updates_per_s": result["cells"] * n / wall,
                "drift_nodes": drift[k],
                **check,
            }
        )
    reference = rows[0]["wall_s"]
    for row in rows:
        row["ratio_to_first"] = row["wall_s"] / reference
    result.update({"repeat": spec["repeat"], "rows": rows, "ok": all(r["ok"] for r in rows)})
    result["peak_rss_mb_per_rank"] = driver.peak_mb(comm)
    result.update(_threads())
    return result


def run_case(spec: dict) -> None:
    from mpi4py import MPI

    result = case_eps(spec) if spec["part"] == "eps" else case_steps(spec)
    result["part"] = spec["part"]
    result["label"] = spec.get("label", "")
    result["mpi_library"] = MPI.Get_library_version().splitlines()[0].strip()
    driver.emit(result, MPI.COMM_WORLD)


# --------------------------------------------------------------------------- driver (serial)


def _launch(spec: dict, ranks: int, env_threads: int | None, cold_cache: bool = False) -> dict:
    """Run one case under mpirun; env_threads sets the thread variables (None: caller's env)."""
    args = ["--case", json.dumps(spec, separators=(",", ":"))]
    with tempfile.TemporaryDirectory(prefix="bench_kinetic_numba_") as cache:
        env = {"NUMBA_CACHE_DIR": cache} if cold_cache else None
        try:
            launched = driver.launch(__file__, args, ranks=ranks, threads=env_threads, env=env)
        except driver.CaseFailed as err:
            sys.exit(f"case {spec} on {ranks} rank(s) {err}")
    return {**launched.record, "command": launched.command, "process_wall_s": launched.wall_s}


STEP_COLUMNS = [
    ("case", "label", "{}"),
    ("ranks", "ranks", "{:d}"),
    ("threads/rank", "numba_threads", "{:d}"),
    ("nodes", "nodes", "{:d}"),
    ("cells", "cells", "{:d}"),
    ("first step s", "first_step_s", "{:.3f}"),
    ("step s", "step_s", "{:.3f}"),
    ("cell-upd/s", "cell_updates_per_s", "{:.3g}"),
    ("peak MB/rank", "peak_rss_mb_per_rank", "{:.0f}"),
]

INGREDIENT_COLUMNS = [
    ("backend", "backend", "{}"),
    ("transport rhs ms", "transport_rhs_ms", "{:.1f}"),
    ("relax ms", "relax_ms", "{:.1f}"),
    ("rho, j ms", "moments_rho_j_ms", "{:.1f}"),
    ("Psi*j apply ms", "op_apply_ms", "{:.2f}"),
    ("modes ms", "modes_ms", "{:.2f}"),
]

EPS_COLUMNS = [
    ("eps", "eps", "{:g}"),
    ("steps", "steps", "{:d}"),
    ("drift nodes", "drift_nodes", "{:d}"),
    ("wall s", "wall_s", "{:.3f}"),
    ("per step s", "per_step_s", "{:.3f}"),
    ("cell-upd/s", "cell_updates_per_s", "{:.3g}"),
    ("ratio to eps=1", "ratio_to_first", "{:.2f}"),
]

LARGE_COLUMNS = [
    *STEP_COLUMNS[1:],
    ("f MB/rank", "density_mb_per_rank", "{:.0f}"),
    ("setup s", "setup_s", "{:.1f}"),
]


def _spec(part: str, args, **extra) -> dict:
    spec = {
        "part": part,
        "nodes": args.nodes,
        "n_v": args.nv,
        "n_w": args.nw,
        "eps": THROUGHPUT_EPS,
        "backend": "numba",
        "steps": args.steps,
    }
    spec.update(extra)
    return spec


def part_throughput(args, targets: dict) -> list[dict]:
    numba_case = _launch(
        _spec("throughput", args, label="numba", ingredients=True, cold_cache=not args.warm_cache),
        1,
        None,
        cold_cache=not args.warm_cache,
    )
    numpy_case = _launch(
        _spec(
            "throughput",
            args,
            label="numpy twin",
            backend="numpy",
            steps=args.numpy_steps,
            ingredients=True,
        ),
        1,
        None,
    )
    cases = [numba_case, numpy_case]
    print(f"\n## throughput: eps = {THROUGHPUT_EPS:g}, {numba_case['grid']}, 1 rank\n")
    print(driver.format_table(STEP_COLUMNS, cases))
    print()
    print(
        driver.format_table(
            INGREDIENT_COLUMNS, [{"backend": c["label"], **c["ingredients"]} for c in cases]
        )
    )
    print(
        f"\nnumba compile (first step - median step, "
        f"{'cold' if numba_case['cold_numba_cache'] else 'warm'} cache): "
        f"{numba_case['compile_s']:.2f} s"
    )
    rate = numba_case["cell_updates_per_s"]
    ratio = rate / numpy_case["cell_updates_per_s"]
    note = f"{numba_case['cells']} cells, {numba_case['numba_threads']} numba thread(s)"
    targets["throughput_cell_updates_per_s"] = driver.target(
        "numba full AP step cell-updates/s", rate, TARGET_CELL_RATE, ">=", note
    )
    targets["throughput_numba_over_numpy"] = driver.target(
        "numba / numpy-twin throughput ratio", ratio, TARGET_NUMPY_RATIO, ">=", note
    )
    return cases


def part_eps(args, targets: dict) -> list[dict]:
    spec = _spec(
        "eps",
        args,
        eps_values=list(EPS_VALUES),
        steps=args.eps_steps,
        repeat=args.eps_repeat,
        label="eps",
    )
    case = _launch(spec, 1, None)
    print(
        f"\n## eps: {case['nodes']} nodes x {case['n_v']} x {case['n_w']}, dt = {case['dt']:.4g} "
        f"for every eps, T = {args.eps_steps} dt, D = {case['diffusion']:g}, "
        f"{case['numba_threads']} numba thread(s), median of {case['repeat']}\n"
    )
    print(driver.format_table(EPS_COLUMNS, case["rows"]))
    by_eps = {row["eps"]: row for row in case["rows"]}
    ratio = by_eps[EPS_VALUES[-1]]["wall_s"] / by_eps[EPS_VALUES[0]]["wall_s"]
    targets["eps_cost_ratio"] = driver.target(
        f"wall time to T: eps = {EPS_VALUES[-1]:g} over eps = {EPS_VALUES[0]:g}",
        ratio,
        TARGET_EPS_RATIO,
        "<=",
        f"same dt = {case['dt']:.4g}, {args.eps_steps} steps",
    )
    return [case]


def part_mpi(args, targets: dict) -> list[dict]:
    configs = [
        (1, 1, "1 rank x 1 thread"),
        (2, 1, "2 ranks x 1 thread"),
        (1, 2, "1 rank x 2 threads"),
    ]
    cases = [
        _launch(_spec("mpi", args, label=label), ranks, threads)
        for ranks, threads, label in configs
    ]
    serial = cases[0]["step_s"]
    for case in cases:
        case["speedup"] = serial / case["step_s"]
    print(f"\n## mpi: eps = {THROUGHPUT_EPS:g}, {cases[0]['grid']}\n")
    print(driver.format_table([*STEP_COLUMNS, ("speed-up", "speedup", "{:.2f}")], cases))
    targets["mpi_speedup_2_ranks"] = driver.target(
        "step time 1 rank x 1 thread / 2 ranks x 1 thread",
        cases[1]["speedup"],
        TARGET_MPI_SPEEDUP,
        ">=",
        f"{cases[0]['nodes']} nodes; 1 rank x 2 threads: speed-up {cases[2]['speedup']:.2f}",
    )
    return cases


def part_large(args, targets: dict) -> list[dict]:
    cases = []
    cpus = os.cpu_count() or 1
    for ranks in args.large_ranks:
        spec = _spec(
            "large", args, nodes=args.large_nodes, steps=args.large_steps, label=f"{ranks} rank(s)"
        )
        threads = None if ranks == 1 else max(1, cpus // ranks)
        cases.append(_launch(spec, ranks, threads))
    print(f"\n## large: eps = {THROUGHPUT_EPS:g}, {cases[0]['grid']}\n")
    print(driver.format_table(LARGE_COLUMNS, cases))
    big_enough = all(
        c["nodes"] >= TARGET_LARGE_NODES and c["n_v"] * c["n_w"] >= 64 * 64 for c in cases
    )
    targets["large_completes"] = driver.target(
        f"a run with >= {TARGET_LARGE_NODES} nodes x 64 x 64 cells completes "
        "(rho conserved, f >= 0)",
        int(min(c["cells"] for c in cases)) if all(c["ok"] for c in cases) else 0,
        TARGET_LARGE_NODES * 64 * 64,
        ">=",
        "peak MB/rank: "
        + ", ".join(f"{c['ranks']} rank(s) {c['peak_rss_mb_per_rank']:.0f}" for c in cases)
        + ("" if big_enough else " (size below the target's)"),
    )
    return cases


def run_driver(args) -> None:
    start = time.perf_counter()
    targets: dict = {}
    results: dict = {}
    runners = {"throughput": part_throughput, "eps": part_eps, "mpi": part_mpi, "large": part_large}
    for part in args.parts:
        t0 = time.perf_counter()
        print(f"running part {part} ...", flush=True)
        results[part] = runners[part](args, targets)
        print(f"(part {part}: {time.perf_counter() - t0:.1f} s)", flush=True)
    print("\n## targets\n")
    print(driver.format_targets(targets))
    meta = {
        "benchmark": "bench_kinetic",
        **driver.machine_info((*driver.MACHINE, "numba")),
        "caller_threads": driver.thread_env(),
        "kernel": f"fem_fhn.kernels.Gaussian(width={KERNEL_WIDTH}, dim=2), method dense",
        "problem": (
            "unit square P1 nodes, rho0 = 1, FHNParameters(), suggest_grid box, "
            f"D = {DIFFUSION}, dt = {DT_FRACTION} max_stable_dt, Strang + SSP-RK2"
        ),
        "total_time_s": time.perf_counter() - start,
    }
    print(f"\n{meta['total_time_s']:.0f} s in all")
    driver.write_json(args.output, {"metadata": meta, "targets": targets, "cases": results})


def main(argv: list[str] | None = None) -> None:
    parser = driver.make_parser(__doc__, "bench_kinetic")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--nodes", type=int, default=2_000, help="nodes (throughput, eps, mpi)")
    parser.add_argument("--nv", type=int, default=64, help="velocity cells in v")
    parser.add_argument("--nw", type=int, default=64, help="velocity cells in w")
    parser.add_argument("--steps", type=int, default=10, help="timed numba steps")
    parser.add_argument("--numpy-steps", type=int, default=3, help="timed numpy-twin steps")
    parser.add_argument("--eps-steps", type=int, default=10, help="T = eps-steps * dt")
    parser.add_argument("--eps-repeat", type=int, default=3, help="rounds over the eps values")
    parser.add_argument("--large-nodes", type=int, default=TARGET_LARGE_NODES)
    parser.add_argument("--large-steps", type=int, default=3)
    parser.add_argument("--large-ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--warm-cache", action="store_true", help="keep numba's cache (compile time not measured)"
    )
    args = parser.parse_args(argv)
    driver.require_positive(
        args, "nodes", "nv", "nw", "steps", "numpy_steps", "eps_steps", "eps_repeat"
    )
    driver.require_positive(args, "large_nodes", "large_steps", "large_ranks")
    if args.case is not None:
        run_case(json.loads(args.case))
    else:
        run_driver(args)


if __name__ == "__main__":
    main()
