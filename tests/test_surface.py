"""Triangle surfaces in 3D: readers round-trip, bad surfaces are refused, the P1 surface mesh keeps
its three coordinates and its Laplace–Beltrami spectrum converges to the sphere's."""

import zipfile

import meshio
import nibabel
import numpy as np
import pytest
import scipy.linalg
import ufl
from surface_cases import BAD_SURFACES, broken

from fem_fhn._fenics import fem
from fem_fhn.surface import (
    SurfaceError,
    check_surface,
    icosphere,
    read_surface,
    surface_mesh,
)


@pytest.fixture(scope="module")
def sphere():
    return icosphere(2, radius=3.0)


def _write_gifti(path, s):
    arrays = [
        nibabel.gifti.GiftiDataArray(s.vertices.astype(np.float32), "NIFTI_INTENT_POINTSET"),
        nibabel.gifti.GiftiDataArray(s.triangles.astype(np.int32), "NIFTI_INTENT_TRIANGLE"),
    ]
    nibabel.save(nibabel.gifti.GiftiImage(darrays=arrays), str(path))


def _write_tvb_zip(path, s):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            "vertices.txt", "\n".join(" ".join(repr(float(c)) for c in p) for p in s.vertices)
        )
        archive.writestr(
            "triangles.txt", "\n".join(" ".join(str(i) for i in t) for t in s.triangles)
        )


def test_icosphere_is_a_clean_sphere(sphere):
    assert sphere.vertices.shape == (162, 3) and sphere.triangles.shape == (320, 3)
    np.testing.assert_allclose(np.linalg.norm(sphere.vertices, axis=1), 3.0, rtol=1e-15)
    check_surface(sphere)
    a, b, c = (sphere.vertices[sphere.triangles[:, i]] for i in range(3))
    outward = np.einsum("ij,ij->i", np.cross(b - a, c - a), a + b + c)
    assert (outward > 0).all()


def test_readers_round_trip(tmp_path, sphere):
    gifti = tmp_path / "lh.sphere.gii"
    _write_gifti(gifti, sphere)
    freesurfer = tmp_path / "lh.pial"
    nibabel.freesurfer.write_geometry(str(freesurfer), sphere.vertices, sphere.triangles)
    tvb = tmp_path / "cortex.zip"
    _write_tvb_zip(tvb, sphere)
    obj = tmp_path / "sphere.obj"
    meshio.write_points_cells(str(obj), sphere.vertices, [("triangle", sphere.triangles)])
    for path, exact in ((gifti, False), (freesurfer, False), (tvb, True), (obj, True)):
        s = read_surface(path)
        np.testing.assert_array_equal(s.triangles, sphere.triangles, err_msg=path.name)
        expected = sphere.vertices if exact else sphere.vertices.astype(np.float32)
        np.testing.assert_array_equal(s.vertices, expected, err_msg=path.name)


def test_two_files_make_one_surface_with_two_components(tmp_path, sphere):
    left, right = tmp_path / "lh.pial", tmp_path / "rh.pial"
    nibabel.freesurfer.write_geometry(str(left), sphere.vertices, sphere.triangles)
    nibabel.freesurfer.write_geometry(str(right), sphere.vertices + [10, 0, 0], sphere.triangles)
    both = read_surface([left, right])
    assert both.vertices.shape == (324, 3)
    np.testing.assert_array_equal(both.triangles[320:], sphere.triangles + 162)
    check_surface(both)


@pytest.mark.parametrize(("kind", "words"), BAD_SURFACES)
def test_bad_surfaces_are_refused_with_one_line(sphere, kind, words):
    with pytest.raises(SurfaceError) as info:
        check_surface(broken(sphere, kind))
    message = str(info.value)
    assert words in message and "\n" not in message and message.startswith("mesh.source")


def test_unreadable_files_are_refused(tmp_path):
    missing = tmp_path / "lh.pial"
    with pytest.raises(SurfaceError, match="does not exist"):
        read_surface(missing)
    garbage = tmp_path / "rh.white"
    garbage.write_bytes(b"not a surface")
    with pytest.raises(SurfaceError, match="cannot read it as a surface"):
        read_surface(garbage)
    empty_zip = tmp_path / "x.zip"
    with zipfile.ZipFile(empty_zip, "w") as archive:
        archive.writestr("vertices.txt", "0 0 0\n")
    with pytest.raises(SurfaceError, match="missing: triangles.txt"):
        read_surface(empty_zip)


def _laplace_beltrami(surface, k=9):
    mesh = surface_mesh(surface)
    V = fem.functionspace(mesh, ("Lagrange", 1))
    u, w = ufl.TrialFunction(V), ufl.TestFunction(V)
    A = fem.assemble_matrix(fem.form(ufl.inner(ufl.grad(u), ufl.grad(w)) * ufl.dx)).to_scipy()
    M = fem.assemble_matrix(fem.form(u * w * ufl.dx)).to_scipy()
    area = fem.assemble_scalar(fem.form(fem.Constant(mesh, 1.0) * ufl.dx))
    # dense: an iterative solver can miss copies of the multiple eigenvalues l(l+1)/R²
    values = scipy.linalg.eigh(A.toarray(), M.toarray(), subset_by_index=[0, k - 1])[0]
    return mesh, values, area


def test_surface_mesh_keeps_three_coordinates(sphere):
    mesh = surface_mesh(sphere)
    assert (mesh.geometry.dim, mesh.topology.dim) == (3, 2)
    order = mesh.geometry.input_global_indices
    np.testing.assert_array_equal(mesh.geometry.x[:, :3], sphere.vertices[order])


def test_laplace_beltrami_eigenvalues_converge_at_second_order():
    """P1 eigenvalues on icospheres of radius R → l(l+1)/R², multiplicity 2l+1; area → 4πR²."""
    R, errors, area_errors = 2.0, [], []
    for level in (2, 3, 4):
        _, ev, area = _laplace_beltrami(icosphere(level, R))
        assert abs(ev[0]) < 1e-10
        errors.append(max(np.abs(ev[1:4] - 2 / R**2).max(), np.abs(ev[4:9] - 6 / R**2).max()))
        area_errors.append(abs(area - 4 * np.pi * R**2) / (4 * np.pi * R**2))
    orders = np.log2(np.array(errors[:-1]) / errors[1:])
    area_orders = np.log2(np.array(area_errors[:-1]) / area_errors[1:])
    assert errors[-1] < 5e-3 and (orders > 1.9).all(), (errors, orders)
    assert area_errors[-1] < 1.5e-3 and (area_orders > 1.9).all(), (area_errors, area_orders)
