"""Benchmark of the dense nonlocal operator against a bare Allgatherv + numpy product.

What is measured, for N random points in the unit square (fixed seed), uniform random positive
weights, the Gaussian kernel ``fem_fhn.kernels.Gaussian(width=0.1, dim=2)``, points split between
the MPI ranks in contiguous blocks, and one BLAS/OpenMP thread per rank:

- build time: ``op.info()["build_time_s"]`` of
  ``make_operator(points, weights, kernel, method="dense", comm=comm)`` (max over ranks);
- apply time: median over ``--repeat`` repetitions (after 2 warm-ups) of ``op.apply(u)``, each
  preceded by ``comm.Barrier()`` and taken as the max over ranks;
- bare time: the same Allgatherv of u (``fem_fhn.parallel.gather_rows`` with precomputed counts,
  the call the operator makes) followed by a bare ``op.matrix @ u_global`` on the same stored
  block, timed the same way (apply and bare repetitions are interleaved, alternating which
  goes first);
- ratio = apply / bare. Target: ratio <= 1.3 for every case;
- peak memory per rank: ``ru_maxrss`` of the process (max over ranks), next to the stored block
  size 8 · n_local · N bytes. Both are in MB (10^6 bytes). ``ru_maxrss`` is a high-water mark,
  so every (N, ranks) case runs in its own ``mpirun`` process.

Usage::

    python benchmarks/bench_dense.py                       # N = 2500 ... 20000 on 1 and 2 ranks
    python benchmarks/bench_dense.py --sizes 2500 5000 --ranks 1 2 --repeat 15

The driver launches ``mpirun -n R python benchmarks/bench_dense.py --case N`` (the mpirun next to
``sys.executable``) per case, collects the JSON line each case prints on rank 0, prints a table
and writes ``benchmarks/results/bench_dense.json``.

Memory: the dense block holds 8 · N² bytes over all ranks; N = 20 000 on one rank stores 3.2 GB
(about 3.5 GB peak in that process), so the default sizes need a machine with at least ~8 GB of
RAM. The default run takes under a minute on 2 cores.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import driver  # noqa: E402

driver.one_thread(force=True)  # one BLAS/OpenMP thread per rank: before numpy is imported

import numpy as np  # noqa: E402

DEFAULT_SIZES = [2_500, 5_000, 10_000, 20_000]
DEFAULT_RANKS = [1, 2]
WARMUP = 2
SEED = 20240611
KERNEL_WIDTH = 0.1
TARGET_RATIO = 1.3

COLUMNS = [
    ("N", "n_global", "{:d}"),
    ("ranks", "ranks", "{:d}"),
    ("build s", "build_s", "{:.3f}"),
    ("apply ms", "apply_ms", "{:.3f}"),
    ("bare ms", "bare_ms", "{:.3f}"),
    ("ratio", "ratio", "{:.3f}"),
    ("peak MB/rank", "peak_rss_mb_per_rank", "{:.0f}"),
    ("block MB/rank", "block_mb_per_rank", "{:.0f}"),
]


# --------------------------------------------------------------------------- one case (under MPI)


def _problem(n_global: int, rank: int, size: int):
    """Owned points, weights and vector u of this rank (contiguous block of a seeded global set)."""
    rng = np.random.default_rng(SEED)
    points = rng.random((n_global, 2))
    weights = rng.uniform(0.5, 1.5, n_global) / n_global
    u = rng.standard_normal(n_global)
    bounds = np.linspace(0, n_global, size + 1).round().astype(int)
    own = slice(bounds[rank], bounds[rank + 1])
    return points[own].copy(), weights[own].copy(), u[own].copy()


def run_case(n_global: int, repeat: int) -> None:
    """Build the dense operator for `n_global` points, time it, emit one record on rank 0."""
    from mpi4py import MPI

    from fem_fhn.kernels import Gaussian
    from fem_fhn.nonlocal_ import make_operator
    from fem_fhn.parallel import gather_rows

    comm = MPI.COMM_WORLD
    points, weights, u = _problem(n_global, comm.rank, comm.size)
    kernel = Gaussian(width=KERNEL_WIDTH, dim=2)
    rss_before_mb = driver.peak_mb(comm)

    op = make_operator(points, weights, kernel, method="dense", comm=comm)
    info = op.info()  # collective
    block = op.matrix
    counts = op.counts

    def bare(vec: np.ndarray) -> np.ndarray:
        return block @ gather_rows(comm, vec, counts)

    # both paths must compute the same thing
    diff = np.max(np.abs(op.apply(u) - bare(u)), initial=0.0)
    diff = comm.allreduce(float(diff), op=MPI.MAX)

    # interleaved, alternating which goes first, so drifts of a noisy machine hit both alike
    calls = {"apply": lambda: op.apply(u), "bare": lambda: bare(u)}
    times = driver.rounds(calls, repeat, WARMUP, comm, alternate=True)
    apply_s = driver.median(times["apply"].wall)
    bare_s = driver.median(times["bare"].wall)

    block_mb = comm.allreduce(8 * op.n_local * op.n_global / 1e6, op=MPI.MAX)
    result = {
        "n_global": int(op.n_global),
        "ranks": comm.size,
        "n_local_max": int(counts.max()),
        "build_s": float(info["build_time_s"]),
        "apply_ms": 1e3 * apply_s,
        "bare_ms": 1e3 * bare_s,
        "ratio": apply_s / bare_s,
        "apply_ms_all": [1e3 * t for t in times["apply"].wall],
        "bare_ms_all": [1e3 * t for t in times["bare"].wall],
        "repeat": repeat,
        "warmup": WARMUP,
        "peak_rss_mb_per_rank": driver.peak_mb(comm),
        "rss_before_build_mb_per_rank": rss_before_mb,
        "block_mb_per_rank": block_mb,
        "info_memory_bytes_per_rank_max": int(info["memory_bytes_per_rank_max"]),
        "max_abs_diff_apply_vs_bare": diff,
        "mpi_library": MPI.Get_library_version().splitlines()[0].strip(),
    }
    driver.emit(result, comm)


# --------------------------------------------------------------------------- driver (serial)


def _launch(n_global: int, ranks: int, repeat: int) -> dict:
    args = ["--case", str(n_global), "--repeat", str(repeat)]
    try:
        launched = driver.launch(__file__, args, ranks=ranks)
    except driver.CaseFailed as err:
        sys.exit(f"case N = {n_global} on {ranks} rank(s) {err}")
    return {**launched.record, "command": launched.command}


def run_driver(sizes: list[int], ranks_list: list[int], repeat: int, output: Path) -> None:
    start = time.perf_counter()
    results = []
    for n_global in sizes:
        for ranks in ranks_list:
            print(f"N = {n_global:6d} on {ranks} rank(s) ...", end=" ", flush=True)
            t0 = time.perf_counter()
            results.append(_launch(n_global, ranks, repeat))
            print(f"{time.perf_counter() - t0:.1f} s", flush=True)
    print()
    print(driver.format_table(COLUMNS, results))
    failing = [r for r in results if r["ratio"] > TARGET_RATIO]
    if failing:
        cases = ", ".join(f"N={r['n_global']}/{r['ranks']}r" for r in failing)
        print(f"\ntarget apply <= {TARGET_RATIO} x bare NOT met for: {cases}")
    else:
        print(f"\ntarget apply <= {TARGET_RATIO} x bare met for every case")
    meta = {
        "benchmark": "bench_dense",
        **driver.machine_info(),
        "kernel": f"fem_fhn.kernels.Gaussian(width={KERNEL_WIDTH}, dim=2)",
        "seed": SEED,
        "threads_per_rank": 1,
        "target_ratio": TARGET_RATIO,
        "target_met": not failing,
        "total_time_s": time.perf_counter() - start,
    }
    driver.write_json(output, {"metadata": meta, "cases": results})


def main(argv: list[str] | None = None) -> None:
    parser = driver.make_parser(__doc__, "bench_dense")
    parser.add_argument("--sizes", type=int, nargs="+", default=DEFAULT_SIZES, help="values of N")
    parser.add_argument("--ranks", type=int, nargs="+", default=DEFAULT_RANKS, help="MPI ranks")
    parser.add_argument("--repeat", type=int, default=15, help="timed repetitions (>= 1)")
    args = parser.parse_args(argv)
    driver.require_positive(args, "sizes", "ranks", "repeat")
    if args.case is not None:
        run_case(int(args.case), args.repeat)
    else:
        run_driver(args.sizes, args.ranks, args.repeat, args.output)


if __name__ == "__main__":
    main()
