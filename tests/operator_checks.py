"""What the tests of the fast nonlocal methods share: probe vectors and the error measure."""

import numpy as np


def probes(points: np.ndarray) -> np.ndarray:
    """Two columns: signed random values and a smooth positive field."""
    rng = np.random.default_rng(5)
    smooth = 1.5 + np.sin(3 * points[:, 0]) * np.cos(2 * points[:, -1])
    return np.column_stack([rng.standard_normal(len(points)), smooth])


def partition_probes(points: np.ndarray) -> np.ndarray:
    """Two columns that depend on the coordinates only (the same for any partition)."""
    x, y = points[:, 0], points[:, -1]
    rough = np.sin(997.0 * x + 389.0 * y) + np.cos(613.0 * x * y)
    return np.column_stack([rough, 1.5 + np.sin(3 * x) * np.cos(2 * y)])


def error_ratio(approx: np.ndarray, reference, u: np.ndarray) -> float:
    """max over columns of ‖K̃u − Ku‖∞ / max_i Σ_j |Ψ_ij| w_j |u_j| (reference: a DenseOperator)."""
    exact = reference.apply(u)
    scale = (np.abs(reference.matrix) @ np.abs(u)).max(axis=0)
    return float(np.max(np.abs(approx - exact).max(axis=0) / scale))
