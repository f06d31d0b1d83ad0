"""The ball Ω = {|x| ≤ R} in 3D, default R = 1 (the unit ball).

Geometry: an OpenCASCADE sphere centred at the origin; volume |Ω| = 4π R³/3. The tetrahedral
mesh is an inscribed polyhedron, so its volume is slightly smaller (O(h²) relative).
"""

from __future__ import annotations

import gmsh


def build(h: float, *, radius: float = 1.0) -> None:
    """Add the ball of ``radius`` centred at the origin to the current gmsh model.

    Args:
        h: Target mesh size (set globally by :func:`fem_fhn.meshes.generate`).
        radius: R > 0.
    """
    if not radius > 0:
        raise ValueError(f"radius must be > 0, got radius={radius!r}")
    gmsh.model.occ.addSphere(0.0, 0.0, 0.0, radius)


if __name__ == "__main__":
    from fem_fhn.meshes import main

    main("ball")
