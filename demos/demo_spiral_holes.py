# # A spiral wave among obstacles: the cross-field protocol on a disc with holes
#
# The local limit of the macroscopic FitzHugh–Nagumo system,
#
# $$ \partial_t V = D\,\Delta V + V - V^3 - W, \qquad \partial_t W = \tau (V + a - b W), $$
#
# with no-flux boundary conditions on the unit disc with three circular holes. We take
# Winfree's FitzHugh–Nagumo spiral parameters (β = 0.7, γ = 0.5, ε = 0.3 in
# $\partial_t u = (u - u^3/3 - v)/\varepsilon + \Delta u$, $\partial_t v = \varepsilon (u + \beta -
# \gamma v)$), which in this normalisation ($u = \sqrt3\,V$, $v = \sqrt3\,W$, time
# $t/\varepsilon$) read $a = 0.7/\sqrt3$, $b = 0.5$, $\tau = \varepsilon^2 = 0.09$: the rest state
# $V^* \approx -0.596$ sits just left of the knee $-1/\sqrt3$ of the cubic, a strongly excitable
# medium in which the free end of a broken wave curls up into a rotating spiral instead of
# retracting.
#
# **Cross-field protocol.** At $t = 0$ the half-plane $y < 0$ is excited ($V = 1$) and the
# half-plane $x > 0$ is refractory ($W = W^* + 1$). The excitation can only invade the quadrant
# $x < 0$, $y > 0$: the wave has a free end at the origin. As the refractory region recovers,
# the end curls round it, and a spiral forms that keeps rotating between the holes, sending
# waves that break on them.
#
# The measured number is the rotation period, read from the time series of $V$ at a few probe
# points (the times between successive upward crossings of $V = 0$). Before the spiral forms,
# the initial wave climbs the left half of the disc as a plane wave: its speed, from the
# arrival times at two probes above each other at x = −0.75, is compared with the planar pulse
# of the same medium on a fine 1D mesh, and both with the speed $c_0 = -3 v_2 \sqrt{D/2}$ of the
# front of the bistable equation with W frozen at $W^*$ ($v_2$ the middle root of
# $v - v^3 = W^*$), the pulse's limit for $\tau \to 0$.

# +
import os
import time
from pathlib import Path

import numpy as np
from mpi4py import MPI

from fem_fhn import neuron
from fem_fhn.analysis import FrontTracker
from fem_fhn.config import parse_config
from fem_fhn.io import write_json
from fem_fhn.params import FHNParameters
from fem_fhn.runner import run

# -

# ## Parameters
#
# $D = 2.5 \cdot 10^{-4}$: the fronts are about $\sqrt{2D} \approx 0.022$ wide, and the spiral's
# wavelength (≈ 0.5) fits a few times into the disc. The local model takes D from a kernel as
# its second moment, $\sigma = S s^2/2$ for a Gaussian of mass S and width s.

# +
CI = bool(os.environ.get("CI"))
params = FHNParameters(a=0.7 / np.sqrt(3.0), b=0.5, tau=0.09)
(v_rest, w_rest), *_ = neuron.equilibria(params)
assert neuron.classify(params) == "excitable"
D = 2.5e-4
width = 0.02
kernel = {"type": "gaussian", "width": width, "strength": 2.0 * D / width**2}
t_end = 30.0 if CI else 200.0
sample_dt = 0.5  # probe sampling interval
frames = 10 if CI else 40  # frames written to the field files and the GIF
probes = np.array([[0.0, -0.75], [-0.75, 0.0], [0.3, 0.7], [-0.75, 0.1], [-0.75, 0.35]])
climb = [3, 4]  # the probes that time the climbing plane wave
if MPI.COMM_WORLD.rank == 0:
    print(f"rest state V* = {v_rest:.4f}, W* = {w_rest:.4f}: {neuron.classify(params)}")
# -

# ## Mesh
#
# The bundled disc of radius 1 with holes of radius 0.2 at (0.45, 0) and (−0.25, ±0.4),
# meshed on the fly at $h = 0.012$ (about 23 000 nodes; $h = 0.02$ in CI runs).

mesh = {"source": "disc_holes", "h": 0.02 if CI else 0.012}

# ## Model
#
# `solver.model = "local"` selects the local limit, with ρ0 ≡ 1.

config = parse_config(
    {
        "mesh": mesh,
        "model": {"a": params.a, "b": params.b, "tau": params.tau},
        "kernel": kernel,
        "initial": {
            "V": f"1.0 if y < 0 else {v_rest}",
            "W": f"{w_rest + 1.0} if x > 0 else {w_rest}",
        },
        "time": {
            "t_end": t_end,
            "dt": 0.1,
            "scheme": "imex-ars222",
            "n_outputs": round(t_end / sample_dt),
        },
        "solver": {"model": "local"},
        # field files at every k-th sampling time, V and W at the probe points at every one
        "output": {
            "progress": False,
            "every": max(1, round(t_end / sample_dt) // frames),
            "probes": probes.tolist(),
        },
    }
)

# ## Solver
#
# IMEX ARS(2,2,2): the diffusion $M^{-1}A$ implicit (a Cholesky factor of $M + \gamma h A$, kept
# while the step is), the reaction explicit, so Δt = 0.1 is limited by the reaction only, not by
# the mesh size. `fem-fhn`'s own run loop records the probes (`[output] probes`) at every
# sampling time and writes the field files every `[output] every` samples.


def arrivals(times: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Times of the upward crossings of 0 (linear interpolation)."""
    up = np.nonzero((values[:-1] < 0) & (values[1:] >= 0))[0]
    return times[up] - values[up] * (times[up + 1] - times[up]) / (values[up + 1] - values[up])


def periods(times: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Intervals between successive upward crossings of 0."""
    return np.diff(arrivals(times, values))


# ## Output
#
# `out/demo_spiral_holes/`: `fields.bp` (ParaView: ADIOS2VTXReader), `fields.xdmf`,
# `vtk/fields.pvd`, `V.png` (last frame), `V.gif` (animation), `probes.csv` and `results.json`
# (the plane-wave speed and the periods).

out = Path("out/demo_spiral_holes")


def planar_speed(h: float = 0.0025, t_stop: float = 40.0) -> float:
    """Speed of the planar pulse of the same medium: the interval [0, 10] at mesh size h (a
    ninth of the front width), excited at its left end, its leading edge tracked
    (`analysis.FrontTracker`) and fitted after a quarter of the run; output in `planar/`."""
    trackers = []

    def track(setup):
        trackers.append(FrontTracker(setup.nodes, level=0.0, axis=0, which=-1))
        return trackers[-1]

    line = {
        "mesh": {"source": "interval", "h": h},
        "model": {"a": params.a, "b": params.b, "tau": params.tau},
        "kernel": kernel,
        "initial": {"V": f"1.0 if x < 0.05 else {v_rest}", "W": w_rest},
        "time": {"t_end": t_stop, "dt": 0.1, "scheme": "imex-ars222", "n_outputs": 40},
        "solver": {"model": "local"},
        "output": {"formats": [], "png": False, "gif": False, "progress": False},
    }
    run(parse_config(line), out / "planar", observers=[track])
    return trackers[0].speed(skip=t_stop / 4).speed


# ## Main loop

# +
start = time.perf_counter()
comm = MPI.COMM_WORLD
summary = run(config, out)
n_nodes = summary["mesh"]["nodes"]
c_planar = planar_speed()
if comm.rank == 0:
    print(f"{n_nodes} nodes")
    data = np.genfromtxt(out / "probes.csv", delimiter=",", names=True)
    times = data["t"]
    values = np.column_stack([data[f"V{j}"] for j in range(len(probes))])
    late = times >= min(50.0, t_end / 2)  # after the spiral has formed
    rotation = []
    for point, v in zip(probes, values.T, strict=True):
        T = periods(times[late], v[late])
        rotation.append(T)
        text = f"{T.mean():.2f} ± {T.std():.2f} ({T.size} periods)" if T.size else "no rotation yet"
        print(f"probe at ({point[0]:5.2f}, {point[1]:5.2f}): period {text}")
    (t_low, *_), (t_high, *_) = (arrivals(times, values[:, i]) for i in climb)
    c_plane = (probes[climb[1], 1] - probes[climb[0], 1]) / (t_high - t_low)
    v2 = np.sort(np.roots([-1.0, 0.0, 1.0, -w_rest]).real)[1]
    c_front = -3.0 * v2 * np.sqrt(D / 2.0)
    print(
        f"plane wave climbing x = -0.75: speed {c_plane:.5f} = {c_plane / c_planar:.3f} x the "
        f"planar pulse {c_planar:.5f} = {c_planar / c_front:.3f} x the frozen-W front speed "
        f"{c_front:.5f}"
    )
    write_json(
        out / "results.json",
        {
            "D": D,
            "rest_state": [v_rest, w_rest],
            "nodes": n_nodes,
            "h": mesh["h"],
            "climb_arrivals": [t_low, t_high],
            "climb_heights": probes[climb, 1],
            "c_plane": c_plane,
            "c_planar_1d": c_planar,
            "c_front_frozen_w": c_front,
            "probes": probes,
            "periods": rotation,
        },
        MPI.COMM_SELF,
    )
    print(f"wall time {time.perf_counter() - start:.1f} s; output in {out}/")
# -

# Every probe sees the same period: a single spiral drives the whole domain. Waves leaving the
# core break on the holes and reconnect behind them; the core itself keeps clear of the holes.
