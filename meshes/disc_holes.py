"""A disc with three circular holes (2D, not simply connected).

Geometry: the disc |x| ≤ R (default R = 1) minus the open discs |x − c_i| < ρ (default
ρ = 0.2) centred at c_1 = (0.45, 0), c_2 = (−0.25, 0.4), c_3 = (−0.25, −0.4), built by an
OpenCASCADE boolean cut. The holes must lie inside the disc and not overlap; then the area is
|Ω| = π (R² − 3 ρ²) = 0.88 π ≈ 2.7646 for the defaults.
"""

from __future__ import annotations

import math

import gmsh

HOLE_CENTRES: tuple[tuple[float, float], ...] = ((0.45, 0.0), (-0.25, 0.4), (-0.25, -0.4))


def build(
    h: float,
    *,
    radius: float = 1.0,
    hole_radius: float = 0.2,
    hole_centres: tuple[tuple[float, float], ...] = HOLE_CENTRES,
) -> None:
    """Add the disc of ``radius`` with holes of ``hole_radius`` at ``hole_centres``.

    Args:
        h: Target mesh size (set globally by :func:`fem_fhn.meshes.generate`).
        radius: R > 0, disc centred at the origin.
        hole_radius: ρ > 0.
        hole_centres: Centres (x, y) of the holes; each hole must lie inside the disc.
    """
    if not (radius > 0 and hole_radius > 0):
        raise ValueError(f"radii must be > 0, got radius={radius!r}, hole_radius={hole_radius!r}")
    for cx, cy in hole_centres:
        if math.hypot(cx, cy) + hole_radius >= radius:
            raise ValueError(f"hole at {(cx, cy)} with radius {hole_radius} leaves the disc")
    occ = gmsh.model.occ
    disc = occ.addDisk(0.0, 0.0, 0.0, radius, radius)
    holes = [(2, occ.addDisk(cx, cy, 0.0, hole_radius, hole_radius)) for cx, cy in hole_centres]
    if holes:
        occ.cut([(2, disc)], holes)


if __name__ == "__main__":
    from fem_fhn.meshes import main

    main("disc_holes")
