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
# This demo classifies the regimes, finds the Hopf currents and draws the phase planes.

# +
import os
from pathlib import Path

import numpy as np

from fem_fhn import FHNParameters, neuron
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

out = Path("out/demo_neuron")
out.mkdir(parents=True, exist_ok=True)

# ## Main loop

for name, p in regimes.items():
    regime = neuron.classify(p)
    eq = neuron.equilibria(p)
    print(f"{name:12s} classified as {regime:12s} equilibria v* = {np.round(eq[:, 0], 4)}")
    assert regime == name
    phase_plane_figure(p, out / f"phase_{name}.png", t_end=t_end)
print(f"phase planes written to {out}/")
