"""Local-limit model: IMEX orders, the P1 diffusion operator, bistable front speeds on the interval
and on the strip, the rescaled kernels, and nonlocal → local convergence as δ → 0."""

import math

import numpy as np
import pytest
from mpi4py import MPI

from fem_fhn import kernels
from fem_fhn._fenics import dolfinx
from fem_fhn.analysis import FrontTracker, convergence_rate
from fem_fhn.macro import NonlocalFHN
from fem_fhn.macro.local_limit import RescaledKernel, rescaled
from fem_fhn.macro.local_rd import LocalFHN
from fem_fhn.mesh import NodalMesh
from fem_fhn.nonlocal_ import NonlocalLaplacian, make_operator
from fem_fhn.params import FHNParameters, ParameterError
from fem_fhn.simulation import Simulation
from fem_fhn.timestepping import IMEXRungeKutta, make_integrator

PARAMS = FHNParameters(a=0.4, b=0.8, tau=0.5)


def interval(n, length=1.0, comm=MPI.COMM_SELF):
    return NodalMesh.from_mesh(dolfinx.mesh.create_interval(comm, n, [0.0, length]))


def smooth_model(mass="lumped", n=100):
    nodes = interval(n)
    x = nodes.coords[:, 0]
    model = LocalFHN(nodes, PARAMS, 0.05, rho0=1 + 0.5 * x, mass=mass)
    return model, model.state(np.cos(np.pi * x), 0.2 * x)


@pytest.mark.parametrize("mass", ["lumped", "consistent"])
@pytest.mark.parametrize("scheme,order", [("imex-euler", 1), ("imex-ars222", 2)])
def test_imex_temporal_order(mass, scheme, order):
    model, y0 = smooth_model(mass)
    _, reference, _ = IMEXRungeKutta(2e-4, "imex-ars222").advance(model, 0.0, y0, 1.0)
    dts = [0.1, 0.05, 0.025]
    errors = [
        np.abs(IMEXRungeKutta(dt, scheme).advance(model, 0.0, y0, 1.0)[1] - reference).max()
        for dt in dts
    ]
    assert abs(convergence_rate(dts, errors).rate - order) < 0.15, errors


def test_imex_matches_explicit_rhs():
    """The stepper and `rhs` describe the same ODE (RK4 with a tiny step as the reference)."""
    for mass in ("lumped", "consistent"):
        model, y0 = smooth_model(mass, n=40)
        _, explicit, _ = make_integrator("rk4", 2e-4).advance(model, 0.0, y0, 0.5)
        _, imex, n = IMEXRungeKutta(1e-3).advance(model, 0.0, y0, 0.5)
        assert n == 500 and np.abs(imex - explicit).max() < 1e-6


def test_p1_diffusion_converges_to_weighted_laplacian():
    """−M⁻¹AV → (σ/ρ0)(ρ0² V')' at interior nodes, second order (uniform mesh, lumped mass)."""
    sigma = 0.7
    hs, errors = [], []
    for n in (20, 40, 80, 160):
        nodes = interval(n)
        x = nodes.coords[:, 0]
        rho = 1 + 0.5 * np.sin(x)
        model = LocalFHN(nodes, PARAMS, sigma, rho0=rho)
        V = np.cos(np.pi * x)
        exact = (
            sigma
            / rho
            * (
                2 * rho * 0.5 * np.cos(x) * (-np.pi * np.sin(np.pi * x))
                + rho**2 * (-(np.pi**2) * np.cos(np.pi * x))
            )
        )
        inner = (x > 0.2) & (x < 0.8)
        hs.append(1 / n)
        errors.append(np.abs(model.diffusion(V) - exact)[inner].max())
    assert convergence_rate(hs, errors).rate > 1.9, errors


def test_conservation_and_matrices():
    """A 1 = 0 (no-flux diffusion conserves ∫ρ0 V), M is SPD with total mass ∫ρ0."""
    nodes = interval(50, 2.0)
    x = nodes.coords[:, 0]
    for mass in ("lumped", "consistent"):
        model = LocalFHN(nodes, PARAMS, 0.3, rho0=1 + x, mass=mass)
        ones, out = model.mass_matrix.createVecs()
        ones.set(1.0)
        model.stiffness_matrix.mult(ones, out)
        assert np.abs(out.array).max() < 1e-12
        model.mass_matrix.mult(ones, out)
        assert out.array.sum() == pytest.approx(4.0, rel=1e-12)  # ∫_0^2 (1 + x) dx
        assert np.abs(model.diffusion(np.full(nodes.n_owned, 3.0))).max() < 1e-10
    with pytest.raises(ParameterError, match="rho0"):
        LocalFHN(nodes, PARAMS, 0.3, rho0=x - 0.5)
    with pytest.raises(ParameterError, match="mass"):
        LocalFHN(nodes, PARAMS, 0.3, mass="diagonal")
    with pytest.raises(ParameterError, match="time.scheme"):
        IMEXRungeKutta(0.1, "cn")


# --------------------------------------------------------------------------- bistable front

W0 = 0.1
V1, V2, V3 = np.sort(np.roots([-1.0, 0.0, 1.0, -W0]).real)  # roots of v − v³ = w0
FROZEN = FHNParameters(a=0.0, b=0.0, tau=0.0)  # τ = 0: W ≡ w0


def front_speed(nodes, D, x0, direction=1.0, t_end=30.0, dt=0.1):
    """Speed of the front v3 (x·direction → −∞) | v1 (→ +∞), W ≡ w0, started from the exact
    travelling-wave profile; positions are the crossings of the middle root v2."""
    model = LocalFHN(nodes, FROZEN, D)
    x = nodes.coords[:, 0]
    xi = direction * (x - x0)
    V0 = (V3 + V1) / 2 - (V3 - V1) / 2 * np.tanh((V3 - V1) * xi / (2 * math.sqrt(2 * D)))
    tracker = FrontTracker(nodes, level=V2)
    sim = Simulation(model, IMEXRungeKutta(dt), np.linspace(0.0, t_end, 31), [tracker], False)
    y = sim.run(model.state(V0, np.full(nodes.n_owned, W0)))
    assert np.all(y[1] == W0)
    return tracker.speed(skip=5.0)


def test_bistable_front_speed_on_interval():
    D = 0.5
    c = -3 * V2 * math.sqrt(D / 2)
    fit = front_speed(interval(400, 20.0), D, x0=14.0)
    assert c < 0 and fit.speed == pytest.approx(c, rel=0.01)
    assert fit.residual < 1e-3


def test_bistable_front_speed_on_strip():
    """[0, 20] × [0, 1] (bundled strip, h = 0.1): the v1 state invades, c = −3 v2 √(D/2) < 0;
    the mirrored front (v3 on the right) moves to +x at the same speed."""
    nodes = NodalMesh.load("strip", MPI.COMM_SELF)
    D = 1.0
    c = -3 * V2 * math.sqrt(D / 2)
    left = front_speed(nodes, D, x0=14.0)
    right = front_speed(nodes, D, x0=6.0, direction=-1.0)
    assert left.speed == pytest.approx(c, rel=0.02), (left, c)
    assert right.speed == pytest.approx(-c, rel=0.02), (right, -c)


# --------------------------------------------------------------------------- local limit


def test_rescaled_kernel_scaling():
    psi = kernels.Exponential(0.3, 2, 2.0)
    for delta in (1.0, 0.5, 0.1):
        k = rescaled(psi, delta)
        assert isinstance(k, kernels.Kernel) and isinstance(k, RescaledKernel)
        assert k.mass == pytest.approx(2.0 / delta**2)
        assert k.second_moment == pytest.approx(psi.second_moment)
        assert k.width == pytest.approx(0.3 * delta) and k.dim == 2 and not k.smooth
        r = np.linspace(0.0, 2.0, 9)
        np.testing.assert_allclose(k(r), delta**-4 * psi(r / delta))
        kk = np.linspace(0.0, 30.0, 7)
        np.testing.assert_allclose(k.fourier(kk), psi.fourier(delta * kk) / delta**2)
        # the generic radial quadrature of its values agrees with the closed forms
        r_max = 40 * k.width
        assert kernels.radial_mass(k, 2, r_max, width=k.width) == pytest.approx(k.mass, rel=1e-9)
        sigma = kernels.radial_second_moment(k, 2, r_max, width=k.width)
        assert sigma == pytest.approx(k.second_moment, rel=1e-9)
    gauss = rescaled(kernels.Gaussian(1.0, 1), 0.2)
    same = kernels.Gaussian(0.2, 1, 1 / 0.04)
    np.testing.assert_allclose(gauss(np.linspace(0, 1, 11)), same(np.linspace(0, 1, 11)))
    assert rescaled(kernels.Indicator(0.5, 3), 0.1).support == pytest.approx(0.05)
    with pytest.raises(ParameterError, match="delta"):
        rescaled(psi, 0.0)


def test_nonlocal_converges_to_local_model():
    """NonlocalFHN with Ψ_δ (standard 1D Gaussian, σ = 1/2) → LocalFHN, at t = 1 on [0, 8].

    h = δ/10 (δ = 10 h): uniform grids, so the nodal quadrature is the trapezoidal rule. The data
    are flat near the ends, where the truncated nonlocal operator differs from the no-flux one.
    The local reference is computed once on the finest (nested) mesh."""
    length, t_end = 8.0, 1.0
    p = FHNParameters()
    psi = kernels.Gaussian(width=1.0, dim=1)

    def initial(x):
        return -1.2 + 1.6 * np.exp(-((x - length / 2) ** 2) / 0.5), np.full_like(x, -0.6)

    deltas = [0.4, 0.2, 0.1, 0.05]
    fine = interval(round(10 * length / deltas[-1]), length)
    local = LocalFHN.from_kernel(fine, p, psi)
    assert local.sigma == 0.5
    _, reference, _ = IMEXRungeKutta(2e-3).advance(
        local, 0.0, local.state(*initial(fine.coords[:, 0])), t_end
    )
    xf = fine.coords[:, 0]
    order = np.argsort(xf)
    errors = []
    for delta in deltas:
        nodes = interval(round(10 * length / delta), length)
        op = make_operator(nodes.coords, nodes.masses, rescaled(psi, delta), comm=MPI.COMM_SELF)
        model = NonlocalFHN(NonlocalLaplacian(op, np.ones(nodes.n_owned)), p)
        x = nodes.coords[:, 0]
        _, y, _ = make_integrator("heun", delta**2).advance(
            model, 0.0, model.state(*initial(x)), t_end
        )
        errors.append(np.abs(y[0] - np.interp(x, xf[order], reference[0][order])).max())
    fit = convergence_rate(deltas, errors)
    assert np.all(np.diff(errors) < 0), errors
    assert 1.7 < fit.rate < 2.3, (errors, fit)
    assert errors[-1] < 2e-3


# --------------------------------------------------------------------------- MPI


@pytest.mark.mpi
def test_local_model_rank_independent():
    from fem_fhn.parallel import to_global_order

    comm = MPI.COMM_WORLD

    def final(comm):
        nodes = NodalMesh.load("strip", comm)
        x = nodes.coords[:, 0]
        model = LocalFHN(nodes, PARAMS, 0.4, rho0=1 + 0.05 * x)
        y0 = model.state(np.tanh(x - 10.0), np.zeros(nodes.n_owned))
        tracker = FrontTracker(nodes)
        _, y, _ = IMEXRungeKutta(0.1).advance(model, 0.0, y0, 2.0)
        tracker.record(2.0, y[0])
        return [to_global_order(comm, nodes.global_index, y[i]) for i in range(2)], tracker

    distributed, tracker = final(comm)
    serial, serial_tracker = final(MPI.COMM_SELF) if comm.rank == 0 else (None, None)
    if comm.rank == 0:
        error = max(np.abs(d - s).max() for d, s in zip(distributed, serial, strict=True))
        front = abs(tracker.positions[0] - serial_tracker.positions[0])
    error, front = comm.bcast((error, front) if comm.rank == 0 else None)
    assert error < 1e-9 and front < 1e-9


def square_model(mass="lumped", cells=16, comm=MPI.COMM_SELF, **solver):
    nodes = NodalMesh.from_mesh(dolfinx.mesh.create_unit_square(comm, cells, cells))
    x, y = nodes.coords[:, 0], nodes.coords[:, 1]
    model = LocalFHN(nodes, PARAMS, 0.02, rho0=1 + 0.3 * x * y, mass=mass, **solver)
    return model, model.state(np.tanh((0.3 - x) / 0.1), 0.1 * y)


@pytest.mark.parametrize("mass", ["lumped", "consistent"])
@pytest.mark.parametrize("scheme", ["imex-euler", "imex-ars222"])
@pytest.mark.parametrize("solver", ["cholesky", "mumps"])
def test_factorised_solver_matches_strict_cg(mass, scheme, solver):
    """The kept Cholesky factor gives the strict CG + GAMG (rtol 1e-14) result to 1e-10."""
    model, y0 = square_model(mass, rtol=1e-14, linear_solver="cg")
    _, strict, _ = IMEXRungeKutta(0.05, scheme).advance(model, 0.0, y0, 2.0)
    model, y0 = square_model(mass, linear_solver=solver)
    stepper = IMEXRungeKutta(0.05, scheme)
    _, fast, n = stepper.advance(model, 0.0, y0, 2.0)
    assert n == 40 and stepper.part.linear_iterations == 40 * (stepper.tableau.stages - 1)
    assert np.abs(fast - strict).max() < 1e-10


def test_factorisation_kept_per_step_size():
    """One factorisation per distinct γh, reused across `advance` calls with the same h."""
    model, y = square_model(cells=8)
    stepper = IMEXRungeKutta(0.05, "imex-ars222")
    t = 0.0
    for _ in range(3):
        t, y, _ = stepper.advance(model, t, y, t + 0.5)
    assert stepper.part.factorisations == 1
    stepper.advance(model, t, y, t + 0.03)
    stepper.advance(model, t, y, t + 0.5)
    assert stepper.part.factorisations == 2


def test_unknown_linear_solver_refused():
    from fem_fhn.config import parse_config

    with pytest.raises(ParameterError, match="solver.linear_solver = 'lu' is not allowed"):
        square_model(cells=2, linear_solver="lu")
    with pytest.raises(ParameterError, match="solver.linear_solver = 'lu' is not allowed"):
        parse_config({"solver": {"model": "local", "linear_solver": "lu"}})
    assert parse_config({"solver": {"linear_solver": "cg"}}).solver.linear_solver == "cg"
