"""The network on curves and surfaces in space: neurons sampled from ρ0 on the triangles of an
icosphere (and the segments of a circle) against closed forms on the polyhedron, positions located
in their cells, χ_r normalised on the surface, moments converging to the mean field like n^{-1/2},
and `fem-fhn run` with the network on a surface file."""

import json
import math

import meshio
import numpy as np
import pytest
from mpi4py import MPI
from scipy.stats import chi2
from test_network import moment_distances

from fem_fhn import kernels
from fem_fhn._fenics import dolfinx
from fem_fhn.cli import EXIT_BAD_INPUT, main
from fem_fhn.mesh import NodalMesh
from fem_fhn.network import (
    NetworkFHN,
    ParticleMoments,
    place_particles,
    radius_for,
    sample_particles,
    short_range_graph,
)
from fem_fhn.params import FHNParameters, ParameterError
from fem_fhn.surface import icosphere, surface_mesh

SELF = MPI.COMM_SELF
SPHERE = icosphere(3)  # 642 vertices, 1 280 triangles


@pytest.fixture(scope="module")
def nodes():
    nodes = NodalMesh.from_mesh(surface_mesh(SPHERE, SELF))
    assert np.array_equal(nodes.coords, SPHERE.vertices[nodes.global_index])
    return nodes


def circle(n: int) -> tuple[NodalMesh, np.ndarray, np.ndarray]:
    """The unit circle as n segments in the plane: nodes, vertices and segments."""
    import basix.ufl

    theta = 2 * np.pi * np.arange(n) / n
    vertices = np.column_stack([np.cos(theta), np.sin(theta)])
    segments = np.column_stack([np.arange(n), (np.arange(n) + 1) % n])
    element = basix.ufl.element("Lagrange", "interval", 1, shape=(2,))
    mesh = dolfinx.mesh.create_mesh(SELF, segments, element, vertices)
    return NodalMesh.from_mesh(mesh), vertices, segments


def cell_measures(vertices: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Lengths of segments or areas of triangles (cross product), from the input arrays."""
    x = vertices[cells]
    if cells.shape[1] == 2:
        return np.linalg.norm(x[:, 1] - x[:, 0], axis=1)
    return np.linalg.norm(np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0]), axis=1) / 2


def p1_moments(vertices, cells, rho):
    """(∫_T ρ per cell, ∫ x ρ) for P1 ρ on simplices: ∫_T φ_i φ_j = |T|(1 + δ_ij)/((d+1)(d+2))."""
    d = cells.shape[1] - 1
    size = cell_measures(vertices, cells)
    r, x = rho[cells], vertices[cells]  # (m, d+1), (m, d+1, D)
    mass = size * r.sum(axis=1) / (d + 1)
    first = (x * r[:, :, None]).sum(axis=1) + x.sum(axis=1) * r.sum(axis=1)[:, None]
    return mass, (size[:, None] * first).sum(axis=0) / ((d + 1) * (d + 2))


def check_sample(nodes, vertices, cells, rho_input, n, seed):
    """Sample n particles of the nodal ρ0 and test them against the P1 closed forms."""
    rho0 = rho_input[nodes.global_index]
    particles = sample_particles(nodes, rho0, n, seed=seed)
    mass, first = p1_moments(vertices, cells, rho_input)
    total = mass.sum()
    assert particles.n_owned == n and particles.dim == vertices.shape[1]
    assert particles.total_mass == pytest.approx(total, rel=1e-13)
    # each position is Σ_k λ_k X_k of its cell (λ ≥ 0, Σ λ = 1): it lies on the cell
    assert particles.bary.min() >= 0 and np.abs(particles.bary.sum(axis=1) - 1).max() < 1e-15
    dofs = nodes.space.dofmap.list[particles.cells]
    corners = nodes.space.tabulate_dof_coordinates()[:, : vertices.shape[1]][dofs]
    rebuilt = np.einsum("pk,pkx->px", particles.bary, corners)
    assert np.abs(rebuilt - particles.positions).max() < 1e-15
    # cells chosen with probability ∫_T ρ0 / ∫ρ0: chi-square below its 99.9 % quantile
    original = nodes.mesh.topology.original_cell_index[particles.cells]
    counts = np.bincount(original, minlength=len(cells))
    expected = n * mass / total
    assert np.sum((counts - expected) ** 2 / expected) < chi2.ppf(0.999, len(cells) - 1)
    # the point in its cell has density ∝ ρ0 there: the mean position is ∫ x ρ0 / ∫ρ0 (4 σ)
    spread = particles.positions.std(axis=0) / math.sqrt(n)
    assert np.all(np.abs(particles.positions.mean(axis=0) - first / total) < 4 * spread)
    # ρ0 at the particle, against E[ρ0(x) | T] = (S² + Σ ρ_k²)/(4S) (S = Σ ρ_k, triangles):
    # ρ0 has random nodal values, so a uniform point in T (mean S/3) is far off
    if cells.shape[1] == 3:
        r = nodes.function(rho0).x.array[dofs]
        at = np.einsum("pk,pk->p", particles.bary, r)
        s = r.sum(axis=1)
        conditional = (s**2 + (r**2).sum(axis=1)) / (4 * s)
        error = at.std() / math.sqrt(n)
        assert abs(np.mean(at - conditional)) < 4 * error
        assert abs(np.mean(at - s / 3)) > 20 * error
    return particles


def test_sampling_on_the_sphere_matches_rho0(nodes):
    """Random P1 ρ0 on the icosphere: total mass, positions on their triangles, cell counts
    (chi-square), mean position and the law inside the cell against the P1 closed forms."""
    rho_input = np.random.default_rng(4).uniform(0.05, 1.0, len(SPHERE.vertices))
    particles = check_sample(nodes, SPHERE.vertices, SPHERE.triangles, rho_input, 40_000, 3)
    norms = np.linalg.norm(particles.positions, axis=1)
    assert norms.max() <= 1 + 1e-15 and norms.min() > 0.99  # on the polyhedron, not flattened
    assert np.ptp(particles.positions[:, 2]) > 1.9


def test_sampling_on_a_circle_matches_rho0():
    nodes, vertices, segments = circle(64)
    assert (nodes.dim, nodes.tdim) == (2, 1)
    rho_input = 1.0 + 0.8 * vertices[:, 0]
    check_sample(nodes, vertices, segments, rho_input, 20_000, 5)


def test_place_particles_on_the_sphere(nodes):
    """Sampled positions placed back: the same cells and barycentric coordinates; points just
    off a triangle take their projection's coordinates; points off the surface are refused."""
    rho0 = nodes.density("1 + 0.5*z")
    sampled = sample_particles(nodes, rho0, 2000, seed=1)
    placed = place_particles(nodes, sampled.positions, mass=sampled.total_mass)
    assert np.array_equal(placed.global_id, np.arange(2000))
    assert np.array_equal(placed.cells, sampled.cells)
    assert np.abs(placed.bary - sampled.bary).max() < 1e-12
    # centroids lifted 1e-8 off their triangles: located, with the projection's λ = 1/3
    corners = SPHERE.vertices[SPHERE.triangles]
    normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    lifted = corners.mean(axis=1) + 1e-8 * normal / np.linalg.norm(normal, axis=1)[:, None]
    placed = place_particles(nodes, lifted)
    assert np.array_equal(nodes.mesh.topology.original_cell_index[placed.cells], placed.global_id)
    assert np.abs(placed.bary - 1 / 3).max() < 1e-12
    with pytest.raises(ParameterError, match="1 of 2 points lie outside the mesh .farther than"):
        place_particles(nodes, np.vstack([sampled.positions[:1], 1.05 * sampled.positions[:1]]))


def test_short_range_kernel_is_normalised_on_the_surface(nodes):
    """On a sphere ∫ χ_r(|x − y|) dA(y) = 2π ∫_0^r χ_r(c) c dc = 1 for chordal c (Archimedes):
    with ρ0 = 1 the mean degree Σ_j χ_r ω is 1 (within 1 %), and r(n) gives ~30 neighbours."""
    rho0 = np.ones(nodes.n_owned)
    n = 20_000
    particles = sample_particles(nodes, rho0, n, seed=2)
    radius = radius_for(nodes, rho0, n)
    area = cell_measures(SPHERE.vertices, SPHERE.triangles).sum()
    assert radius == pytest.approx(math.sqrt(30 * area / (n * math.pi)), rel=1e-12)
    for profile in ("bump", "indicator"):
        graph = short_range_graph(particles.positions, particles.weights, radius, SELF, profile, 2)
        assert graph.degree.mean() == pytest.approx(1.0, abs=0.01)
        assert graph.adjacency.nnz / n == pytest.approx(30, rel=0.05)


def test_network_coupling_conserves_the_weighted_mean_on_the_sphere(nodes):
    """Σ_i ω_i (coupling v)_i = 0 to round-off with Ψ (dense, chordal) and χ_r on the sphere;
    the H-matrix and NUFFT long-range terms agree with the dense one."""
    rho0 = nodes.density("1 + 0.5*z")
    particles = sample_particles(nodes, rho0, 1500, seed=4)
    psi = kernels.Gaussian(width=0.3, dim=2, strength=2.0)
    model = NetworkFHN.from_particles(
        particles, FHNParameters(), psi, eps=1e-3, radius=radius_for(nodes, rho0, 1500)
    )
    assert model.graph.kernel.dim == 2 and model.op.info()["method"] == "dense"
    v = np.sin(3 * particles.positions[:, 0]) + particles.positions[:, 2]
    coupling = model.coupling(v)
    scale = np.abs(particles.weights * coupling).sum()
    assert abs(model.weighted_sum(coupling)) < 1e-13 * scale
    # the fast methods on the same points in 3D (nufft with Ψ's transform in space)
    reference = model.long_range(v)
    for method in ("hmatrix", "nufft"):
        fast = NetworkFHN.from_particles(particles, FHNParameters(), psi, method=method, tol=1e-8)
        error = np.abs(fast.long_range(v) - reference).max()
        assert error < 1e-7 * np.abs(reference).max(), (method, error)  # measured 6e-9


def test_moments_on_the_sphere_converge_to_the_mean_field(nodes):
    """Deposited moments: constants and ∫ρ kept to round-off; the distance to the mean-field
    moments falls like n^{-1/2}, with D² ≈ (#nodes) ∫ρ0 (s_v² + s_w²)/(4n) as on a plane."""
    rho0 = nodes.density("1 + 0.5*z")
    total = nodes.integrate(rho0)
    particles = sample_particles(nodes, rho0, 5000, seed=8)
    fields = ParticleMoments(particles).fields(np.full(5000, 0.37), np.full(5000, -1.25))
    assert np.abs(fields["V"] - 0.37).max() < 1e-14 and np.abs(fields["W"] + 1.25).max() < 1e-14
    assert nodes.integrate(fields["rho"]) == pytest.approx(total, rel=1e-14)
    ns = [2_000, 20_000, 200_000]
    distances = moment_distances(nodes, rho0, 0.5, -0.2, ns, spread=(0.5, 0.5))
    rate = np.polyfit(np.log(ns), np.log(distances), 1)[0]
    assert abs(rate + 0.5) < 0.05, (distances, rate)
    expected = math.sqrt(nodes.n_global * total * 0.5 / (4 * ns[-1]))
    assert distances[-1] == pytest.approx(expected, rel=0.05)
    smooth = moment_distances(nodes, rho0, "sin(3*x)*cos(2*y)", "0.2*z - 0.1", ns, (0.2, 0.2))
    assert smooth[0] > smooth[1] > smooth[2]


NETWORK = """
[mesh]
source = "sphere.obj"
[rho0]
value = "1 + 0.3*z"
[kernel]
type = "gaussian"
width = 0.3
strength = 2.0
distance = "{distance}"
[initial]
V = "1.0 if z > 0.8 else -0.69248"
W = -0.36042
[solver]
model = "network"
[network]
{network}
eps = 1e-3
[time]
t_end = {t_end}
dt = 0.05
scheme = "imex-ars222"
n_outputs = 2
[output]
formats = ["xdmf"]
png = false
gif = false
progress = false
"""


@pytest.fixture
def sphere_dir(tmp_path):
    meshio.write_points_cells(
        str(tmp_path / "sphere.obj"), SPHERE.vertices, [("triangle", SPHERE.triangles)]
    )
    return tmp_path


def _run(folder, name, distance="euclidean", network="n = 1000", t_end=0.2, restart=None):
    config = folder / f"{name}.toml"
    config.write_text(NETWORK.format(distance=distance, network=network, t_end=t_end))
    where = ["--restart", str(restart)] if restart else ["--out", str(folder / name)]
    return main(["run", str(config), *where, "--quiet"]), folder / name


def test_run_network_on_a_surface_file(sphere_dir):
    """`fem-fhn run` with the network on an OBJ sphere: ∫ρ kept, particle files in 3D on the
    polyhedron; given positions (the triangles' centroids) are placed on the surface."""
    code, out = _run(sphere_dir, "sampled")
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_global"] == 1000 and summary["short_range"]["kernel"] == "Bump"
    area = cell_measures(SPHERE.vertices, SPHERE.triangles).sum()
    mass, _ = p1_moments(SPHERE.vertices, SPHERE.triangles, 1 + 0.3 * SPHERE.vertices[:, 2])
    assert summary["final"]["mean_rho"] == pytest.approx(mass.sum() / area, rel=1e-12)
    frames = sorted((out / "particles").glob("*.vtu"))
    assert len(frames) == 3
    points = meshio.read(frames[-1]).points
    norms = np.linalg.norm(points, axis=1)
    assert points.shape == (1000, 3) and norms.max() <= 1 + 1e-15 and norms.min() > 0.99
    centroids = SPHERE.vertices[SPHERE.triangles].mean(axis=1)
    np.save(sphere_dir / "centroids.npy", centroids)
    code, out = _run(sphere_dir, "placed", network='positions = "centroids.npy"')
    assert code == 0
    assert json.loads((out / "summary.json").read_text())["n_global"] == len(centroids)


def test_noisy_network_restart_on_a_surface_equals_the_uninterrupted_run(sphere_dir):
    from fem_fhn.checkpoint import read_global

    noisy = "n = 600\nnoise = 0.1"
    assert _run(sphere_dir, "whole", network=noisy, t_end=0.4)[0] == 0
    code, half = _run(sphere_dir, "half", network=noisy, t_end=0.2)
    assert code == 0
    assert _run(sphere_dir, "rest", network=noisy, t_end=0.4, restart=half)[0] == 0
    meta, ids, rows = read_global(half)
    _, ids_whole, rows_whole = read_global(sphere_dir / "whole")
    assert meta["t"] == pytest.approx(0.4) and np.array_equal(ids, ids_whole)
    np.testing.assert_allclose(rows, rows_whole, rtol=0, atol=1e-12)


def test_network_with_geodesic_distances_is_refused(sphere_dir, capsys):
    code, out = _run(sphere_dir, "geodesic", distance="geodesic")
    assert code == EXIT_BAD_INPUT and not out.exists()
    err = capsys.readouterr().err.strip()
    assert "kernel.distance = 'geodesic' is not allowed with solver.model = 'network'" in err
    assert "\n" not in err
