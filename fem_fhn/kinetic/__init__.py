"""Kinetic FitzHugh–Nagumo model (docs/science.md): velocity grid, transport and relaxation kernels
(numba, with numpy twins), moments, initial densities, the asymptotic-preserving splitting and
the hydrodynamic-limit diagnostics.

    grid = suggest_grid(params, n_v=64, n_w=32)
    model = KineticFHN(nodes, params, op, grid, eps=1e-3, rho0=rho0)
    f = model.state(V0, W0, sigma_v=0.2, sigma_w=0.2)
    t, f, n = APSplitting(dt=model.max_stable_dt()).advance(model, 0.0, f, 10.0)
    model.fields_of(f)      # V, W, rho, var_v, var_w and the limit diagnostics
                            # (dissipation, error_term, moment4, moment6: kinetic.diagnostics)
"""

from fem_fhn.kinetic.grid import VelocityGrid, check_invariance, invariance_margins, suggest_grid
from fem_fhn.kinetic.initial import from_function, from_moments
from fem_fhn.kinetic.limit import fit_rate, relative_entropy
from fem_fhn.kinetic.model import KineticFHN
from fem_fhn.kinetic.moments import MOMENT_NAMES, moments, moments_numpy
from fem_fhn.kinetic.stepper import APSplitting

__all__ = [
    "MOMENT_NAMES",
    "APSplitting",
    "KineticFHN",
    "VelocityGrid",
    "check_invariance",
    "fit_rate",
    "from_function",
    "from_moments",
    "invariance_margins",
    "moments",
    "moments_numpy",
    "relative_entropy",
    "suggest_grid",
]
