# # The nonlocal FitzHugh–Nagumo system on large 2D and 3D meshes
#
# $$ \partial_t V - L_{\rho_0}(V) = V - V^3 - W, \qquad \partial_t W = \tau (V + a - b W), \qquad
#    L_{\rho_0}(V)(x) = \int \Psi(x - x')\,(V(x') - V(x))\,\rho_0(x')\,dx' $$
#
# The dense quadrature of $L_{\rho_0}$ costs $N^2$ memory and time: 20 000 nodes already need
# 3.2 GB. The fast methods approximate the same quadrature to a requested tolerance in about
# $N \log N$: here the NUFFT convolution (`method = "nufft"`, smooth Gaussian kernel) on a folded
# 2D band with more than $2\times10^5$ nodes and on a ball with more than $10^5$ nodes. Both runs
# write VTX (`fields.bp`) for ParaView, a PNG and a GIF. With `CI` set the meshes are coarse.
#
# Measured: the fraction of the domain that is excited ($V > 0$) and the position of the
# leading front (the largest x where V crosses 0) at the end, and — where the dense matrix fits,
# as on the CI meshes — the same run with the dense reference quadrature: the largest difference
# of V between the two shows what the NUFFT tolerance costs in the dynamics.

# +
import os
import time
from pathlib import Path

import numpy as np
from mpi4py import MPI

from fem_fhn.analysis import FrontTracker
from fem_fhn.config import parse_config
from fem_fhn.io import write_json
from fem_fhn.parallel import gather_rows
from fem_fhn.runner import run

# -

# ## Parameters
#
# Excitable regime ($a = 0.7/\sqrt3$, $b = 0.8$, $\tau = 0.08$, rest state $(-0.69248,
# -0.36042)$); Gaussian kernel of width 0.03 (2D, tolerance $10^{-6}$) and 0.08 (3D, tolerance
# $10^{-4}$: the 3D Fourier grid is the cost there).

CI = bool(os.environ.get("CI"))
common = {
    "model": {"a": 0.40415, "b": 0.8, "tau": 0.08},
    "initial": {"V": "1.0 if x < 0.3 else -0.69248", "W": -0.36042},
    "output": {"formats": ["vtx", "vtk"], "progress": not CI},
}

# ## Mesh
#
# Bundled domains meshed on the fly: the folded band at $h = 0.0025$ (about $2.3\times10^5$
# nodes) and the unit ball at $h = 0.031$ (about $1.1\times10^5$ nodes).

cases = {
    "folded_2d": {
        "mesh": {"source": "folded", "h": 0.02 if CI else 0.0025},
        "kernel": {"type": "gaussian", "width": 0.03, "strength": 5.0},
        "nonlocal": {"method": "nufft", "tol": 1e-6},
        "time": {"t_end": 1.0 if CI else 12.0, "n_outputs": 4 if CI else 24},
    },
    "ball_3d": {
        "mesh": {"source": "ball", "h": 0.15 if CI else 0.031},
        "kernel": {"type": "gaussian", "width": 0.08, "strength": 5.0},
        "nonlocal": {"method": "nufft", "tol": 1e-4},
        "time": {"t_end": 0.5 if CI else 4.0, "n_outputs": 2 if CI else 8},
    },
}

# ## Model
#
# The same model on both meshes; only the mesh and the kernel width change.

# ## Solver
#
# SSP-RK3 with a fixed step below the explicit limit $1/(2\rho_0 \int|\Psi| + \max|N'|)$.

steps = {"dt": 0.05, "scheme": "ssprk3"}

# ## Output
#
# `out/demo_large_meshes/<case>/` for each mesh, the dense reference run in
# `<case>/dense/`, and `results.json` (the measured fractions, front positions and differences).
# The observer `Measure` keeps, at every output time, the excited fraction
# $\int [V > 0] / |\Omega|$ (lumped quadrature), the front position and the last V.

out = Path("out/demo_large_meshes")
DENSE_NODES = 20_000  # the dense reference run when its matrix fits (3.2 GB at this size)


class Measure:
    """Observer: excited area fraction, leading-front position and V at each output time."""

    def __init__(self, setup):
        self.nodes = setup.nodes
        self.front = FrontTracker(setup.nodes, level=0.0, axis=0, which=-1)
        self.area = self.nodes.integrate(np.ones(self.nodes.n_owned))
        self.fractions, self.V = [], None

    def __call__(self, output) -> None:
        self.V = output.fields["V"]
        self.fractions.append(self.nodes.integrate((self.V > 0).astype(float)) / self.area)
        self.front(output)

    def result(self) -> dict:
        return {
            "excited_fraction": self.fractions,
            "front_x": self.front.positions.tolist(),
            "times": self.front.times.tolist(),
        }


def by_node(measure: Measure) -> np.ndarray:
    """The last V of every node, in the mesh file's node order (gathered on every rank)."""
    comm = measure.nodes.comm
    order = np.argsort(gather_rows(comm, measure.nodes.global_index.astype(np.int64)))
    return gather_rows(comm, measure.V)[order]


def measured_run(config, folder: Path) -> tuple[dict, Measure]:
    """`run` with a `Measure` observer; returns the summary and the observer."""
    measures = []

    def observe(setup):
        measures.append(Measure(setup))
        return measures[-1]

    return run(config, folder, observers=[observe]), measures[0]


# ## Main loop

results = {}
for name, case in cases.items():
    data = {**common, **case, "time": {**steps, **case["time"]}}
    start = time.perf_counter()
    summary, measure = measured_run(parse_config(data), out / name)
    wall = time.perf_counter() - start
    nodes = summary["mesh"]["nodes"]
    results[name] = {
        "nodes": nodes,
        "tol": case["nonlocal"]["tol"],
        "kernel": case["kernel"],
        "t_end": case["time"]["t_end"],
        "max_V": summary["final"]["max_V"],
        "nufft": measure.result(),
    }
    if nodes <= DENSE_NODES:
        dense = {**case["nonlocal"], "method": "dense"}
        quiet = {"formats": [], "png": False, "gif": False, "progress": False}
        config = parse_config({**data, "nonlocal": dense, "output": quiet})
        _, reference = measured_run(config, out / name / "dense")
        difference = np.abs(by_node(measure) - by_node(reference)).max()
        results[name]["dense"] = reference.result()
        results[name]["max_V_difference"] = difference
    if MPI.COMM_WORLD.rank == 0:
        op = summary["nonlocal"]
        print(
            f"{name}: {nodes} nodes, operator {op['method']} built in "
            f"{op['build_time_s']:.1f} s, {summary['time']['steps']} steps in "
            f"{wall:.1f} s; max V = {summary['final']['max_V']:.3f}; excited fraction "
            f"{measure.fractions[0]:.4f} -> {measure.fractions[-1]:.4f}, front at x = "
            f"{measure.front.positions[-1]:.4f}"
        )
        if "dense" in results[name]:
            print(
                f"  dense reference: excited fraction {reference.fractions[-1]:.4f}, front at "
                f"x = {reference.front.positions[-1]:.4f}; max |V - V_dense| = {difference:.2e}"
            )
write_json(out / "results.json", results, MPI.COMM_WORLD)
