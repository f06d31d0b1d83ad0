"""Space-filling-curve (Morton, Z-order) ordering of points, for memory locality.

The Morton key of a point interleaves the bits of its coordinates quantised on a 2^b grid over
the points' bounding box (b = 21 bits per axis, 63 bits in 3D): points close in the key are
close in space, so sparse matrices whose rows and columns follow the key (the network's
short-range graph) read their vector entries from nearby memory, and so do the NUFFT's spreading
and interpolation. Only the storage order changes: the permutation is applied and undone around
the computation, never visible to the caller.
"""

from __future__ import annotations

import numpy as np

__all__ = ["morton_order"]

BITS = 21


def morton_order(points: np.ndarray) -> np.ndarray:
    """The permutation p that sorts `points` (shape (n, d), d ≤ 3) along the Morton curve.

    Ties (equal keys) keep their input order, so the result depends on the points only.
    """
    points = np.asarray(points, dtype=float)
    if points.ndim == 1:
        points = points[:, None]
    n, d = points.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    low, high = points.min(axis=0), points.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    top = (1 << BITS) - 1
    grid = np.minimum((points - low) / span * (top + 1), top).astype(np.uint64)
    key = np.zeros(n, dtype=np.uint64)
    for bit in range(BITS):
        for axis in range(d):
            value = (grid[:, axis] >> np.uint64(bit)) & np.uint64(1)
            key |= value << np.uint64(d * bit + axis)
    return np.argsort(key, kind="stable")
