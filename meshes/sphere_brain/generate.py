"""A made-up brain on a sphere: the small surface, region mapping and connectivity that
`demos/demo_cortex.py` runs on with ``CI=1``, in The Virtual Brain's file formats.

    python meshes/sphere_brain/generate.py      # rewrites the three files next to this script

- ``cortex.zip``: ``vertices.txt`` (mm, 6 decimals) and ``triangles.txt`` of the level-4
  icosphere of radius 60 mm (2 562 vertices, outward normals).
- ``region_mapping.txt``: one region per vertex, 8 regions: four bands of the polar angle θ
  from the north pole (0–60°, 60–90°, 90–120°, 120–180°), each split into a left (x < 0) and a
  right (x ≥ 0) half, numbered band × 2 + (right).
- ``connectivity.zip``: ``weights.txt``, ``tract_lengths.txt`` (mm) and ``centres.txt`` (region
  name and the mean position of its vertices). W[k, l] is the weight of the input of region k
  from region l. Each left half and its right twin feed each other (weight 1, 20 mm), and the
  second band (60–90°) feeds the south cap (120–180°) on the same side (weight 1, 120 mm, one
  way): a long tract that reaches the cap long before a front travelling over the sphere does.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from fem_fhn.surface import icosphere

HERE = Path(__file__).resolve().parent
RADIUS_MM = 60.0
LEVEL = 4
#: upper edges (degrees) of the bands of the polar angle
BANDS_DEG = (60.0, 90.0, 120.0, 180.0)
#: (target region, source region, weight, tract length in mm) of each link
LINKS = (
    *((2 * k + side, 2 * k + 1 - side, 1.0, 20.0) for k in range(4) for side in (0, 1)),
    (6, 2, 1.0, 120.0),  # band 60-90 deg -> south cap, left
    (7, 3, 1.0, 120.0),  # the same, right
)


def region_of(vertices: np.ndarray) -> np.ndarray:
    """Band of the polar angle × 2 + (x >= 0) for each vertex."""
    theta = np.degrees(np.arccos(np.clip(vertices[:, 2] / RADIUS_MM, -1.0, 1.0)))
    band = np.searchsorted(np.asarray(BANDS_DEG), theta, side="right").clip(0, len(BANDS_DEG) - 1)
    return 2 * band + (vertices[:, 0] >= 0.0)


def text(array: np.ndarray, fmt: str) -> str:
    """A 2D array as whitespace-separated text."""
    buffer = io.StringIO()
    np.savetxt(buffer, array, fmt=fmt)
    return buffer.getvalue()


def main() -> None:
    """Write cortex.zip, region_mapping.txt and connectivity.zip next to this script."""
    sphere = icosphere(LEVEL, RADIUS_MM)
    vertices = np.round(sphere.vertices, 6)
    labels = region_of(vertices)
    n = 2 * len(BANDS_DEG)
    weights, lengths = np.zeros((n, n)), np.zeros((n, n))
    for target, source, weight, length in LINKS:
        weights[target, source] = weight
        lengths[target, source] = lengths[source, target] = length
    names = [f"band{k // 2}_{'right' if k % 2 else 'left'}" for k in range(n)]
    centres = "".join(
        f"{name} {' '.join(f'{c:.3f}' for c in vertices[labels == k].mean(axis=0))}\n"
        for k, name in enumerate(names)
    )
    options = {"compression": zipfile.ZIP_DEFLATED, "compresslevel": 9}
    with zipfile.ZipFile(HERE / "cortex.zip", "w", **options) as archive:
        archive.writestr("vertices.txt", text(vertices, "%.6f"))
        archive.writestr("triangles.txt", text(sphere.triangles, "%d"))
    (HERE / "region_mapping.txt").write_text(text(labels[None, :], "%d"))
    with zipfile.ZipFile(HERE / "connectivity.zip", "w", **options) as archive:
        archive.writestr("weights.txt", text(weights, "%g"))
        archive.writestr("tract_lengths.txt", text(lengths, "%g"))
        archive.writestr("centres.txt", centres)


if __name__ == "__main__":
    main()
