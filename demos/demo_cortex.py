# # A travelling front on The Virtual Brain's cortex with a geodesic kernel
#
# The nonlocal FitzHugh–Nagumo field on the 16 384-vertex cortex that ships with the `tvb-data`
# package (both hemispheres, in mm), coupled along the folded sheet by a Gaussian of the
# geodesic distance,
#
# $$ \partial_t V = \int \Psi(d_g(x, x'))\,(V(x') - V(x))\,dA(x') + V - V^3 - w_0, \qquad
#    \Psi(d) = \frac{S}{2\pi s^2} e^{-d^2 / (2 s^2)}, $$
#
# with the recovery variable frozen (τ = 0, W ≡ w0): the bistable equation, whose fronts travel
# at a speed fixed by the kernel and w0. The kernel's width s = 10 mm and cutoff 40 mm are those
# of TVB's local connectivity (`benchmarks/bench_cortex.py`).
#
# The number the demo measures and checks is the front speed along the surface. A disc of the
# upper state v3 around one seed vertex per hemisphere grows into the lower state v1; its
# geodesic radius r(t) is read from the excited area through the mesh's own area function
# A(r) = area within geodesic distance r of the seeds. A curved front moves at
# c − D κ (the eikonal relation to first order, D = S s²/2 the kernel's diffusion coefficient,
# κ the front's geodesic curvature, here the mean curvature of the geodesic circle,
# κ = A''(r) / A'(r)). The reference c is the speed of the planar front of the same model on a
# line (the 1D marginal of the same Gaussian), computed here too; the demo writes the measured
# and predicted speeds to `results.json`.
#
# With `CI` set, or to check the method where the answer is known, the surface is an icosphere
# of radius 60 mm (level 4, 2 562 vertices, generated: no data package needed, and fast) with
# the seed at the north pole: where the front crosses the equator its curvature vanishes, and
# its speed must be the line's to within the discretisation error (2 %, as the surface tests).
# Without CI the cortex is used; without `tvb-data` the demo says so and exits.

# +
import json
import os
import sys
import time
from pathlib import Path

import meshio
import numpy as np
from mpi4py import MPI
from scipy.sparse.csgraph import connected_components

from fem_fhn import meshes
from fem_fhn.config import parse_config
from fem_fhn.geodesic import geodesic_neighbours
from fem_fhn.runner import run
from fem_fhn.surface import icosphere, read_surface

# -

# ## Parameters
#
# w0 = −0.3 makes v3 invade (v2 ≈ −0.34, planar local speed −3 v2 √(D/2) ≈ 7.2 mm per time
# unit); the Gaussian has width s = 10 mm and mass S = 2 (D = 100 mm², a front about
# √(2D) ≈ 14 mm wide), cut at 4 s = 40 mm.

# +
CI = bool(os.environ.get("CI"))
rank0 = MPI.COMM_WORLD.rank == 0
w0 = -0.3
width, strength = 10.0, 2.0
D = strength * width**2 / 2
v1, v2, v3 = np.sort(np.roots([-1.0, 0.0, 1.0, -w0]).real)
tol = float(np.exp(-8.0))  # |Ψ| below e^-8 of its maximum: cut at 4 s = 40 mm
radius_sphere = 60.0
dt = 0.05
out = Path("out/demo_cortex")
if rank0:
    out.mkdir(parents=True, exist_ok=True)
    print(f"roots of v - v^3 = {w0}: {v1:.5f} {v2:.5f} {v3:.5f}; D = {D:g} mm^2")
# -

# ## Mesh
#
# The cortex zip is read by fem_fhn's own reader (`[mesh] source` takes it as it is); the
# icosphere is written as an OBJ file. The seeds are, per connected component (hemisphere), the
# vertex nearest its centroid (the north pole on the sphere), and `d` the geodesic distance
# from them (fast marching over the whole component).


def cortex_source() -> Path | None:
    """TVB's cortex_16384.zip from the installed tvb-data, or None."""
    try:
        import tvb_data
    except ImportError:
        return None
    return Path(tvb_data.__file__).parent / "surfaceData" / "cortex_16384.zip"


def seeds_of(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """One seed per connected component: the vertex nearest the component's centroid."""
    from scipy import sparse

    i, j = triangles.ravel(), np.roll(triangles, 1, axis=1).ravel()  # the triangles' edges
    n = len(vertices)
    graph = sparse.coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    count, label = connected_components(graph, directed=False)
    seeds = []
    for k in range(count):
        members = np.flatnonzero(label == k)
        centre = vertices[members].mean(axis=0)
        seeds.append(members[np.argmin(np.linalg.norm(vertices[members] - centre, axis=1))])
    return np.array(seeds)


def seed_distance(vertices: np.ndarray, triangles: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Geodesic distance of every vertex to the nearest seed (all of its component)."""
    far = 4.0 * np.ptp(vertices, axis=0).max()
    table = geodesic_neighbours(vertices, triangles, far, seeds)
    d = np.full(len(vertices), np.inf)
    for row in range(len(seeds)):
        span = slice(table.indptr[row], table.indptr[row + 1])
        columns = table.indices[span]
        d[columns] = np.minimum(d[columns], table.data[span])
    return d


if CI:
    sphere = icosphere(4, radius_sphere)
    source = out / "sphere.obj"
    if rank0:
        meshio.write_points_cells(str(source), sphere.vertices, [("triangle", sphere.triangles)])
    seeds = np.array([int(np.argmax(sphere.vertices[:, 2]))])
else:
    source = cortex_source()
    if source is None:
        if rank0:
            print(
                "tvb-data is not installed: the cortex is missing (pip install tvb-data), "
                "nothing to do; CI=1 runs the demo on an icosphere"
            )
        sys.exit(0)
    surface = read_surface(source)
    seeds = seeds_of(surface.vertices, surface.triangles)
MPI.COMM_WORLD.barrier()
surface = read_surface(source)
distance = seed_distance(surface.vertices, surface.triangles, seeds)
areas = np.zeros(len(distance))
np.add.at(areas, surface.triangles.ravel(), np.repeat(surface.areas / 3.0, 3))
reached = np.isfinite(distance)
order = np.argsort(distance[reached])
ball_r, ball_area = distance[reached][order], np.cumsum(areas[reached][order])


def area_function(r: np.ndarray, half: float = 6.0) -> np.ndarray:
    """(A, A', A'') at the radii r: least-squares quadratics of the area within geodesic
    distance r of the seeds, fitted to the vertices' (distance, cumulated area) over r ± half
    (rings of vertices at equal distance make the raw A(r) a staircase)."""
    fits = []
    for ri in r:
        near = np.abs(ball_r - ri) < half
        c2, c1, c0 = np.polyfit(ball_r[near] - ri, ball_area[near], 2)
        fits.append((c0, c1, 2 * c2))
    return np.array(fits)


grid_r = np.arange(ball_r[0] + 6.0, ball_r[-1] - 6.0, 1.0)
grid_area = area_function(grid_r)[:, 0]
if rank0:
    print(
        f"{source.name}: {len(distance)} vertices, {len(seeds)} seed(s), "
        f"area {areas.sum():.0f} mm^2, farthest vertex {ball_r[-1]:.0f} mm from a seed"
    )

# ## Model
#
# The initial V is a tanh profile of the geodesic distance: v3 within r0 of the seeds, v1
# beyond, written as a per-vertex `.npy` file (input vertex order) for `[initial] V`. On the
# sphere r0 lies 35 mm before the equator (πR/2 ≈ 94 mm), which leaves the front time to relax
# to its travelling shape; on the cortex r0 = 30 mm.

r0 = np.pi * radius_sphere / 2 - 35.0 if CI else 30.0
t_end = 9.0 if CI else 12.0
n_outputs = 45 if CI else 48
V0 = (v3 + v1) / 2 - (v3 - v1) / 2 * np.tanh((distance - r0) / np.sqrt(2 * D))
V0[~reached] = v1
if rank0:
    np.save(out / "V0.npy", V0)
MPI.COMM_WORLD.barrier()


def surface_config() -> dict:
    """The run on the surface (a dict shaped like the TOML file)."""
    return {
        "mesh": {"source": str(source.absolute()), "units": "mm"},
        "model": {"a": 0.0, "b": 0.0, "tau": 0.0},
        "kernel": {
            "type": "gaussian",
            "width": width,
            "strength": strength,
            "distance": "geodesic",
        },
        "nonlocal": {"method": "sparse", "tol": tol},
        "initial": {"V": str((out / "V0.npy").absolute()), "W": w0},
        "time": {"t_end": t_end, "dt": dt, "scheme": "ssprk3", "n_outputs": n_outputs},
        "output": {"progress": False},
    }


def line_config(path: Path, length: float) -> dict:
    """The planar front: the same model on a line with the 1D marginal of the same Gaussian."""
    x0 = length / 3
    front = f"{(v3 + v1) / 2} - {(v3 - v1) / 2} * tanh((x - {x0}) / {np.sqrt(2 * D)})"
    return {
        "mesh": {"source": str(path.absolute())},
        "model": {"a": 0.0, "b": 0.0, "tau": 0.0},
        "kernel": {"type": "gaussian", "width": width, "strength": strength},
        "nonlocal": {"method": "dense"},
        "initial": {"V": front, "W": w0},
        "time": {"t_end": 8.0, "dt": dt, "scheme": "ssprk3", "n_outputs": 16},
        "output": {"progress": False},
    }


# ## Solver
#
# `runner.run` builds the geodesic operator (fast-marching distances within 40 mm, stored as a
# sparse matrix), the model and an SSP-RK3 integrator, and calls the observers at the output
# times. `ExcitedRadius` turns the excited area Σ m_i (V_i − v1)/(v3 − v1) into the geodesic
# radius r with A(r) = that area (A smoothed by local quadratic fits).


class ExcitedRadius:
    """Observer recording the geodesic radius of the excited area."""

    def __init__(self, setup):
        nodes = setup.nodes
        self.comm = nodes.comm
        self.masses = nodes.masses
        self.inside = reached[nodes.global_index]
        self.times: list[float] = []
        self.radii: list[float] = []

    def __call__(self, output) -> None:
        share = (output.fields["V"] - v1) / (v3 - v1)
        area = self.comm.allreduce(float(self.masses[self.inside] @ share[self.inside]))
        self.times.append(output.t)
        self.radii.append(float(np.interp(area, grid_area, grid_r)))


class LinePosition:
    """Observer recording the position of the planar front from the v3 mass."""

    def __init__(self, setup):
        self.nodes = setup.nodes
        self.times: list[float] = []
        self.positions: list[float] = []

    def __call__(self, output) -> None:
        self.times.append(output.t)
        self.positions.append(self.nodes.integrate((output.fields["V"] - v1) / (v3 - v1)))


def simulate(data: dict, folder: Path, observer):
    """Run one configuration into `folder` and return its observer."""
    made = []

    def make(setup):
        made.append(observer(setup))
        return made[-1]

    run(parse_config(data), folder, observers=[make])
    return made[0]


# ## Output
#
# `out/demo_cortex/`: the fields of the surface run (`fields.bp` for ParaView, XDMF with x, y, z,
# VTK frames, `V.png`, `V.gif`), `line/` (the planar front), `radius.png` (r(t) and the speeds)
# and `results.json` (the measured and predicted speeds).


def speeds(times, radii, window) -> dict:
    """Measured dr/dt (central differences) and the eikonal prediction c − D κ in a window."""
    t, r = np.asarray(times), np.asarray(radii)
    rate = np.gradient(r, t)
    keep = (r > window[0]) & (r < window[1])
    keep[[0, -1]] = False
    fit = area_function(r[keep])
    kappa = fit[:, 2] / fit[:, 1]  # A''/A': mean geodesic curvature of the circle
    return {
        "window_mm": list(window),
        "samples": int(keep.sum()),
        "measured": float(np.polyfit(t[keep], r[keep], 1)[0]),
        "curvature_mean": float(kappa.mean()),
        "corrected": float(np.mean(rate[keep] + D * kappa)),
    }


def figure(surface_run, line_speed: float, path: Path) -> None:
    """The geodesic radius against time and the line of the planar speed."""
    from fem_fhn.plot import figure as new_figure
    from fem_fhn.plot import save

    fig = new_figure((6.5, 4.0))
    ax = fig.subplots()
    t, r = np.asarray(surface_run.times), np.asarray(surface_run.radii)
    ax.plot(t, r, "o-", ms=3, label="excited geodesic radius")
    ax.plot(t, r[0] + line_speed * t, "k--", lw=1, label=f"planar speed {line_speed:.2f} mm/t")
    ax.set_xlabel("t")
    ax.set_ylabel("r (mm)")
    ax.legend(fontsize=8)
    save(fig, path)


# ## Main loop

# +
start = time.perf_counter()
if rank0:
    meshes.generate("interval", 1.0, out / "line.msh", length=240.0)
MPI.COMM_WORLD.barrier()
line = simulate(line_config(out / "line.msh", 240.0), out / "line", LinePosition)
t_line, x_line = np.asarray(line.times), np.asarray(line.positions)
c_line = float(np.polyfit(t_line[len(t_line) // 4 :], x_line[len(t_line) // 4 :], 1)[0])
c_local = float(-3 * v2 * np.sqrt(D / 2))
if rank0:
    print(f"planar front on the line: c = {c_line:.4f} mm/t (local limit {c_local:.4f})")

front = simulate(surface_config(), out, ExcitedRadius)
equator = np.pi * radius_sphere / 2
window = (equator - 10.0, equator + 10.0) if CI else (40.0, 70.0)
measured = speeds(front.times, front.radii, window)
wide = speeds(front.times, front.radii, (r0 + 10.0, max(front.radii) - 5.0))
results = {
    "surface": source.name,
    "vertices": len(distance),
    "seeds": len(seeds),
    "kernel": {"type": "gaussian", "width_mm": width, "strength": strength, "cutoff_mm": 40.0},
    "w0": w0,
    "D_mm2": D,
    "planar_speed_line": c_line,
    "planar_speed_local_limit": c_local,
    "surface_speed": measured,
    "surface_speed_wide": wide,
    "wide_corrected_over_planar": wide["corrected"] / c_line,
    "corrected_over_planar": measured["corrected"] / c_line,
    "measured_over_planar": measured["measured"] / c_line,
    "ci": CI,
    "times": front.times,
    "radii_mm": front.radii,
}
if rank0:
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    figure(front, c_line, out / "radius.png")
    print(
        f"front on the surface, r in {window}: dr/dt = {measured['measured']:.4f}, "
        f"+ D kappa = {measured['corrected']:.4f} mm/t = "
        f"{results['corrected_over_planar']:.3f} x planar; "
        f"wall time {time.perf_counter() - start:.1f} s; output in {out}/"
    )
# -

# On the sphere the front crosses the equator, where geodesic circles are straight, at the
# planar speed of the line (1.1 % apart; over radii 69–110 mm the curvature-corrected speed is
# within 0.3 %). On the cortex the excited region grows over gyri and into sulci: its geodesic
# radius grows at 4.1 mm per time unit between 40 and 70 mm, 0.65 × the planar 6.32, because
# the folded sheet makes geodesic circles strongly curved (mean A''/A' = 0.026 / mm, against
# 1/r ≈ 0.018 / mm for a flat disc); corrected by D κ the speed is 6.70, 1.06 × planar. The
# remaining 6 % is the limit of the first-order eikonal relation on folds as narrow as the
# front (√(2D) ≈ 14 mm).
