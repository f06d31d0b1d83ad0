"""Surface meshes on 2 ranks (mpirun -n 2): x, y, z kept on every partition, and the chordal
(dense, H-matrix, NUFFT), geodesic and Laplace–Beltrami operators equal to the serial ones on
COMM_SELF (to round-off; to 1e-9 for the methods built at tol 1e-10)."""

import shutil
import tempfile
from pathlib import Path

import meshio
import numpy as np
import pytest
from mpi4py import MPI

from fem_fhn.kernels import make_kernel
from fem_fhn.macro.local_rd import LocalFHN
from fem_fhn.mesh import NodalMesh
from fem_fhn.nonlocal_ import make_operator
from fem_fhn.nonlocal_.geodesic import geodesic_operator
from fem_fhn.params import FHNParameters
from fem_fhn.surface import icosphere

pytestmark = pytest.mark.mpi
COMM = MPI.COMM_WORLD
SPHERE = icosphere(3, radius=1.5)


@pytest.fixture(scope="module")
def sphere_file():
    folder = Path(tempfile.mkdtemp(prefix="fem_fhn_sphere_")) if COMM.rank == 0 else None
    folder = COMM.bcast(folder, root=0)
    path = folder / "sphere.obj"
    if COMM.rank == 0:
        meshio.write_points_cells(str(path), SPHERE.vertices, [("triangle", SPHERE.triangles)])
    COMM.barrier()
    yield path
    COMM.barrier()
    if COMM.rank == 0:
        shutil.rmtree(folder)


def _pair(sphere_file):
    """The mesh on both ranks, the same mesh on this rank alone, and the owned rows' positions in
    the serial node order."""
    assert COMM.size == 2
    parallel = NodalMesh.load(sphere_file, COMM)
    serial = NodalMesh.load(sphere_file, MPI.COMM_SELF)
    position = np.empty(serial.n_global, dtype=np.int64)
    position[serial.global_index] = np.arange(serial.n_global)
    return parallel, serial, position[parallel.global_index]


def test_surface_keeps_z_on_two_ranks(sphere_file):
    nodes, _, _ = _pair(sphere_file)
    assert nodes.dim == 3 and nodes.tdim == 2
    assert COMM.allreduce(int(nodes.n_owned > 0), op=MPI.SUM) == 2
    np.testing.assert_array_equal(nodes.coords, SPHERE.vertices[nodes.global_index])
    area = nodes.integrate(np.ones(nodes.n_owned))
    assert area == pytest.approx(SPHERE.areas.sum(), rel=1e-13)


@pytest.mark.parametrize(
    "method", ["dense", "hmatrix", "nufft", "geodesic-sparse", "geodesic-hmatrix"]
)
def test_operators_equal_the_serial_ones(sphere_file, method):
    nodes, serial, rows = _pair(sphere_file)
    kernel = make_kernel({"type": "gaussian", "width": 0.3, "dim": 2})

    def build(mesh):
        if method.startswith("geodesic"):
            return geodesic_operator(mesh, kernel, method.split("-")[1], 1e-10)
        return make_operator(mesh.coords, mesh.masses, kernel, method, mesh.comm, 1e-10)

    u_serial = serial.coords[:, 0] * serial.coords[:, 1] + serial.coords[:, 2]
    expected = build(serial).apply(u_serial)[rows]
    result = build(nodes).apply(u_serial[rows])
    tol = 1e-9 if method in ("hmatrix", "nufft") else 1e-13
    np.testing.assert_allclose(result, expected, rtol=0, atol=tol * np.abs(expected).max())


def test_laplace_beltrami_equals_the_serial_one(sphere_file):
    nodes, serial, rows = _pair(sphere_file)
    u = np.cos(2 * serial.coords[:, 0]) * serial.coords[:, 2]
    expected = LocalFHN(serial, FHNParameters(), 1.0).diffusion(u)[rows]
    result = LocalFHN(nodes, FHNParameters(), 1.0).diffusion(u[rows])
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-12 * np.abs(expected).max())
