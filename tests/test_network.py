"""Network of FHN neurons: sampling, graph, model, IMEX integrators, moments (serial)."""

import math

import numpy as np
import pytest
from mpi4py import MPI

from fem_fhn import kernels, neuron
from fem_fhn._fenics import dolfinx
from fem_fhn.mesh import NodalMesh
from fem_fhn.network import (
    NetworkFHN,
    ParticleMoments,
    ParticleWriter,
    default_radius,
    empirical_distance,
    initial_state,
    place_particles,
    radius_for,
    sample_kinetic_state,
    sample_particles,
    short_range_graph,
)
from fem_fhn.network.rng import normals, uniforms
from fem_fhn.network.stiff import StiffSolver
from fem_fhn.ordering import morton_order
from fem_fhn.params import FHNParameters, ParameterError
from fem_fhn.simulation import Simulation
from fem_fhn.timestepping import auto_ksp_rtol, make_integrator

PARAMS = FHNParameters(a=0.40415, b=0.8, tau=0.08)
SELF = MPI.COMM_SELF
PSI = kernels.Gaussian(width=0.2, dim=2, strength=2.0)


def square(n=8):
    return NodalMesh.from_mesh(dolfinx.mesh.create_unit_square(SELF, n, n))


@pytest.fixture(scope="module")
def nodes():
    return square()


# --------------------------------------------------------------------------- random numbers


def test_counter_random_numbers_are_uniform_and_pure_functions_of_the_id():
    ids = np.arange(200_000)
    u = uniforms(5, 1, 0, ids)
    assert 0 < u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 4 * math.sqrt(1 / 12 / ids.size)
    assert abs(u.var() - 1 / 12) < 2e-3
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01
    assert abs(np.corrcoef(u, uniforms(5, 1, 1, ids))[0, 1]) < 0.01  # next counter
    assert abs(np.corrcoef(u, uniforms(6, 1, 0, ids))[0, 1]) < 0.01  # next seed
    subset = ids[::7][::-1]
    assert np.array_equal(uniforms(5, 1, 0, subset), u[subset])  # no dependence on who draws
    z = normals(5, 2, 3, ids)
    assert abs(z.mean()) < 0.01 and abs(z.var() - 1) < 0.01 and abs((z**4).mean() - 3) < 0.05


# --------------------------------------------------------------------------- sampling


def test_sampling_matches_a_nonuniform_density(nodes):
    n = 20_000
    particles = sample_particles(nodes, nodes.density("1 + x"), n, seed=3)
    x, y = particles.positions.T
    assert particles.n_owned == n and np.array_equal(particles.global_id, np.arange(n))
    assert particles.weight == pytest.approx(1.5 / n, rel=1e-14)
    # inside the mesh: barycentric coordinates ≥ 0 summing to 1, and x = Σ λ_k X_k
    assert particles.bary.min() >= 0 and np.abs(particles.bary.sum(axis=1) - 1).max() < 1e-15
    dofs = nodes.space.dofmap.list[particles.cells]
    coords = nodes.space.tabulate_dof_coordinates()[:, :2]
    rebuilt = np.einsum("pk,pkx->px", particles.bary, coords[dofs])
    assert np.abs(rebuilt - particles.positions).max() < 1e-15
    # moments of ρ0 = 1 + x on the unit square: E[x] = 5/9, Var x = 13/162, E[y] = 1/2
    assert abs(x.mean() - 5 / 9) < 3 * math.sqrt(13 / 162 / n)
    assert abs(y.mean() - 0.5) < 3 * math.sqrt(1 / 12 / n)
    # histogram in x: chi-square with 9 degrees of freedom below its 99.9 % quantile
    edges = np.linspace(0, 1, 11)
    counts = np.histogram(x, edges)[0]
    expected = n * np.diff(edges + edges**2 / 2) / 1.5
    assert np.sum((counts - expected) ** 2 / expected) < 27.88


def test_sampling_is_deterministic_and_respects_zero_density(nodes):
    rho0 = nodes.density("1.0 if x > 0.5 else 0.0")
    a = sample_particles(nodes, rho0, 3000, seed=11)
    b = sample_particles(nodes, rho0, 3000, seed=11)
    c = sample_particles(nodes, rho0, 3000, seed=12)
    assert np.array_equal(a.positions, b.positions)
    assert np.abs(a.positions - c.positions).max() > 0.1
    assert a.positions[:, 0].min() > 0.5  # the P1 interpolant vanishes for x ≤ 0.5 here
    # the first particles do not change when more are drawn
    more = sample_particles(nodes, rho0, 6000, seed=11)
    assert np.array_equal(more.positions[:3000], a.positions)


@pytest.mark.parametrize("dim", [1, 3])
def test_sampling_in_one_and_three_dimensions(dim):
    create = {
        1: lambda: dolfinx.mesh.create_unit_interval(SELF, 10),
        3: lambda: dolfinx.mesh.create_unit_cube(SELF, 3, 3, 3),
    }[dim]
    nodes = NodalMesh.from_mesh(create())
    n = 10_000
    particles = sample_particles(nodes, nodes.density("2.0"), n, seed=1)
    assert particles.dim == dim and particles.total_mass == pytest.approx(2.0, rel=1e-13)
    assert particles.bary.min() >= 0
    pos = particles.positions
    assert pos.min() >= 0 and pos.max() <= 1
    assert np.abs(pos.mean(axis=0) - 0.5).max() < 3 * math.sqrt(1 / 12 / n)
    moments = ParticleMoments(particles)
    assert moments.mass.sum() == pytest.approx(2.0, rel=1e-13)


def test_place_particles_locates_given_positions(nodes):
    rng = np.random.default_rng(0)
    points = rng.random((500, 2))
    points[:3] = [[0.0, 0.0], [0.5, 0.5], [0.125, 0.25]]  # a corner, mesh vertices
    particles = place_particles(nodes, points, mass=3.0)
    assert np.array_equal(particles.global_id, np.arange(500))
    assert np.array_equal(particles.positions, points)
    assert particles.bary.min() > -1e-14 and particles.weight == pytest.approx(3.0 / 500)
    dofs = nodes.space.dofmap.list[particles.cells]
    coords = nodes.space.tabulate_dof_coordinates()[:, :2]
    rebuilt = np.einsum("pk,pkx->px", particles.bary, coords[dofs])
    assert np.abs(rebuilt - points).max() < 1e-14
    with pytest.raises(ParameterError, match="outside the mesh"):
        place_particles(nodes, np.array([[0.5, 0.5], [1.5, 0.2]]))


def test_kinetic_initial_density_by_rejection(nodes):
    particles = sample_particles(nodes, nodes.density(1.0), 4000, seed=2)

    def f0(x, v, w):
        return np.exp(-((v - x[:, 0]) ** 2) / 0.02 - (w - 0.1) ** 2 / 0.02)

    v, w = sample_kinetic_state(particles, f0, (-1.0, 2.0), (-0.5, 0.7), f_max=1.0, seed=3)
    n = particles.n_owned
    assert abs((v - particles.positions[:, 0]).mean()) < 3 * 0.1 / math.sqrt(n)
    assert np.var(v - particles.positions[:, 0]) == pytest.approx(0.01, rel=0.1)
    assert abs(w.mean() - 0.1) < 3 * 0.1 / math.sqrt(n)
    with pytest.raises(ParameterError, match="upper bound"):
        sample_kinetic_state(particles, f0, (-1.0, 2.0), (-0.5, 0.7), f_max=0.5)


def test_default_radius_gives_the_requested_neighbour_count(nodes):
    n = 20_000
    rho0 = nodes.density(1.0)
    r = radius_for(nodes, rho0, n, neighbours=30)
    assert r == pytest.approx(math.sqrt(30 / (math.pi * n)), rel=1e-12)
    assert default_radius(8 * n, 3, 1.0) == pytest.approx(default_radius(n, 3, 1.0) / 2)
    particles = sample_particles(nodes, rho0, n, seed=4)
    graph = short_range_graph(particles.positions, particles.weight, r, SELF)
    interior = np.all((particles.positions > r) & (particles.positions < 1 - r), axis=1)
    neighbours = np.diff(graph.adjacency.indptr)[interior]
    assert neighbours.mean() == pytest.approx(30, rel=0.05)


# --------------------------------------------------------------------------- model


def test_uncoupled_neurons_follow_the_single_neuron_ode(nodes):
    particles = sample_particles(nodes, nodes.density(1.0), 20, seed=5)
    model = NetworkFHN.from_particles(particles, PARAMS)  # Ψ = 0, no short-range term
    y0 = initial_state(particles, "2*x - 1", "y - 0.5", spread=(0.3, 0.1), seed=6)
    _, y, _ = make_integrator("rk4", 0.01).advance(model, 0.0, y0, 5.0)
    for i in range(particles.n_owned):
        _, v, w = neuron.trajectory(PARAMS, y0[0, i], y0[1, i], 5.0, n_points=2)
        assert abs(y[0, i] - v[-1]) < 1e-8 and abs(y[1, i] - w[-1]) < 1e-8
    _, y2, _ = make_integrator("imex-ars222", 0.01).advance(model, 0.0, y0, 5.0)
    assert np.abs(y2 - y).max() < 1e-3  # second order, no stiff part


@pytest.fixture(scope="module")
def coupled():
    nodes = square(6)
    rho0 = nodes.density("1 + x")
    particles = sample_particles(nodes, rho0, 300, seed=3)
    model = NetworkFHN.from_particles(particles, PARAMS, PSI, eps=0.1, radius=0.2)
    y0 = initial_state(particles, "sin(3*x)*cos(2*y)", "0.2*x - 0.1", spread=(0.1, 0.05), seed=4)
    _, reference, _ = make_integrator("rk4", 2e-3).advance(model, 0.0, y0, 1.0)
    return particles, model, y0, reference


def test_symmetric_coupling_conserves_the_weighted_mean_voltage(coupled):
    particles, model, y0, _ = coupled
    v = y0[0]
    for term in (model.long_range(v), model.short_range(v), model.coupling(v)):
        assert abs(model.weighted_sum(term)) <= 1e-15 * (model.weights @ np.abs(term))
    # the implicit graph solve conserves Σ ω v too (to the CG tolerance)
    solver = StiffSolver(model.graph)
    for c in (0.5, 1e4):
        u = solver.solve(v, c)
        assert abs(model.weighted_sum(u) - model.weighted_sum(v)) < 1e-12 * model.weighted_sum(
            np.abs(v)
        )
    solver.destroy()


@pytest.mark.parametrize(
    "scheme,order", [("imex-euler", 1), ("imex-ssp2", 2), ("imex-ars222", 2), ("heun", 2)]
)
def test_imex_and_explicit_schemes_converge_at_their_order(coupled, scheme, order):
    _, model, y0, reference = coupled
    dts = [0.04, 0.02, 0.01]
    errors = [
        np.abs(make_integrator(scheme, dt).advance(model, 0.0, y0, 1.0)[1] - reference).max()
        for dt in dts
    ]
    rate = np.polyfit(np.log(dts), np.log(errors), 1)[0]
    assert abs(rate - order) < 0.15, (errors, rate)
    assert errors[-1] < 3e-3


@pytest.fixture(scope="module")
def stiff():
    nodes = square(6)
    rho0 = nodes.density("1 + x")
    n = 1000
    particles = sample_particles(nodes, rho0, n, seed=3)
    radius = radius_for(nodes, rho0, n)
    model = NetworkFHN.from_particles(particles, PARAMS, PSI, eps=1e-8, radius=radius)
    y0 = initial_state(particles, "sin(3*x)*cos(2*y)", "0.2*x - 0.1", spread=(0.1, 0.05), seed=4)
    return model, y0


@pytest.mark.parametrize("scheme", ["imex-euler", "imex-ars222", "imex-ssp2"])
def test_stiff_limit_is_stable_at_fixed_dt_and_synchronises_neighbours(stiff, scheme):
    model, y0 = stiff
    integrator = make_integrator(scheme, 0.05)
    _, y, steps = integrator.advance(model, 0.0, y0, 1.0)
    assert steps == 20  # Δt does not depend on ε = 1e-8
    assert np.all(np.isfinite(y)) and np.abs(y).max() < 2.0
    rows, cols = model.graph.edges()
    spread = np.abs(y[0][rows] - y[0][cols]).max()
    if scheme == "imex-ssp2":  # not stiffly accurate: O(Δt |Δw|) apart (see integrators)
        assert spread < 0.05
    else:
        assert spread < 1e-5
    # the weighted mean follows the averaged dynamics: no drift from the stiff term
    assert abs(model.weighted_sum(y[0])) < 10


def test_noise_is_reproducible_and_has_the_right_variance(nodes):
    particles = sample_particles(nodes, nodes.density(1.0), 2000, seed=1)
    model = NetworkFHN.from_particles(particles, PARAMS.replace(tau=0.0))
    y0 = initial_state(particles, 0.0, 0.0)
    runs = [
        make_integrator("imex-euler", 1e-3, noise=0.5, seed=9).advance(model, 0.0, y0, 0.1)[1]
        for _ in range(2)
    ]
    assert np.array_equal(runs[0], runs[1])
    # v' = v − v³ + σ dW from 0 over t = 0.1: Var v ≈ σ² (e^{2t} − 1)/2 = 0.0276
    assert np.var(runs[0][0]) == pytest.approx(0.25 * (math.exp(0.2) - 1) / 2, rel=0.1)


def test_integrator_names_are_checked():
    with pytest.raises(ParameterError, match="time.scheme"):
        make_integrator("imex-bogus", 0.1)
    with pytest.raises(ParameterError, match="network.noise"):
        make_integrator("rk4", 0.1, noise=0.1)


# --------------------------------------------------------------------------- moments and output


def test_deposit_reproduces_constants_and_total_mass(nodes):
    rho0 = nodes.density("1 + x*y")
    particles = sample_particles(nodes, rho0, 5000, seed=8)
    moments = ParticleMoments(particles)
    fields = moments.fields(np.full(5000, 0.37), np.full(5000, -1.25))
    positive = fields["rho"] > 0
    assert positive.all()
    assert np.abs(fields["V"] - 0.37).max() < 1e-14 * 0.37  # to round-off
    assert np.abs(fields["W"] + 1.25).max() < 1e-14 * 1.25
    assert nodes.integrate(fields["rho"]) == pytest.approx(5000 * particles.weight, rel=1e-14)
    assert nodes.integrate(fields["rho"]) == pytest.approx(nodes.integrate(rho0), rel=1e-14)


def moment_distances(nodes, rho0, V0, W0, ns, spread):
    distances = []
    for n in ns:
        particles = sample_particles(nodes, rho0, n, seed=1)
        y0 = initial_state(particles, V0, W0, spread=spread, seed=2)
        fields = ParticleMoments(particles).fields(*y0)
        distances.append(empirical_distance(nodes, fields, nodes.field(V0), nodes.field(W0), rho0))
    return np.array(distances)


def test_empirical_distance_to_the_initial_moments_decreases_like_n_to_minus_half(nodes):
    rho0 = nodes.density("1 + x")
    ns = [1_000, 10_000, 100_000]
    # constant moments with a spread: the distance is the sampling error only, ∝ n^{-1/2}
    distances = moment_distances(nodes, rho0, 0.5, -0.2, ns, spread=(0.5, 0.5))
    rate = np.polyfit(np.log(ns), np.log(distances), 1)[0]
    assert abs(rate + 0.5) < 0.05, (distances, rate)
    # Var V_k = s² ∫ρ0 (∫φ_k²/∫φ_k) / (n m_k ρ_k) with ∫φ_k²/∫φ_k = 1/2 for P1 triangles, so
    # D² ≈ (#nodes) ∫ρ0 (s_v² + s_w²)/(4n): 81 nodes, ∫ρ0 = 3/2
    assert distances[-1] == pytest.approx(math.sqrt(81 * 1.5 * 0.5 / (4 * ns[-1])), rel=0.05)
    # smooth moments: the same decrease down to the O(h²) deposit bias of the mesh
    smooth = moment_distances(nodes, rho0, "sin(3*x)*cos(2*y)", "0.2*x - 0.1", ns, (0.2, 0.2))
    assert smooth[0] > smooth[1] > smooth[2] > 0.5 * smooth[1]


def test_simulation_writes_mesh_fields_and_particle_files(nodes, tmp_path):
    import meshio

    from fem_fhn.io import FieldWriter

    rho0 = nodes.density("1 + x")
    particles = sample_particles(nodes, rho0, 400, seed=1)
    model = NetworkFHN.from_particles(particles, PARAMS, PSI, eps=0.01, radius=0.15)
    y0 = initial_state(particles, "tanh((x - 0.3)/0.1)", -0.3)
    fields = FieldWriter(nodes, model.fields, tmp_path, ("vtk",))
    cloud = ParticleWriter(particles, tmp_path)
    sim = Simulation(
        model,
        make_integrator("imex-ars222", 0.05),
        np.linspace(0.0, 0.5, 3),
        [fields],
        progress=False,
        model_outputs=[cloud],
    )
    y = sim.run(y0)
    fields.close()
    cloud.close()
    assert (tmp_path / "vtk" / "fields.pvd").is_file()
    assert (tmp_path / "particles.pvd").read_text().count("<DataSet") == 3
    last = meshio.read(tmp_path / "particles_00002.vtu")
    assert last.points.shape == (400, 3)
    assert np.array_equal(last.point_data["v"], y[0])
    assert np.array_equal(last.point_data["global_id"], np.arange(400))


# ------------------------------------------------------------ Morton order, CG tolerance


def test_morton_order_puts_graph_neighbours_close_in_memory():
    points = np.random.default_rng(5).random((4000, 2))
    perm = morton_order(points)
    assert np.array_equal(np.sort(perm), np.arange(4000))
    assert np.array_equal(perm, morton_order(points + 3.0))  # a property of the points only
    graph = short_range_graph(points, 1 / 4000, radius=0.03, comm=SELF)
    assert np.array_equal(graph.order, perm)
    position = np.empty_like(perm)
    position[perm] = np.arange(4000)
    rows, cols = graph.edges()
    natural = np.abs(rows - cols).mean()
    ordered = np.abs(position[rows] - position[cols]).mean()
    assert ordered < natural / 10, (natural, ordered)


@pytest.fixture(scope="module")
def stiff_network():
    nodes = square(6)
    rho0 = nodes.density("1 + x")
    particles = sample_particles(nodes, rho0, 2000, seed=3)
    radius = radius_for(nodes, rho0, 2000)
    model = NetworkFHN.from_particles(particles, FHNParameters(), PSI, eps=1e-3, radius=radius)
    y0 = initial_state(particles, "sin(3*x)*cos(2*y)", "0.2*x - 0.1", spread=(0.1, 0.05), seed=4)
    strict = network_integrator(model, "imex-ars222", 0.05, ksp_rtol=1e-14, reorder=False)
    return model, y0, strict.advance(model, 0.0, y0, 1.0)[1]


@pytest.mark.parametrize("ksp_rtol", [1e-14, 1e-10, "auto"])
def test_morton_ordered_solves_equal_the_particle_ordered_strict_run(stiff_network, ksp_rtol):
    """Reordered = unordered to round-off at one tolerance; any tolerance within 10 × of it."""
    model, y0, strict = stiff_network
    runs = {}
    for reorder in (False, True):
        integrator = network_integrator(
            model, "imex-ars222", 0.05, ksp_rtol=ksp_rtol, reorder=reorder
        )
        runs[reorder] = integrator.advance(model, 0.0, y0, 1.0)[1]
    rtol = integrator.part.solver.ksp_rtol
    assert rtol == (auto_ksp_rtol(0.05, 2) if ksp_rtol == "auto" else ksp_rtol)
    assert np.abs(runs[True] - runs[False]).max() < 1e-12
    assert np.abs(runs[True] - strict).max() < max(10 * rtol, 1e-13)


def test_auto_ksp_rtol_follows_the_truncation_error():
    assert auto_ksp_rtol(0.05, 2) == pytest.approx(1e-3 * 0.05**3, rel=1e-15)
    assert auto_ksp_rtol(0.01, 1) == pytest.approx(1e-7, rel=1e-15)
    assert auto_ksp_rtol(1.0, 2) == 1e-6
    particles = sample_particles(square(4), 1.0, 50, seed=1)
    model = NetworkFHN.from_particles(particles, PARAMS, None, eps=0.01, radius=0.3)
    with pytest.raises(ParameterError, match="network.ksp_rtol = 'loose' is not allowed"):
        network_integrator(model, "imex-ars222", 0.05, ksp_rtol="loose").advance(
            model, 0.0, np.zeros((2, particles.n_owned)), 0.05
        )


def network_integrator(model, scheme, dt, ksp_rtol="auto", reorder=True, **options):
    """An integrator for `model` whose implicit graph solves use this tolerance and order."""
    model.ksp_rtol, model.reorder = ksp_rtol, reorder
    return make_integrator(scheme, dt, **options)
