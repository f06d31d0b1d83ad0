"""Tests of the bundled gmsh domains (fem_fhn.meshes): generation, loading, volumes, errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import ufl
from mpi4py import MPI

from fem_fhn import meshes
from fem_fhn._fenics import dolfinx  # also imports dolfinx.io, hence dolfinx.io.gmsh

# Closed-form volumes and relative tolerances. Straight-sided domains are meshed exactly; the
# folded band (vertical-offset construction, area L·T) too, since its top spline is the exact
# translate of the bottom one; curved boundaries are approximated by inscribed polygons.
EXPECTED: dict[str, tuple[float, float]] = {
    "interval": (10.0, 1e-12),
    "strip": (20.0, 1e-10),
    "square": (1.0, 1e-10),
    "disc_holes": (math.pi * (1.0 - 3 * 0.2**2), 3e-3),
    "folded": (4.0 * 0.3, 1e-6),
    "ball": (4.0 * math.pi / 3.0, 0.03),
    "torus": (2.0 * math.pi**2 * 1.0 * 0.35**2, 0.03),
}


def _load(path: Path, dim: int) -> dolfinx.io.gmsh.MeshData:
    return dolfinx.io.gmsh.read_from_msh(str(path), MPI.COMM_SELF, 0, gdim=dim)


def _volume(mesh: dolfinx.mesh.Mesh) -> float:
    return dolfinx.fem.assemble_scalar(dolfinx.fem.form(1.0 * ufl.dx(domain=mesh)))


def _num_nodes(mesh: dolfinx.mesh.Mesh) -> int:
    return mesh.topology.index_map(0).size_local


def test_registry_lists_all_domains() -> None:
    assert meshes.names() == list(EXPECTED)
    for name, domain in meshes.DOMAINS.items():
        assert domain.name == name
        assert domain.dim in (1, 2, 3)
        assert domain.default_h > 0


@pytest.mark.parametrize("name", list(EXPECTED))
def test_generate_loads_with_tags_and_volume(name: str, tmp_path: Path) -> None:
    domain = meshes.DOMAINS[name]
    path = meshes.generate(name, out=tmp_path / f"{name}.msh")
    assert path.is_file()
    data = _load(path, domain.dim)
    mesh = data.mesh
    assert mesh.topology.dim == domain.dim
    assert mesh.geometry.x.shape[0] == _num_nodes(mesh)  # linear elements: nodes = vertices
    assert np.all(data.cell_tags.values == meshes.DOMAIN_TAG)
    assert data.cell_tags.values.size == mesh.topology.index_map(domain.dim).size_local
    assert data.facet_tags.values.size > 0
    assert np.all(data.facet_tags.values == meshes.BOUNDARY_TAG)
    exact, rtol = EXPECTED[name]
    assert _volume(mesh) == pytest.approx(exact, rel=rtol)
    assert _num_nodes(mesh) <= (4000 if domain.dim == 3 else 5000)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_bundled_file_exists_and_loads(name: str) -> None:
    path = meshes.bundled_path(name)
    assert path.name == f"{name}.msh"
    mesh = _load(path, meshes.DOMAINS[name].dim).mesh
    exact, rtol = EXPECTED[name]
    assert _volume(mesh) == pytest.approx(exact, rel=rtol)


def test_bundled_meshes_are_small() -> None:
    total = sum(meshes.bundled_path(n).stat().st_size for n in meshes.names())
    assert total < 3_000_000
    nodes = _num_nodes(_load(meshes.bundled_path("folded"), 2).mesh)
    assert 2000 <= nodes <= 4000


def test_finer_h_gives_more_nodes(tmp_path: Path) -> None:
    coarse = _load(meshes.generate("square", h=0.1, out=tmp_path / "c.msh"), 2).mesh
    fine = _load(meshes.generate("square", h=0.05, out=tmp_path / "f.msh"), 2).mesh
    assert _num_nodes(fine) > 3 * _num_nodes(coarse)


def test_same_h_is_deterministic(tmp_path: Path) -> None:
    a = meshes.generate("disc_holes", h=0.08, out=tmp_path / "a.msh")
    b = meshes.generate("disc_holes", h=0.08, out=tmp_path / "b.msh")
    assert _num_nodes(_load(a, 2).mesh) == _num_nodes(_load(b, 2).mesh)
    assert a.read_bytes() == b.read_bytes()


def test_geometry_options(tmp_path: Path) -> None:
    path = meshes.generate("folded", h=0.05, out=tmp_path / "f.msh", length=2.0, thickness=0.5)
    assert _volume(_load(path, 2).mesh) == pytest.approx(2.0 * 0.5, rel=1e-6)
    assert meshes.default_options("torus") == {"major_radius": 1.0, "minor_radius": 0.35}


def test_script_entry_point(tmp_path: Path) -> None:
    path = meshes.main("interval", ["--h", "0.5", "--out", str(tmp_path / "i.msh")])
    assert _num_nodes(_load(path, 1).mesh) == 21


def test_unknown_name_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'sphere'.*folded"):
        meshes.generate("sphere", out=tmp_path / "x.msh")
    with pytest.raises(ValueError, match="'sphere'"):
        meshes.bundled_path("sphere")


@pytest.mark.parametrize("h", [0.0, -0.1, math.inf, math.nan])
def test_bad_h_is_rejected(h: float, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=rf"h={h!r}"):
        meshes.generate("square", h=h, out=tmp_path / "x.msh")


def test_unknown_option_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="radius"):
        meshes.generate("square", out=tmp_path / "x.msh", radius=2.0)


def test_generate_leaves_an_initialized_gmsh_as_it_was(tmp_path: Path) -> None:
    import gmsh

    gmsh.initialize(readConfigFiles=False, interruptible=False)
    try:
        gmsh.model.add("caller")
        gmsh.option.setNumber("Mesh.MeshSizeMax", 7.0)
        path = meshes.generate("square", h=0.2, out=tmp_path / "s.msh")
        assert gmsh.isInitialized()
        assert gmsh.option.getNumber("Mesh.MeshSizeMax") == 7.0
        assert gmsh.model.getCurrent() == "caller"
    finally:
        gmsh.finalize()
    assert _volume(_load(path, 2).mesh) == pytest.approx(1.0)
