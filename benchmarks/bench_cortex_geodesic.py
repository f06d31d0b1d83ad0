"""Benchmark of the geodesic nonlocal operator on the 16 384-vertex cortex of The Virtual Brain.

What is measured, on one rank, for the surface `tvb_data/surfaceData/cortex_16384.zip` (in mm,
read by `fem-fhn`'s own reader as `[mesh] source` would) and the Gaussian kernel of width
σ = 10 mm normalised on the surface (dim 2):

- load: `NodalMesh.load` of the zip (read, checked, meshed, lumped areas);
- geodesic build: `geodesic_operator(nodes, kernel, "sparse", tol)` with tol = e^−8, whose
  truncation radius is 4σ = 40 mm (all fast-marching distances within 40 mm of every vertex, and
  the kernel values), after a warm-up on a small icosphere so that numba's compilation is not
  counted;
- wall and CPU (process) time of each build: on a busy machine the wall time is inflated, the
  CPU time much less;
- geodesic apply: median over `--repeat` applications of K to a random vector;
- chordal H-matrix and NUFFT: build and median apply of `make_operator(..., "hmatrix" or
  "nufft", tol=1e-6)` with straight distances through space, for comparison.

Usage::

    python benchmarks/bench_cortex_geodesic.py            # needs the tvb-data package
    python benchmarks/bench_cortex_geodesic.py --repeat 20

Prints a table and writes `benchmarks/results/bench_cortex_geodesic.json`. Without tvb-data it
says so and exits 0.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from mpi4py import MPI  # noqa: E402

WIDTH_MM = 10.0
CUTOFF_MM = 40.0


def _median_apply(op, u, repeat: int) -> float:
    op.apply(u)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        op.apply(u)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    try:
        import tvb_data
    except ImportError:
        print("tvb-data is not installed: nothing to measure")
        return
    from fem_fhn.kernels import make_kernel
    from fem_fhn.mesh import NodalMesh
    from fem_fhn.nonlocal_ import make_operator
    from fem_fhn.nonlocal_.geodesic import geodesic_operator
    from fem_fhn.surface import icosphere, surface_mesh

    comm = MPI.COMM_SELF
    kernel = make_kernel({"type": "gaussian", "width": WIDTH_MM, "dim": 2})
    tol = math.exp(-((CUTOFF_MM / WIDTH_MM) ** 2) / 2)
    warm = NodalMesh.from_mesh(surface_mesh(icosphere(2, 30.0), comm))
    geodesic_operator(warm, kernel, "sparse", tol)  # numba compilation, not measured
    zip_path = Path(tvb_data.__file__).parent / "surfaceData" / "cortex_16384.zip"
    start = time.perf_counter()
    nodes = NodalMesh.load(zip_path, comm)
    load = time.perf_counter() - start
    u = np.random.default_rng(1).standard_normal(nodes.n_owned)
    start, cpu = time.perf_counter(), time.process_time()
    geo = geodesic_operator(nodes, kernel, "sparse", tol)
    geo_build, geo_cpu = time.perf_counter() - start, time.process_time() - cpu
    geo_apply = _median_apply(geo, u, args.repeat)
    start, cpu = time.perf_counter(), time.process_time()
    hmat = make_operator(nodes.coords, nodes.masses, kernel, "hmatrix", comm, 1e-6)
    h_build, h_cpu = time.perf_counter() - start, time.process_time() - cpu
    h_apply = _median_apply(hmat, u, args.repeat)
    start, cpu = time.perf_counter(), time.process_time()
    fast = make_operator(nodes.coords, nodes.masses, kernel, "nufft", comm, 1e-6)
    n_build, n_cpu = time.perf_counter() - start, time.process_time() - cpu
    n_apply = _median_apply(fast, u, args.repeat)
    result = {
        "surface": "tvb_data cortex_16384.zip",
        "nodes": nodes.n_global,
        "area_mm2": float(nodes.masses.sum()),
        "kernel": {"type": "gaussian", "width_mm": WIDTH_MM, "dim": 2},
        "load_s": load,
        "geodesic": {
            "cutoff_mm": geo.cutoff,
            "nnz": geo.info()["nnz"],
            "build_s": geo_build,
            "build_cpu_s": geo_cpu,
            "apply_s": geo_apply,
        },
        "chordal_hmatrix_tol_1e-6": {"build_s": h_build, "build_cpu_s": h_cpu, "apply_s": h_apply},
        "chordal_nufft_tol_1e-6": {
            "build_s": n_build,
            "build_cpu_s": n_cpu,
            "apply_s": n_apply,
            "modes": fast.info().get("modes"),
        },
        "load_average": os.getloadavg()[0],
        "machine": platform.node(),
        "python": platform.python_version(),
        "repeat": args.repeat,
    }
    print(
        f"cortex: {nodes.n_global} vertices, area {result['area_mm2']:.0f} mm^2, load {load:.2f} s"
    )
    print(f"{'operator':<28}{'build (s)':>12}{'build CPU (s)':>15}{'apply (ms)':>12}{'nnz':>10}")
    print(
        f"{'geodesic sparse, 40 mm':<28}{geo_build:>12.2f}{geo_cpu:>15.2f}"
        f"{1e3 * geo_apply:>12.2f}{result['geodesic']['nnz']:>10}"
    )
    print(f"{'chordal hmatrix, tol 1e-6':<28}{h_build:>12.2f}{h_cpu:>15.2f}{1e3 * h_apply:>12.2f}")
    print(f"{'chordal nufft, tol 1e-6':<28}{n_build:>12.2f}{n_cpu:>15.2f}{1e3 * n_apply:>12.2f}")
    print(f"load average {result['load_average']:.1f} (wall times are inflated on a busy machine)")
    out = Path(__file__).parent / "results" / "bench_cortex_geodesic.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
