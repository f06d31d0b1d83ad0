"""The per-node quantities of the hydrodynamic-limit proof (fem_fhn.kinetic.diagnostics), the
ill-prepared perturbation and the entropy split against closed forms, and the two ways
`limit_history` integrates in time against each other."""

import math

import numpy as np
import pytest
from mpi4py import MPI

from fem_fhn import kernels
from fem_fhn._fenics import dolfinx
from fem_fhn.analysis import ENTROPY_PARTS, entropy_split, relative_entropy
from fem_fhn.kinetic import APSplitting, KineticFHN, VelocityGrid, from_function, suggest_grid
from fem_fhn.kinetic.diagnostics import (
    central_moments,
    error_term,
    flow_integrals,
    integrate,
    node_diagnostics,
)
from fem_fhn.kinetic.limit import limit_history
from fem_fhn.kinetic.perturbation import perturbation_shape, perturbed_moments, theorem_exponent
from fem_fhn.macro import NonlocalFHN
from fem_fhn.mesh import NodalMesh
from fem_fhn.nonlocal_ import NonlocalLaplacian, make_operator
from fem_fhn.params import FHNParameters
from fem_fhn.timestepping import make_integrator

PARAMS = FHNParameters()

GRID = VelocityGrid(-3.0, 3.0, 240, -2.0, 2.0, 80)  # Δv = 0.025, Δw = 0.05
RHO = np.array([1.0, 0.5, 2.0])
V = np.array([0.3, -0.7125, 0.0123])  # cell centre, cell centre, off-centre
W = np.array([0.1, -0.2, 0.0])
SV, SW = 0.3, 0.25


def maxwellian() -> np.ndarray:
    """ρ G_σv(v − V) G_σw(w − W) sampled at the cell centres (one node per row of RHO)."""

    def f0(x, v, w):
        i = np.rint(x[..., 0]).astype(int)
        gv = np.exp(-((v - V[i]) ** 2) / (2 * SV**2)) / math.sqrt(2 * math.pi * SV**2)
        gw = np.exp(-((w - W[i]) ** 2) / (2 * SW**2)) / math.sqrt(2 * math.pi * SW**2)
        return RHO[i] * gv * gw

    return from_function(GRID, np.arange(3.0)[:, None], f0)


def test_maxwellian_dissipation_and_moments_match_closed_forms():
    # σ/Δv = 12: the sampled Gaussian's discrete mass, mean and moments equal the continuous
    # ones up to e^{-2π²σ²/Δv²} (Poisson summation) and the tails beyond the box (< e^{-40})
    rho0 = np.array([2.0, 3.0, 0.5])
    nodal = node_diagnostics(maxwellian(), GRID, rho0)
    tol = dict(rel=1e-10, abs=1e-13)
    assert nodal["dissipation_unweighted"] == pytest.approx(RHO * SV**2, **tol)
    assert nodal["dissipation"] == pytest.approx(rho0 * RHO * SV**2, **tol)
    m4 = RHO * (V**4 + 6 * V**2 * SV**2 + 3 * SV**4 + W**4 + 6 * W**2 * SW**2 + 3 * SW**4)
    m6 = RHO * (V**6 + 15 * V**4 * SV**2 + 45 * V**2 * SV**4 + 15 * SV**6)
    assert nodal["moment4"] == pytest.approx(m4, **tol)
    assert nodal["moment6"] == pytest.approx(m6, **tol)
    # E = ∫ f (N(v) − N(V)) = −3 ρ V σ_v² for a Gaussian and N(v) = v − v³
    assert nodal["error_term"] == pytest.approx(-3 * RHO * V * SV**2, **tol)
    assert error_term(maxwellian(), GRID) == pytest.approx(nodal["error_term"], rel=1e-13)


def test_dirac_profiles_error_term_and_dissipation():
    f = np.zeros((3, *GRID.shape))
    f[0, 150, 40] = 1.5 / GRID.cell_area  # one cell: V = v_150, no spread
    f[1, 30, 10] = f[1, 31, 10] = 0.5 / GRID.cell_area  # two cells, V midway between centres
    f[2, 0, 0] = 0.0  # vacuum
    nodal = node_diagnostics(f, GRID, np.ones(3))
    assert nodal["error_term"][0] == 0.0 and nodal["dissipation"][0] == 0.0
    d, Vm = GRID.dv / 2, 0.5 * (GRID.v[30] + GRID.v[31])
    # N(V + d) + N(V − d) − 2 N(V) = −6 V d²
    assert nodal["error_term"][1] == pytest.approx(-3 * 1.0 * Vm * d**2, rel=1e-12)
    assert nodal["dissipation_unweighted"][1] == pytest.approx(d**2, rel=1e-12)
    assert all(nodal[k][2] == 0.0 for k in nodal)


def test_flow_integrals_of_a_maxwellian_along_the_exact_relaxation():
    # along v − V ↦ λ(v − V), λ = e^{−ρt/ε}, the Gaussian keeps its mean with variance λ²σ²
    eps, s = 0.05, 0.03
    flows = flow_integrals(maxwellian(), GRID, np.ones(3), s, eps)

    def lam_int(m):  # ∫_0^s λ^m dt
        return eps * (1 - np.exp(-m * RHO * s / eps)) / (m * RHO)

    tol = dict(rel=1e-9, abs=1e-14)
    assert flows["V"] == pytest.approx(V, rel=1e-12)
    assert flows["dissipation_unweighted"] == pytest.approx(RHO * SV**2 * lam_int(2), **tol)
    assert flows["error_term"] == pytest.approx(-3 * RHO * V * SV**2 * lam_int(2), **tol)
    m6 = RHO * (
        V**6 * s
        + 15 * V**4 * SV**2 * lam_int(2)
        + 45 * V**2 * SV**4 * lam_int(4)
        + 15 * SV**6 * lam_int(6)
    )
    assert flows["moment6"] == pytest.approx(m6, **tol)
    # a plain quadrature in t of the node quantities of the contracted Gaussian agrees
    t = np.linspace(0.0, s, 2001)
    var = SV**2 * np.exp(-2 * RHO[:, None] * t / eps)
    assert flows["dissipation_unweighted"] == pytest.approx(
        RHO * np.trapezoid(var, t, axis=1), rel=1e-6
    )


def test_central_moments_expand_the_error_term():
    f = maxwellian() * (1 + 0.3 * np.sin(GRID.v)[None, :, None])  # skewed profiles
    _, Vn, c = central_moments(f, GRID)
    # N(v) − N(V) = N'(V)(v − V) − 3V (v − V)² − (v − V)³ with Σ(v − V) f = 0
    assert error_term(f, GRID) == pytest.approx(-3 * Vn * c[2] - c[3], rel=1e-11)


def test_perturbation_sizes_follow_their_formula():
    x = np.linspace(0.0, 10.0, 41)[:, None]
    masses = np.full(41, 0.25)
    masses[[0, -1]] = 0.125
    rho0 = np.maximum(0.0, np.cos(np.pi * x[:, 0] / 10))  # a vacuum on x > 5
    V0, W0 = np.sin(x[:, 0]), 0.1 * x[:, 0]
    phi = perturbation_shape(x)
    assert phi[0] == pytest.approx(1.0) and phi[-1] == pytest.approx(-1.0)
    assert np.all(np.abs(phi) <= 1)
    alpha, c = theorem_exponent(1), 0.4
    assert alpha == pytest.approx(1 / 14)
    for eps in (0.1, 0.01, 1e-4):
        s = c * eps**alpha
        p = perturbed_moments(masses, rho0, V0, W0, phi, s)
        assert p.size == pytest.approx(s)
        assert np.all(p.rho >= 0) and np.all(p.rho[rho0 == 0] == 0)
        assert p.rho_part == pytest.approx(s**2 * np.sum(masses * rho0**2 * phi**2), rel=1e-12)
        assert p.moment_part == pytest.approx(2 * s**2 * np.sum(masses * p.rho * phi**2), rel=1e-12)
        # the theorem's hypothesis: ≤ C ε^{2α} = C ε^{1/(d+6)}
        bound = (1 + s) * 3 * np.sum(masses * rho0**2 + masses * rho0) * c**2
        assert p.rho_part + p.moment_part <= bound * eps ** (1 / 7)
    # sizes > 1 clip ρ0^ε at 0 instead of going negative
    big = perturbed_moments(masses, np.ones(41), V0, W0, phi, 3.0)
    assert big.rho.min() == 0.0 and np.sum(big.rho == 0) == np.sum(phi <= -1 / 3)


def test_entropy_split_sums_to_the_total():
    rng = np.random.default_rng(3)
    n = 500
    masses = rng.uniform(0.5, 1.5, n)
    rho0 = np.where(rng.uniform(size=n) < 0.2, 0.0, rng.uniform(0.0, 2.0, n))
    V, W, Ve, We = rng.normal(size=(4, n))
    Ve[rho0 == 0] = We[rho0 == 0] = 0.0  # the moments' convention where f = 0
    total = relative_entropy(masses, rho0, V, W, Ve, We)
    parts = entropy_split(masses, rho0, V, W, Ve, We, eta=0.3)
    assert set(parts) == set(ENTROPY_PARTS)
    assert sum(parts.values()) == pytest.approx(total, rel=1e-14)
    assert parts["entropy_rho0_zero"] == 0.0
    assert parts["entropy_rho0_le_eta"] > 0 and parts["entropy_rho0_gt_eta"] > 0
    low = (rho0 > 0) & (rho0 <= 0.3)
    expected = 0.5 * np.sum((masses * rho0 * ((V - Ve) ** 2 + (W - We) ** 2))[low])
    assert parts["entropy_rho0_le_eta"] == pytest.approx(expected, rel=1e-14)


def test_integrate_is_the_lumped_mass_sum():
    masses = np.array([0.5, 1.0, 0.5])
    assert integrate(masses, np.array([2.0, 3.0, 4.0])) == 6.0
    assert FHNParameters.N(2.0) == -6.0


def test_time_integrals_through_the_remap_and_through_the_drift_agree():
    """The exact-flow integrals (relaxation remapped) and the trapezoid rule (relaxation in the
    transport drift) converge to each other as Δv → 0: first order, like the remap itself."""
    nodes = NodalMesh.from_mesh(dolfinx.mesh.create_interval(MPI.COMM_SELF, 5, [0.0, 10.0]))
    psi = kernels.Gaussian(width=1.5, dim=1)
    op = make_operator(nodes.coords, nodes.masses, psi, comm=MPI.COMM_SELF)
    x = nodes.coords[:, 0]
    rho0 = 1 + 0.5 * np.cos(np.pi * x / 5)
    V0, W0 = -0.5 + 1.5 / (1 + np.exp((x - 3) / 0.7)), -0.2 + 0.05 * x
    macro = NonlocalFHN(NonlocalLaplacian(op, rho0), PARAMS)
    keys = ("int_dissipation", "int_dissipation_unweighted", "int_error_term", "int_moment6")
    gaps = []
    for n_v in (64, 128):
        model = KineticFHN(
            nodes, PARAMS, op, suggest_grid(PARAMS, n_v=n_v, n_w=n_v // 2), 0.5, rho0
        )
        f0 = model.state(V0, W0, 0.4, 0.2)
        final = {}
        for mode in ("remap", "drift"):
            stepper = APSplitting(0.5 * model.max_stable_dt(with_relaxation=True), relaxation=mode)
            history = limit_history(
                model,
                stepper,
                f0,
                macro,
                make_integrator("heun", stepper.dt),
                macro.state(V0, W0),
                np.array([0.0, 0.25]),
                nodes.masses,
                0.1,
            )
            assert stepper.last_drift_nodes == (6 if mode == "drift" else 0)
            final[mode] = np.array([history[k][-1] for k in keys])
        gaps.append(np.abs(final["remap"] - final["drift"]) / np.abs(final["drift"]))
    coarse, fine = gaps
    assert np.all(fine <= 0.6 * coarse), (coarse, fine)
    assert np.all(fine <= [0.04, 0.04, 0.08, 0.03]), fine
