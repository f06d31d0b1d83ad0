"""A folded, cortex-like band (2D): a ribbon with gyri and sulci.

Geometry (vertical-offset construction), defaults L = 4, A = 0.4, k = 3, T = 0.3::

    bottom curve   y_b(x) = A sin(2π k x / L),        0 ≤ x ≤ L
    top curve      y_t(x) = y_b(x) + T
    domain         Ω = {(x, y): 0 ≤ x ≤ L,  y_b(x) ≤ y ≤ y_t(x)}

closed by the vertical segments x = 0 and x = L. Both curves are OpenCASCADE interpolating
splines through the same ``SAMPLES_PER_WAVE · k + 1`` abscissae x_i = i L / (SAMPLES_PER_WAVE k),
the top one through the points shifted by (0, T), so the top spline is exactly the translate of
the bottom one. Every vertical section of Ω then has length T and the area is exactly

    |Ω| = L · T   (= 1.2 for the defaults),

independent of the shape of the bottom curve. The thickness measured along the normal is
T / √(1 + y_b'(x)²): from T at the crests and troughs down to T / √(1 + (2π k A / L)²) ≈ 0.141 on
the steepest flanks for the defaults. A normal offset of thickness T would self-intersect for the
defaults (T exceeds the minimal radius of curvature L² / (4π² k² A) ≈ 0.113).
"""

from __future__ import annotations

import math

import gmsh

SAMPLES_PER_WAVE = 32
"""Spline interpolation points per period of the sine."""


def build(
    h: float,
    *,
    length: float = 4.0,
    amplitude: float = 0.4,
    waves: int = 3,
    thickness: float = 0.3,
) -> None:
    """Add the folded band to the current gmsh model.

    Args:
        h: Target mesh size (set globally by :func:`fem_fhn.meshes.generate`).
        length: L > 0, horizontal extent.
        amplitude: A ≥ 0, amplitude of the folds.
        waves: k ≥ 1, number of full periods over [0, L].
        thickness: T > 0, vertical thickness of the band.
    """
    if not (length > 0 and thickness > 0 and amplitude >= 0 and int(waves) == waves >= 1):
        raise ValueError(
            "need length > 0, thickness > 0, amplitude >= 0 and an integer waves >= 1, got "
            f"length={length!r}, thickness={thickness!r}, amplitude={amplitude!r}, "
            f"waves={waves!r}"
        )
    occ = gmsh.model.occ
    n = SAMPLES_PER_WAVE * int(waves)
    xs = [length * i / n for i in range(n + 1)]
    ys = [amplitude * math.sin(2.0 * math.pi * waves * x / length) for x in xs]
    bottom_pts = [occ.addPoint(x, y, 0.0, h) for x, y in zip(xs, ys, strict=True)]
    top_pts = [occ.addPoint(x, y + thickness, 0.0, h) for x, y in zip(xs, ys, strict=True)]
    bottom = occ.addSpline(bottom_pts)
    top = occ.addSpline(top_pts[::-1])
    right = occ.addLine(bottom_pts[-1], top_pts[-1])
    left = occ.addLine(top_pts[0], bottom_pts[0])
    occ.remove([(0, p) for p in bottom_pts[1:-1] + top_pts[1:-1]])
    occ.addPlaneSurface([occ.addCurveLoop([bottom, right, top, left])])


if __name__ == "__main__":
    from fem_fhn.meshes import main

    main("folded")
