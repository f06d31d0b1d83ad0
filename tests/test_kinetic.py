"""Kinetic FHN model: grid and invariance, exact initial moments, numba kernels against their numpy
twins, conservation and positivity, the exact relaxation step, transport convergence, the
asymptotic-preserving limit against the macroscopic solver and the relative-entropy rate in ε."""

import math

import numpy as np
import pytest
from mpi4py import MPI

from fem_fhn import kernels
from fem_fhn._fenics import dolfinx
from fem_fhn.expressions import Expression
from fem_fhn.kinetic import (
    APSplitting,
    KineticFHN,
    VelocityGrid,
    check_invariance,
    fit_rate,
    from_function,
    from_moments,
    moments,
    moments_numpy,
    relative_entropy,
    suggest_grid,
)
from fem_fhn.kinetic.diagnostics import NODE_FIELDS
from fem_fhn.kinetic.limit import limit_history
from fem_fhn.kinetic.relaxation import contraction, relax, relax_numpy
from fem_fhn.kinetic.transport import stable_dt, transport_rhs, transport_rhs_numpy
from fem_fhn.macro import NonlocalFHN, Stimulus
from fem_fhn.mesh import NodalMesh
from fem_fhn.nonlocal_ import NonlocalLaplacian, make_operator
from fem_fhn.params import FHNParameters, ParameterError
from fem_fhn.simulation import Simulation
from fem_fhn.timestepping import make_integrator

PARAMS = FHNParameters()
GRID = suggest_grid(PARAMS, n_v=32, n_w=16)


def interval_setup(n_cells=10, strength=1.0):
    """Nodes of [0, 10], a Gaussian Ψ, ρ0 and smooth initial moments (V0: an excited region)."""
    nodes = NodalMesh.from_mesh(dolfinx.mesh.create_interval(MPI.COMM_SELF, n_cells, [0.0, 10.0]))
    psi = kernels.Gaussian(width=1.5, dim=1, strength=strength)
    op = make_operator(nodes.coords, nodes.masses, psi, comm=MPI.COMM_SELF)
    x = nodes.coords[:, 0]
    rho0 = 1.0 + 0.5 * np.cos(np.pi * x / 5)
    V0 = -0.5 + 1.5 / (1 + np.exp((x - 3) / 0.7))
    W0 = -0.2 + 0.05 * x
    return nodes, op, rho0, V0, W0


@pytest.fixture(scope="module")
def setup():
    return interval_setup()


def fmt(values):
    return ", ".join(f"{v:.2e}" for v in values)


def random_state(grid, n, seed=3):
    rng = np.random.default_rng(seed)
    rho = rng.uniform(0.5, 2.0, n)
    rho[1] = 0.0
    f = from_moments(grid, rho, rng.uniform(-1, 1, n), rng.uniform(-0.5, 1.5, n), 0.3, 0.3)
    return f * (1 + 0.2 * rng.random(f.shape)), rng


# --------------------------------------------------------------------------- grid, invariance


def test_grid_geometry_and_validation():
    g = VelocityGrid(-2.0, 2.0, 8, -1.0, 3.0, 4)
    assert g.dv == 0.5 and g.dw == 1.0 and g.cell_area == 0.5
    np.testing.assert_allclose(g.v, [-1.75, -1.25, -0.75, -0.25, 0.25, 0.75, 1.25, 1.75])
    assert g.v_faces[0] == -2.0 and g.v_faces[-1] == 2.0 and g.w_faces.size == 5
    with pytest.raises(ParameterError, match=r"kinetic\.n_v = 3 .*>= 4"):
        VelocityGrid(-2.0, 2.0, 3, -1.0, 3.0, 4)
    with pytest.raises(ParameterError, match=r"kinetic\.v_max = -3.0 .*v_max > v_min"):
        VelocityGrid(-2.0, -3.0, 8, -1.0, 3.0, 4)
    with pytest.raises(ParameterError, match=r"kinetic\.n_w"):
        VelocityGrid(-2.0, 2.0, 8, -1.0, 3.0, 2.5)


def test_invariance_check_names_side_and_suggests_box():
    margins = check_invariance(PARAMS, GRID)
    assert min(margins.values()) >= 0
    bad = VelocityGrid(-1.5, 1.5, 16, -1.0, 2.0, 16)
    with pytest.raises(ParameterError) as err:
        check_invariance(PARAMS, bad)
    text = str(err.value)
    assert "v = v_min points outwards" in text and "w = w_min points outwards" in text
    assert "an invariant box is [-1.73, 1.73]" in text
    # an external current shifts the box; a coupling that pushes outwards needs a wider one
    for current, inhibition in ((0.5, 0.0), (-0.3, 0.0), (0.0, 0.5)):
        g = suggest_grid(PARAMS, current, inhibition=inhibition)
        coupling = g.v_span * inhibition
        check_invariance(PARAMS, g, (-coupling, coupling), current)
    assert suggest_grid(PARAMS, inhibition=0.5).v_max > GRID.v_max
    with pytest.raises(ParameterError, match="needs b > 0"):
        suggest_grid(PARAMS.replace(b=0.0))


def test_model_checks_box_and_kernel_sign(setup):
    nodes, op, rho0, _, _ = setup
    with pytest.raises(ParameterError, match="not invariant"):
        KineticFHN(nodes, PARAMS, op, VelocityGrid(-1.2, 1.2, 8, -1.0, 1.0, 8), 0.1, rho0)
    assert KineticFHN(nodes, PARAMS, op, GRID, 0.1, rho0).coupling_bounds == (0.0, 0.0)
    # a Mexican hat can push outwards by (v_max - v_min) max(Ψ⁻*ρ): the box must widen
    hat = kernels.MexicanHat(0.5, 1.5, 1.0, 2.0, dim=1)
    op_hat = make_operator(nodes.coords, nodes.masses, hat, comm=MPI.COMM_SELF)
    with pytest.raises(ParameterError, match="v = v_min points outwards"):
        KineticFHN(nodes, PARAMS, op_hat, GRID, 0.1, rho0)
    model = KineticFHN(nodes, PARAMS, op_hat, GRID, 0.1, rho0, check=False)
    lo, hi = model.coupling_bounds
    assert lo == -hi and hi == pytest.approx(GRID.v_span * model.inhibition)
    assert 0.5 < model.inhibition < 2.0 * rho0.max()
    wide = suggest_grid(PARAMS, inhibition=model.inhibition, n_v=16, n_w=8)
    assert wide.v_max > GRID.v_max
    KineticFHN(nodes, PARAMS, op_hat, wide, 0.1, rho0)
    with pytest.raises(ParameterError, match="kinetic.eps"):
        KineticFHN(nodes, PARAMS, op, GRID, 0.0, rho0)


# --------------------------------------------------------------------------- initial data


@pytest.mark.parametrize("sigma", [0.0, 0.05, 0.3, 2.0])
def test_initial_moments_are_exact(sigma):
    rng = np.random.default_rng(0)
    n = 40
    rho0 = rng.uniform(0.0, 2.0, n)
    V0 = rng.uniform(GRID.v[0], GRID.v[-1], n)
    W0 = rng.uniform(GRID.w[0], GRID.w[-1], n)
    f = from_moments(GRID, rho0, V0, W0, sigma, 0.5 * sigma)
    m = moments(f, GRID)
    assert f.min() >= 0
    np.testing.assert_allclose(m[0], rho0, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(m[3], V0, atol=1e-13)
    np.testing.assert_allclose(m[4], W0, atol=1e-13)
    if sigma == 0.0:  # dirac: bilinear deposit on at most 2 x 2 cells
        assert np.count_nonzero(f, axis=(1, 2)).max() <= 4
    with pytest.raises(ParameterError, match="outside the velocity grid"):
        from_moments(GRID, rho0, GRID.v_max + 0.1, W0)


def test_initial_from_function():
    coords = np.linspace(0, 1, 5)[:, None]

    def f0(x, v, w):
        return (1 + x[..., 0]) * np.exp(-(v**2) - (w - 0.5) ** 2)

    f = from_function(GRID, coords, f0)
    assert f.shape == (5, *GRID.shape)
    V, W = GRID.v[None, :, None], GRID.w[None, None, :]
    np.testing.assert_allclose(f[3], (1 + coords[3, 0]) * np.exp(-(V**2) - (W - 0.5) ** 2)[0])
    with pytest.raises(ParameterError, match=">= 0"):
        from_function(GRID, coords, lambda x, v, w: v + 0 * w)


# --------------------------------------------------------------------------- kernels vs twins


@pytest.mark.parametrize("limiter", ["mc", "minmod"])
def test_transport_kernel_matches_numpy(limiter):
    f, rng = random_state(GRID, 24)
    n = f.shape[0]
    args = (rng.uniform(0, 3, n), rng.standard_normal(n), rng.standard_normal(n) * 0.2)
    relax_rate, V = rng.uniform(0, 5, n), rng.uniform(-1, 1, n)
    donor = rng.random(n) < 0.5
    for extra in ((None, None, None, 0.0), (relax_rate, V, donor, 0.3)):
        a = transport_rhs(f, GRID, PARAMS, *args, *extra, limiter=limiter)
        b = transport_rhs_numpy(f, GRID, PARAMS, *args, *extra, limiter=limiter)
        assert np.abs(a - b).max() <= 1e-13 * np.abs(b).max()
        # conservative: the cells' rates sum to zero at every node
        assert np.abs(a.sum(axis=(1, 2))).max() <= 1e-12 * np.abs(a).max() * a[0].size


def test_donor_fluxes_give_the_exact_moment_rates():
    """On donor nodes the j- and q-rates are the cell-centre quadratures of a_v f and a_w f, so
    dq/dt = τ (j + aρ − b q) to round-off, for any f (a two-cell w-profile included, where the
    face-velocity MUSCL w-flux loses the −τ b q part)."""
    f, rng = random_state(GRID, 12)
    n = f.shape[0]
    f[-1] = 0.0
    f[-1, 10:12, 7:9] = rng.uniform(0.5, 1.5, (2, 2))  # the 2 x 2 cells of the ε → 0 limit
    k_rho, k_j, current = rng.uniform(0, 3, n), rng.standard_normal(n), 0.1
    area = GRID.cell_area
    for rhs in (transport_rhs, transport_rhs_numpy):
        df = rhs(f, GRID, PARAMS, k_rho, k_j, current, donor=np.ones(n, dtype=bool))
        rho, j, q = (np.einsum("ikl,kl->i", f, x) * area for x in moment_weights(GRID))
        dq = np.einsum("ikl,l->i", df, GRID.w) * area
        exact_q = PARAMS.tau * (j + PARAMS.a * rho - PARAMS.b * q)
        assert np.abs(dq - exact_q).max() <= 1e-12 * np.abs(exact_q).max()
        dj = np.einsum("ikl,k->i", df, GRID.v) * area
        a_v = (
            PARAMS.N(GRID.v)[None, :, None]
            + current
            - GRID.v[None, :, None] * k_rho[:, None, None]
            + k_j[:, None, None]
            - GRID.w[None, None, :]
        )
        exact_j = np.einsum("ikl,ikl->i", a_v, f) * area
        assert np.abs(dj - exact_j).max() <= 1e-12 * np.abs(exact_j).max()
    # the MUSCL w-flux on the 2 x 2 profile misses the rate by O(1)
    df = transport_rhs(f, GRID, PARAMS, k_rho, k_j, current)
    dq = np.einsum("kl,l->", df[-1], GRID.w) * area
    assert abs(dq - exact_q[-1]) > 0.1 * abs(exact_q[-1])


def moment_weights(grid):
    """Cell weights of ρ, j and q: 1, v_k and w_l on the (n_v, n_w) grid."""
    ones = np.ones(grid.shape)
    return ones, grid.v[:, None] * ones, grid.w[None, :] * ones


def test_relax_and_moment_kernels_match_numpy():
    f, rng = random_state(GRID, 24)
    m = moments(f, GRID)
    m_np = moments_numpy(f, GRID)
    scale = np.abs(m_np).max(axis=1, keepdims=True)
    assert np.abs(m - m_np).max(axis=1).max() <= 1e-13 * scale.max()
    assert np.all(np.abs(m - m_np) <= 1e-13 * scale)
    assert m[3, 1] == 0 and m[5, 1] == 0  # ρ = 0: V, var := 0
    for dt_eps in (1e-3, 0.2, 3.0, 1e4):
        lam = contraction(m[0], dt_eps, 1.0)
        active = rng.random(f.shape[0]) < 0.8
        a = relax(f, GRID, m[0], m[3], lam, active)
        b = relax_numpy(f, GRID, m[0], m[3], lam, active)
        assert np.abs(a - b).max() <= 1e-13 * np.abs(b).max()
        np.testing.assert_array_equal(a[~active], f[~active])


@pytest.mark.parametrize("eps,diffusion", [(1e-4, 0.0), (2.0, 0.3), (math.inf, 0.0)])
def test_numpy_backend_runs_like_numba(setup, eps, diffusion):
    """The whole splitting on the array twins (remap + donor, drift + MUSCL, no relaxation)."""
    nodes, op, rho0, V0, W0 = setup
    runs = []
    for backend in ("numba", "numpy"):
        model = KineticFHN(nodes, PARAMS, op, GRID, eps, rho0, None, diffusion, backend=backend)
        stepper = APSplitting(0.3 * model.max_stable_dt())
        runs.append(stepper.advance(model, 0.0, model.state(V0, W0, 0.3, 0.2), 0.03)[1])
    assert np.abs(runs[0] - runs[1]).max() <= 1e-12 * np.abs(runs[1]).max()


# --------------------------------------------------------------------------- relaxation step


@pytest.mark.parametrize("dt_over_eps", [1e-3, 0.1, 1.0, 10.0, 1e6])
def test_relaxation_conserves_and_contracts_variance(dt_over_eps):
    f, _ = random_state(GRID, 30)
    m0 = moments(f, GRID)
    lam = contraction(m0[0], dt_over_eps, 1.0)
    g = relax(f, GRID, m0[0], m0[3], lam)
    m1 = moments(g, GRID)
    assert g.min() >= 0
    for row in (0, 1, 2):  # ρ, j, q to round-off
        assert np.abs(m1[row] - m0[row]).max() <= 1e-13 * np.abs(m0[row]).max()
    # exact flow: var_v → λ² var_v; the linear deposit adds between 0 and Δv²/4
    excess = (m1[5] - lam**2 * m0[5])[m0[0] > 0]
    assert excess.min() >= -1e-12 and excess.max() <= GRID.dv**2 / 4 + 1e-12
    np.testing.assert_allclose(m1[6], m0[6], rtol=1e-12)  # w untouched
    if dt_over_eps >= 1e6:  # the limit: each w-row on the two cells bracketing V
        assert np.count_nonzero(g.sum(axis=2), axis=1).max() <= 2


# --------------------------------------------------------------------------- model and stepper


def test_run_conserves_mass_and_positivity(setup):
    """A Simulation drives the splitting; an observer checks every output time."""
    nodes, op, rho0, V0, W0 = setup
    current = Stimulus(Expression("0.3*sin(2*t)*x/10", ("x", "y", "z", "t")), nodes.coords)
    model = KineticFHN(nodes, PARAMS, op, GRID, 0.05, rho0, current, diffusion=0.02)
    assert not model.constant_current
    stepper = APSplitting(0.9 * model.max_stable_dt(), "ssprk3")
    checks = []

    def observer(t, f, step):  # a model output: it sees the density f itself
        rho = model.fields_of(f)["rho"]
        checks.append((np.abs(rho - rho0).max() / rho0.max(), f.min() / f.max()))

    sim = Simulation(
        model, stepper, np.linspace(0, 1.0, 6), progress=False, model_outputs=[observer]
    )
    f = sim.run(model.state(V0, W0, 0.3, 0.2))
    assert len(checks) == 6
    assert max(c[0] for c in checks) <= 1e-12
    assert min(c[1] for c in checks) >= 0
    assert sim.steps > 20 and np.all(np.isfinite(f))
    fields = model.fields_of(f)
    assert set(fields) == {"V", "W", "rho", "var_v", "var_w", *NODE_FIELDS}
    assert fields["var_v"].min() > 0
    # the limit diagnostics (numpy) agree with the moments (numba kernel): d = ρ var_v, D = ρ0 d
    d = fields["dissipation_unweighted"]
    assert d == pytest.approx(fields["rho"] * fields["var_v"], rel=1e-12)
    assert fields["dissipation"] == pytest.approx(rho0 * d, rel=1e-12)
    info = model.info()
    assert info["cells_per_node"] == 512 and info["max_stable_dt"] == model.max_stable_dt()


def test_time_step_checks(setup):
    nodes, op, rho0, V0, W0 = setup
    model = KineticFHN(nodes, PARAMS, op, GRID, 1e-3, rho0)
    f = model.state(V0, W0)
    dt_max = model.max_stable_dt()
    speed_v, speed_w = model.speeds()
    assert dt_max == pytest.approx(stable_dt(speed_v.max(), speed_w, GRID))
    with pytest.raises(ParameterError, match=rf"time\.dt = .* needs dt <= {dt_max:.6g}"):
        APSplitting(1.5 * dt_max).advance(model, 0.0, f, 0.1)
    with pytest.raises(ParameterError, match="relaxation = 'drift'"):
        APSplitting(dt_max, relaxation="drift").advance(model, 0.0, f, 0.1)
    with pytest.raises(ParameterError, match="kinetic.transport_scheme"):
        APSplitting(0.1, transport_scheme="rk4")
    # Δt does not depend on ε: the same step runs at ε = 1e-3 and ε = 1e-9
    for eps in (1e-3, 1e-9):
        m = KineticFHN(nodes, PARAMS, op, GRID, eps, rho0)
        _, g, n = APSplitting(dt_max).advance(m, 0.0, f, 0.05)
        assert np.all(np.isfinite(g)) and g.min() >= 0 and n == math.ceil(0.05 / dt_max)


def test_explicit_rhs_matches_splitting_at_large_eps(setup):
    """At ε = 2 with noise the relaxation fits in the drift: the splitting is then plain SSP-RK3
    of the full right-hand side, the same as the generic integrator."""
    nodes, op, rho0, V0, W0 = setup
    model = KineticFHN(nodes, PARAMS, op, GRID, 2.0, rho0, diffusion=0.3)
    f0 = model.state(V0, W0, 0.3, 0.2)
    dt = 0.3 * model.max_stable_dt()
    stepper = APSplitting(dt, "ssprk3")
    _, f, _ = stepper.advance(model, 0.0, f0, 0.2)
    assert stepper.last_drift_nodes == nodes.n_owned
    _, g, _ = make_integrator("ssprk3", dt).advance(model, 0.0, f0, 0.2)
    assert np.abs(f - g).max() <= 1e-12 * np.abs(g).max()


# --------------------------------------------------------------------------- convergence


def transport_exact(grid, f0, k_rho, k_j, current, T, n_sub=400):
    """Exact solution of ∂_t f + ∇·(a f) = 0 at the cell centres by backward characteristics:
    f(T, z) = f0(z(0)) exp(−∫ div a), div a = N'(v) − Ψ*ρ − τ b."""
    p = PARAMS
    v, w = np.meshgrid(grid.v, grid.w, indexing="ij")
    y = np.stack([v, w, np.zeros_like(v)])

    def back(y):
        # backward in time the cubic repels: cap |v| (f0 is negligible out there)
        vv, ww = np.clip(y[0], -4.0, 4.0), y[1]
        av = p.N(vv) - ww + current - vv * k_rho + k_j
        aw = p.tau * (vv + p.a - p.b * ww)
        div = p.dN(vv) - k_rho - p.tau * p.b
        return np.stack([-av, -aw, div])

    h = T / n_sub
    for _ in range(n_sub):
        k1 = back(y)
        k2 = back(y + 0.5 * h * k1)
        k3 = back(y + 0.5 * h * k2)
        k4 = back(y + h * k3)
        y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return f0(y[0], y[1]) * np.exp(-y[2])


def ssprk3_transport(f, grid, h, k_rho, k_j, current):
    def euler(g):
        return g + h * transport_rhs(g, grid, PARAMS, k_rho, k_j, current)

    f2 = 0.75 * f + 0.25 * euler(euler(f))
    return f / 3 + 2 / 3 * euler(f2)


def test_transport_velocity_grid_order():
    """Pure transport (no relaxation) of a smooth profile: MUSCL + SSP-RK3, L1 order >= 1.5."""
    k_rho, k_j, current, T = 0.5, 0.05, 0.1, 1.0

    def f0(v, w):
        return np.exp(-((v - 0.1) ** 2) / (2 * 0.3**2) - (w - 0.2) ** 2 / (2 * 0.4**2))

    errors, sizes = [], []
    for n in (24, 48, 96):
        grid = GRID.refined(n, n)
        v, w = np.meshgrid(grid.v, grid.w, indexing="ij")
        f = f0(v, w)[None]
        speed = np.abs(PARAMS.N(grid.v_faces)).max() + 4.0
        dt = 0.8 * stable_dt(speed, 0.3, grid)
        steps = math.ceil(T / dt)
        for _ in range(steps):
            f = ssprk3_transport(f, grid, T / steps, k_rho, k_j, current)
        exact = transport_exact(grid, f0, k_rho, k_j, current, T)
        errors.append(np.abs(f[0] - exact).sum() * grid.cell_area)
        sizes.append(grid.dv)
    rate = np.polyfit(np.log(sizes), np.log(errors), 1)[0]
    print(f"\ntransport L1 errors [{fmt(errors)}], order {rate:.2f}")
    assert rate >= 1.5, (errors, rate)


def test_moderate_eps_velocity_grid_convergence():
    """ε = 0.1 without noise (remap + donor flux): moments converge in the velocity grid."""
    nodes, op, rho0, V0, W0 = interval_setup(n_cells=4)
    ref_grid = GRID.refined(128, 64)
    dt = KineticFHN(nodes, PARAMS, op, ref_grid, 0.1, rho0).max_stable_dt()

    def run(grid):
        model = KineticFHN(nodes, PARAMS, op, grid, 0.1, rho0)
        _, f, _ = APSplitting(dt).advance(model, 0.0, model.state(V0, W0, 0.4, 0.2), 1.0)
        return model.fields_of(f)

    ref = run(ref_grid)
    errors = []
    for n_v in (16, 32, 64):
        fields = run(GRID.refined(n_v, n_v // 2))
        errors.append(max(np.abs(fields[k] - ref[k]).max() for k in ("V", "W")))
    orders = np.log2(np.array(errors[:-1]) / errors[1:])
    print(f"\neps = 0.1: errors vs 128 x 64 [{fmt(errors)}], orders {orders}")
    assert errors[0] > errors[1] > errors[2]


def macro_reference(op, rho0, V0, W0, scheme, dt, times):
    macro = NonlocalFHN(NonlocalLaplacian(op, rho0), PARAMS)
    ys = [macro.state(V0, W0)]
    integrator = make_integrator(scheme, dt)
    for t0, t1 in zip(times[:-1], times[1:], strict=True):
        ys.append(integrator.advance(macro, t0, ys[-1], t1)[1])
    return macro, ys


def test_asymptotic_preserving_limit(setup):
    """ε = 1e-6 with the CFL step of the finest grid (no regard to ε): the moments follow Heun's
    method for the macroscopic model (SSP-RK2 transport + re-collapsing relaxation)."""
    nodes, op, rho0, V0, W0 = setup
    times = np.linspace(0.0, 1.5, 11)
    grids = [GRID.refined(n_v, n_v // 2) for n_v in (32, 64, 128)]
    dt = KineticFHN(nodes, PARAMS, op, grids[-1], 1e-6, rho0).max_stable_dt()
    stepper = APSplitting(dt, "ssprk2")
    _, ys = macro_reference(op, rho0, V0, W0, stepper.macro_limit, dt, times)
    errors = []
    for grid in grids:
        model = KineticFHN(nodes, PARAMS, op, grid, 1e-6, rho0)
        f = model.state(V0, W0, 0.2, 0.2)
        error = 0.0
        for k in range(1, times.size):
            _, f, _ = stepper.advance(model, times[k - 1], f, times[k])
            assert f.min() >= 0
            error = max(error, np.abs(model.fields_of(f)["V"] - ys[k][0]).max())
        errors.append(error)
    sizes = [g.dv for g in grids]
    rate = np.polyfit(np.log(sizes), np.log(errors), 1)[0]
    print(f"\nAP eps=1e-6: max_t |V - V_macro| [{fmt(errors)}], order {rate:.2f}")
    assert rate >= 0.9 and errors[-1] < 1e-3, (errors, rate)


def sup_entropy(eps, nodes, op, rho0, V0, W0, grid, stepper, macro, y0, times):
    """sup over output times of H between the kinetic run at ε and the macroscopic run."""
    model = KineticFHN(nodes, PARAMS, op, grid, eps, rho0)
    f0 = model.state(V0, W0, 0.4, 0.2)
    integrator = make_integrator(stepper.macro_limit, stepper.dt)
    history = limit_history(model, stepper, f0, macro, integrator, y0, times, nodes.masses, 0.1)
    return history["relative_entropy"].max()


def test_relative_entropy_rate():
    """H(ε) ∝ ε² above the velocity-grid floor (ill-prepared data: σ_v = 0.4)."""
    nodes, op, rho0, V0, W0 = interval_setup()
    times = np.linspace(0.0, 1.5, 11)
    eps_values = np.array([0.1, 0.05, 0.025, 0.0125, 0.00625])
    macro = NonlocalFHN(NonlocalLaplacian(op, rho0), PARAMS)
    fit, reason = None, ""
    for n_v in (64, 128):  # refine until three ε are 10x above the floor
        grid = GRID.refined(n_v, n_v // 2)
        stepper = APSplitting(KineticFHN(nodes, PARAMS, op, grid, 1.0, rho0).max_stable_dt())
        args = (nodes, op, rho0, V0, W0, grid, stepper, macro, macro.state(V0, W0), times)
        floor = sup_entropy(1e-8, *args)
        H = np.array([sup_entropy(e, *args) for e in eps_values])
        print(f"\nn_v = {n_v}: floor {floor:.2e}, H = [{fmt(H)}]")
        try:
            fit = fit_rate(eps_values, H, floor)
            break
        except ParameterError as err:
            reason = str(err)
    assert fit is not None, reason
    print(f"eps = {eps_values}: window {fit.window}, rate {fit.rate:.2f}")
    assert len(fit.window) >= 3
    assert fit.rate >= max(1 / (1 + 6), 1.5)
    assert np.all(np.diff(H) < 0)


def test_relative_entropy_and_fit_rate():
    m, rho = np.array([0.5, 1.0]), np.array([2.0, 1.0])
    H = relative_entropy(m, rho, np.array([1.0, 0.0]), np.zeros(2), np.zeros(2), np.ones(2))
    assert H == pytest.approx(0.5 * (0.5 * 2 * 2 + 1.0 * 1 * 1))
    eps = np.array([0.4, 0.2, 0.1, 0.05, 0.025, 0.0125])
    H = 3.0 * eps**2 + 1e-4
    fit = fit_rate(eps, H, 1e-4)
    np.testing.assert_allclose(fit.window, [0.4, 0.2, 0.1, 0.05, 0.025])
    assert fit.rate == pytest.approx(2.0, abs=0.1)
    with pytest.raises(ParameterError, match="refine the velocity grid"):
        fit_rate(eps, H, 1e-2)
