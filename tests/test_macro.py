"""Macroscopic nonlocal FHN model: temporal orders, spatial convergence, ρ0 = 0 regions."""

import numpy as np
import pytest
from mpi4py import MPI
from numpy.polynomial.legendre import leggauss

from fem_fhn import kernels
from fem_fhn._fenics import dolfinx
from fem_fhn.macro import NonlocalFHN, Stimulus, WeightedNonlocalFHN
from fem_fhn.mesh import NodalMesh
from fem_fhn.nonlocal_ import NonlocalLaplacian, make_operator
from fem_fhn.params import FHNParameters
from fem_fhn.timestepping import make_integrator

PARAMS = FHNParameters(a=0.40415, b=0.8, tau=0.08)


def square_model(n=8, rho0="1 + 0.5*x*y", width=0.2, form=NonlocalFHN, stimulus=None):
    nodes = NodalMesh.from_mesh(dolfinx.mesh.create_unit_square(MPI.COMM_SELF, n, n))
    psi = kernels.Gaussian(width=width, dim=2, strength=2.0)
    op = make_operator(nodes.coords, nodes.masses, psi, comm=MPI.COMM_SELF)
    rho = nodes.density(rho0)
    stim = None if stimulus is None else Stimulus(stimulus, nodes.coords)
    return nodes, form(NonlocalLaplacian(op, rho), PARAMS, stim)


def smooth_state(nodes, model):
    x, y = nodes.coords.T
    return model.state(np.cos(np.pi * x) * np.sin(np.pi * y), 0.2 * x - 0.1)


@pytest.mark.parametrize("scheme,order", [("euler", 1), ("heun", 2), ("ssprk3", 3), ("rk4", 4)])
def test_temporal_order(scheme, order):
    from fem_fhn.expressions import Expression

    nodes, model = square_model(stimulus=Expression("0.3*sin(2*t)*x", ("x", "y", "z", "t")))
    y0 = smooth_state(nodes, model)
    _, reference, _ = make_integrator("rk4", 1e-3).advance(model, 0.0, y0, 1.0)
    dts = [0.1, 0.05, 0.025]
    errors = [
        np.abs(make_integrator(scheme, dt).advance(model, 0.0, y0, 1.0)[1] - reference).max()
        for dt in dts
    ]
    rate = np.polyfit(np.log(dts), np.log(errors), 1)[0]
    assert abs(rate - order) <= 0.3, (errors, rate)


def test_adaptive_meets_tolerance():
    nodes, model = square_model()
    y0 = smooth_state(nodes, model)
    _, reference, _ = make_integrator("rk4", 1e-3).advance(model, 0.0, y0, 2.0)
    integrator = make_integrator("adaptive", 0.1, rtol=1e-8, atol=1e-10)
    _, y, steps = integrator.advance(model, 0.0, y0, 2.0)
    assert np.abs(y - reference).max() < 1e-6
    assert 5 < steps < 500


def exact_L(point, width, strength, n_gauss=160):
    """L_ρ0(V)(point) on the unit square by tensor Gauss–Legendre quadrature."""
    g, w = leggauss(n_gauss)
    s, ws = (g + 1) / 2, w / 2
    X, Y = np.meshgrid(s, s, indexing="ij")
    W = np.outer(ws, ws)
    psi = kernels.Gaussian(width=width, dim=2, strength=strength)
    r = np.hypot(X - point[0], Y - point[1])
    V = lambda x, y: np.cos(np.pi * x) * np.sin(np.pi * y)  # noqa: E731
    rho = 1 + 0.5 * X * Y
    return np.sum(W * psi(r) * (V(X, Y) - V(*point)) * rho)


def test_spatial_convergence_of_nodal_quadrature():
    probes = np.array([[0.25, 0.25], [0.5, 0.5], [0.75, 0.25], [0.5, 0.75], [0.0, 0.5]])
    exact = np.array([exact_L(p, 0.2, 2.0) for p in probes])
    hs, errors = [], []
    for n in (8, 16, 32, 64):
        nodes, model = square_model(n=n)
        x, y = nodes.coords.T
        LV = model.laplacian(np.cos(np.pi * x) * np.sin(np.pi * y))
        idx = [np.argmin(np.hypot(x - p[0], y - p[1])) for p in probes]
        hs.append(1 / n)
        errors.append(np.abs(LV[idx] - exact).max())
    rate = np.polyfit(np.log(hs), np.log(errors), 1)[0]
    assert rate >= 1.8, (errors, rate)


def test_zero_density_region_stays_finite_and_forms_agree():
    rho0 = "1.0 if x > 0.4 else 0.0"
    nodes, model_v = square_model(rho0=rho0)
    _, model_z = square_model(rho0=rho0, form=WeightedNonlocalFHN)
    y0 = smooth_state(nodes, model_v)
    integrator = make_integrator("rk4", 0.05)
    _, y_v, _ = integrator.advance(model_v, 0.0, y0, 5.0)
    _, y_z, _ = integrator.advance(model_z, 0.0, model_z.state(*y0), 5.0)
    assert np.all(np.isfinite(y_v)) and np.all(np.isfinite(y_z))
    positive = model_z.rho0 > 0
    assert (~positive).sum() > 10
    for name in ("V", "W"):
        a, b = model_v.fields_of(y_v)[name], model_z.fields_of(y_z)[name]
        np.testing.assert_allclose(b[positive], a[positive], atol=1e-10)
        assert np.all(b[~positive] == 0.0)
    np.testing.assert_allclose(y_z[:, ~positive], 0.0, atol=0)


def test_homogeneous_state_follows_single_neuron():
    """With uniform initial data, L(V) = 0 and every node follows the single-neuron ODE."""
    from fem_fhn import neuron

    nodes, model = square_model()
    y0 = model.state(np.full(nodes.n_owned, 0.5), np.full(nodes.n_owned, -0.2))
    _, y, _ = make_integrator("rk4", 0.01).advance(model, 0.0, y0, 3.0)
    t, v, w = neuron.trajectory(PARAMS, 0.5, -0.2, 3.0)
    assert np.abs(y[0] - v[-1]).max() < 1e-8 and np.abs(y[1] - w[-1]).max() < 1e-8


def test_max_stable_dt_matches_design_bound():
    _, model = square_model()
    bound = 1 / (2 * np.abs(model.laplacian.K_rho0).max() + 3 * 1.5**2 - 1)
    assert model.max_stable_dt() == pytest.approx(bound)
