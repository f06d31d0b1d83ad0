"""The storage levers of the geodesic product on TVB's 16k cortex, side by side in one process.

The geodesic matrix of `bench_cortex.py` (Gaussian of σ = 10 mm cut at 40 mm, 7.3·10^6 entries,
symmetrised fast-marching distances) applied to one vector, one thread, stored as:

- scipy CSR (float64, int32 indices) in the mesh's node order (the storage before `PackedCSR`);
- scipy CSR with rows and columns along the Morton curve;
- `PackedCSR` (Morton order, uint16 indices, float64 sums), double and single precision;
- `PackedCSR` symmetric (the diagonal and the strict upper triangle of S_ij = Ψ(d_ij)), double
  and single precision — what a run on one rank stores.

Median wall and CPU time of a product over `--repeat` rounds in which every variant runs once
(interleaved: a loaded machine's drifts hit all alike, `driver.rounds`), and each variant's
deviation from the double-precision product relative to max_i Σ_j |K_ij||u_j|. Needs the
`tvb-data` package. Writes ``benchmarks/results/bench_cortex_levers.json``.

Usage::

    python benchmarks/bench_cortex_levers.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import driver  # noqa: E402

driver.one_thread()  # before numpy is imported

COLUMNS = [
    ("storage", "storage", "{}"),
    ("MB", "mb", "{:.1f}"),
    ("ms / product", "wall_ms", "{:.3f}"),
    ("CPU ms", "cpu_ms", "{:.3f}"),
    ("rel. error", "error", "{:.1e}"),
]


def main() -> None:
    import numpy as np
    from bench_cortex import fem_config, tvb_data_dir
    from mpi4py import MPI
    from scipy import sparse

    from fem_fhn.config import parse_config
    from fem_fhn.nonlocal_.geodesic import mesh_geodesic_distances, truncation_radius
    from fem_fhn.nonlocal_.packed import PackedCSR, curve_order
    from fem_fhn.runner import prepare

    parser = driver.make_parser(__doc__, "bench_cortex_levers", case=False)
    parser.add_argument("--repeat", type=int, default=60, help="rounds of one product each")
    args = parser.parse_args()
    driver.require_positive(args, "repeat")
    if tvb_data_dir() is None:
        print("tvb-data is not installed: the cortex surface is missing, nothing to measure")
        return
    config = parse_config(fem_config(tvb_data_dir()))
    nodes, _, kernel = prepare(config, MPI.COMM_SELF)
    distances = mesh_geodesic_distances(nodes, truncation_radius(kernel, config.nonlocal_.tol))
    S = sparse.csr_array((kernel(distances.data), distances.indices, distances.indptr))
    w = nodes.masses
    K = sparse.csr_array(S * w[None, :])
    K.indices, K.indptr = K.indices.astype(np.int32), K.indptr.astype(np.int32)
    order = curve_order(nodes.coords, nodes.global_index)
    K_morton = sparse.csr_array(K[order][:, order])
    K_morton.sort_indices()
    u = np.random.default_rng(0).standard_normal(nodes.n_owned)
    u_morton = u[order]
    packed = {
        (p, sym): PackedCSR(S if sym else K, p, order, order, sym)
        for p in ("double", "single")
        for sym in (False, True)
    }
    variants = {
        "scipy CSR, node order": (lambda: K @ u, K.data.nbytes + K.indices.nbytes),
        "scipy CSR, Morton order": (lambda: K_morton @ u_morton, None),
    }
    for (p, sym), m in packed.items():
        x = w * u if sym else u
        name = f"PackedCSR {'symmetric' if sym else 'full'}, {p}"
        variants[name] = ((lambda m=m, x=x: m @ x), m.nbytes)
    reference = K @ u
    scale = float((abs(K) @ np.abs(u)).max())
    times = driver.rounds({n: v[0] for n, v in variants.items()}, args.repeat, 2, alternate=True)
    rows = []
    for name, (call, nbytes) in variants.items():
        value = call()
        if name.endswith("Morton order"):
            back = np.empty_like(value)
            back[order] = value
            value = back
        rows.append(
            {
                "storage": name,
                "mb": (nbytes or K_morton.data.nbytes + K_morton.indices.nbytes) / 1e6,
                "wall_ms": 1e3 * driver.median(times[name].wall),
                "cpu_ms": 1e3 * driver.median(times[name].cpu),
                "error": float(np.abs(value - reference).max() / scale),
            }
        )
    print(driver.format_table(COLUMNS, rows))
    summary = {
        **driver.machine_info(names={"hostname": "host", "cpu_count": "cpus"}),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "nnz": int(K.nnz),
        "results": rows,
    }
    driver.write_json(args.output, summary)


if __name__ == "__main__":
    main()
