"""Front tracking, front speeds, convergence-rate fits and pattern wavenumbers on synthetic data."""

import math

import numpy as np
import pytest
from mpi4py import MPI

from fem_fhn._fenics import dolfinx
from fem_fhn.analysis import (
    FrontTracker,
    MeshEdges,
    convergence_rate,
    dominant_wavenumber,
    front_positions,
    front_speed,
)
from fem_fhn.mesh import NodalMesh
from fem_fhn.params import ParameterError
from fem_fhn.simulation import Output


def square(n, comm=MPI.COMM_SELF, side=1.0):
    mesh = dolfinx.mesh.create_rectangle(comm, [[0.0, 0.0], [side, side]], [n, n])
    return NodalMesh.from_mesh(mesh)


def test_front_positions_1d_tanh(rng):
    x = np.linspace(0.0, 10.0, 1001)
    u = np.tanh((x - 3.3) / 0.5)
    assert front_positions(x, u) == pytest.approx([3.3], abs=1e-6)
    # level 0.5: x = 3.3 + 0.5 artanh(0.5); shuffled rows give the same answer
    perm = rng.permutation(x.size)
    expected = 3.3 + 0.5 * math.atanh(0.5)
    assert front_positions(x[perm, None], u[perm], level=0.5) == pytest.approx([expected], abs=1e-4)
    pulse = np.exp(-((x - 6.0) ** 2))
    assert front_positions(x, pulse, level=0.5) == pytest.approx(
        [6.0 - math.sqrt(math.log(2)), 6.0 + math.sqrt(math.log(2))], abs=1e-4
    )
    assert front_positions(x, u, level=2.0).size == 0


def test_front_positions_on_mesh_edges():
    nodes = square(32)
    edges = MeshEdges(nodes)
    x, y = nodes.coords.T
    flat = np.tanh((x - 0.4137) / 0.1)
    assert edges.front_positions(flat) == pytest.approx([0.4137], abs=1e-4)
    # a tilted front: the mean crossing over the section is the mid-height position
    tilted = np.tanh((x - 0.3 - 0.2 * y) / 0.1)
    assert edges.front_positions(tilted) == pytest.approx([0.4], abs=5e-3)
    # a stripe has two fronts; measured along y
    stripe = np.exp(-(((y - 0.5) / 0.15) ** 2)) - 0.5
    lo, hi = edges.front_positions(stripe, axis=1)
    half = 0.15 * math.sqrt(math.log(2))
    assert lo == pytest.approx(0.5 - half, abs=2e-3) and hi == pytest.approx(0.5 + half, abs=2e-3)
    assert edges.edges.shape[1] == 2 and edges.edges.max() < edges.coords.shape[0]


def test_front_tracker_and_speed():
    c, width = 0.37, 1.0
    x = np.linspace(0.0, 20.0, 801)
    nodes = square(40, side=20.0)
    trackers = [FrontTracker(coords=x), FrontTracker(nodes, which=-1)]
    for t in np.linspace(0.0, 10.0, 21):
        trackers[0](Output(t, 0, 0, {"V": np.tanh((x - 5 - c * t) / width)}))
        X = nodes.coords[:, 0]
        trackers[1].record(t, np.tanh((X - 5 - c * t) / width))
    for tracker in trackers:
        fit = tracker.speed()
        assert fit.speed == pytest.approx(c, rel=2e-3) and fit.x0 == pytest.approx(5.0, abs=1e-2)
        assert tracker.times.size == 21 and np.all(np.isfinite(tracker.positions))
    assert trackers[0].speed().residual < 1e-4
    missing = FrontTracker(coords=x, which=1)
    missing.record(0.0, np.tanh(x - 5))
    assert math.isnan(missing.positions[0]) and missing.all_positions[0].size == 1
    with pytest.raises(ParameterError, match="NodalMesh"):
        FrontTracker()


def test_front_speed_fit(rng):
    t = np.linspace(0.0, 20.0, 81)
    x = 2.0 - 0.25 * t + 0.01 * rng.standard_normal(t.size)
    x[:8] += 0.5 * np.exp(-t[:8])  # an initial transient
    x[10] = np.nan  # a record without a front
    fit = front_speed(t, x, skip=2.0)
    assert fit.speed == pytest.approx(-0.25, abs=2e-3) and fit.x0 == pytest.approx(2.0, abs=0.02)
    assert 0.005 < fit.residual < 0.015
    assert front_speed(t[:2], [0.0, 1.0]).speed == pytest.approx(1 / 0.25)
    with pytest.raises(ParameterError, match="usable"):
        front_speed(t, x, skip=30.0)
    with pytest.raises(ParameterError, match="equal length"):
        front_speed(t, x[:-1])


def test_convergence_rate(rng):
    h = 0.1 / 2.0 ** np.arange(5)
    fit = convergence_rate(h, 3.0 * h**2)
    assert fit.rate == pytest.approx(2.0, abs=1e-12) and fit.constant == pytest.approx(3.0)
    assert fit.residual < 1e-12
    noisy = convergence_rate(h, 0.5 * h**1.5 * np.exp(0.05 * rng.standard_normal(h.size)))
    assert noisy.rate == pytest.approx(1.5, abs=0.1) and noisy.residual > 0
    with pytest.raises(ParameterError, match="positive"):
        convergence_rate([0.1, 0.05], [1e-3, 0.0])
    with pytest.raises(ParameterError, match="at least 2"):
        convergence_rate([0.1], [1e-3])


def test_dominant_wavenumber_of_synthetic_patterns():
    x = np.linspace(0.0, 10.0, 1001)
    assert dominant_wavenumber(x, np.cos(7.3 * x) + 0.2) == pytest.approx(7.3, rel=0.02)
    nodes = square(40, side=4.0)
    X, Y = nodes.coords.T
    stripes = np.cos(11.0 * (X * math.cos(0.4) + Y * math.sin(0.4)))
    k = dominant_wavenumber(nodes.coords, stripes, weights=nodes.masses, k_max=25.0)
    assert k == pytest.approx(11.0, rel=0.03)
    # a 1:2 rectangle, and oblique stripes on the unstructured mesh of the unit square
    k = dominant_wavenumber(nodes.coords * [1.0, 2.0], np.cos(6.0 * X), k_max=15.0)
    assert k == pytest.approx(6.0, rel=0.03)
    unit = NodalMesh.load("square", MPI.COMM_SELF)
    values = np.cos(30.0 * (unit.coords @ [math.cos(1.0), math.sin(1.0)]))
    k = dominant_wavenumber(unit.coords, values, weights=unit.masses)
    assert k == pytest.approx(30.0, rel=0.03)
    with pytest.raises(ParameterError, match="k_max"):
        dominant_wavenumber(x, np.cos(x), k_max=0.5)
    with pytest.raises(ParameterError, match="dimension 3"):
        dominant_wavenumber(np.zeros((4, 3)), np.zeros(4))


@pytest.mark.mpi
def test_analysis_rank_independent():
    comm = MPI.COMM_WORLD

    def measure(comm):
        nodes = square(24, comm)
        X, Y = nodes.coords.T
        fronts = MeshEdges(nodes).front_positions(np.tanh((X - 0.3 - 0.2 * Y) / 0.1))
        k = dominant_wavenumber(nodes.coords, np.cos(20.0 * X), weights=nodes.masses, comm=comm)
        return np.array([*fronts, k])

    distributed = measure(comm)
    serial = measure(MPI.COMM_SELF) if comm.rank == 0 else None
    error = float(np.abs(distributed - serial).max()) if comm.rank == 0 else None
    assert comm.bcast(error) < 1e-10
    x = np.linspace(0.0, 1.0, 101)
    mine = np.array_split(np.arange(x.size), comm.size)[comm.rank]
    line = front_positions(x[mine], np.tanh((x[mine] - 0.55) / 0.1), comm=comm)
    assert line == pytest.approx([0.55], abs=1e-6)
