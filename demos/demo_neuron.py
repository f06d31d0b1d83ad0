# # The single FitzHugh–Nagumo neuron: excitable, oscillatory and bistable regimes
#
# One neuron obeys
#
# $$ v' = N(v) - w + I_{ext}, \qquad w' = \tau (v + a - b w), \qquad N(v) = v - v^3. $$
#
# Its equilibria lie on the intersection of the nullclines $w = N(v) + I_{ext}$ and
# $w = (v + a)/b$. With $a = 0.7/\sqrt3$, $b = 0.8$, $\tau = 0.08$ the rest state is stable
# (excitable) at $I_{ext} = 0$ and loses stability in Hopf bifurcations at
# $I_{ext} \approx 0.19127$ and $0.81910$; between them the neuron oscillates. With $a = 0$,
# $b = 2$ two stable states $v = \pm 1/\sqrt2$ coexist (bistable).
#
# This demo classifies the regimes, finds the Hopf currents and draws the phase planes. It also
# measures them: the currents where the rightmost eigenvalue of the rest state crosses the
# imaginary axis (root finding on the equilibrium branch), and the period of the small
# oscillations at each Hopf current, which is $2\pi/\omega_H$ with
# $\omega_H^2 = \det J = \tau(1 - \tau b^2)$.

# +
import os
from pathlib import Path

import numpy as np
from mpi4py import MPI
from scipy.optimize import brentq

from fem_fhn import FHNParameters, neuron
from fem_fhn.io import write_json
from fem_fhn.plot import phase_plane_figure

# -

# ## Parameters

# +
regimes = {
    "excitable": FHNParameters(a=0.7 / np.sqrt(3), b=0.8, tau=0.08, I_ext=0.0),
    "oscillatory": FHNParameters(a=0.7 / np.sqrt(3), b=0.8, tau=0.08, I_ext=0.5),
    "bistable": FHNParameters(a=0.0, b=2.0, tau=1.0, I_ext=0.0),
}
t_end = 60.0 if os.environ.get("CI") else 200.0
# -

# ## Mesh
#
# None: a single neuron has no space.

# ## Model
#
# The Hopf currents are where the trace of the Jacobian
# $J = \begin{pmatrix} 1 - 3v^2 & -1 \\ \tau & -\tau b\end{pmatrix}$ vanishes with $\det J > 0$.

hopf = neuron.hopf_currents(regimes["excitable"])
print("Hopf currents:", np.round(hopf, 5))

# ## Solver
#
# Trajectories are integrated with an adaptive high-order Runge–Kutta method (scipy DOP853).

# ## Output
#
# `out/demo_neuron/`: the phase planes `phase_<regime>.png` and `results.json` (the Hopf
# currents of the closed form and as measured, and the small-oscillation periods).

out = Path("out/demo_neuron")
out.mkdir(parents=True, exist_ok=True)
excitable = regimes["excitable"]
omega_h = np.sqrt(excitable.tau * (1.0 - excitable.tau * excitable.b**2))  # √det J at tr J = 0


def leading_real_part(current: float) -> float:
    """Real part of the rightmost eigenvalue of the excitable neuron's equilibrium at `current`."""
    p = excitable.replace(I_ext=current)
    (v, w), *_ = neuron.equilibria(p)
    return float(neuron.eigenvalues(p, v, w)[0].real)


def small_oscillation_period(current: float, amplitude: float = 1e-4) -> float:
    """Mean interval between upward crossings of v = v* of a trajectory started `amplitude`
    away from the equilibrium, over eight periods 2π/ω_H (crossings interpolated linearly
    between 20 001 output times)."""
    p = excitable.replace(I_ext=current)
    (v_eq, w_eq), *_ = neuron.equilibria(p)
    t, v, _ = neuron.trajectory(p, v_eq + amplitude, w_eq, 8 * 2 * np.pi / omega_h, 20001)
    dv = v - v_eq
    up = np.nonzero((dv[:-1] < 0) & (dv[1:] >= 0))[0]
    t_up = t[up] - dv[up] * (t[up + 1] - t[up]) / (dv[up + 1] - dv[up])
    return float(np.diff(t_up).mean())


# ## Main loop
#
# The measured Hopf currents: the two sign changes of the leading real part between
# $I_{ext} = 0$, $0.5$ (inside the oscillatory range) and $1$.

for name, p in regimes.items():
    regime = neuron.classify(p)
    eq = neuron.equilibria(p)
    print(f"{name:12s} classified as {regime:12s} equilibria v* = {np.round(eq[:, 0], 4)}")
    assert regime == name
    phase_plane_figure(p, out / f"phase_{name}.png", t_end=t_end)
print(f"phase planes written to {out}/")

measured = [brentq(leading_real_part, lo, hi, xtol=1e-13) for lo, hi in ((0, 0.5), (0.5, 1))]
periods = [small_oscillation_period(current) for current in hopf]
print(f"Hopf currents measured (leading eigenvalue crosses 0): {np.round(measured, 5)}")
print(
    f"small-oscillation periods {np.round(periods, 4)}, 2 pi / omega_H = {2 * np.pi / omega_h:.4f}"
)
write_json(
    out / "results.json",
    {
        "params": {"a": excitable.a, "b": excitable.b, "tau": excitable.tau},
        "hopf_currents": hopf,
        "hopf_currents_measured": measured,
        "small_oscillation_periods": periods,
        "hopf_period": 2 * np.pi / omega_h,
    },
    MPI.COMM_WORLD,
)
