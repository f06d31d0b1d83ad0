"""The long strip Ω = [0, L] × [0, W], default L = 20, W = 1 (2D, for travelling fronts).

Geometry: an axis-aligned rectangle with corner (0, 0); area |Ω| = L·W = 20.
"""

from __future__ import annotations

import gmsh


def build(h: float, *, length: float = 20.0, width: float = 1.0) -> None:
    """Add the rectangle [0, length] × [0, width] to the current gmsh model.

    Args:
        h: Target mesh size (set globally by :func:`fem_fhn.meshes.generate`).
        length: L > 0 (along x).
        width: W > 0 (along y).
    """
    if not (length > 0 and width > 0):
        raise ValueError(f"length and width must be > 0, got length={length!r}, width={width!r}")
    gmsh.model.occ.addRectangle(0.0, 0.0, 0.0, length, width)


if __name__ == "__main__":
    from fem_fhn.meshes import main

    main("strip")
