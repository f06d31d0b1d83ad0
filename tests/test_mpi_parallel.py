"""Collective helpers on 2 ranks: bounding boxes of 2D/3D points (a rank may hold none), and the
callers that take them (the `auto` method choice, the mesh-size check)."""

import numpy as np
import pytest
from mpi4py import MPI

from fem_fhn import kernels
from fem_fhn.nonlocal_ import make_operator
from fem_fhn.parallel import bounding_box

COMM = MPI.COMM_WORLD


@pytest.mark.mpi
@pytest.mark.parametrize("dim", [1, 2, 3])
def test_bounding_box_over_ranks(dim):
    rng = np.random.default_rng(dim)
    points = rng.random((50, dim)) * np.arange(1, dim + 1)
    mine = points[:20] if COMM.rank == 0 else points[20:]
    lo, hi = bounding_box(COMM, mine)
    np.testing.assert_array_equal(lo, points.min(axis=0))
    np.testing.assert_array_equal(hi, points.max(axis=0))
    lo, hi = bounding_box(COMM, points if COMM.rank == 0 else np.empty((0, dim)))
    np.testing.assert_array_equal(hi - lo, np.ptp(points, axis=0))


@pytest.mark.mpi
def test_auto_method_on_2d_points_over_ranks():
    rng = np.random.default_rng(7)
    points, weights = rng.random((400, 2)), rng.random(400) + 0.5
    part = slice(0, 150) if COMM.rank == 0 else slice(150, 400)
    psi = kernels.Gaussian(width=0.2, dim=2)
    auto = make_operator(points[part], weights[part], psi, method="auto", comm=COMM)
    dense = make_operator(points[part], weights[part], psi, method="dense", comm=COMM)
    u = np.sin(3 * points[part, 0])
    np.testing.assert_allclose(auto.apply(u), dense.apply(u), rtol=1e-13)


@pytest.mark.mpi
def test_extent_of_a_generated_mesh_over_ranks():
    from fem_fhn.mesh import NodalMesh
    from fem_fhn.validation import extent

    nodes = NodalMesh.load("square", COMM, h=0.1)
    np.testing.assert_allclose(extent(nodes), [1.0, 1.0], atol=1e-12)
