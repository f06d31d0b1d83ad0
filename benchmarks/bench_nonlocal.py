"""Benchmark of the fast nonlocal operators against the dense reference quadrature.

For N nodes of the unit square (a structured DOLFINx mesh, lumped masses as weights, N from 10^4
to 10^6), requested tolerance tol = 1e-6, one thread per process, each case in its own process
(so that ``ru_maxrss`` is that case's peak memory):

- build time of ``make_operator(points, masses, kernel, method=M, tol=tol)``;
- apply time: median of ``--repeat`` applies after one warm-up;
- error on sampled rows: max over 64 random rows i of |(K̃u)_i − (Ku)_i| divided by
  tol · max_i Σ_j |Ψ_ij| w_j |u_j| (the issue's error measure; ≤ 1 passes), with (Ku)_i summed
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

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "bench_nonlocal.json"
MARKER = "BENCH_NONLOCAL_JSON "
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
    start = time.perf_counter()
    op = make_operator(x, w, psi, method=method, comm=MPI.COMM_SELF, tol=TOL)
    build = time.perf_counter() - start
    Ku = op.apply(u)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        op.apply(u)
        times.append(time.perf_counter() - start)
    rows = rng.choice(len(w), size=min(64, len(w)), replace=False)
    exact, scale = np.empty(rows.size), 0.0
    for k, i in enumerate(rows):
        psi_row = psi(np.linalg.norm(x - x[i], axis=1)) * w
        exact[k] = psi_row @ u
        scale = max(scale, float(np.abs(psi_row) @ np.abs(u)))
    error = float(np.abs(Ku[rows] - exact).max() / (TOL * scale))
    return {
        "case": name,
        "method": method,
        "kernel": spec,
        "n": len(w),
        "build_s": build,
        "apply_s": float(np.median(times)),
        "apply_s_all": times,
        "error_over_tol": error,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def slope(points: list[tuple[int, float]]) -> float | None:
    if len(points) < 2:
        return None
    n, t = np.array(points, dtype=float).T
    return float(np.polyfit(np.log(n), np.log(t), 1)[0])


def targets(results: list[dict]) -> dict:
    """Pass/fail of the issue's targets from the measured cases."""
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--sizes", nargs="+", type=int, default=SIZES)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--max-gb", type=float, default=12.0)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.case:
        print(MARKER + json.dumps(run_case(args.case, args.n, args.repeat)), flush=True)
        return

    from fem_fhn.nonlocal_ import METHODS

    results = []
    header = f"{'case':>14} {'N':>9} {'build s':>9} {'apply s':>9} {'err/tol':>9} {'peak MB':>9}"
    print(f"tol = {TOL:g}, unit-square nodes, one thread\n{header}")
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
            cmd = [
                sys.executable,
                __file__,
                "--case",
                name,
                "--n",
                str(n),
                "--repeat",
                str(args.repeat),
            ]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
                lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARKER)]
                if not lines:
                    raise RuntimeError(proc.stderr.strip().splitlines()[-1:])
                r = json.loads(lines[-1][len(MARKER) :])
            except (subprocess.TimeoutExpired, RuntimeError) as err:
                r = {"case": name, "n": n, "failed": str(err)}
                print(f"{name:>14} {n:>9}   failed: {err}")
            else:
                print(
                    f"{name:>14} {r['n']:>9} {r['build_s']:>9.2f} {r['apply_s']:>9.4f} "
                    f"{r['error_over_tol']:>9.3f} {r['peak_mb']:>9.0f}",
                    flush=True,
                )
            results.append(r)
    summary = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "tol": TOL,
        "command": " ".join(sys.argv),
        "results": results,
        "targets": targets(results),
    }
    print("\ntargets:")
    for key, value in summary["targets"].items():
        print(f"  {'met    ' if value['met'] else 'NOT met'}  {key}: {value['value']}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"written {args.output}")


if __name__ == "__main__":
    main()
