"""Network rank independence: run under `mpirun -n 2`; each test compares a computation on
COMM_WORLD with the same computation on COMM_SELF (particles compared by global id)."""

import numpy as np
import pytest
from mpi4py import MPI

from fem_fhn import kernels
from fem_fhn._fenics import dolfinx
from fem_fhn.mesh import NodalMesh
from fem_fhn.network import (
    NetworkFHN,
    ParticleMoments,
    ParticleWriter,
    initial_state,
    place_particles,
    radius_for,
    sample_particles,
)
from fem_fhn.parallel import to_global_order
from fem_fhn.params import FHNParameters
from fem_fhn.timestepping import make_integrator

pytestmark = pytest.mark.mpi
COMM = MPI.COMM_WORLD
PSI = kernels.Gaussian(width=0.2, dim=2, strength=2.0)


def square(comm, n=6):
    return NodalMesh.from_mesh(dolfinx.mesh.create_unit_square(comm, n, n))


def by_id(particles, values):
    return to_global_order(particles.comm, particles.global_id, values)


def on_root(value):
    """Broadcast a comparison made on rank 0 (so every rank asserts the same thing)."""
    return COMM.bcast(value, root=0)


def test_sampled_particles_do_not_depend_on_the_ranks():
    def sample(comm):
        nodes = square(comm)
        particles = sample_particles(nodes, nodes.density("1 + x"), 2000, seed=5)
        # each particle lies in a cell this rank owns
        n_cells = nodes.mesh.topology.index_map(2).size_local
        assert particles.cells.max(initial=-1) < n_cells
        assert comm.allreduce(int(particles.n_owned > 0), op=MPI.MIN) == 1  # all ranks own some
        total = comm.allreduce(particles.n_owned)
        return total, by_id(particles, particles.positions), by_id(particles, particles.bary)

    total, positions, bary = sample(COMM)
    assert total == 2000
    serial = sample(MPI.COMM_SELF) if COMM.rank == 0 else None
    same = None
    if COMM.rank == 0:
        same = np.array_equal(positions, serial[1])  # bitwise
        # barycentric coordinates are in each rank's local dof order: compare sorted rows
        same = same and np.array_equal(np.sort(bary, axis=1), np.sort(serial[2], axis=1))
    assert on_root(same)


def test_placed_particles_and_their_moments_do_not_depend_on_the_ranks():
    points = np.random.default_rng(3).random((600, 2))
    points[:3] = [[0.5, 0.5], [0.0, 1.0], [1 / 6, 2 / 6]]  # on shared vertices and edges

    def place(comm):
        nodes = square(comm)
        particles = place_particles(nodes, points, mass=2.0)
        moments = ParticleMoments(particles)
        fields = moments.fields(
            np.sin(10 * points[particles.global_id, 0]), np.ones(particles.n_owned)
        )
        total = comm.allreduce(float(moments.mass.sum()))
        rho = to_global_order(comm, nodes.global_index, fields["rho"])
        V = to_global_order(comm, nodes.global_index, fields["V"])
        return (
            comm.allreduce(particles.n_owned),
            by_id(particles, particles.positions),
            total,
            rho,
            V,
        )

    n, positions, total, rho, V = place(COMM)
    assert n == 600 and total == pytest.approx(2.0, rel=1e-14)
    serial = place(MPI.COMM_SELF) if COMM.rank == 0 else None
    error = None
    if COMM.rank == 0:
        assert np.array_equal(positions, points)
        error = max(np.abs(rho - serial[3]).max(), np.abs(V - serial[4]).max())
    assert on_root(error) < 1e-13


def noisy_run(comm, out_dir=None):
    nodes = square(comm)
    rho0 = nodes.density("1 + x")
    particles = sample_particles(nodes, rho0, 600, seed=3)
    model = NetworkFHN.from_particles(
        particles, FHNParameters(), PSI, eps=0.05, radius=radius_for(nodes, rho0, 600)
    )
    y0 = initial_state(particles, "sin(3*x)", 0.1, spread=(0.1, 0.05), seed=4)
    y = advance_noisy(particles, model, y0, out_dir)
    fields = model.fields_of(y)
    return by_id(particles, y.T), to_global_order(comm, nodes.global_index, fields["V"])


def advance_noisy(particles, model, y0, out_dir=None):
    """y at t = 1 from y0 by noisy ARS(2,2,2) (σ = 0.1, Δt = 0.05; the particle files of the last
    state in `out_dir` if given)."""
    integrator = make_integrator("imex-ars222", 0.05, noise=0.1, seed=7)
    _, y, _ = integrator.advance(model, 0.0, y0, 1.0)
    if out_dir is not None:
        writer = ParticleWriter(particles, out_dir)
        writer(1.0, y, 20)
        writer.close()
    return y


def test_noisy_imex_run_does_not_depend_on_the_ranks(tmp_path_factory):
    root = COMM.bcast(str(tmp_path_factory.mktemp("net")) if COMM.rank == 0 else None)
    y, V = noisy_run(COMM, root)
    serial = noisy_run(MPI.COMM_SELF) if COMM.rank == 0 else None
    error = None
    if COMM.rank == 0:
        import meshio

        assert np.abs(y).max() > 0.1 and np.all(np.isfinite(y))
        error = max(np.abs(y - serial[0]).max(), np.abs(V - serial[1]).max())
        cloud = meshio.read(f"{root}/particles_00000.vtu")
        assert np.array_equal(cloud.point_data["v"], y[:, 0])
    assert on_root(error) < 1e-12


@pytest.mark.parametrize("ksp_rtol", [1e-14, "auto"])
def test_morton_ordered_graph_solve_does_not_depend_on_the_ranks(ksp_rtol):
    """ε = 1e-3 (stiff graph), the CG at the strict and the step-tied tolerance: 1 vs 2 ranks."""
    assert COMM.size == 2

    def run(comm):
        nodes = square(comm)
        rho0 = nodes.density("1 + x")
        particles = sample_particles(nodes, rho0, 2000, seed=3)
        radius = radius_for(nodes, rho0, 2000)
        model = NetworkFHN.from_particles(particles, FHNParameters(), PSI, 1e-3, radius)
        y0 = initial_state(particles, "sin(3*x)", 0.1, spread=(0.1, 0.05), seed=4)
        integrator = network_integrator(model, "imex-ars222", 0.05, ksp_rtol=ksp_rtol)
        return by_id(particles, integrator.advance(model, 0.0, y0, 1.0)[1].T)

    y = run(COMM)
    serial = run(MPI.COMM_SELF) if COMM.rank == 0 else None
    error = None if COMM.rank else float(np.abs(y - serial).max())
    assert on_root(error) < 1e-12


def network_integrator(model, scheme, dt, ksp_rtol="auto", **options):
    """An integrator for `model` whose implicit graph solves use this tolerance."""
    model.ksp_rtol = ksp_rtol
    return make_integrator(scheme, dt, **options)
