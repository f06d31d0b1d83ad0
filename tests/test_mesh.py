"""Loading meshes and the nodal view: coordinates, lumped masses, global indices, fields."""

import numpy as np
import pytest
from mpi4py import MPI

from fem_fhn import meshes
from fem_fhn._fenics import dolfinx
from fem_fhn.mesh import MeshError, NodalMesh, load_mesh
from fem_fhn.params import ParameterError


@pytest.fixture(scope="module")
def square():
    return NodalMesh.from_mesh(dolfinx.mesh.create_unit_square(MPI.COMM_SELF, 6, 4))


def test_lumped_masses_sum_to_area(square):
    assert square.masses.sum() == pytest.approx(1.0, abs=1e-14)
    assert np.all(square.masses > 0)


def test_global_index_is_input_node_order(square):
    geometry = square.mesh.geometry
    x = np.empty_like(geometry.x)
    x[geometry.input_global_indices] = geometry.x
    np.testing.assert_allclose(x[square.global_index, :2], square.coords, atol=1e-15)


def test_fields_from_number_expression_callable_and_file(square, tmp_path):
    x, y = square.coords.T
    np.testing.assert_allclose(square.field(2.5), 2.5)
    np.testing.assert_allclose(square.field("x + 2*y"), x + 2 * y)
    np.testing.assert_allclose(square.field(lambda p: p[:, 0] ** 2), x**2)
    values = np.arange(square.n_global, dtype=float)
    np.save(tmp_path / "f.npy", values)
    np.savetxt(tmp_path / "f.csv", values)
    np.testing.assert_allclose(square.field(tmp_path / "f.npy"), square.global_index)
    np.testing.assert_allclose(square.field(tmp_path / "f.csv"), square.global_index)


def test_density_checks(square, tmp_path):
    rho = square.density("1.0 if x > 0.5 else 0.0")  # zero regions are allowed
    assert rho.min() == 0.0 and rho.max() == 1.0
    with pytest.raises(ParameterError, match="rho0 must be >= 0"):
        square.density("x - 0.5")
    with pytest.raises(ParameterError, match="zero integral"):
        square.density(0.0)
    np.save(tmp_path / "short.npy", np.ones(3))
    with pytest.raises(ParameterError, match="has 3 values, the mesh has"):
        square.field(tmp_path / "short.npy", "rho0")


@pytest.mark.parametrize("name", ["interval", "folded", "ball"])
def test_load_bundled_by_name(name):
    nodes = NodalMesh.load(name, MPI.COMM_SELF)
    assert nodes.dim == meshes.DOMAINS[name].dim
    assert nodes.n_owned == nodes.n_global > 100
    expected = {"interval": 10.0, "folded": 1.2, "ball": 4 * np.pi / 3}[name]
    assert nodes.masses.sum() == pytest.approx(expected, rel=0.01)


def test_load_xdmf_roundtrip(tmp_path):
    mesh = load_mesh("square", MPI.COMM_SELF)
    with dolfinx.io.XDMFFile(MPI.COMM_SELF, tmp_path / "m.xdmf", "w") as f:
        f.write_mesh(mesh)
    again = NodalMesh.load(tmp_path / "m.xdmf", MPI.COMM_SELF)
    assert again.n_global == NodalMesh.from_mesh(mesh).n_global
    assert again.masses.sum() == pytest.approx(1.0, abs=1e-12)


def test_mesh_errors(tmp_path):
    with pytest.raises(MeshError, match="does not exist"):
        load_mesh(tmp_path / "nope.msh", MPI.COMM_SELF)
    with pytest.raises(MeshError, match="neither a .msh/.xdmf file nor a bundled domain"):
        load_mesh("cortex", MPI.COMM_SELF)
    (tmp_path / "junk.msh").write_text("this is not a mesh\n")
    with pytest.raises(MeshError, match="junk.msh"):
        load_mesh(tmp_path / "junk.msh", MPI.COMM_SELF)


def test_mesh_size_applies_to_bundled_domain_names_only():
    """`h` regenerates a bundled domain by name ([0, 10] at h = 1: 11 nodes); a file path, even
    the bundled file itself, is read as it is and refuses `h`."""
    assert load_mesh("interval", MPI.COMM_SELF, h=1.0).topology.index_map(0).size_global == 11
    with pytest.raises(MeshError, match="applies to bundled domains only"):
        load_mesh(meshes.bundled_path("interval"), MPI.COMM_SELF, h=1.0)


def test_mesh_without_physical_groups_is_refused(tmp_path):
    import gmsh

    gmsh.initialize(interruptible=False)
    gmsh.option.setNumber("General.Terminal", 0)
    gmsh.model.occ.addRectangle(0, 0, 0, 1, 1)
    gmsh.model.occ.synchronize()
    gmsh.model.mesh.generate(2)
    gmsh.option.setNumber("Mesh.SaveAll", 1)
    gmsh.write(str(tmp_path / "plain.msh"))
    gmsh.finalize()
    with pytest.raises(MeshError, match="no physical group"):
        load_mesh(tmp_path / "plain.msh", MPI.COMM_SELF)


def _sphere_file(tmp_path, suffix):
    """An icosphere surface (triangles in 3D) with a physical group, as .msh or .xdmf."""
    import meshio

    from fem_fhn.surface import icosphere

    s = icosphere(1)
    cells = [("triangle", s.triangles)]
    path = tmp_path / f"sphere{suffix}"
    if suffix == ".msh":
        data = {"gmsh:physical": [np.ones(len(s.triangles), dtype=int)]}
        data["gmsh:geometrical"] = data["gmsh:physical"]
        meshio.write(path, meshio.Mesh(s.vertices, cells, cell_data=data), file_format="gmsh22")
    else:
        from fem_fhn._fenics import dolfinx
        from fem_fhn.surface import surface_mesh

        with dolfinx.io.XDMFFile(MPI.COMM_WORLD, str(path), "w") as f:
            f.write_mesh(surface_mesh(s, MPI.COMM_WORLD))
    return path


@pytest.mark.parametrize("suffix", [".msh", ".xdmf"])
def test_a_surface_in_3d_keeps_its_coordinates(tmp_path, suffix):
    """Triangles whose nodes use x, y and z: a manifold mesh with gdim 3, never flattened."""
    from fem_fhn.mesh import NodalMesh
    from fem_fhn.surface import icosphere

    s = icosphere(1)
    nodes = NodalMesh.load(_sphere_file(tmp_path, suffix))
    assert (nodes.dim, nodes.tdim) == (3, 2)
    if suffix == ".msh":  # the file's node order (dolfinx writes XDMF nodes in its own order)
        np.testing.assert_array_equal(nodes.coords, s.vertices[nodes.global_index])
    assert nodes.n_global == len(s.vertices)
    np.testing.assert_array_equal(np.sort(nodes.coords, axis=0), np.sort(s.vertices, axis=0))
    assert nodes.integrate(np.ones(nodes.n_owned)) == pytest.approx(s.areas.sum(), rel=1e-13)


def test_coordinate_dimension():
    from fem_fhn.mesh import coordinate_dimension

    x = np.zeros((4, 3))
    assert coordinate_dimension(x) == 1
    x[:, 0] = [0, 1, 2, 3]
    assert coordinate_dimension(x) == 1
    x[2, 1] = 1e-3
    assert coordinate_dimension(x) == 2
    x[1, 2] = -0.5
    assert coordinate_dimension(x) == 3
    x[:, 2] = 1e-15
    assert coordinate_dimension(x) == 2
