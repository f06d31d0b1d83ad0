"""The solid torus in 3D, default major radius R = 1, minor radius r = 0.35.

Geometry: the points at distance ≤ r from the circle of radius R in the plane z = 0 centred at
the origin (axis of revolution: z), i.e. (√(x² + y²) − R)² + z² ≤ r², with 0 < r < R.
Volume |Ω| = 2π² R r² (≈ 2.4179 for the defaults); the tetrahedral mesh is an inscribed
polyhedron, so its volume is slightly smaller (O(h²) relative).
"""

from __future__ import annotations

import gmsh


def build(h: float, *, major_radius: float = 1.0, minor_radius: float = 0.35) -> None:
    """Add the solid torus to the current gmsh model.

    Args:
        h: Target mesh size (set globally by :func:`fem_fhn.meshes.generate`).
        major_radius: R, distance from the axis to the centre of the tube.
        minor_radius: r, radius of the tube, 0 < r < R.
    """
    if not 0 < minor_radius < major_radius:
        raise ValueError(
            "need 0 < minor_radius < major_radius, got "
            f"minor_radius={minor_radius!r}, major_radius={major_radius!r}"
        )
    gmsh.model.occ.addTorus(0.0, 0.0, 0.0, major_radius, minor_radius)


if __name__ == "__main__":
    from fem_fhn.meshes import main

    main("torus")
