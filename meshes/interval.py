"""The interval Ω = [0, L], default L = 10 (1D).

Geometry: one line from (0, 0, 0) to (L, 0, 0); boundary {0, L}; length |Ω| = L.
"""

from __future__ import annotations

import gmsh


def build(h: float, *, length: float = 10.0) -> None:
    """Add the interval [0, length] to the current gmsh model.

    Args:
        h: Target mesh size (set globally by :func:`fem_fhn.meshes.generate`).
        length: L > 0.
    """
    if not length > 0:
        raise ValueError(f"length must be > 0, got length={length!r}")
    occ = gmsh.model.occ
    occ.addLine(occ.addPoint(0.0, 0.0, 0.0, h), occ.addPoint(length, 0.0, 0.0, h))


if __name__ == "__main__":
    from fem_fhn.meshes import main

    main("interval")
