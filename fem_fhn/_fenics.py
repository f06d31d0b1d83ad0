"""The one place where DOLFINx and PETSc are imported.

The PyPI wheel ``dolfinx-solver-real`` ships DOLFINx with its own PETSc/SLEPc and must be imported
before ``dolfinx`` or ``petsc4py``; a system install (e.g. the official DOLFINx Docker image) has no
such module and needs nothing. Every module of the package that needs DOLFINx imports it from here::

    from fem_fhn._fenics import dolfinx, fem, PETSc
"""

from __future__ import annotations

import importlib.util

HAS_DOLFINX_SOLVER = importlib.util.find_spec("dolfinx_solver") is not None
if HAS_DOLFINX_SOLVER:
    import dolfinx_solver  # noqa: F401  (sets up the bundled PETSc before dolfinx loads)

import dolfinx  # noqa: E402
import dolfinx.fem as fem  # noqa: E402
import dolfinx.io  # noqa: E402
import dolfinx.mesh  # noqa: E402
from petsc4py import PETSc  # noqa: E402

__all__ = ["HAS_DOLFINX_SOLVER", "PETSc", "dolfinx", "fem"]
