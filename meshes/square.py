"""The square Ω = [0, a]², default a = 1 (the unit square, 2D).

Geometry: an axis-aligned square with corner (0, 0); area |Ω| = a².
"""

from __future__ import annotations

import gmsh


def build(h: float, *, side: float = 1.0) -> None:
    """Add the square [0, side]² to the current gmsh model.

    Args:
        h: Target mesh size (set globally by :func:`fem_fhn.meshes.generate`).
        side: a > 0.
    """
    if not side > 0:
        raise ValueError(f"side must be > 0, got side={side!r}")
    gmsh.model.occ.addRectangle(0.0, 0.0, 0.0, side, side)


if __name__ == "__main__":
    from fem_fhn.meshes import main

    main("square")
