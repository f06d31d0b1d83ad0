"""fem_fhn — FitzHugh–Nagumo dynamics from a single neuron to nonlocal reaction–diffusion.

    from fem_fhn import FHNParameters, neuron, kernels
    from fem_fhn.nonlocal_ import make_operator

The heavy pieces (DOLFINx meshes, models, the runner) are imported on first use, so
``import fem_fhn`` stays light (no DOLFINx, pyvista or matplotlib at import time).
"""

from __future__ import annotations

import importlib

from fem_fhn import kernels, neuron
from fem_fhn.params import FHNParameters, ParameterError

__version__ = "0.1.0"

_LAZY = {
    "NodalMesh": "fem_fhn.mesh",
    "load_mesh": "fem_fhn.mesh",
    "make_operator": "fem_fhn.nonlocal_",
    "NonlocalLaplacian": "fem_fhn.nonlocal_",
    "NonlocalFHN": "fem_fhn.macro",
    "WeightedNonlocalFHN": "fem_fhn.macro",
    "Stimulus": "fem_fhn.macro",
    "LocalFHN": "fem_fhn.macro.local_rd",
    "KineticFHN": "fem_fhn.kinetic",
    "APSplitting": "fem_fhn.kinetic",
    "NetworkFHN": "fem_fhn.network",
    "sample_particles": "fem_fhn.network",
    "dispersion": "fem_fhn.stability",
    "kinetic_dispersion": "fem_fhn.stability_kinetic",
    "make_integrator": "fem_fhn.timestepping",
    "Simulation": "fem_fhn.simulation",
    "load_config": "fem_fhn.config",
    "run": "fem_fhn.runner",
}

__all__ = ["FHNParameters", "ParameterError", "kernels", "neuron", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fem_fhn' has no attribute {name!r}")
