"""fem_fhn against The Virtual Brain on TVB's own 16 384-vertex cortex: local coupling and steps.

The surface is `tvb_data/surfaceData/cortex_16384.zip` (mm). Both codes couple the vertices by a
Gaussian of the geodesic distance, exp(−d² / (2σ²)) with σ = 10 mm, cut at 40 mm:

- TVB (`tvb-library`): `LocalConnectivity` with `equations.Gaussian(sigma=10)` and cutoff 40 mm,
  whose distances are tvb-gdist's exact polyhedral geodesics; the surface simulation uses
  `models.Generic2dOscillator` with parameters that make it fem_fhn's FitzHugh–Nagumo equations
  (`TVB_MODEL`), this local connectivity (its coupling strength set so that the homogenised rows
  sum to 1, as fem_fhn's kernel integrates to 1), the 76-region connectivity of `tvb_data`
  (`connectivity_76.zip`, the cortex's `regionMapping_16k_76.txt`) with its tract lengths at the
  conduction speed 3 mm/ms and TVB's default coupling `coupling.Linear(a=1/256, b=0)`, a
  `HeunDeterministic` integrator with dt = 2^−4 ms and a `Raw` monitor;
- fem_fhn: `[kernel] distance = "geodesic"` with `method = "sparse"` (fast-marching distances
  within the cutoff, K_ij = Ψ(d_ij) w_j) and the nonlocal FHN model with `time.scheme = "heun"`,
  dt = 2^−4, and the same connectome as a `[connectome]` table (`zip` = connectivity_76.zip,
  `labels` = regionMapping_16k_76.txt, `speed` = 3.0, `G` = 1/256), built by `runner.build`
  from a configuration as `fem-fhn run` would.

How the region coupling maps. TVB adds to dV/dt of a vertex of region k
d τ_G γ c_k with c_k = a Σ_l W_kl V̄_l(t − d_kl) + b (V̄: the plain vertex mean of region l,
from its history, fixed over the step); fem_fhn adds G Σ_l W_kl (V̄_l(t − d_kl) − V̄_k(t))
(V̄: the mass-weighted mean, interpolated between steps inside a step). With d = τ_G = γ = 1 and
b = 0: G = a = 1/256 = 0.00390625, and both round d_kl = L_kl / speed to whole steps
(speed 3 mm/ms, times in ms). fem_fhn's difference form adds −G (Σ_l W_kl) V̄_k(t), one number
per region, so that a uniform state feels no coupling. The work per step is the same: two sparse
products (the local coupling) and, per stage or step, the region means and a 76 × 76 sum.

Measured, each code in its own process with one thread (OPENBLAS, OMP, NUMBA and
NUMEXPR_NUM_THREADS=1), the codes one after the other in one run:

- set-up: wall and CPU time of the local coupling, distances and kernel values (TVB: the two
  calls of `LocalConnectivity.compute_sparse_matrix()`, `gdist.local_gdist_matrix` and
  `compute()`; fem_fhn: `geodesic_operator`, after a numba warm-up on a small icosphere), and
  its number of stored entries;
- step: median wall (and CPU) time of one Heun step over `--steps` steps after 5 warm-up steps
  (TVB: one iteration of the simulator's generator; fem_fhn: `integrator.tableau.step`; CPU
  times: max over ranks), fem_fhn on 1 rank in `[nonlocal] precision` "auto" (single here: tol =
  e^−8 ≥ 2^−24) and "double", and on 2 MPI ranks ("auto");
- the error of single-precision storage: max_i |K_single u − K u|_i / max_i Σ_j |K_ij||u_j|,
  K u the double-precision product with the same distances (scipy), u the initial V;
- agreement of the two couplings: the row sums Σ_j exp(−d_ij² / (2σ²)) over 0 < d_ij ≤ 40 mm
  from TVB's exact geodesics and fem_fhn's fast marching (max and median relative difference).

Targets: set-up ≤ 0.1× TVB's; time per step ≤ 1.0× TVB's on one rank, and ≤ 0.6×
with the best fem_fhn configuration measured here (1 or 2 ranks, single or double precision;
single stays within 1e-6 of the double-precision geodesic sum, see above). Ratios of wall times; the
CPU-time ratio, which a loaded machine inflates less, is given beside each.

Usage::

    python benchmarks/bench_cortex.py --tvb-python /path/to/tvbenv/bin/python
    python benchmarks/bench_cortex.py                 # fem_fhn only (TVB skipped, says how)

TVB is not a dependency of fem_fhn and is not installed by this script: make a separate
environment, ``python3.12 -m venv tvbenv && tvbenv/bin/pip install tvb-library tvb-data
tvb-gdist``, and pass its interpreter. fem_fhn's side needs `tvb-data` (the surface) in its own
environment. Prints a table and writes ``benchmarks/results/bench_cortex.json``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from scipy import sparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
import driver  # noqa: E402

driver.one_thread()  # before numpy is imported

SIGMA_MM = 10.0
CUTOFF_MM = 40.0
#: the accuracy of the chordal kernel by nufft (`distance = "euclidean"`)
NUFFT_TOL = 1e-6
DT = 2.0**-4
WARMUP = 5
#: fem_fhn's model: ∂t V = L(V) + V − V³ − W, ∂t W = τ (V + a − b W)
FHN = {"a": 0.7, "b": 0.8, "tau": 0.08}
#: the same equations as TVB's Generic2dOscillator, dV/dt = d τ_G (α W − f V³ + e V² + g V + γ I
#: + γ c_region + c_local), dW/dt = d (a_G + b_G V + c_G V² − β W) / τ_G, with d = τ_G = 1
TVB_MODEL = {
    "d": 1.0,
    "tau": 1.0,
    "alpha": -1.0,
    "f": 1.0,
    "e": 0.0,
    "g": 1.0,
    "gamma": 1.0,
    "I": 0.0,
    "a": FHN["tau"] * FHN["a"],
    "b": FHN["tau"],
    "c": 0.0,
    "beta": FHN["tau"] * FHN["b"],
}
INSTALL = (
    "TVB not measured: give --tvb-python PYTHON, an interpreter of a separate environment made "
    "with `python3.12 -m venv tvbenv && tvbenv/bin/pip install tvb-library tvb-data tvb-gdist` "
    "(this script installs nothing)"
)
COLUMNS = [
    ("code", "code", "{}"),
    ("ranks", "ranks", "{:d}"),
    ("distance", "distance", "{}"),
    ("precision", "precision", "{}"),
    ("set-up s", "build_s", "{:.2f}"),
    ("set-up CPU s", "build_cpu_s", "{:.2f}"),
    ("nnz", "nnz", "{:d}"),
    ("ms / Heun step", lambda r: 1e3 * r["step_s"] if "step_s" in r else None, "{:.2f}"),
    ("step CPU ms", lambda r: 1e3 * r["step_cpu_s"] if "step_cpu_s" in r else None, "{:.2f}"),
]


#: the files of tvb-data both codes read
SURFACE = "surfaceData/cortex_16384.zip"
CONNECTIVITY = "connectivity/connectivity_76.zip"
REGION_MAPPING = "regionMapping/regionMapping_16k_76.txt"
#: TVB's Connectivity.speed default (mm/ms) and Linear coupling's default slope a
SPEED = 3.0
LINEAR_A = 2.0**-8


def tvb_data_dir() -> Path | None:
    """The folder of the installed tvb-data, or None without the package."""
    try:
        import tvb_data
    except ImportError:
        return None
    return Path(tvb_data.__file__).parent


def gaussian_row_sums(distances: sparse.spmatrix | sparse.sparray) -> np.ndarray:
    """Σ_j exp(−d_ij² / (2σ²)) over the stored entries 0 < d_ij ≤ CUTOFF_MM of each row (the
    diagonal, stored by one code and not the other, left out)."""
    import numpy as np

    d = distances.tocsr(copy=True)
    inside = (d.data > 0) & (d.data <= CUTOFF_MM)
    d.data = np.where(inside, np.exp(-(d.data**2) / (2 * SIGMA_MM**2)), 0.0)
    return np.asarray(d.sum(axis=1)).ravel()


# --------------------------------------------------------------------------- fem_fhn case


def fem_config(data: Path, precision: str = "auto", distance: str = "geodesic") -> dict:
    """The run configuration of the fem_fhn side (a dict shaped like the TOML file) on the files
    of tvb-data in `data`: the geodesic kernel cut at 40 mm stored sparse, or the chordal
    (euclidean) kernel applied by nufft at tol NUFFT_TOL."""
    nonlocal_ = {
        "method": "sparse",
        "tol": math.exp(-((CUTOFF_MM / SIGMA_MM) ** 2) / 2),
        "precision": precision,
    }
    if distance == "euclidean":
        nonlocal_ = {"method": "nufft", "tol": NUFFT_TOL}
    return {
        "mesh": {"source": str(data / SURFACE), "units": "mm"},
        "model": FHN,
        "kernel": {"type": "gaussian", "width": SIGMA_MM, "strength": 1.0, "distance": distance},
        "nonlocal": nonlocal_,
        "connectome": {
            "zip": str(data / CONNECTIVITY),
            "labels": str(data / REGION_MAPPING),
            "speed": SPEED,
            "G": LINEAR_A,
            "regions_csv": False,
        },
        "initial": {"V": "1.0 if x < -40 else -1.2", "W": -0.62},
        "time": {"t_end": 1.0, "dt": DT, "scheme": "heun", "n_outputs": 1},
        "output": {"progress": False},
    }


def single_precision_error(nodes, kernel, u: np.ndarray) -> float:
    """max_i |K_single u − K u|_i / max_i Σ_j |K_ij||u_j| on one rank (K_single stored as a run
    stores it: symmetric, Morton order), K u the double-precision geodesic sum with the same
    distances (a plain scipy product in the input order)."""
    import numpy as np
    from mpi4py import MPI
    from scipy import sparse

    from fem_fhn.nonlocal_.geodesic import GeodesicOperator, mesh_geodesic_distances

    distances = mesh_geodesic_distances(nodes, CUTOFF_MM)
    single = GeodesicOperator(
        distances,
        nodes.masses,
        kernel,
        MPI.COMM_SELF,
        "sparse",
        CUTOFF_MM,
        "single",
        nodes.coords,
        nodes.global_index,
        symmetric=True,
    )
    values = kernel(distances.data) * nodes.masses[distances.indices]
    exact = sparse.csr_array((values, distances.indices, distances.indptr), distances.shape)
    scale = (abs(exact) @ np.abs(u)).max()
    return float(np.abs(single.apply(u) - exact @ u).max() / scale)


def nufft_floors(op, nodes, kernel, repeat: int) -> dict:
    """The least time any NUFFT apply of K can take here: finufft's bare type-1 + type-2 pair on
    the operator's own plan (its modes, eps, upsampfac and sorted points), at NUFFT_TOL and at the
    tol of TVB's own truncation (Ψ(40 mm)/Ψ(0) = e^−8), medians over `repeat` pairs; a Heun step
    applies K twice."""
    import numpy as np
    from mpi4py import MPI

    from fem_fhn.nonlocal_.nufft import NufftOperator

    loose = NufftOperator(nodes.coords, nodes.masses, op.kernel, MPI.COMM_SELF, tol=math.exp(-8.0))
    out = {}
    for key, nufft in (("nufft_floor_s", op), ("nufft_floor_cutoff_tol_s", loose)):
        strengths = np.ones(nufft.n_local, dtype=complex)
        values = np.empty_like(strengths)
        modes = np.empty(nufft.grid.modes, dtype=complex)

        def pair(plan=nufft._plan, strengths=strengths, modes=modes, values=values) -> None:
            plan.execute(strengths, out=modes)
            plan.execute_adjoint(modes, out=values)

        out[key] = driver.median(driver.timed(pair, repeat, WARMUP).wall)
        out[key.replace("_s", "_modes")] = list(nufft.grid.modes)
    return out


def fem_case(steps: int, sums: Path | None, precision: str, distance: str) -> None:
    """fem_fhn on this process's ranks: set-up of the operator K (geodesic, in `[nonlocal]
    precision`, or euclidean by nufft), then Heun steps of the nonlocal model with the
    connectome."""
    import time

    import numpy as np
    from mpi4py import MPI

    from fem_fhn.config import parse_config
    from fem_fhn.mesh import NodalMesh
    from fem_fhn.models import nodal_operator
    from fem_fhn.nonlocal_.geodesic import mesh_geodesic_distances
    from fem_fhn.runner import build, prepare
    from fem_fhn.surface import icosphere, surface_mesh

    comm = MPI.COMM_WORLD
    config = parse_config(fem_config(tvb_data_dir(), precision, distance))
    warm = NodalMesh.from_mesh(surface_mesh(icosphere(2, 30.0), MPI.COMM_SELF))
    nodal_operator(config, warm, config.kernel.build(2))  # numba's compilation, not measured
    nodes, rho0, kernel = prepare(config, comm)
    comm.Barrier()
    wall, cpu = time.perf_counter(), time.process_time()
    op = nodal_operator(config, nodes, kernel)
    build_s = comm.allreduce(time.perf_counter() - wall, op=MPI.MAX)
    build_cpu = comm.allreduce(time.process_time() - cpu, op=MPI.MAX)
    info = op.info()
    floors = nufft_floors(op, nodes, kernel, steps) if distance == "euclidean" else {}
    del op
    setup = build(config, comm, prepared=(nodes, rho0, kernel))
    model, integrator = setup.model, setup.integrator
    state = {"t": 0.0, "y": setup.y0}

    def step() -> None:  # one Heun step and the delay history's update, as a run takes it
        state["t"], state["y"], _ = integrator.advance(
            model, state["t"], state["y"], state["t"] + DT
        )

    times = driver.timed(step, steps, WARMUP, comm)
    record = {
        "code": "fem_fhn",
        "ranks": comm.size,
        "distance": distance,
        "precision": info.get("precision", "double"),
        "build_s": build_s,
        "build_cpu_s": build_cpu,
        "nnz": info.get("nnz"),
        "modes": info.get("modes"),
        "step_s": driver.median(times.wall),
        "step_cpu_s": driver.median(times.cpu),
        "steps": steps,
        "finite": bool(comm.allreduce(bool(np.isfinite(state["y"]).all()), op=MPI.LAND)),
        "peak_mb": driver.peak_mb(comm),
        "regions": setup.info["connectome"]["regions"],
        "max_delay_steps": setup.info["connectome"]["max_delay_steps"],
        **floors,
    }
    if sums is not None and comm.size == 1 and distance == "geodesic":
        by_input = np.empty(nodes.n_owned)  # rows in the surface file's vertex order
        by_input[nodes.global_index] = gaussian_row_sums(mesh_geodesic_distances(nodes, CUTOFF_MM))
        np.save(sums, by_input)
        V0 = model.fields_of(setup.y0)["V"]
        record["single_error"] = single_precision_error(nodes, kernel, V0)
    driver.emit(record, comm)


# --------------------------------------------------------------------------- TVB case


def tvb_case(steps: int, sums: Path | None) -> None:
    """TVB in this process (its own environment): LocalConnectivity, then surface Heun steps."""
    import time

    import numpy as np
    from tvb.datatypes import cortex, equations, local_connectivity, surfaces
    from tvb.datatypes.connectivity import Connectivity
    from tvb.simulator import coupling, integrators, models, monitors, simulator

    conn = Connectivity.from_file(CONNECTIVITY.split("/")[-1])  # connectivity_76.zip
    conn.speed = np.array([SPEED])  # its default, stated
    conn.configure()
    ctx = cortex.Cortex.from_file()  # cortex_16384.zip, regionMapping_16k_76.txt
    ctx.region_mapping_data.connectivity = conn
    surface = ctx.region_mapping_data.surface
    surface.configure()
    gaussian = equations.Gaussian()
    gaussian.parameters.update(amp=1.0, sigma=SIGMA_MM, midpoint=0.0, offset=0.0)
    local = local_connectivity.LocalConnectivity(
        surface=surface, equation=gaussian, cutoff=CUTOFF_MM
    )
    # compute_sparse_matrix(), in its two calls, with the row sums taken between them
    wall, cpu = time.perf_counter(), time.process_time()
    local.matrix_gdist = surfaces.gdist.local_gdist_matrix(
        surface.vertices.astype(np.float64), surface.triangles.astype(np.int32), CUTOFF_MM
    )
    build_s, build_cpu = time.perf_counter() - wall, time.process_time() - cpu
    if sums is not None:
        np.save(sums, gaussian_row_sums(local.matrix_gdist))
    wall, cpu = time.perf_counter(), time.process_time()
    local.compute()
    local.matrix_gdist = None
    build_s, build_cpu = build_s + time.perf_counter() - wall, build_cpu + time.process_time() - cpu
    ctx.local_connectivity = local
    # the homogenised rows sum to their mean: scale them to 1, as fem_fhn's kernel integrates to 1
    ctx.coupling_strength = np.array([1.0 / float(local.matrix.sum(axis=1).mean())])
    sim = simulator.Simulator(
        model=models.Generic2dOscillator(**{k: np.array([v]) for k, v in TVB_MODEL.items()}),
        connectivity=conn,
        coupling=coupling.Linear(a=np.array([LINEAR_A]), b=np.array([0.0])),  # its defaults
        integrator=integrators.HeunDeterministic(dt=DT),
        monitors=(monitors.Raw(),),
        surface=ctx,
        simulation_length=(WARMUP + steps + 1) * DT,
    )
    sim.configure()
    run = iter(sim())
    for _ in range(WARMUP):
        next(run)
    walls, cpus = [], []
    for _ in range(steps):
        wall, cpu = time.perf_counter(), time.process_time()
        ((_, raw),) = next(run)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    driver.emit(
        {
            "code": "TVB",
            "ranks": 1,
            "precision": "double",
            "build_s": build_s,
            "build_cpu_s": build_cpu,
            "nnz": int(local.matrix.nnz),
            "step_s": driver.median(walls),
            "step_cpu_s": driver.median(cpus),
            "steps": steps,
            "finite": bool(np.isfinite(raw).all()),
            "peak_mb": driver.peak_mb(),
        }
    )


# --------------------------------------------------------------------------- driver


def agreement(fem_sums: Path, tvb_sums: Path) -> dict | None:
    """Max and median relative difference of the Gaussian row sums of the two distance tables."""
    import numpy as np

    if not (fem_sums.exists() and tvb_sums.exists()):
        return None
    ours, theirs = np.load(fem_sums), np.load(tvb_sums)
    rel = np.abs(ours - theirs) / theirs
    return {"max_rel": float(rel.max()), "median_rel": float(np.median(rel))}


def targets(rows: list[dict]) -> dict:
    """The set-up and step targets from the measured rows (wall-time ratios; not run: None).
    Each note gives the CPU-time ratio too, which a loaded machine inflates less."""
    timed = [r for r in rows if "step_s" in r]
    tvb = next((r for r in timed if r["code"] == "TVB"), None)
    fem = [r for r in timed if r["code"] == "fem_fhn"]
    nufft = next((r for r in fem if r["distance"] == "euclidean"), None)
    fem = [r for r in fem if r["distance"] == "geodesic"]
    fem1 = next((r for r in fem if r["ranks"] == 1 and r["option"] == "auto"), None)
    best = min(fem, key=lambda r: r["step_s"]) if fem else None
    error = next((r["single_error"] for r in fem if "single_error" in r), None)

    def floor_of(row: dict | None, key: str) -> dict | None:
        return {"step_s": 2 * row[key]} if row and key in row else None

    def ratio(ours: dict | None, key: str) -> float | None:
        return ours[key] / tvb[key] if ours and tvb else None

    def check(what: str, ours: dict | None, key: str, threshold: float) -> dict:
        cpu = ratio(ours, key.replace("_s", "_cpu_s"))
        note = (
            ""
            if cpu is None
            else f"{ours['ranks']} rank(s), {ours['precision']}; CPU-time ratio {cpu:.3f}"
        )
        return driver.target(f"fem_fhn / TVB {what}", ratio(ours, key), threshold, "<=", note)

    return {
        "set-up": check("set-up time", fem1, "build_s", 0.1),
        "step, 1 rank": check("time per step", fem1, "step_s", 1.0),
        "step, best": check("time per step", best, "step_s", 0.6),
        "step, euclidean nufft": check("time per step (euclidean, nufft)", nufft, "step_s", 0.3),
        "step floor, euclidean nufft": driver.target(
            "2 bare finufft pairs / TVB step (the least a nufft Heun step can take; at tol e^-8 "
            "in the note)",
            ratio(floor_of(nufft, "nufft_floor_s"), "step_s"),
            0.3,
            "<=",
            ""
            if not (nufft and tvb)
            else f"at tol e^-8: {2 * nufft['nufft_floor_cutoff_tol_s'] / tvb['step_s']:.3f}",
        ),
        "single precision": driver.target(
            "max |K_single u − K u| / max Σ|K||u| (u = initial V)", error, 1e-6, "<="
        ),
    }


def main() -> None:
    parser = driver.make_parser(__doc__, "bench_cortex")
    parser.add_argument("--tvb-python", help="interpreter of an environment with TVB installed")
    parser.add_argument("--steps", type=int, default=40, help="timed Heun steps per case")
    parser.add_argument("--ranks", nargs="+", type=int, default=[1, 2], help="fem_fhn ranks")
    parser.add_argument(
        "--precisions",
        nargs="+",
        default=["auto", "double"],
        choices=["auto", "double", "single"],
        help="fem_fhn's [nonlocal] precision (each on every number of ranks)",
    )
    parser.add_argument(
        "--distance", choices=["geodesic", "euclidean"], default="geodesic", help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--no-nufft", action="store_true", help="leave out the euclidean kernel by nufft (1 rank)"
    )
    parser.add_argument("--sums", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    driver.require_positive(args, "steps", "ranks")
    if args.case:
        if args.case == "fem":
            fem_case(args.steps, args.sums, args.precisions[0], args.distance)
        else:
            tvb_case(args.steps, args.sums)
        return
    if tvb_data_dir() is None:
        print("tvb-data is not installed: the cortex surface is missing, nothing to measure")
        return
    if args.tvb_python is None:
        print(INSTALL)
    rows, folder = [], Path(tempfile.mkdtemp())
    cases = [("tvb", None, None, None)] if args.tvb_python else []
    cases += [("fem", r, p, "geodesic") for r in args.ranks for p in args.precisions]
    cases += [] if args.no_nufft else [("fem", 1, "auto", "euclidean")]
    summed = set()
    for code, ranks, precision, distance in cases:
        sums = folder / f"{code}_sums.npy"
        argv = ["--case", code, "--steps", str(args.steps)]
        argv += ["--precisions", precision, "--distance", distance] if precision else []
        if ranks in (None, 1) and code not in summed:  # row sums (and the error) once per code
            argv += ["--sums", str(sums)]
            summed.add(code)
        label = "TVB" if code == "tvb" else f"fem_fhn on {ranks} rank(s), {distance}, {precision}"
        print(f"{label} ...", end=" ", flush=True)
        try:
            launched = driver.launch(
                __file__,
                argv,
                ranks=ranks if code == "fem" and ranks > 1 else None,
                threads=1,
                env={"NUMEXPR_NUM_THREADS": "1"},
                timeout=args.timeout,
                python=args.tvb_python if code == "tvb" else None,
            )
        except driver.CaseFailed as err:
            rows.append({"code": label, "failed": err.last_line})
            print(f"failed: {err.last_line}", flush=True)
        else:
            rows.append({**launched.record, "option": precision})
            print(f"{launched.wall_s:.1f} s", flush=True)
    print(f"\n{driver.format_table(COLUMNS, rows)}")
    same = agreement(folder / "fem_sums.npy", folder / "tvb_sums.npy")
    if same:
        print(
            "Gaussian row sums, fast marching against tvb-gdist's exact geodesics: max rel. "
            f"difference {same['max_rel']:.2e}, median {same['median_rel']:.2e}"
        )
    error = next((r["single_error"] for r in rows if "single_error" in r), None)
    if error is not None:
        print(f"single-precision storage: max error {error:.2e} of max_i Σ_j |K_ij||u_j|")
    summary = {
        **driver.machine_info(names={"hostname": "host", "cpu_count": "cpus"}),
        "load_average": list(os.getloadavg()),
        "surface": "tvb_data/surfaceData/cortex_16384.zip",
        "kernel": {"type": "gaussian", "sigma_mm": SIGMA_MM, "cutoff_mm": CUTOFF_MM},
        "dt": DT,
        "tvb_model": {"name": "Generic2dOscillator", **TVB_MODEL},
        "fem_config": fem_config(Path("tvb_data")),
        "fem_config_euclidean": fem_config(Path("tvb_data"), distance="euclidean"),
        "row_sums_agreement": same,
        "results": rows,
        "targets": targets(rows),
    }
    print(f"load average {summary['load_average']}")
    print(f"\ntargets:\n{driver.format_targets(summary['targets'])}")
    driver.write_json(args.output, summary)


if __name__ == "__main__":
    main()
