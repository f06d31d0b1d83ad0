"""Models on surfaces in 3D: the nodal mesh keeps x, y, z; the nonlocal operator (chordal and
geodesic) against the Funk–Hecke closed form on the unit sphere; Laplace–Beltrami through the local
model's weak form; `fem-fhn run` on surface files with per-vertex data, units and refusals."""

import json
import zipfile

import meshio
import nibabel
import numpy as np
import pytest
from mpi4py import MPI
from scipy.integrate import quad
from scipy.special import eval_legendre
from surface_cases import BAD_SURFACES, broken

from fem_fhn._fenics import dolfinx
from fem_fhn.cli import EXIT_BAD_INPUT, main
from fem_fhn.config import load_config
from fem_fhn.kernels import make_kernel
from fem_fhn.macro import NonlocalFHN
from fem_fhn.macro.local_rd import LocalFHN
from fem_fhn.mesh import NodalMesh
from fem_fhn.nonlocal_ import NonlocalLaplacian, make_operator
from fem_fhn.nonlocal_.geodesic import (
    GeodesicOperator,
    geodesic_operator,
    mesh_geodesic_distances,
    truncation_radius,
)
from fem_fhn.params import FHNParameters, ParameterError
from fem_fhn.surface import icosphere, surface_mesh
from fem_fhn.timestepping import IMEXRungeKutta, make_integrator


def funk_hecke(kernel, degree: int, distance) -> float:
    """Eigenvalue of u ↦ ∫_{S²} Ψ(d(x, y)) u(y) dy on the spherical harmonics of this degree:
    2π ∫_0^π Ψ(d(θ)) P_l(cos θ) sin θ dθ, d(θ) the distance of two points at angle θ."""

    def integrand(theta):
        return kernel(np.array([distance(theta)]))[0] * eval_legendre(degree, np.cos(theta))

    value = quad(lambda t: integrand(t) * np.sin(t), 0, np.pi, epsabs=1e-14, epsrel=1e-13)[0]
    return 2 * np.pi * value


def chordal(theta):
    return 2 * np.sin(theta / 2)


def great_circle(theta):
    return theta


def sphere_nodes(level: int, radius: float = 1.0) -> NodalMesh:
    return NodalMesh.from_mesh(surface_mesh(icosphere(level, radius), MPI.COMM_SELF))


def harmonics(nodes: NodalMesh) -> list[tuple[int, np.ndarray]]:
    """(degree, values) of the real spherical harmonics x, xy, xyz at the nodes of a unit sphere."""
    x, y, z = nodes.coords.T
    return [(1, x), (2, x * y), (3, x * y * z)]


@pytest.fixture(scope="module")
def gaussian():
    return make_kernel({"type": "gaussian", "width": 0.3, "dim": 2})


def test_surface_file_keeps_its_coordinates(tmp_path):
    sphere = icosphere(3, radius=2.0)
    path = tmp_path / "sphere.obj"
    meshio.write_points_cells(str(path), sphere.vertices, [("triangle", sphere.triangles)])
    nodes = NodalMesh.load(path, MPI.COMM_SELF)
    assert (nodes.dim, nodes.tdim) == (3, 2)
    np.testing.assert_array_equal(nodes.coords, sphere.vertices[nodes.global_index])
    # lumped masses sum to the area of the polyhedron, to round-off
    assert nodes.integrate(np.ones(nodes.n_owned)) == pytest.approx(sphere.areas.sum(), rel=1e-13)


def test_chordal_operator_matches_funk_hecke_with_second_order(gaussian):
    """Dense and H-matrix K on icospheres of levels 2–4 against λ_l Y_l (chordal distances)."""
    errors = []
    for level in (2, 3, 4):
        nodes = sphere_nodes(level)
        dense = make_operator(nodes.coords, nodes.masses, gaussian, "dense", MPI.COMM_SELF)
        hmat = make_operator(nodes.coords, nodes.masses, gaussian, "hmatrix", MPI.COMM_SELF, 1e-10)
        worst = 0.0
        for degree, u in harmonics(nodes):
            expected = funk_hecke(gaussian, degree, chordal) * u
            worst = max(worst, np.abs(dense.apply(u) - expected).max() / np.abs(expected).max())
            np.testing.assert_allclose(hmat.apply(u), dense.apply(u), atol=1e-8)
        errors.append(worst)
    assert errors[-1] < 2e-3  # measured 1.7e-3 at level 4 (2 562 nodes)
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert (orders > 1.8).all(), orders


def test_compact_kernel_sparse_equals_dense_on_the_sphere():
    bump = make_kernel({"type": "bump", "width": 0.4, "dim": 2})
    nodes = sphere_nodes(3)
    u = harmonics(nodes)[1][1]
    dense = make_operator(nodes.coords, nodes.masses, bump, "dense", MPI.COMM_SELF)
    sparse = make_operator(nodes.coords, nodes.masses, bump, "sparse", MPI.COMM_SELF)
    np.testing.assert_allclose(sparse.apply(u), dense.apply(u), rtol=0, atol=1e-13)


def test_geodesic_operator_matches_the_great_circle_kernel():
    """K with fast-marching distances against K with R·arccos(x·y/R²) on the same nodes (1 %),
    and against the Funk–Hecke eigenvalue of the great-circle kernel; dense = sparse = hmatrix."""
    kernel = make_kernel({"type": "gaussian", "width": 0.15, "dim": 2})
    nodes = sphere_nodes(4)
    cutoff = truncation_radius(kernel, 1e-10)
    distances = mesh_geodesic_distances(nodes, cutoff)
    ops = {
        m: GeodesicOperator(distances, nodes.masses, kernel, MPI.COMM_SELF, m, cutoff)
        for m in ("sparse", "dense", "hmatrix")
    }
    angles = np.arccos(np.clip(nodes.coords @ nodes.coords.T, -1, 1))
    exact = np.where(angles <= cutoff, kernel(angles), 0.0) * nodes.masses
    for degree, u in harmonics(nodes):
        reference = exact @ u
        result = ops["sparse"].apply(u)
        assert np.abs(result - reference).max() < 0.01 * np.abs(reference).max()
        expected = funk_hecke(kernel, degree, great_circle) * u
        assert np.abs(result - expected).max() < 0.01 * np.abs(expected).max()
        for method in ("dense", "hmatrix"):
            np.testing.assert_allclose(ops[method].apply(u), result, rtol=0, atol=1e-12)
    assert ops["hmatrix"].info()["stored"] == "sparse"


def test_geodesic_distances_on_a_planar_mesh_are_straight():
    """On the bundled unit square (convex, flat) the marched distances are the Euclidean ones:
    within 0.5 % (measured 0.17 %) for every pair within the cutoff."""
    nodes = NodalMesh.load("square", MPI.COMM_SELF)
    table = mesh_geodesic_distances(nodes, 0.3).tocoo()
    straight = np.linalg.norm(nodes.coords[table.row] - nodes.coords[table.col], axis=1)
    assert table.nnz > 100 * nodes.n_global
    assert np.all(np.abs(table.data - straight) <= 5e-3 * straight)


def test_truncation_radius():
    gaussian = make_kernel({"type": "gaussian", "width": 0.1, "dim": 2})
    radius = truncation_radius(gaussian, 1e-8)
    assert radius == pytest.approx(0.1 * np.sqrt(2 * np.log(1e8)), rel=1e-3)
    indicator = make_kernel({"type": "indicator", "width": 0.2, "dim": 2})
    assert truncation_radius(indicator, 1e-8) == 0.2


def test_nufft_on_a_surface_uses_the_transform_in_space():
    """Chordal K by NUFFT (Ψ's transform in 3D) against the dense sum on the unit sphere, within
    the requested tolerance of max_i Σ_j |Ψ_ij| w_j |u_j|; split is refused, and so are the
    Fourier methods for a geodesic kernel."""
    nodes = sphere_nodes(4)
    u = nodes.coords[:, 0] * nodes.coords[:, 1] + np.cos(3 * nodes.coords[:, 2])
    hat = {"type": "mexican_hat", "width_exc": 0.1, "width_inh": 0.2, "a_exc": 2.0, "a_inh": 1.0}
    for spec in ({"type": "gaussian", "width": 0.15}, hat):
        kernel = make_kernel({**spec, "dim": 2})
        dense = make_operator(nodes.coords, nodes.masses, kernel, "dense", MPI.COMM_SELF)
        scale = (np.abs(dense.matrix) @ np.abs(u)).max()
        for tol in (1e-4, 1e-8):
            fast = make_operator(nodes.coords, nodes.masses, kernel, "nufft", MPI.COMM_SELF, tol)
            assert np.abs(fast.apply(u) - dense.apply(u)).max() < tol * scale, (spec, tol)
    with pytest.raises(ParameterError, match="nonlocal.method = 'split' is not allowed"):
        make_operator(nodes.coords, nodes.masses, kernel, "split", MPI.COMM_SELF)
    for method in ("nufft", "split"):
        with pytest.raises(ParameterError, match="kernel.distance = 'geodesic'"):
            geodesic_operator(nodes, kernel, method, 1e-8)


def test_laplace_beltrami_of_the_local_model_converges_with_second_order():
    """The local model's −M⁻¹A on Y_l of a sphere of radius 2: l(l+1)/R², second order in h."""
    radius = 2.0
    errors = []
    for level in (2, 3, 4):
        nodes = sphere_nodes(level, radius)
        model = LocalFHN(nodes, FHNParameters(), sigma=1.0)
        worst = 0.0
        for degree, u in harmonics(nodes):
            rayleigh = -(u * nodes.masses) @ model.diffusion(u) / ((u * nodes.masses) @ u)
            worst = max(worst, abs(rayleigh / (degree * (degree + 1) / radius**2) - 1))
        errors.append(worst)
    assert errors[-1] < 5e-3
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert (orders > 1.8).all(), orders


RUN = """
[mesh]
source = {source}
{mesh_extra}
[rho0]
value = {rho0}
[model]
a = 0.40415
b = 0.8
tau = 0.08
[kernel]
type = "gaussian"
width = {width}
strength = 20.0
distance = "{distance}"
[nonlocal]
method = "{method}"
[initial]
V = "1.0 if z > {z_top} else -0.69248"
W = -0.36042
[time]
t_end = {t_end}
dt = 0.05
scheme = "ssprk3"
n_outputs = {n_outputs}
[output]
formats = ["xdmf"]
png = false
gif = false
progress = false
"""


def _write_gifti_surface(path, surface):
    arrays = [
        nibabel.gifti.GiftiDataArray(surface.vertices.astype(np.float32), "NIFTI_INTENT_POINTSET"),
        nibabel.gifti.GiftiDataArray(surface.triangles.astype(np.int32), "NIFTI_INTENT_TRIANGLE"),
    ]
    nibabel.save(nibabel.gifti.GiftiImage(darrays=arrays), str(path))


_FIELDS = {
    "source": '"sphere.obj"',
    "mesh_extra": "",
    "rho0": "1.0",
    "width": 0.2,
    "distance": "euclidean",
    "method": "dense",
    "z_top": 0.9,
    "t_end": 0.4,
    "n_outputs": 2,
}


def _run(tmp_path, name="run", **fields):
    values = {**_FIELDS, **fields}
    config = tmp_path / f"{name}.toml"
    config.write_text(RUN.format(**values))
    out = tmp_path / name
    code = main(["run", str(config), "--out", str(out), "--quiet"])
    return code, out


@pytest.fixture
def sphere_dir(tmp_path):
    sphere = icosphere(3)
    meshio.write_points_cells(
        str(tmp_path / "sphere.obj"), sphere.vertices, [("triangle", sphere.triangles)]
    )
    return tmp_path


def _final_V(out):
    return np.loadtxt(out / "diagnostics.csv", delimiter=",", skiprows=1)[-1]


def test_run_on_a_sphere_with_every_geodesic_method(sphere_dir):
    finals = {}
    for method in ("dense", "sparse", "hmatrix"):
        code, out = _run(sphere_dir, method, distance="geodesic", method=method)
        assert code == 0
        summary = json.loads((out / "summary.json").read_text())
        assert summary["mesh"]["dim"] == 3 and summary["mesh"]["tdim"] == 2
        assert summary["kernel"]["dim"] == 2 and summary["nonlocal"]["distance"] == "geodesic"
        finals[method] = _final_V(out)
    np.testing.assert_allclose(finals["sparse"], finals["dense"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(finals["hmatrix"], finals["dense"], rtol=1e-12, atol=1e-12)
    code, out = _run(sphere_dir, "chordal", method="dense")
    assert code == 0
    assert not np.allclose(_final_V(out), finals["dense"])  # chordal ≠ geodesic
    code, fast = _run(sphere_dir, "chordal-nufft", method="nufft")
    assert code == 0
    np.testing.assert_allclose(_final_V(fast), _final_V(out), rtol=0, atol=1e-6)


def test_run_with_per_vertex_data_and_units(sphere_dir):
    """ρ0 from a .npy file, a GIfTI data array and a FreeSurfer morphometry file give the same
    run; a GIfTI sphere of radius
    1000 mm with units = "m" runs as the unit sphere (kernel width in metres)."""
    sphere = icosphere(3)
    rho = 1.0 + 0.5 * sphere.vertices[:, 0]
    np.save(sphere_dir / "rho.npy", rho)
    data = nibabel.gifti.GiftiDataArray(rho.astype(np.float32), "NIFTI_INTENT_SHAPE")
    nibabel.save(nibabel.gifti.GiftiImage(darrays=[data]), str(sphere_dir / "rho.shape.gii"))
    np.save(sphere_dir / "rho32.npy", rho.astype(np.float32))
    code, a = _run(sphere_dir, "npy", rho0='"rho32.npy"')
    assert code == 0
    code, b = _run(sphere_dir, "gii", rho0='"rho.shape.gii"')
    assert code == 0
    np.testing.assert_array_equal(_final_V(a), _final_V(b))
    nibabel.freesurfer.write_morph_data(str(sphere_dir / "lh.curv"), rho.astype(np.float32))
    code, curv = _run(sphere_dir, "curv", rho0='"lh.curv"')
    assert code == 0
    np.testing.assert_array_equal(_final_V(a), _final_V(curv))
    code, uniform = _run(sphere_dir, "uniform")
    assert not np.allclose(_final_V(a), _final_V(uniform))  # the file's ρ0 is used
    _write_gifti_surface(sphere_dir / "lh.sphere.gii", icosphere(3, radius=1000.0))
    code, c = _run(sphere_dir, "metres", source='"lh.sphere.gii"', mesh_extra='units = "m"')
    assert code == 0
    summary = json.loads((c / "summary.json").read_text())
    assert summary["mesh"]["units"] == "m"
    code, plain = _run(sphere_dir, "plain")
    assert code == 0
    np.testing.assert_allclose(_final_V(c), _final_V(plain), rtol=1e-5)  # float32 coordinates


def test_restart_on_a_sphere_equals_the_uninterrupted_run(sphere_dir):
    """The checkpoint stores x, y, z; a run to t = 0.2 continued to 0.4 equals a run to 0.4."""
    import h5py

    from fem_fhn.checkpoint import read_global

    geodesic = {"distance": "geodesic", "method": "sparse"}
    assert _run(sphere_dir, "whole", **geodesic)[0] == 0
    code, half = _run(sphere_dir, "half", t_end=0.2, n_outputs=1, **geodesic)
    assert code == 0
    config = sphere_dir / "half.toml"
    config.write_text(RUN.format(**{**_FIELDS, **geodesic}))
    assert main(["run", str(config), "--restart", str(half), "--quiet"]) == 0
    meta, ids, rows = read_global(half)
    _, ids_whole, rows_whole = read_global(sphere_dir / "whole")
    assert meta["t"] == pytest.approx(0.4) and np.array_equal(ids, ids_whole)
    np.testing.assert_allclose(rows, rows_whole, rtol=0, atol=1e-12)
    with h5py.File(half / "checkpoint" / "rank0.h5") as f:
        points, stored = f["points"][...], f["ids"][...]
    np.testing.assert_array_equal(points, icosphere(3).vertices[stored])


def test_two_hemispheres_in_one_mesh(sphere_dir):
    left, right = icosphere(2), icosphere(2)
    nibabel.freesurfer.write_geometry(str(sphere_dir / "lh.pial"), left.vertices, left.triangles)
    nibabel.freesurfer.write_geometry(
        str(sphere_dir / "rh.pial"), right.vertices + [3.0, 0, 0], right.triangles
    )
    code, out = _run(
        sphere_dir,
        "both",
        source='["lh.pial", "rh.pial"]',
        mesh_extra='units = "mm"',
        distance="geodesic",
        method="sparse",
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mesh"]["nodes"] == 2 * 162 and summary["mesh"]["units"] == "mm"
    # geodesic distances never cross from one component to the other, however large the cutoff
    nodes = NodalMesh.load([sphere_dir / "lh.pial", sphere_dir / "rh.pial"], MPI.COMM_SELF)
    table = mesh_geodesic_distances(nodes, 10.0).tocoo()
    left = nodes.global_index < 162
    assert table.nnz == 2 * 162**2 and np.all(left[table.row] == left[table.col])


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"distance": "geodesic", "method": "nufft"},
            "nonlocal.method = 'nufft' is not allowed with kernel.distance = 'geodesic'",
        ),
        ({"distance": "chordal"}, "kernel.distance = 'chordal' is not allowed"),
        (
            {"distance": "geodesic", "method": 'dense"\nprecision = "single'},
            "nonlocal.precision = 'single' is not allowed with nonlocal.method = 'dense'",
        ),
        (
            {"method": 'sparse"\nprecision = "single'},
            "nonlocal.precision = 'single' is not allowed with kernel.distance = 'euclidean'",
        ),
        ({"method": 'sparse"\nprecision = "half'}, "nonlocal.precision = 'half' is not allowed"),
        ({"mesh_extra": 'units = "inch"'}, "mesh.units = 'inch' is not allowed"),
        ({"source": '["sphere.obj", "square.msh"]'}, "is not a surface file"),
    ],
)
def test_bad_surface_configs_are_refused(sphere_dir, fields, message, capsys):
    code, out = _run(sphere_dir, "bad", **fields)
    assert code == EXIT_BAD_INPUT and not out.exists()
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


@pytest.mark.parametrize(("kind", "words"), BAD_SURFACES)
def test_bad_surface_file_is_refused_before_any_output(sphere_dir, capsys, kind, words):
    """Every problem `check_surface` names stops `fem-fhn run` with one line, nothing written
    (the surface written as a TVB zip, whose text holds any coordinates and indices)."""
    surface = broken(icosphere(2), kind)
    with zipfile.ZipFile(sphere_dir / "bad.zip", "w") as archive:
        archive.writestr(
            "vertices.txt", "\n".join(" ".join(map(repr, p)) for p in surface.vertices.tolist())
        )
        archive.writestr(
            "triangles.txt", "\n".join(" ".join(map(str, t)) for t in surface.triangles.tolist())
        )
    code, out = _run(sphere_dir, "bad", source='"bad.zip"')
    assert code == EXIT_BAD_INPUT and not out.exists()
    err = capsys.readouterr().err.strip()
    assert words in err and "mesh.source" in err and "\n" not in err


def test_config_reads_surface_lists(sphere_dir):
    (sphere_dir / "c.toml").write_text('[mesh]\nsource = ["sphere.obj"]\n')
    config = load_config(sphere_dir / "c.toml")
    assert config.mesh_source() == (sphere_dir / "sphere.obj",)
    (sphere_dir / "d.toml").write_text("[mesh]\nsource = []\n")
    with pytest.raises(ParameterError, match="mesh.source = \\[\\] is not allowed"):
        load_config(sphere_dir / "d.toml")


def test_bistable_front_crosses_the_equator_at_the_planar_speed():
    """Local model, W ≡ w0 (τ = 0), unit sphere, D = 0.06: the front v3 (south) | v1 (north),
    started at latitude 0.25, crosses the equator (geodesic curvature 0) at c = −3 v2 √(D/2)
    within 2 % (measured 0.86 % at 2 562 nodes). The front's arc-length position s_f comes from
    the area of the v3 side: ∫ (V − v1)/(v3 − v1) dA / |S| = (1 + sin s_f)/2."""
    w0 = 0.1
    v1, v2, v3 = np.sort(np.roots([-1.0, 0.0, 1.0, -w0]).real)
    D = 0.06
    c = -3 * v2 * np.sqrt(D / 2)
    nodes = sphere_nodes(4)
    s = np.arcsin(np.clip(nodes.coords[:, 2], -1, 1))
    V0 = (v3 + v1) / 2 - (v3 - v1) / 2 * np.tanh((v3 - v1) * (s - 0.25) / (2 * np.sqrt(2 * D)))
    model = LocalFHN(nodes, FHNParameters(a=0.0, b=0.0, tau=0.0), D)
    y = model.state(V0, np.full(nodes.n_owned, w0))
    period = 0.5 / abs(c) / 20
    stepper = IMEXRungeKutta(period / 10)
    times, positions, t = [], [], 0.0
    for _ in range(21):
        share = nodes.masses @ ((y[0] - v1) / (v3 - v1)) / nodes.masses.sum()
        times.append(t)
        positions.append(np.arcsin(2 * share - 1))
        t, y, _ = stepper.advance(model, t, y, t + period)
    times, positions = np.array(times), np.array(positions)
    near = np.abs(positions) < 0.1
    assert near.sum() >= 6
    speed = np.polyfit(times[near], positions[near], 1)[0]
    assert speed == pytest.approx(c, rel=0.02)


def _circle_file(path, n):
    """The unit circle as n line cells in the plane, a gmsh file with a physical group."""
    theta = 2 * np.pi * np.arange(n) / n
    points = np.column_stack([np.cos(theta), np.sin(theta), np.zeros(n)])
    lines = np.column_stack([np.arange(n), (np.arange(n) + 1) % n])
    tags = {"gmsh:physical": [np.ones(n, dtype=int)], "gmsh:geometrical": [np.ones(n, dtype=int)]}
    mesh = meshio.Mesh(points, [("line", lines)], cell_data=tags)
    meshio.write(path, mesh, file_format="gmsh22")
    return path


def test_curve_in_the_plane(tmp_path):
    """The unit circle as a 1D mesh in 2D keeps x, y; its lumped masses sum to the perimeter of
    the polygon; K (chordal, kernel in 1D) on cos 3θ against ∫ Ψ(2 sin(φ/2)) cos 3φ dφ with second
    order; the local model's diffusion has the eigenvalue 9 on cos 3θ."""
    kernel = make_kernel({"type": "gaussian", "width": 0.3, "dim": 1})
    eigenvalue = quad(
        lambda p: kernel(np.array([2 * np.sin(p / 2)]))[0] * np.cos(3 * p), -np.pi, np.pi
    )[0]
    errors, laplace = [], []
    for n in (64, 128, 256):
        nodes = NodalMesh.load(_circle_file(tmp_path / f"circle{n}.msh", n), MPI.COMM_SELF)
        assert (nodes.dim, nodes.tdim) == (2, 1)
        assert nodes.integrate(np.ones(nodes.n_owned)) == pytest.approx(
            2 * n * np.sin(np.pi / n), rel=1e-13
        )
        u = np.cos(3 * np.arctan2(nodes.coords[:, 1], nodes.coords[:, 0]))
        op = make_operator(nodes.coords, nodes.masses, kernel, "dense", MPI.COMM_SELF)
        errors.append(np.abs(op.apply(u) - eigenvalue * u).max() / abs(eigenvalue))
        diffusion = LocalFHN(nodes, FHNParameters(), 1.0).diffusion(u)
        laplace.append(abs(-(u * nodes.masses) @ diffusion / ((u * nodes.masses) @ u) / 9 - 1))
    for e in (errors, laplace):
        orders = np.log2(np.array(e[:-1]) / np.array(e[1:]))
        assert (orders > 1.8).all(), (e, orders)


def _nonlocal_front_speed(nodes, s, dim, position, centre, D, width):
    """Speed of the front v3 (s < front) | v1 of the nonlocal model (W ≡ w0, Gaussian kernel of
    this width and second moment D, in `dim` dimensions) where it crosses s = centre; the front's
    position is `position(share)`, share the area fraction of the v3 side."""
    w0 = 0.1
    v1, _, v3 = np.sort(np.roots([-1.0, 0.0, 1.0, -w0]).real)
    strength = D / (width**2 / 2)  # the Gaussian's second moment is strength · width² / 2
    kernel = make_kernel({"type": "gaussian", "width": width, "strength": strength, "dim": dim})
    op = make_operator(nodes.coords, nodes.masses, kernel, "dense", MPI.COMM_SELF)
    rho0 = np.ones(nodes.n_owned)
    model = NonlocalFHN(NonlocalLaplacian(op, rho0), FHNParameters(a=0.0, b=0.0, tau=0.0))
    xi = (v3 - v1) * (s - centre - 0.2) / (2 * np.sqrt(2 * D))
    y = model.state((v3 + v1) / 2 - (v3 - v1) / 2 * np.tanh(xi), np.full(nodes.n_owned, w0))
    integrator = make_integrator("rk4", model.max_stable_dt())
    period = 0.35 / 0.05 / 20
    times, positions, t = [], [], 0.0
    for _ in range(21):
        share = nodes.masses @ ((y[0] - v1) / (v3 - v1)) / nodes.masses.sum()
        times.append(t)
        positions.append(position(share))
        t, y = integrator.advance(model, t, y, t + period)[:2]
    times, positions = np.array(times), np.array(positions)
    near = np.abs(positions - centre) < 0.1
    assert near.sum() >= 6
    return np.polyfit(times[near], positions[near], 1)[0]


def test_nonlocal_front_crosses_the_equator_at_the_speed_of_the_line():
    """Nonlocal model on the unit sphere (2 562 nodes, Gaussian of width 0.15 normalised in 2D,
    chordal distances) against the same model on a line (the 1D marginal of that Gaussian): the
    speeds where the front crosses the equator agree within 2 % (measured 1.0 %), while both
    differ from the local limit's −3 v2 √(D/2) by 6 %."""
    D, width = 0.06, 0.15
    sphere = sphere_nodes(4)
    latitude = np.arcsin(np.clip(sphere.coords[:, 2], -1, 1))
    on_sphere = _nonlocal_front_speed(
        sphere, latitude, 2, lambda f: np.arcsin(2 * f - 1), 0.0, D, width
    )
    length = 4.0
    line = NodalMesh.from_mesh(dolfinx.mesh.create_interval(MPI.COMM_SELF, 800, [0.0, length]))
    on_line = _nonlocal_front_speed(
        line, line.coords[:, 0], 1, lambda f: f * length, length / 2, D, width
    )
    assert on_sphere == pytest.approx(on_line, rel=0.02)
    v2 = np.sort(np.roots([-1.0, 0.0, 1.0, -0.1]).real)[1]
    assert abs(on_line / (-3 * v2 * np.sqrt(D / 2)) - 1) > 0.04  # the test tells the two apart


def test_restart_refuses_another_distance_and_keeps_a_list_of_files(sphere_dir, capsys):
    sphere = icosphere(2)
    for name, shift in (("lh.white", 0.0), ("rh.white", 3.0)):
        nibabel.freesurfer.write_geometry(
            str(sphere_dir / name), sphere.vertices + [shift, 0, 0], sphere.triangles
        )
    both = {"source": '["lh.white", "rh.white"]', "t_end": 0.2, "n_outputs": 1}
    code, out = _run(sphere_dir, "pair", **both)
    assert code == 0
    config = sphere_dir / "pair.toml"
    config.write_text(RUN.format(**{**_FIELDS, "source": both["source"], "distance": "geodesic"}))
    assert main(["run", str(config), "--restart", str(out), "--quiet"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert "kernel.distance = 'geodesic'" in err and "\n" not in err
    config.write_text(RUN.format(**{**_FIELDS, "source": both["source"]}))
    assert main(["run", str(config), "--restart", str(out), "--quiet"]) == 0


def test_output_files_and_picture_keep_the_surface(sphere_dir):
    """XDMF geometry with three coordinates per node; VTK frames and V.png of the whole sphere
    (a surface is not clipped like a volume mesh)."""
    import h5py
    import pyvista

    from fem_fhn.render import _visible

    text = RUN.format(**_FIELDS).replace(
        'formats = ["xdmf"]\npng = false', 'formats = ["xdmf", "vtk"]\npng = true'
    )
    config = sphere_dir / "pictures.toml"
    config.write_text(text)
    out = sphere_dir / "pictures"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 0
    with h5py.File(out / "fields.h5") as f:
        geometry = f["Mesh/mesh/geometry"][...]
    vertices = icosphere(3).vertices
    np.testing.assert_array_equal(np.sort(geometry, axis=0), np.sort(vertices, axis=0))
    assert (out / "V.png").stat().st_size > 0
    reader = pyvista.get_reader(str(out / "vtk" / "fields.pvd"))
    grid = reader.read()
    grid = grid.combine() if isinstance(grid, pyvista.MultiBlock) else grid
    assert grid.n_points == len(vertices) and np.ptp(grid.points[:, 2]) == pytest.approx(2.0)
    shown = _visible(grid, True)
    assert shown.n_points == grid.n_points and shown.bounds == grid.bounds
    cube = pyvista.ImageData(dimensions=(5, 5, 5)).cast_to_unstructured_grid().triangulate()
    assert _visible(cube, True).bounds[2] == pytest.approx(2.0)  # a volume mesh: y ≥ centre


def test_kinetic_negative_coupling_with_geodesic_distances():
    """Ψ⁻*ρ0 of a Mexican hat with geodesic distances (the kinetic model's velocity bound) against
    the dense sum of max(−Ψ, 0) at the great-circle distances, within 1 %."""
    from fem_fhn.kinetic.model import negative_coupling

    hat = {"type": "mexican_hat", "width_exc": 0.1, "width_inh": 0.2, "a_exc": 2.0, "a_inh": 1.0}
    kernel = make_kernel({**hat, "dim": 2})
    nodes = sphere_nodes(4)
    rho0 = 1.0 + 0.5 * nodes.coords[:, 0]
    result = negative_coupling(nodes, kernel, rho0, MPI.COMM_SELF, geodesic_tol=1e-10)
    angles = np.arccos(np.clip(nodes.coords @ nodes.coords.T, -1, 1))
    expected = (np.maximum(-kernel(angles), 0.0) * nodes.masses) @ rho0
    assert expected.min() > 0
    np.testing.assert_allclose(result, expected, rtol=0.01)
