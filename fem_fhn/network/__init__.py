"""The FitzHugh–Nagumo network: n neurons at positions sampled from ρ0 (docs/science.md).

    particles = sample_particles(nodes, rho0, n=10_000, seed=1)
    model = NetworkFHN.from_particles(particles, params, psi, eps=1e-3,
                                      radius=radius_for(nodes, rho0, 10_000))
    y0 = initial_state(particles, "tanh(x/0.1)", -0.3, spread=(0.05, 0.0), seed=2)
    t, y, n = make_integrator("imex-ars222", dt=0.05).advance(model, 0.0, y0, 10.0)
    model.fields_of(y)          # empirical V, W, ρ on the mesh nodes

Modules: `sampling` (positions, MPI distribution, initial states, the r(n) rule), `graph`
(short-range neighbour graph and its Laplacian), `model` (right-hand side and its IMEX split;
`fem_fhn.timestepping.make_integrator` advances it), `stiff` (PETSc CG for the stiff graph
term), `moments`
(particle → mesh deposit, distances, particle files), `rng` (counter-based random numbers).
"""

from fem_fhn.network.graph import ShortRangeGraph, short_range_graph
from fem_fhn.network.model import NetworkFHN
from fem_fhn.network.moments import ParticleMoments, ParticleWriter, empirical_distance
from fem_fhn.network.sampling import (
    Particles,
    default_radius,
    initial_state,
    place_particles,
    radius_for,
    sample_kinetic_state,
    sample_particles,
)

__all__ = [
    "NetworkFHN",
    "ParticleMoments",
    "ParticleWriter",
    "Particles",
    "ShortRangeGraph",
    "default_radius",
    "empirical_distance",
    "initial_state",
    "place_particles",
    "radius_for",
    "sample_kinetic_state",
    "sample_particles",
    "short_range_graph",
]
