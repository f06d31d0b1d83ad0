"""The four built-in model kinds, registered in `fem_fhn.registry`.

    nonlocal  the macroscopic nonlocal FHN system on the mesh nodes (V or ρ0-weighted Z form)
    local     its local limit ∂t V = (σ/ρ0) ∇·(ρ0² ∇V) + N(V) − W + I_ext, σ = Ψ's second moment
    network   n neurons sampled from ρ0, coupled by Ψ and (1/ε) χ_r            ([network] table)
    kinetic   the mean-field density f(t, x, v, w) on a (v, w) grid per node   ([kinetic] table)

Each builder turns a validated config, the mesh, ρ0 and the kernel into a `Setup`; the
integrator comes from the scheme registry (`fem_fhn.timestepping.make_integrator`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict

import numpy as np
from mpi4py import MPI

from fem_fhn.config import NetworkConfig, RunConfig
from fem_fhn.macro import MODEL_FORMS, Stimulus
from fem_fhn.mesh import NodalMesh
from fem_fhn.nonlocal_ import NonlocalLaplacian, make_operator
from fem_fhn.registry import ModelKind, Setup, register_model, scheme_of
from fem_fhn.timestepping import SCHEMES, make_integrator

log = logging.getLogger("fem_fhn")


# ---------------------------------------------------------------------- shared pieces


def stimulus_of(config: RunConfig, coords: np.ndarray) -> Stimulus | None:
    """The [stimulus] current on the points `coords` (None when it is 0)."""
    source = config.field_source(config.stimulus.I, "stimulus.I", ("x", "y", "z", "t"))
    return None if source == 0.0 else Stimulus(source, coords)


def initial_sources(config: RunConfig):
    """The [initial] V and W as numbers, expressions or files."""
    V0 = config.field_source(config.initial.V, "initial.V")
    W0 = config.field_source(config.initial.W, "initial.W")
    return V0, W0


def initial_fields(config: RunConfig, nodes: NodalMesh) -> tuple[np.ndarray, np.ndarray]:
    """The [initial] V and W at the owned mesh nodes."""
    V0, W0 = initial_sources(config)
    return nodes.field(V0, "initial.V"), nodes.field(W0, "initial.W")


def time_step(config: RunConfig, model, **bound) -> float:
    """time.dt, or for "auto" 0.9 × the model's stability limit (`bound`: its options)."""
    if config.time.dt != "auto":
        return config.time.dt
    dt = 0.9 * model.max_stable_dt(**bound)
    if model.comm.rank == 0:
        log.info("time.dt = 'auto': dt = %.4g", dt)
    return dt


def integrator_for(config: RunConfig, kind: ModelKind, dt: float, **options):
    """The integrator of time.scheme (the kind's default for "auto")."""
    t = config.time
    return make_integrator(scheme_of(config, kind), dt, rtol=t.rtol, atol=t.atol, **options)


def nodal_operator(config: RunConfig, nodes: NodalMesh, kernel):
    """K for Ψ on the mesh nodes with the lumped masses, by [nonlocal] method and tol:
    Euclidean (chordal on a surface in space) or, for [kernel] distance = "geodesic", along the
    surface within the kernel's cutoff (stored in [nonlocal] precision)."""
    method, tol = config.nonlocal_.method, config.nonlocal_.tol
    if config.kernel.distance == "geodesic":
        from fem_fhn.nonlocal_.geodesic import geodesic_operator

        return geodesic_operator(nodes, kernel, method, tol, precision=config.nonlocal_.precision)
    return make_operator(nodes.coords, nodes.masses, kernel, method, nodes.comm, tol)


# ---------------------------------------------------------------------- nonlocal and local


def build_nonlocal(config: RunConfig, nodes: NodalMesh, rho0: np.ndarray, kernel) -> Setup:
    """The macroscopic nonlocal FHN system on the mesh nodes, in the form of [solver] form."""
    from fem_fhn.connectome.config import max_rate

    kind = MODELS_BUILTIN["nonlocal"]
    op = nodal_operator(config, nodes, kernel)
    model = MODEL_FORMS[config.solver.form](
        NonlocalLaplacian(op, rho0), config.model, stimulus_of(config, nodes.coords)
    )
    # time.dt = "auto" counts the connectome's rate; the coupling itself needs the step (delays)
    dt = time_step(config, model, connectome_rate=max_rate(config))
    integrator = integrator_for(config, kind, dt)
    info = {"model": "nonlocal_fhn", "nonlocal": {**asdict(config.nonlocal_), **op.info()}}
    y0 = model.state(*initial_fields(config, nodes))
    setup = Setup(kind, nodes, rho0, model, y0, integrator, model.fields, info=info)
    if config.connectome is not None:
        couple_connectome(config, setup)
    return setup


def couple_connectome(config: RunConfig, setup: Setup) -> None:
    """[connectome]: couple the model (delays in whole steps of the step taken, history from
    y0); its region and sensor series become the setup's observers."""
    from fem_fhn.connectome import config as connectome_config
    from fem_fhn.report import step_used

    dt = step_used(config, setup.integrator)
    coupling = connectome_config.build(config, setup.nodes, setup.rho0, dt)
    setup.model.couple(coupling, setup.y0)
    setup.info["connectome"] = {
        **asdict(config.connectome),
        "regions": coupling.connectome.n_regions,
        "max_delay_steps": coupling.max_delay,
    }
    setup.observers += connectome_config.outputs(config, setup.nodes, coupling)


def build_local(config: RunConfig, nodes: NodalMesh, rho0: np.ndarray, kernel) -> Setup:
    """The local limit with σ = the kernel's second moment (IMEX: the diffusion implicit)."""
    from fem_fhn.macro.local_rd import LocalFHN

    kind = MODELS_BUILTIN["local"]
    model = LocalFHN.from_kernel(
        nodes,
        config.model,
        kernel,
        rho0,
        stimulus=stimulus_of(config, nodes.coords),
        linear_solver=config.solver.linear_solver,
    )
    integrator = integrator_for(config, kind, time_step(config, model))
    if not integrator.scheme.implicit and nodes.comm.rank == 0:
        log.warning(
            "solver.model = 'local' with the explicit scheme %r: the diffusion limits "
            "dt like h²; an IMEX scheme (imex-ars222) does not",
            integrator.scheme.name,
        )
    info = {"model": "local_fhn", "sigma": kernel.second_moment}
    y0 = model.state(*initial_fields(config, nodes))
    return Setup(kind, nodes, rho0, model, y0, integrator, model.fields, info=info)


def _form(config: RunConfig, setup: Setup) -> dict:
    return {"solver.form": config.solver.form}


# ---------------------------------------------------------------------- network


def build_network(config: RunConfig, nodes: NodalMesh, rho0: np.ndarray, kernel) -> Setup:
    """The particle network of [network], coupled by Ψ and (1/ε)χ_r."""
    from fem_fhn.network import (
        NetworkFHN,
        ParticleWriter,
        initial_state,
        place_particles,
        radius_for,
        sample_particles,
    )
    from fem_fhn.network.moments import mark_empty

    kind = MODELS_BUILTIN["network"]
    net = config.network or NetworkConfig()
    if net.positions:
        positions = np.load(config.path(net.positions))
        particles = place_particles(nodes, positions, mass=nodes.integrate(rho0))
    else:
        particles = sample_particles(nodes, rho0, net.n, seed=net.seed)
    n_global = nodes.comm.allreduce(particles.n_owned)
    radius = (
        radius_for(nodes, rho0, n_global, net.neighbours)
        if net.radius == "auto"
        else float(net.radius)
    )
    model = NetworkFHN.from_particles(
        particles,
        config.model,
        kernel,
        eps=net.eps,
        radius=radius,
        method=config.nonlocal_.method,
        tol=config.nonlocal_.tol,
        profile=net.profile,
        stimulus=stimulus_of(config, particles.positions),
    )
    model.ksp_rtol = net.ksp_rtol
    V0, W0 = initial_sources(config)
    y0 = initial_state(particles, V0, W0, spread=(net.spread_v, net.spread_w), seed=net.seed + 1)
    implicit = SCHEMES[scheme_of(config, kind)].implicit
    dt = time_step(config, model, implicit_short_range=implicit)
    integrator = integrator_for(config, kind, dt, noise=net.noise, seed=net.noise_seed)
    if nodes.comm.rank == 0 and math.isfinite(net.eps) and radius**2 / net.eps > 0.1:
        log.warning(
            "network: r²/ε = %.3g is not small: the short-range term acts like a "
            "diffusion of strength ≈ r²/ε (docs/discretisation.md)",
            radius**2 / net.eps,
        )
    outputs = []
    if net.write_particles:
        outputs.append(lambda out: ParticleWriter(particles, out / "particles"))
    info = {**model.info(), "radius": radius, "network": asdict(net)}
    return Setup(
        kind,
        nodes,
        rho0,
        model,
        y0,
        integrator,
        model.fields,
        outputs,
        info,
        lambda y: mark_empty(model.fields_of(y)),
    )


def _network_physics(config: RunConfig, setup: Setup) -> dict:
    net = config.network or NetworkConfig()
    positions = config.path(net.positions) if net.positions else None
    return {
        "network.n": int(setup.model.comm.allreduce(len(setup.model.global_id))),
        "network.seed": net.seed,
        "network.positions": str(positions.resolve()) if positions else "",
        "network.radius": float(setup.info.get("radius", net.radius)),
        "network.profile": net.profile,
        "network.eps": net.eps,
        "network.noise": net.noise,
        "network.noise_seed": net.noise_seed,
    }


def _network_stable_dt(setup: Setup, t: float) -> float:
    implicit = setup.integrator.scheme.implicit
    return setup.model.max_stable_dt(implicit_short_range=implicit)


def _network_inputs(config: RunConfig) -> dict:
    net = config.network or NetworkConfig()
    return {"network.positions": config.path(net.positions)} if net.positions else {}


def _network_files(config: RunConfig) -> list[str]:
    net = config.network or NetworkConfig()
    return ["particles/particles.pvd"] if net.write_particles else []


# ---------------------------------------------------------------------- kinetic


def build_kinetic(config: RunConfig, nodes: NodalMesh, rho0: np.ndarray, kernel) -> Setup:
    """The kinetic density of [kinetic] on a velocity grid per node, AP splitting in time."""
    from fem_fhn.config import KineticConfig
    from fem_fhn.kinetic import KineticFHN, VelocityGrid, suggest_grid
    from fem_fhn.kinetic.model import negative_coupling
    from fem_fhn.parallel import bounding_box
    from fem_fhn.plot import PhaseSpacePictures

    kind = MODELS_BUILTIN["kinetic"]
    kin = config.kinetic or KineticConfig()
    op = nodal_operator(config, nodes, kernel)
    stimulus = stimulus_of(config, nodes.coords)
    V0, W0 = initial_fields(config, nodes)
    current = _current_range(config, stimulus, nodes.comm)
    geodesic_tol = config.nonlocal_.tol if config.kernel.distance == "geodesic" else None
    k_neg_rho = negative_coupling(nodes, kernel, rho0, nodes.comm, geodesic_tol)
    if kin.v_min == "auto":
        inhibition = nodes.comm.allreduce(float(k_neg_rho.max(initial=0.0)), op=MPI.MAX)
        (v_lo, w_lo), (v_hi, w_hi) = bounding_box(nodes.comm, np.stack([V0, W0], axis=1))
        contain = (
            (v_lo - 3 * kin.sigma_v, v_hi + 3 * kin.sigma_v),
            (w_lo - 3 * kin.sigma_w, w_hi + 3 * kin.sigma_w),
        )
        grid = suggest_grid(
            config.model, current, n_v=kin.n_v, n_w=kin.n_w, inhibition=inhibition, contain=contain
        )
    else:
        grid = VelocityGrid(kin.v_min, kin.v_max, kin.n_v, kin.w_min, kin.w_max, kin.n_w)
    model = KineticFHN(
        nodes,
        config.model,
        op,
        grid,
        kin.eps,
        rho0,
        stimulus,
        kin.diffusion,
        kernel=kernel,
        limiter=kin.limiter,
        backend=kin.backend,
        current_bounds=current,
        k_neg_rho=k_neg_rho,
    )
    options = {
        "transport_scheme": kin.transport_scheme,
        "splitting": kin.splitting,
        "relaxation": kin.relaxation,
        "v_flux": kin.v_flux,
    }
    stepper = integrator_for(config, kind, time_step(config, model), **options)
    f0 = model.state(V0, W0, kin.sigma_v, kin.sigma_w)
    outputs = []
    if kin.probes and config.output.png:
        outputs.append(lambda out: PhaseSpacePictures(model, kin.probes, out))
    info = {
        "model": "kinetic_fhn",
        "kinetic": {**asdict(kin), **model.info()},
        "nonlocal": {**asdict(config.nonlocal_), **op.info()},
    }
    return Setup(kind, nodes, rho0, model, f0, stepper, KineticFHN.fields, outputs, info)


def _current_range(config: RunConfig, stimulus, comm) -> tuple[float, float]:
    """Range of the total current I_ext + I(x, t) over the output times."""
    values = [config.model.I_ext]
    if stimulus is not None:
        for t in np.linspace(0.0, config.time.t_end, config.time.n_outputs + 1):
            current = np.atleast_1d(stimulus(t)) + config.model.I_ext
            values += [float(current.min(initial=np.inf)), float(current.max(initial=-np.inf))]
    lo = comm.allreduce(min(values), op=MPI.MIN)
    hi = comm.allreduce(max(values), op=MPI.MAX)
    return lo, hi


def _kinetic_physics(config: RunConfig, setup: Setup) -> dict:
    g = setup.model.grid
    return {
        "kinetic.eps": setup.model.eps,
        "kinetic.diffusion": setup.model.diffusion,
        "kinetic.grid": [g.v_min, g.v_max, g.n_v, g.w_min, g.w_max, g.n_w],
    }


def _kinetic_check(config: RunConfig, setup: Setup) -> None:
    """The transport CFL bound of the first step, before anything is written."""
    t1 = config.time.t_end / config.time.n_outputs
    h = t1 / setup.integrator.n_steps(0.0, t1)
    setup.integrator.modes(setup.model, 0.0, h)


def _kinetic_stable_dt(setup: Setup, t: float) -> float:
    return setup.model.max_stable_dt(t)


def _kinetic_files(config: RunConfig) -> list[str]:
    kin = config.kinetic
    return ["phase_space.png"] if kin is not None and kin.probes and config.output.png else []


# ---------------------------------------------------------------------- registration

_MACRO_PARTS = frozenset({"rhs"})
_IMEX_PARTS = frozenset({"rhs", "explicit", "implicit"})

MODELS_BUILTIN = {
    kind.name: register_model(kind, replace=True)
    for kind in (
        ModelKind("nonlocal", build_nonlocal, _MACRO_PARTS, "rk4", physics=_form),
        ModelKind("local", build_local, _IMEX_PARTS, "rk4"),
        ModelKind(
            "network",
            build_network,
            _IMEX_PARTS,
            "rk4",
            table="network",
            ids=lambda setup: setup.model.global_id,
            points=lambda setup: setup.model.positions,
            physics=_network_physics,
            stable_dt=_network_stable_dt,
            files=_network_files,
            inputs=_network_inputs,
            what="particles",
        ),
        ModelKind(
            "kinetic",
            build_kinetic,
            frozenset({"transport", "flow"}),  # KineticFHN.parts
            "ap-splitting",
            table="kinetic",
            node_axis=0,
            physics=_kinetic_physics,
            check=_kinetic_check,
            stable_dt=_kinetic_stable_dt,
            hints=(
                "the velocity box may be too small for the kinetic model (kinetic.v_min, v_max, "
                'w_min, w_max; "auto" chooses an invariant box)',
            ),
            files=_kinetic_files,
        ),
    )
}
