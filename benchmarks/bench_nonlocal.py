"""Benchmark of the fast nonlocal operators against the dense reference quadrature.

For N nodes of the unit square (a structured DOLFINx mesh, lumped masses as weights, N from 10^4
to 10^6), requested tolerance tol = 1e-6, one thread per process, each case in its own process
(so that ``ru_maxrss`` is that case's peak memory):

- build time of ``make_operator(points, masses, kernel, method=M, tol=tol)``;
- apply time: median of ``--repeat`` applies after one warm-up;
- error on sampled rows: max over 64 random rows i of |(K̃u)_i − (Ku)_i| divided by
  tol · max_i Σ_j |Ψ_ij| w_j |u_j| (the package's error measure; ≤ 1 passes), with (Ku)_i summed
  directly over all j;
- peak memory of the process (MB).

Cases: nufft with the Gaussian and a Mexican hat (width 0.05), hmatrix with the Gaussian and the
exponential (width 0.05), sparse with a bump of radius 0.02, and dense up to N = 20 000.
Targets: at N = 20 000 hmatrix and nufft apply ≥ 20× faster than dense; at N = 2×10^5 apply ≤
0.5 s, build ≤ 60 s, peak memory ≤ 3 GB; log-log slope of apply time against N ≤ 1.25 (nufft,
sparse; hmatrix as far as memory allows). A case whose estimated memory exceeds ``--max-gb`` is
skipped with the estimate (sparse with a fixed radius stores N²·π r² entries: its cost grows like
N², not N log N).

Usage::

    python benchmarks/bench_nonlocal.py                        # everything (about 15 minutes)
    python benchmarks/bench_nonlocal.py --sizes 10000 20000 --cases nufft-gauss dense-gauss

Writes ``benchmarks/results/bench_nonlocal.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import driver  # noqa: E402

driver.one_thread()  # before numpy is imported

import numpy as np  # noqa: E402

TOL = 1e-6
SIZES = [10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000]
CASES = {
    "nufft-gauss": ("nufft", {"type": "gaussian", "width": 0.05}),
    "nufft-mexhat": (
        "nufft",
        {"type": "mexican_hat", "width_exc": 0.025, "width_inh": 0.05, "a_exc": 2.0, "a_inh": 1.0},
    ),
    "hmatrix-gauss": ("hmatrix", {"type": "gaussian", "width": 0.05}),
    "hmatrix-exp": ("hmatrix", {"type": "exponential", "width": 0.05}),
    "sparse-bump": ("sparse", {"type": "bump", "width": 0.02}),
    "dense-gauss": ("dense", {"type": "gaussian", "width": 0.05}),
}
BYTES_PER_POINT = {"nufft": 2_000, "hmatrix": 12_000, "dense": None, "sparse": None}
COLUMNS = [
    ("case", "case", "{}"),
    ("N", "n", "{:d}"),
    ("build s", "build_s", "{:.2f}"),
    ("apply s", "apply_s", "{:.4f}"),
    ("err/tol", "error_over_tol", "{:.3f}"),
    ("peak MB", "peak_mb", "{:.0f}"),
]


def estimated_gb(method: str, spec: dict, n: int) -> float:
    """Rough memory need of a case, to skip what cannot fit."""
    if method == "dense":
        return 8.0 * n * n / 1e9
    if method == "sparse":
        return 12.0 * n * n * math.pi * spec["width"] ** 2 / 1e9
    return BYTES_PER_POINT[method] * n / 1e9


def run_case(name: str, n: int, repeat: int) -> dict:
    """One case in this process: mesh nodes, operator, timings, sampled error, peak memory."""
    from mpi4py import MPI

    from fem_fhn import kernels
    from fem_fhn._fenics import dolfinx
    from fem_fhn.mesh import NodalMesh
    from fem_fhn.nonlocal_ import make_operator

    method, spec = CASES[name]
    side = max(2, round(math.sqrt(n)) - 1)
    nodes = NodalMesh.from_mesh(dolfinx.mesh.create_unit_square(MPI.COMM_SELF, side, side))
    x, w = nodes.coords, nodes.masses
    psi = kernels.make_kernel({**spec, "dim": 2})
    rng = np.random.default_rng(1)
    u = rng.standard_normal(len(w))

    def build():
        return make_operator(x, w, psi, method=method, comm=MPI.COMM_SELF, tol=TOL)

    _, measured = driver.measure_operator(build, x, w, psi, u, rng, repeat, TOL)
    return {"case": name, "method": method, "kernel": spec, "n": len(w), **measured}


def slope(points: list[tuple[int, float]]) -> float | None:
    if len(points) < 2:
        return None
    n, t = np.array(points, dtype=float).T
    return float(np.polyfit(np.log(n), np.log(t), 1)[0])


def targets(results: list[dict]) -> dict:
    """Pass/fail of the benchmark's targets from the measured cases."""
    by = {(r["case"], r["n"]): r for r in results if "apply_s" in r}

    def near(case, n):
        found = [r for (c, m), r in by.items() if c == case and abs(m - n) / n < 0.05]
        return found[0] if found else None

    out = {}
    dense = near("dense-gauss", 20_000)
    for case in ("hmatrix-gauss", "nufft-gauss"):
        fast = near(case, 20_000)
        if dense and fast:
            speedup = dense["apply_s"] / fast["apply_s"]
            out[f"{case} speed-up at 2e4 >= 20"] = {"value": speedup, "met": speedup >= 20}
    for case in CASES:
        r = near(case, 200_000)
        if r is not None:
            ok = r["apply_s"] <= 0.5 and r["build_s"] <= 60 and r["peak_mb"] <= 3000
            out[f"{case} at 2e5: apply <= 0.5 s, build <= 60 s, peak <= 3 GB"] = {
                "value": [r["apply_s"], r["build_s"], r["peak_mb"]],
                "met": ok,
            }
        pts = [(r["n"], r["apply_s"]) for (c, _), r in by.items() if c == case]
        s = slope(sorted(pts))
        if s is not None and case != "dense-gauss":
            span = [min(p[0] for p in pts), max(p[0] for p in pts)]
            out[f"{case} apply slope <= 1.25"] = {"value": s, "over_n": span, "met": s <= 1.25}
    return out


def main() -> None:
    parser = driver.make_parser(__doc__, "bench_nonlocal")
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--sizes", nargs="+", type=int, default=SIZES)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--max-gb", type=float, default=12.0)
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    driver.require_positive(args, "sizes", "repeat")
    if args.case:
        driver.emit(run_case(args.case, args.n, args.repeat))
        return

    from fem_fhn.nonlocal_ import METHODS

    results = []
    print(f"tol = {TOL:g}, unit-square nodes, one thread")
    for name in args.cases:
        method, spec = CASES[name]
        if method not in METHODS:
            print(f"{name:>14}: method {method!r} not available")
            continue
        for n in args.sizes:
            gb = estimated_gb(method, spec, n)
            if (method == "dense" and n > 20_000) or gb > args.max_gb:
                results.append({"case": name, "n": n, "skipped": f"needs about {gb:.1f} GB"})
                print(f"{name:>14} {n:>9}   skipped: needs about {gb:.1f} GB")
                continue
            print(f"{name:>14} {n:>9} ...", end=" ", flush=True)
            case = ["--case", name, "--n", str(n), "--repeat", str(args.repeat)]
            try:
                launched = driver.launch(__file__, case, timeout=args.timeout)
            except driver.CaseFailed as err:
                results.append({"case": name, "n": n, "failed": err.last_line})
                print(f"failed: {err.last_line}", flush=True)
            else:
                results.append(launched.record)
                print(f"{launched.wall_s:.1f} s", flush=True)
    print(f"\n{driver.format_table(COLUMNS, results)}")
    summary = {
        **driver.machine_info(names={"hostname": "host", "cpu_count": "cpus"}),
        "tol": TOL,
        "results": results,
        "targets": targets(results),
    }
    print(f"\ntargets:\n{driver.format_targets(summary['targets'])}")
    driver.write_json(args.output, summary)


if __name__ == "__main__":
    main()
