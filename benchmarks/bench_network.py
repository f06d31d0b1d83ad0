"""Benchmark of the FitzHugh–Nagumo network (`fem_fhn.network`) with dense and fast long-range Ψ.

Problem: n neurons sampled from ρ0 = 1 on the unit square (``sample_particles`` on the P1 nodes
of ``dolfinx.mesh.create_unit_square(comm, 32, 32)``, seed 1, weights ω = 1/n), the long-range
kernel Ψ = ``fem_fhn.kernels.Gaussian(width=0.05, dim=2)``, ε = 1e-3 and the short-range bump
graph of radius r = ``radius_for(nodes, rho0, n, neighbours=30)`` = (30/(π n))^{1/2} (or a fixed
``--radius``), ``FHNParameters()`` defaults, the initial state
``initial_state(particles, "tanh((x - 0.5)/0.1)", -0.3, spread=(0.05, 0), seed=2)`` and the IMEX
ARS(2,2,2) integrator ``make_integrator("imex-ars222", dt=0.05)`` (per step: two explicit
evaluations, each one long-range apply, and two PETSc CG solves of the graph system).
The model is ``NetworkFHN.from_particles(particles, params, psi, eps, radius, method, tol)``;
``--methods`` picks the long-range methods among dense, sparse, nufft, hmatrix (those missing
from ``fem_fhn.nonlocal_.METHODS`` are skipped with a message; dense only for n ≤
``--dense-max`` = 20 000, as it stores 8 n² bytes), plus "none" (Ψ = 0: the short-range graph
alone, the floor of the step cost). The fast methods use ``--tol`` (default 1e-6). "sparse"
needs a compactly supported kernel: with the Gaussian it is recorded as "not applicable" (the
message of its ParameterError).

Measured per (n, method), each case in its own ``mpirun`` process (``ru_maxrss`` is a high-water
mark), times as the max over ranks:

- sampling time (``sample_particles``), graph build time and operator build time
  (``info()["build_time_s"]`` of the graph and of the operator), and the whole
  ``from_particles`` call (which also sets up the particle → mesh deposit);
- apply time: median of ``--repeat`` calls of ``op.apply(v)`` after 2 warm-ups, each after
  ``comm.Barrier()``;
- explicit time: median of the same number of ``model.explicit(t, y)`` calls;
- step time: median over ``--steps`` IMEX steps (``--big-steps`` for n ≥ 500 000; one
  ``advance`` to t + dt each) after a first step, reported separately, that also assembles
  the PETSc matrix and sets up the CG solver; the mean number of CG iterations per solve;
  solve ≈ (step − 2 explicit)/2; the process CPU time per step (max over ranks: on a machine
  shared with other jobs it stays near the wall time an unloaded machine would give, where the
  wall time grows with the load); each graph-solve variant of ``--solvers`` (CG tolerance
  "auto" or the strict 1e-14, matrix in Morton order or in particle order) is timed on the same
  model from the same state, the first one giving the main table's step time;
- accuracy: max over sampled rows i (64 per rank) of |(K v)_i − Σ_j Ψ_ij ω_j v_j| divided by
  the max over the same rows of Σ_j |Ψ_ij| ω_j |v_j| (the measure of ``make_operator``'s tol),
  the sums taken directly;
- peak resident memory per rank (``ru_maxrss``) and the operator's stored bytes per rank.

Threads: NUMBA_NUM_THREADS, OMP_NUM_THREADS (finufft, OpenMP) and OPENBLAS_NUM_THREADS are the
caller's unless ``--threads N`` sets all three for every case; the JSON records them per case.

Targets: at n = 10^5 one ARS(2,2,2) step costs ≤ 0.3 s on 1 rank and ≤ 0.18 s on 2 ranks with
a fast method (sparse, nufft or hmatrix; the best one counts), and at n = 10^4 one long-range
apply with the best fast method is ≥ 10× faster than the dense apply.

Usage::

    python benchmarks/bench_network.py                  # n = 1e4, 2e4, 1e5, 1e6; all methods
    python benchmarks/bench_network.py --sizes 10000 100000 --methods dense nufft hmatrix

The driver launches ``mpirun -n R python benchmarks/bench_network.py --case JSON`` (the mpirun
next to ``sys.executable``) per case, collects the JSON line each case prints on rank 0 (a case
that fails or runs past ``--case-timeout`` is recorded with its error and the run goes on),
prints a table and writes ``benchmarks/results/bench_network.json`` (cases, metadata, targets).
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import driver  # noqa: E402
import numpy as np  # noqa: E402

DEFAULT_SIZES = [10_000, 20_000, 100_000, 1_000_000]
ALL_METHODS = ("dense", "sparse", "nufft", "hmatrix", "none")
FAST_METHODS = ("sparse", "nufft", "hmatrix")
KERNEL_WIDTH = 0.05
EPS = 1e-3
NEIGHBOURS = 30
DT = 0.05
MESH_CELLS = 32
SAMPLE_SEED = 1
STATE_SEED = 2
WARMUP = 2
ERROR_ROWS = 64
BIG_N = 500_000
TARGET_STEP_N = 100_000
TARGET_STEP_S = {1: 0.3, 2: 0.18}
# CG variants of the implicit graph solve: (ksp_rtol, Morton storage order)
SOLVER_VARIANTS = {
    "auto": ("auto", True),
    "strict": (1e-14, True),
    "strict-unordered": (1e-14, False),
}
TARGET_APPLY_N = 10_000
TARGET_APPLY_SPEEDUP = 10.0


# --------------------------------------------------------------------------- one case (under MPI)


def _relative_error(comm, op, positions, weights, v, kernel) -> float:
    """max over sampled rows |K̃v − Kv| / max_i Σ_j |Ψ_ij| ω_j |v_j| (direct sums)."""
    from mpi4py import MPI

    from fem_fhn.parallel import gather_rows

    approx = op.apply(v)
    all_x = gather_rows(comm, positions)
    all_wv = gather_rows(comm, weights * v)
    n = positions.shape[0]
    rows = np.unique(np.linspace(0, n - 1, min(ERROR_ROWS, n)).round().astype(int))
    err, scale = driver.sampled_error(positions[rows], approx[rows], all_x, all_wv, kernel)
    err = comm.allreduce(err, op=MPI.MAX)
    scale = comm.allreduce(scale, op=MPI.MAX)
    return err / scale if scale > 0 else 0.0


def run_case(spec: dict) -> None:
    """Build the network for spec['n'] and spec['method'], time it, emit one record."""
    from mpi4py import MPI

    from fem_fhn import kernels
    from fem_fhn._fenics import dolfinx
    from fem_fhn.mesh import NodalMesh
    from fem_fhn.network import (
        NetworkFHN,
        initial_state,
        radius_for,
        sample_particles,
    )
    from fem_fhn.params import FHNParameters, ParameterError
    from fem_fhn.timestepping import make_integrator

    comm = MPI.COMM_WORLD
    n, method = spec["n"], spec["method"]
    nodes = NodalMesh.from_mesh(dolfinx.mesh.create_unit_square(comm, MESH_CELLS, MESH_CELLS))
    rho0 = np.ones(nodes.n_owned)
    result: dict = {"n": n, "method": method, "ranks": comm.size, "tol": spec["tol"]}

    comm.Barrier()
    start = time.perf_counter()
    particles = sample_particles(nodes, rho0, n, seed=SAMPLE_SEED)
    result["sample_s"] = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
    radius = spec["radius"] or radius_for(nodes, rho0, n, neighbours=NEIGHBOURS)
    psi = None if method == "none" else kernels.Gaussian(width=KERNEL_WIDTH, dim=2)
    params = FHNParameters()

    comm.Barrier()
    start = time.perf_counter()
    try:
        model = NetworkFHN.from_particles(
            particles,
            params,
            psi,
            eps=EPS,
            radius=radius,
            method="dense" if method == "none" else method,
            tol=spec["tol"],
        )
    except ParameterError as err:
        result.update({"status": "not applicable", "error": str(err)})
        driver.emit(result, comm)
        return
    result["construct_s"] = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
    graph = model.graph.info()
    result.update(
        {
            "status": "ok",
            "radius": radius,
            "graph_build_s": graph["build_time_s"],
            "edges": graph["edges"],
            "mean_neighbours": graph["mean_neighbours"],
            "n_local_max": int(comm.allreduce(particles.n_owned, op=MPI.MAX)),
        }
    )
    y = initial_state(particles, "tanh((x - 0.5)/0.1)", -0.3, spread=(0.05, 0.0), seed=STATE_SEED)
    repeat = spec["repeat"]
    if model.op is not None:
        info = model.op.info()
        result["op_build_s"] = float(info["build_time_s"])
        result["op_mb_per_rank"] = info.get("memory_bytes_per_rank_max", 0) / 1e6
        result["op_info"] = {k: v for k, v in info.items() if isinstance(v, int | float | str)}
        v = np.ascontiguousarray(y[0])
        apply = driver.timed(lambda: model.op.apply(v), repeat, WARMUP, comm).wall
        result["apply_s"], result["apply_s_all"] = driver.median(apply), apply
        result["rel_error"] = _relative_error(
            comm, model.op, particles.positions, particles.weights, v, psi
        )
    explicit = driver.timed(lambda: model.explicit(0.0, y), repeat, 1, comm).wall
    result["explicit_s"] = driver.median(explicit)

    first = None
    result["step_variants"] = {}
    for variant in spec["solvers"]:
        ksp_rtol, reorder = SOLVER_VARIANTS[variant]
        model.ksp_rtol, model.reorder = ksp_rtol, reorder  # of its implicit graph solves
        integrator = make_integrator("imex-ars222", dt=DT)
        comm.Barrier()
        start = time.perf_counter()
        _, y1, _ = integrator.advance(model, 0.0, y, DT)
        first_step = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
        setup_iterations = integrator.info()["ksp_iterations"]
        state = {"y": y1, "t": DT}

        def step(integrator=integrator, state=state) -> None:
            state["t"], state["y"], _ = integrator.advance(
                model, state["t"], state["y"], state["t"] + DT
            )

        cpu_start = time.process_time()
        step_all = driver.timed(step, spec["steps"], comm=comm).wall
        step_s = driver.median(step_all)
        step_cpu = comm.allreduce((time.process_time() - cpu_start) / spec["steps"], op=MPI.MAX)
        info = integrator.info()
        solves = max(info["ksp_solves"] - 2, 1)
        record = {
            "ksp_rtol": integrator.part.solver.ksp_rtol,
            "morton_order": reorder,
            "first_step_s": first_step,
            "step_s": step_s,
            "step_s_all": step_all,
            "step_cpu_s": step_cpu,
            "cg_iterations_per_solve": (info["ksp_iterations"] - setup_iterations) / solves,
            "solve_s_est": max(0.0, (step_s - 2 * result["explicit_s"]) / 2),
        }
        if first is None:
            first = state
            result.update({k: v for k, v in record.items() if k != "morton_order"})
        else:
            ref = first["y"] if first["t"] == state["t"] else None
            if ref is not None:
                diff = comm.allreduce(float(np.abs(state["y"] - ref).max()), op=MPI.MAX)
                record["max_abs_diff_to_first"] = diff
        result["step_variants"][variant] = record
    state = first
    finite = comm.allreduce(bool(np.all(np.isfinite(state["y"]))), op=MPI.LAND)
    result["finite"] = bool(finite)
    if not finite:
        result["status"] = "non-finite state"
    result["peak_rss_mb_per_rank"] = driver.peak_mb(comm)
    import numba

    result["numba_threads"] = int(numba.get_num_threads())
    result.update({k.lower(): v for k, v in driver.thread_env().items()})
    result["mpi_library"] = MPI.Get_library_version().splitlines()[0].strip()
    driver.emit(result, comm)


# --------------------------------------------------------------------------- driver (serial)


def _launch(spec: dict, ranks: int, timeout: float, threads: int | None) -> dict:
    """Run one case under mpirun; threads sets the thread variables (None: the caller's)."""
    args = ["--case", json.dumps(spec, separators=(",", ":"))]
    try:
        launched = driver.launch(__file__, args, ranks=ranks, threads=threads, timeout=timeout)
    except driver.CaseFailed as err:
        base = {"n": spec["n"], "method": spec["method"], "ranks": ranks, "command": err.command}
        failed = {**base, "status": err.status, "process_wall_s": err.wall_s}
        return {**failed, "error": err.output} if err.output else failed
    return {**launched.record, "command": launched.command, "process_wall_s": launched.wall_s}


COLUMNS = [
    ("n", "n", "{:d}"),
    ("method", "method", "{}"),
    ("ranks", "ranks", "{:d}"),
    ("r", "radius", "{:.4f}"),
    ("nbrs", "mean_neighbours", "{:.1f}"),
    ("sample s", "sample_s", "{:.2f}"),
    ("graph s", "graph_build_s", "{:.2f}"),
    ("op build s", "op_build_s", "{:.2f}"),
    ("apply ms", "apply_ms", "{:.2f}"),
    ("rel err", "rel_error", "{:.1e}"),
    ("1st step s", "first_step_s", "{:.3f}"),
    ("step s", "step_s", "{:.3f}"),
    ("CG it", "cg_iterations_per_solve", "{:.1f}"),
    ("solve s", "solve_s_est", "{:.3f}"),
    ("op MB/rank", "op_mb_per_rank", "{:.0f}"),
    ("peak MB/rank", "peak_rss_mb_per_rank", "{:.0f}"),
    ("status", "status", "{}"),
]


VARIANT_COLUMNS = [
    ("n", "n", "{:d}"),
    ("method", "method", "{}"),
    ("ranks", "ranks", "{:d}"),
    ("variant", "variant", "{}"),
    ("ksp_rtol", "ksp_rtol", "{:.1e}"),
    ("step s", "step_s", "{:.3f}"),
    ("step CPU s", "step_cpu_s", "{:.3f}"),
    ("CG it", "cg_iterations_per_solve", "{:.1f}"),
    ("solve s", "solve_s_est", "{:.3f}"),
    ("max |y - y_first|", "max_abs_diff_to_first", "{:.1e}"),
]


def _ok(results: list[dict], n: int, methods) -> list[dict]:
    return [r for r in results if r["n"] == n and r["method"] in methods and r["status"] == "ok"]


def evaluate_targets(results: list[dict]) -> dict:
    """Pass/fail per target (None where the cases it needs did not run)."""
    targets = {}
    for ranks, threshold in TARGET_STEP_S.items():
        fast = [r for r in _ok(results, TARGET_STEP_N, FAST_METHODS) if r["ranks"] == ranks]
        best = min(fast, key=lambda r: r["step_s"], default=None)
        targets[f"step_1e5_fast_{ranks}rank"] = driver.target(
            f"IMEX step time at n = {TARGET_STEP_N} with the best fast method, {ranks} rank(s) (s)",
            None if best is None else best["step_s"],
            threshold,
            "<=",
            "" if best is None else f"method {best['method']}, ksp_rtol {best['ksp_rtol']:.1e}",
        )
    dense = _ok(results, TARGET_APPLY_N, ("dense",))
    fast = _ok(results, TARGET_APPLY_N, FAST_METHODS)
    best = min(fast, key=lambda r: r["apply_s"], default=None)
    speedup, note = None, ""
    if dense and best is not None:
        same = [d for d in dense if d["ranks"] == best["ranks"]] or dense
        speedup = same[0]["apply_s"] / best["apply_s"]
        note = f"dense {1e3 * same[0]['apply_s']:.2f} ms / {best['method']} "
        note += f"{1e3 * best['apply_s']:.2f} ms, {best['ranks']} rank(s)"
    targets["apply_1e4_speedup"] = driver.target(
        f"dense apply / best fast apply at n = {TARGET_APPLY_N}",
        speedup,
        TARGET_APPLY_SPEEDUP,
        ">=",
        note,
    )
    return targets


def run_driver(args) -> None:
    from fem_fhn.nonlocal_ import METHODS

    start = time.perf_counter()
    results = []
    skipped = []
    for n in args.sizes:
        for method in args.methods:
            if method != "none" and method not in METHODS:
                msg = f"method {method!r} skipped: not in fem_fhn.nonlocal_.METHODS"
                skipped.append({"n": n, "method": method, "reason": msg})
                print(f"n = {n:8d} {method:8s}: {msg}", flush=True)
                continue
            if method == "dense" and n > args.dense_max:
                msg = f"dense skipped for n > --dense-max = {args.dense_max} (8 n^2 bytes)"
                skipped.append({"n": n, "method": method, "reason": msg})
                print(f"n = {n:8d} {method:8s}: {msg}", flush=True)
                continue
            for ranks in args.ranks:
                spec = {
                    "n": n,
                    "method": method,
                    "tol": args.tol,
                    "radius": args.radius,
                    "repeat": args.repeat,
                    "steps": args.big_steps if n >= BIG_N else args.steps,
                    "solvers": args.solvers,
                }
                print(f"n = {n:8d} {method:8s} on {ranks} rank(s) ...", end=" ", flush=True)
                result = _launch(spec, ranks, args.case_timeout, args.threads)
                if result.get("apply_s") is not None:
                    result["apply_ms"] = 1e3 * result["apply_s"]
                print(f"{result['status']} ({result['process_wall_s']:.1f} s)", flush=True)
                if result["status"] != "ok" and result.get("error"):
                    print("    " + result["error"].replace("\n", "\n    "), flush=True)
                results.append(result)
    radius = (
        f"r = {args.radius:g}" if args.radius else f"r = radius_for(n, neighbours={NEIGHBOURS})"
    )
    print(
        f"\n## network: unit square, rho0 = 1, Psi = Gaussian(width={KERNEL_WIDTH}), "
        f"eps = {EPS:g}, {radius}, IMEX ARS222 dt = {DT}, tol = {args.tol:g}\n"
    )
    if results:
        print(driver.format_table(COLUMNS, results))
        variants = [
            {"n": r["n"], "method": r["method"], "ranks": r["ranks"], "variant": name, **v}
            for r in results
            for name, v in r.get("step_variants", {}).items()
        ]
        print("\n## graph-solve variants (same model, same first state)\n")
        print(driver.format_table(VARIANT_COLUMNS, variants))
    targets = evaluate_targets(results)
    print("\n## targets\n")
    print(driver.format_targets(targets))
    meta = {
        "benchmark": "bench_network",
        **driver.machine_info((*driver.MACHINE, "scipy", "numba")),
        "caller_threads": driver.thread_env(),
        "threads_option": args.threads,
        "available_methods": sorted(METHODS),
        "kernel": f"fem_fhn.kernels.Gaussian(width={KERNEL_WIDTH}, dim=2)",
        "eps": EPS,
        "radius_rule": radius,
        "graph_profile": "bump",
        "integrator": f"imex-ars222, dt = {DT}",
        "tol": args.tol,
        "mesh": f"create_unit_square({MESH_CELLS}, {MESH_CELLS}), rho0 = 1",
        "seeds": {"sample": SAMPLE_SEED, "state": STATE_SEED},
        "skipped": skipped,
        "total_time_s": time.perf_counter() - start,
    }
    print(f"\n{meta['total_time_s']:.0f} s in all")
    driver.write_json(args.output, {"metadata": meta, "targets": targets, "cases": results})


def main(argv: list[str] | None = None) -> None:
    parser = driver.make_parser(__doc__, "bench_network")
    parser.add_argument("--sizes", type=int, nargs="+", default=DEFAULT_SIZES, help="values of n")
    parser.add_argument("--methods", nargs="+", choices=ALL_METHODS, default=list(ALL_METHODS))
    parser.add_argument("--ranks", type=int, nargs="+", default=[1], help="MPI ranks")
    parser.add_argument("--dense-max", type=int, default=20_000, help="largest n for dense")
    parser.add_argument("--tol", type=float, default=1e-6, help="tolerance of the fast methods")
    parser.add_argument("--radius", type=float, default=None, help="fixed r (default: r(n))")
    parser.add_argument("--repeat", type=int, default=10, help="timed applies")
    parser.add_argument("--steps", type=int, default=5, help="timed IMEX steps")
    parser.add_argument(
        "--big-steps", type=int, default=2, help=f"timed IMEX steps for n >= {BIG_N}"
    )
    parser.add_argument(
        "--solvers",
        nargs="+",
        choices=tuple(SOLVER_VARIANTS),
        default=list(SOLVER_VARIANTS),
        help="graph-solve variants timed in each case (the first is the reported step)",
    )
    parser.add_argument("--case-timeout", type=float, default=600.0, help="seconds per case")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="NUMBA/OMP/OPENBLAS_NUM_THREADS of every case (default: as set by the caller)",
    )
    args = parser.parse_args(argv)
    driver.require_positive(args, "sizes", "ranks", "repeat", "steps", "big_steps")
    if args.threads is not None:
        driver.require_positive(args, "threads")
    if args.radius is not None and not (args.radius > 0 and math.isfinite(args.radius)):
        sys.exit(f"--radius = {args.radius} is not allowed: a number > 0")
    if args.case is not None:
        run_case(json.loads(args.case))
    else:
        run_driver(args)


if __name__ == "__main__":
    main()
