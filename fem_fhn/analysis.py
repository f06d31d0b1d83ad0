"""Post-processing of fields and runs: front tracking and convergence-rate fits.

Front position. For a P1 field u the level set {u = level} crosses the mesh edge (i, j) where
u_i − level and u_j − level differ in sign (u_i = level counts as above), at the linearly
interpolated point x_i + θ (x_j − x_i), θ = (u_i − level)/(u_i − u_j). These crossing points lie on
the level set of the P1 interpolant. Their coordinates along `axis`, gathered over the ranks and
sorted, are split into fronts wherever consecutive ones are more than `separation` apart, and each
front's position is the mean coordinate of its crossing points — on a 2D/3D strip, the mean x of
the crossing over the cross-section (an edge-sampled, not length-weighted, mean: for a flat front
both agree up to the O(h²) interpolation error). In 1D the edges are the cells, so the positions are
the exact zeros of the P1 interpolant.

Front speed: the least-squares line through (t, position), `front_speed`. Convergence rates: the
least-squares line through (log h, log error), `convergence_rate`. Pattern wavenumber:
`dominant_wavenumber`, the peak of the ring-averaged power spectrum of the nodal data.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from mpi4py import MPI

from fem_fhn.parallel import bounding_box, gather_rows
from fem_fhn.params import ParameterError

__all__ = [
    "ENTROPY_PARTS",
    "entropy_split",
    "relative_entropy",
    "FrontTracker",
    "MeshEdges",
    "RateFit",
    "SpeedFit",
    "convergence_rate",
    "dominant_wavenumber",
    "front_positions",
    "front_speed",
]


def _crossings(x: np.ndarray, s: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Points (rows of x) where s changes sign along the segments (i, j), linearly interpolated."""
    cut = (s[i] >= 0) != (s[j] >= 0)
    i, j = i[cut], j[cut]
    theta = s[i] / (s[i] - s[j])
    return x[i] + theta[:, None] * (x[j] - x[i])


def front_positions(
    coords: np.ndarray,
    values: np.ndarray,
    level: float = 0.0,
    axis: int = 0,
    *,
    edges: np.ndarray | None = None,
    separation: float | None = None,
    comm: MPI.Comm | None = None,
) -> np.ndarray:
    """Positions along `axis` where a P1 field crosses `level` (module docstring), sorted.

    Collective over `comm` when it has several ranks; every rank gets the same result.

    Args:
        coords: node coordinates, shape (n, d) or (n,).
        values: nodal values, shape (n,).
        level: the level whose crossings are sought.
        axis: coordinate axis along which positions are measured.
        edges: (m, 2) row indices of coords/values joined by a mesh edge, each edge listed on one
            rank only (`MeshEdges` builds them, with ghost nodes). Without edges the points are
            samples along a line (1D meshes, probes): they are gathered over `comm`, sorted by
            their `axis` coordinate, and consecutive samples are joined.
        separation: crossings closer than this belong to one front. Default: 0 for 1D data (every
            crossing is a front), three times the longest edge otherwise.
        comm: communicator of distributed data (default: none, the arrays are complete).

    Returns:
        The front positions, ascending (empty if the field does not cross the level).
    """
    comm = MPI.COMM_SELF if comm is None else comm
    coords = np.asarray(coords, dtype=float)
    coords = coords[:, None] if coords.ndim == 1 else coords
    values = np.asarray(values, dtype=float)
    if values.shape != (coords.shape[0],) or not 0 <= axis < coords.shape[1]:
        raise ParameterError(
            f"front_positions: values {values.shape} and axis {axis} do not match coords "
            f"{coords.shape} (expected values (n,) and 0 <= axis < d)"
        )
    if edges is None:
        coords = gather_rows(comm, coords)
        s = gather_rows(comm, values) - level
        order = np.argsort(coords[:, axis], kind="stable")
        points = _crossings(coords, s, order[:-1], order[1:])[:, axis]
        longest = float(np.max(np.diff(coords[order, axis]), initial=0.0))
    else:
        edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        local = _crossings(coords, values - level, edges[:, 0], edges[:, 1])[:, axis]
        points = np.concatenate(comm.allgather(local))
        lengths = np.linalg.norm(coords[edges[:, 0]] - coords[edges[:, 1]], axis=1)
        longest = comm.allreduce(float(lengths.max(initial=0.0)), op=MPI.MAX)
    if separation is None:
        separation = 0.0 if coords.shape[1] == 1 else 3.0 * longest
    points = np.sort(points)
    if points.size == 0:
        return points
    groups = np.split(points, np.nonzero(np.diff(points) > separation)[0] + 1)
    return np.array([g.mean() for g in groups])


class MeshEdges:
    """The edges of a simplex P1 mesh owned by this rank, as rows of the local (owned + ghost)
    nodes.

    Attributes:
        coords: coordinates of the local P1 nodes, owned then ghosts, shape (n_local, d).
        edges: (m, 2) local node indices of the owned edges (each mesh edge on exactly one rank).
    """

    def __init__(self, nodes):
        from fem_fhn._fenics import fem

        mesh, space = nodes.mesh, nodes.space
        tdim = mesh.topology.dim
        cell = mesh.topology.cell_type.name
        if cell not in ("interval", "triangle", "tetrahedron"):
            raise ParameterError(f"MeshEdges: cell type {cell!r} is not allowed: simplices only")
        mesh.topology.create_entities(1)
        mesh.topology.create_connectivity(1, 0)
        mesh.topology.create_connectivity(tdim, 0)
        n_edges = mesh.topology.index_map(1).size_local
        edge_vertices = mesh.topology.connectivity(1, 0).array.reshape(-1, 2)[:n_edges]
        cell_vertices = mesh.topology.connectivity(tdim, 0).array.reshape(-1, tdim + 1)
        layout = space.dofmap.dof_layout
        cell_dofs = space.dofmap.list
        n_vertices = mesh.topology.index_map(0).size_local + mesh.topology.index_map(0).num_ghosts
        vertex_to_dof = np.full(n_vertices, -1, dtype=np.int64)
        for local in range(tdim + 1):
            vertex_to_dof[cell_vertices[:, local]] = cell_dofs[:, layout.entity_dofs(0, local)[0]]
        self.comm = nodes.comm
        self.n_owned = nodes.n_owned
        self.edges = vertex_to_dof[edge_vertices]
        self.coords = space.tabulate_dof_coordinates()[:, : mesh.geometry.dim].copy()
        self._u = fem.Function(space)

    def local_values(self, owned: np.ndarray) -> np.ndarray:
        """Owned nodal values extended by the ghost values (a scatter)."""
        self._u.x.array[: self.n_owned] = owned
        self._u.x.scatter_forward()
        return self._u.x.array.copy()

    def front_positions(self, owned: np.ndarray, level: float = 0.0, axis: int = 0, **kwargs):
        """`front_positions` of the field with these owned values (collective)."""
        values = self.local_values(owned)
        return front_positions(
            self.coords, values, level, axis, edges=self.edges, comm=self.comm, **kwargs
        )


class FrontTracker:
    """Observer recording (t, position) of one front of a named field at each output time.

    Args:
        nodes: a `NodalMesh` (the crossings are found on its edges, under MPI too), or None for
            1D sample points given by `coords`.
        level: level of the front.
        axis: axis along which the position is measured.
        field: the name of the field (an `Output`'s fields; default V).
        which: index of the front among the sorted positions (0: the one at the smallest
            coordinate, −1: the largest); NaN is recorded when there are not enough fronts.
        coords: sample-point coordinates (owned rows) when `nodes` is None.
        comm: communicator of `coords` (default COMM_SELF).
        separation: passed to `front_positions`.

    Attributes:
        records: list of (t, position); `all_positions`: every front found at each call.
    """

    def __init__(
        self,
        nodes=None,
        *,
        level: float = 0.0,
        axis: int = 0,
        field: str = "V",
        which: int = 0,
        coords: np.ndarray | None = None,
        comm: MPI.Comm | None = None,
        separation: float | None = None,
    ):
        if (nodes is None) == (coords is None):
            raise ParameterError("FrontTracker needs either a NodalMesh or sample coords")
        self.edges = None if nodes is None else MeshEdges(nodes)
        self.coords, self.comm = coords, comm
        self.level, self.axis, self.field, self.which = level, axis, field, which
        self.separation = separation
        self.records: list[tuple[float, float]] = []
        self.all_positions: list[np.ndarray] = []

    def positions_of(self, values: np.ndarray) -> np.ndarray:
        if self.edges is not None:
            return self.edges.front_positions(
                values, self.level, self.axis, separation=self.separation
            )
        return front_positions(
            self.coords,
            values,
            self.level,
            self.axis,
            separation=self.separation,
            comm=self.comm,
        )

    def __call__(self, output) -> None:
        """Record the front of the field at an output time (`fem_fhn.simulation.Output`)."""
        self.record(output.t, output.fields[self.field])

    def record(self, t: float, values: np.ndarray) -> None:
        """Record the front of the field with these owned values at time t (collective)."""
        positions = self.positions_of(np.asarray(values))
        self.all_positions.append(positions)
        index = self.which if self.which >= 0 else positions.size + self.which
        ok = 0 <= index < positions.size
        self.records.append((float(t), float(positions[index]) if ok else math.nan))

    @property
    def times(self) -> np.ndarray:
        return np.array([t for t, _ in self.records])

    @property
    def positions(self) -> np.ndarray:
        return np.array([x for _, x in self.records])

    def speed(self, skip: float = 0.0) -> SpeedFit:
        """`front_speed` of the recorded positions."""
        return front_speed(self.times, self.positions, skip=skip)


class SpeedFit(NamedTuple):
    """position ≈ x0 + speed · t; residual = RMS distance of the positions from that line."""

    speed: float
    x0: float
    residual: float


class RateFit(NamedTuple):
    """error ≈ constant · h^rate; residual = RMS of the log-residuals (0 for an exact power law)."""

    rate: float
    constant: float
    residual: float


def _line(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    A = np.column_stack([x, np.ones_like(x)])
    (slope, intercept), *_ = np.linalg.lstsq(A, y, rcond=None)
    residual = float(np.sqrt(np.mean((y - A @ np.array([slope, intercept])) ** 2)))
    return float(slope), float(intercept), residual


def front_speed(times, positions, skip: float = 0.0) -> SpeedFit:
    """Least-squares speed of a front: the slope of the line through (t, position).

    Args:
        times: record times.
        positions: front positions (NaN entries, e.g. no front found, are left out).
        skip: length of the initial time span left out (the transient from the initial data).

    Raises:
        ParameterError: if fewer than 2 usable points remain.
    """
    t = np.asarray(times, dtype=float)
    x = np.asarray(positions, dtype=float)
    if t.shape != x.shape or t.ndim != 1:
        raise ParameterError(f"times {t.shape} and positions {x.shape} must be 1D of equal length")
    keep = np.isfinite(x) & np.isfinite(t)
    if keep.any():
        keep &= t >= t[keep].min() + skip
    if keep.sum() < 2:
        raise ParameterError(
            f"front_speed: {int(keep.sum())} usable point(s) after skip = {skip!r}, need at least 2"
        )
    return SpeedFit(*_line(t[keep], x[keep]))


def relative_entropy(
    masses: np.ndarray,
    rho0: np.ndarray,
    V: np.ndarray,
    W: np.ndarray,
    V_eps: np.ndarray,
    W_eps: np.ndarray,
    comm: MPI.Comm | None = None,
) -> float:
    """Σ_i m_i ρ0_i (|V_i − V^ε_i|² + |W_i − W^ε_i|²)/2 over the owned nodes of all ranks."""
    local = float(np.sum(_entropy_density(masses, rho0, V, W, V_eps, W_eps)))
    return local if comm is None else float(comm.allreduce(local, op=MPI.SUM))


def _entropy_density(masses, rho0, V, W, V_eps, W_eps) -> np.ndarray:
    """m_i ρ0_i (|V_i − V^ε_i|² + |W_i − W^ε_i|²)/2 at each owned node."""
    return 0.5 * masses * rho0 * ((V - V_eps) ** 2 + (W - W_eps) ** 2)


ENTROPY_PARTS = ("entropy_rho0_gt_eta", "entropy_rho0_le_eta", "entropy_rho0_zero")


def entropy_split(
    masses: np.ndarray,
    rho0: np.ndarray,
    V: np.ndarray,
    W: np.ndarray,
    V_eps: np.ndarray,
    W_eps: np.ndarray,
    eta: float,
    comm: MPI.Comm | None = None,
) -> dict[str, float]:
    """`relative_entropy` split over the nodes with ρ0 > η, 0 < ρ0 ≤ η and ρ0 = 0.

    The three sums partition the nodes, so they add up to the total (to round-off). The part on
    ρ0 = 0 is 0 by its weight: where the density vanishes f = 0, V^ε = W^ε = 0 by the moments'
    convention (and V = W = 0 in the ρ0-weighted macroscopic form); it is reported so that the
    split is complete.

    Returns:
        {name: H over its nodes} for the ENTROPY_PARTS (ρ0 > η, 0 < ρ0 ≤ η, ρ0 = 0).
    """
    rho0 = np.asarray(rho0, dtype=float)
    density = _entropy_density(masses, rho0, V, W, V_eps, W_eps)
    masks = (rho0 > eta, (rho0 > 0) & (rho0 <= eta), rho0 == 0)
    local = np.array([float(np.sum(density[mask])) for mask in masks])
    total = local if comm is None else comm.allreduce(local, op=MPI.SUM)
    return {name: float(h) for name, h in zip(ENTROPY_PARTS, total, strict=True)}


def convergence_rate(h, errors) -> RateFit:
    """Observed order: least-squares slope of log(error) against log(h).

    Raises:
        ParameterError: for fewer than 2 points, or non-positive h or errors.
    """
    h = np.asarray(h, dtype=float)
    e = np.asarray(errors, dtype=float)
    ok = h.shape == e.shape and h.ndim == 1 and h.size >= 2
    if not ok or not (np.all(h > 0) and np.all(e > 0) and np.all(np.isfinite(e))):
        raise ParameterError(
            f"convergence_rate: h = {h.tolist()} and errors = {e.tolist()} must be equally long "
            "(at least 2) and positive"
        )
    rate, log_c, residual = _line(np.log(h), np.log(e))
    return RateFit(rate, float(np.exp(log_c)), residual)


def _k_points(dim: int, radii: np.ndarray, dk: float) -> tuple[np.ndarray, np.ndarray]:
    """Wave vectors on rings |k| = radii (half-plane in 2D, spacing ≤ dk), and their ring index."""
    if dim == 1:
        return radii[:, None], np.arange(radii.size)
    counts = np.maximum(8, np.ceil(math.pi * radii / dk)).astype(int)
    ring = np.repeat(np.arange(radii.size), counts)
    angle = np.concatenate([math.pi * np.arange(c) / c for c in counts])
    return np.column_stack([radii[ring] * np.cos(angle), radii[ring] * np.sin(angle)]), ring


def dominant_wavenumber(
    coords: np.ndarray,
    values: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    k_max: float | None = None,
    resolution: int = 2,
    comm: MPI.Comm | None = None,
) -> float:
    """|k| of the strongest spatial mode of a 1D or 2D field (a Turing pattern's wavenumber).

    The windowed Fourier transform of the nodal data is evaluated directly (no interpolation),

        F(k) = Σ_j m_j H(x_j) (u_j − ū) e^{−i k·x_j},     ū = Σ m_j H u_j / Σ m_j H,

    with the quadrature weights m_j (lumped masses; default equal weights) and the Hann window H of
    the bounding box (sides L_i, L = max L_i). Its power |F|² is averaged over rings |k| = κ
    spaced by dk = 2π/(resolution·L), from 4π/L (wavelengths longer than half the box are left
    out) to k_max (default π/h, h = (box volume / number of nodes)^{1/d}), and the result is the
    power-weighted mean κ over the rings within ±25 % of the strongest ring. The resolution is
    limited by the box: use boxes of several wavelengths, with sides of similar length (a ring
    mixes directions, so a long thin box blurs it: sample such fields along a line and pass 1D
    data). Cost: nodes × ring points
    (≈ π k_max²/(2 dk²) in 2D).

    Args:
        coords: owned node coordinates, (n, d) with d = 1 or 2.
        values: owned nodal values.
        weights: owned quadrature weights (e.g. `NodalMesh.masses`).
        k_max: largest wavenumber examined.
        resolution: rings per 2π/L.
        comm: communicator of distributed data (collective; default: none).
    """
    comm = MPI.COMM_SELF if comm is None else comm
    coords = np.asarray(coords, dtype=float)
    coords = coords[:, None] if coords.ndim == 1 else coords
    values = np.asarray(values, dtype=float)
    d = coords.shape[1]
    if d not in (1, 2):
        raise ParameterError(f"dominant_wavenumber: dimension {d} is not allowed: 1 or 2")
    f, sides = _windowed(coords, values, weights, comm)
    side = float(sides.max())
    dk = 2 * math.pi / (resolution * side)
    if k_max is None:
        n_global = comm.allreduce(values.size)
        k_max = math.pi / (float(np.prod(sides)) / n_global) ** (1 / d)
    radii = np.arange(4 * math.pi / side, k_max + dk, dk)
    if radii.size == 0:
        allowed = f"a wavenumber above 4π/L = {4 * math.pi / side:g}"
        raise ParameterError(f"dominant_wavenumber: k_max = {k_max!r} is not allowed: {allowed}")
    power = _ring_spectrum(coords, f, radii, dk, comm)
    peak = radii[np.argmax(power)]
    near = np.abs(radii - peak) <= 0.25 * peak
    return float(np.sum(radii[near] * power[near]) / np.sum(power[near]))


# --------------------------------------------------------------------------- pattern growth


def ring_power(
    coords: np.ndarray,
    values: np.ndarray,
    radii: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    dk: float | None = None,
    comm: MPI.Comm | None = None,
) -> np.ndarray:
    """Ring-averaged power |F(k)|² of a 1D or 2D field at the wavenumbers |k| = radii.

    F is the windowed Fourier transform of `dominant_wavenumber` (Hann window of the bounding box,
    weighted mean removed), F(k) = Σ_j m_j H(x_j) (u_j − ū) e^{−i k·x_j}, averaged over
    wave vectors on each ring spaced by at most dk (default: the smallest gap between radii, or
    2π/(2L) for a single ring). For a mode u = A cos(k·x) with |k| on a ring, |F|² grows like
    A²: its square root follows the amplitude of the pattern's modes in that band, the quantity
    whose exponential growth rate is the linear growth rate of a Turing instability.

    Args:
        coords: owned node coordinates, (n, d) with d = 1 or 2.
        values: owned nodal values.
        radii: ring radii |k| > 0, shape (m,).
        weights: owned quadrature weights (e.g. `NodalMesh.masses`; default 1).
        dk: spacing of the wave vectors on a ring.
        comm: communicator of distributed data (collective; default: none).

    Returns:
        The mean of |F|² over each ring, shape (m,), the same on every rank.
    """
    comm = MPI.COMM_SELF if comm is None else comm
    coords = np.asarray(coords, dtype=float)
    coords = coords[:, None] if coords.ndim == 1 else coords
    values = np.asarray(values, dtype=float)
    radii = np.atleast_1d(np.asarray(radii, dtype=float))
    d = coords.shape[1]
    if d not in (1, 2) or radii.ndim != 1 or not np.all(radii > 0):
        raise ParameterError(
            f"ring_power: dimension {d} and radii {radii.tolist()} are not allowed: "
            "1D or 2D data and radii > 0"
        )
    f, sides = _windowed(coords, values, weights, comm)
    if dk is None:
        gaps = np.diff(np.sort(radii))
        dk = float(gaps.min()) if gaps.size else math.pi / float(sides.max())
    return _ring_spectrum(coords, f, radii, dk, comm)


def _windowed(coords, values, weights, comm) -> tuple[np.ndarray, np.ndarray]:
    """m_j H(x_j)(u_j − ū) with the Hann window H of the global bounding box; and its sides."""
    m = np.ones(values.shape) if weights is None else np.asarray(weights, dtype=float)
    lo, hi = bounding_box(comm, coords)
    sides = hi - lo
    window = np.prod(0.5 - 0.5 * np.cos(2 * math.pi * (coords - lo) / sides), axis=1) * m
    total = np.array([window.sum(), window @ values])
    comm.Allreduce(MPI.IN_PLACE, total, op=MPI.SUM)
    return window * (values - total[1] / total[0]), sides


def _ring_spectrum(coords, f, radii, dk, comm) -> np.ndarray:
    """Mean of |Σ_j f_j e^{−ik·x_j}|² over the wave vectors of each ring |k| = radii."""
    k, ring = _k_points(coords.shape[1], radii, dk)
    spectrum = np.empty((2, k.shape[0]))
    step = max(1, 4_000_000 // max(coords.shape[0], 1))
    for start in range(0, k.shape[0], step):
        phase = coords @ k[start : start + step].T
        spectrum[0, start : start + step] = f @ np.cos(phase)
        spectrum[1, start : start + step] = f @ np.sin(phase)
    comm.Allreduce(MPI.IN_PLACE, spectrum, op=MPI.SUM)
    power = np.bincount(ring, spectrum[0] ** 2 + spectrum[1] ** 2, radii.size)
    return power / np.bincount(ring, minlength=radii.size)


class GrowthFit(NamedTuple):
    """amplitude ≈ a0 · e^{rate·t} on [t_start, t_end] (n points); residual = RMS of the
    log-residuals (0 for an exact exponential)."""

    rate: float
    a0: float
    residual: float
    t_start: float
    t_end: float
    n: int


def exponential_growth(
    times,
    amplitude,
    *,
    ceiling: float | None = None,
    floor_factor: float = 2.0,
    skip: float = 0.0,
) -> GrowthFit:
    """Growth rate of the linear phase of an instability: a log-linear fit in its window.

    The window opens at the last minimum of the amplitude before it first exceeds `ceiling`
    (so the decay of the stable modes in the initial data is left out), once the amplitude is
    `floor_factor` times that minimum, and closes before the amplitude first exceeds `ceiling`
    (default: a tenth of the largest amplitude recorded, where the nonlinearity is still small).
    The rate is the least-squares slope of log(amplitude) against t in the window.

    Args:
        times: increasing record times.
        amplitude: positive amplitudes (e.g. the RMS of a deviation or `ring_power` ** 0.5).
        ceiling: amplitude at which the linear phase ends.
        floor_factor: the window opens once the amplitude is this many times its minimum.
        skip: length of the initial time span left out.

    Raises:
        ParameterError: if the arrays do not match, an amplitude is not positive, or fewer than 3
            points fall in the window.
    """
    t = np.asarray(times, dtype=float)
    a = np.asarray(amplitude, dtype=float)
    if t.shape != a.shape or t.ndim != 1 or not np.all(a > 0) or not np.all(np.diff(t) > 0):
        raise ParameterError(
            f"exponential_growth: times {t.shape} and amplitude {a.shape} must be 1D of equal "
            "length, times increasing and amplitudes > 0"
        )
    ceiling = 0.1 * float(a.max()) if ceiling is None else float(ceiling)
    start = int(np.searchsorted(t, t[0] + skip))
    above = np.nonzero(a[start:] > ceiling)[0]
    stop = start + (int(above[0]) if above.size else a.size - start)
    lowest = start + int(np.argmin(a[start:stop])) if stop > start else start
    window = np.arange(lowest, stop)
    window = window[a[window] >= floor_factor * a[lowest]]
    if window.size < 3:
        raise ParameterError(
            f"exponential_growth: {window.size} point(s) between {floor_factor:g} x the minimum "
            f"and the ceiling {ceiling:.3g}, need at least 3 (record longer or more often)"
        )
    rate, log_a0, residual = _line(t[window], np.log(a[window]))
    return GrowthFit(
        rate,
        float(np.exp(log_a0)),
        residual,
        float(t[window[0]]),
        float(t[window[-1]]),
        int(window.size),
    )


__all__ += ["GrowthFit", "exponential_growth", "ring_power"]
