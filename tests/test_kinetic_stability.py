"""Kinetic linear stability: the discrete L_k (mass, moments, package flux), the homogeneous steady
state, SLEPc against dense eigenvalues, the exact Dirac case, convergence to the macroscopic λ(k)
as ε → 0, stability for Ψ ≥ 0, the Turing instability, and the dispersion command with [kinetic]."""

import json
import math

import numpy as np
import pytest

from fem_fhn import kernels, stability, stability_kinetic
from fem_fhn.analysis import convergence_rate
from fem_fhn.kinetic import linear
from fem_fhn.kinetic.grid import VelocityGrid
from fem_fhn.kinetic.transport import transport_rhs_numpy
from fem_fhn.params import FHNParameters, ParameterError

V_TURING = 1 / math.sqrt(2)
TURING = FHNParameters(a=0.0, b=2.0, tau=1.0)
HAT = kernels.MexicanHat(width_exc=0.05, width_inh=0.1, a_exc=6.0, a_inh=5.0, dim=2)
GAUSS = kernels.Gaussian(0.1, 2, 3.0)
EXCITABLE = FHNParameters()


def test_transport_matrix_is_the_package_donor_flux_and_conserves_mass():
    rng = np.random.default_rng(1)
    grid = VelocityGrid(-1.2, 1.1, 20, -0.6, 0.8, 10)
    f = rng.random(grid.shape)
    rho, eps, V, psi0, D = 1.3, 0.05, 0.2, 0.7, 0.03
    p = TURING.replace(tau=0.0, I_ext=0.1)  # no w-transport: the package's w-flux is MUSCL
    kappa = rho * (psi0 + 1 / eps)
    drift = (p.N(grid.v) + p.I_ext - kappa * (grid.v - V))[:, None] - grid.w[None, :]
    T = linear.transport_matrix(p, grid, drift, D)
    ref = transport_rhs_numpy(
        f[None], grid, p, psi0 * rho, psi0 * rho * V, p.I_ext, rho / eps, V, [True], D
    )[0]
    np.testing.assert_allclose((T @ f.ravel()).reshape(grid.shape), ref, atol=1e-11)
    T = linear.transport_matrix(TURING, grid, drift, D)
    scale = abs(T).max()
    assert np.abs(np.asarray(T.sum(axis=0))).max() < 1e-13 * scale  # columns: mass
    offdiag = T - np.diag(T.diagonal())
    assert offdiag.min() >= 0  # a Markov generator: positive scheme


@pytest.mark.parametrize("D", [0.05, 0.0])
def test_homogeneous_steady_state(D):
    st = linear.steady_state(TURING, HAT, (64, 32), 1e-2, 1.3, D, V_TURING)
    area = st.grid.cell_area
    assert st.residual < 1e-12
    assert st.f.sum() * area == pytest.approx(1.3, rel=1e-12)
    assert st.W == pytest.approx((st.V + TURING.a) / TURING.b, rel=1e-12)
    assert st.wall_mass < 1e-11  # round-off of the LU solve
    kappa = 1.3 * (HAT.mass + 1e2)
    assert st.kappa == pytest.approx(kappa)
    rhs = linear.homogeneous_rhs(st.f, TURING, st.grid, 1e-2, HAT.mass, D)
    assert np.abs(rhs).max() < 1e-12 * st.kappa * np.abs(st.f).max() / st.grid.dv
    if D > 0:  # Gaussian in v of variance ≈ D/κ0; the mean moves by O(variance)
        assert st.var_v == pytest.approx(D / kappa, rel=0.15)
        assert abs(st.V - V_TURING) < 3 * st.var_v
    else:  # the Dirac on the 2 x 2 cells around (V*, W*)
        n_v, n_w = st.grid.shape
        block = st.f[n_v // 2 - 1 : n_v // 2 + 1, n_w // 2 - 1 : n_w // 2 + 1]
        assert block.sum() * area == pytest.approx(1.3, rel=1e-12)
        assert st.var_v == pytest.approx(st.grid.dv**2 / 4, rel=1e-9)
        assert abs(st.V - V_TURING) < st.grid.dv**2


def test_linearised_operator_conserves_mass_and_moments_and_slepc_matches_dense():
    st = linear.steady_state(TURING, HAT, (24, 12), 1e-2, 1.0, 0.05, V_TURING)
    op = linear.linearised_operator(st, HAT, 17.9)
    L = op.dense()
    area = st.grid.cell_area
    assert np.abs(L.sum(axis=0)).max() < 1e-12 * np.abs(L).max()  # ∫ L_k g = 0
    assert (op.velocities @ op.u) * area == pytest.approx(1.0, rel=1e-12)  # ∫ v u = ρ̄
    rng = np.random.default_rng(0)
    g = rng.standard_normal(op.size)
    g -= g.mean()
    Lg = op.matvec(g)
    np.testing.assert_allclose(Lg, L @ g, atol=1e-10 * np.abs(Lg).max())
    w = np.tile(st.grid.w, st.grid.n_v)
    dj, dq = area * op.velocities @ g, area * w @ g
    assert area * w @ Lg == pytest.approx(TURING.tau * (dj - TURING.b * dq), rel=1e-10)
    dense = np.linalg.eigvals(L)
    dense = dense[np.lexsort((-dense.imag, -dense.real))]
    # the neutral mass mode λ = 0 is in the dense spectrum and not in the zero-mass one
    assert np.abs(dense).min() < 1e-8
    dense = dense[np.abs(dense) > 1e-8]
    lam, res = stability_kinetic.eigenvalues(op, 6, target=2.2)
    assert lam.size >= 6 and res.max() < 1e-10
    np.testing.assert_allclose(lam[:6], dense[:6], atol=1e-9)


@pytest.mark.parametrize(
    "params,kernel,V_star",
    [(TURING, HAT, V_TURING), (EXCITABLE, GAUSS, None)],
    ids=["turing", "excitable"],
)
@pytest.mark.parametrize("eps", [1e-1, 1e-3])
def test_dirac_state_carries_the_macroscopic_eigenvalues_for_every_eps(params, kernel, V_star, eps):
    k = [0.0, 6.0, 17.9, 45.0]
    spec = stability_kinetic.kinetic_spectrum(params, kernel, k, (32, 16), eps, 1.0, 0.0, 4, V_star)
    assert spec.state.residual < 1e-12
    # the only error is the secant slope of N across the two cells: Δv²/4 ≈ 1e-7 here
    assert spec.max_error < 1e-6
    assert np.nanmax(spec.residuals) < 1e-8  # relative to ‖T‖₁


def test_kinetic_eigenvalues_converge_to_macroscopic_as_eps_decreases():
    k = [0.0, 5.0, 10.0, 17.9, 25.0, 40.0]
    eps_values = np.array([1e-1, 1e-2, 1e-3])
    D = 0.05
    errors, relative = [], []
    for eps in eps_values:
        spec = stability_kinetic.kinetic_spectrum(
            TURING, HAT, k, (48, 24), eps, 1.0, D, 4, V_TURING
        )
        errors.append(spec.max_error)
        relative.append(float((spec.errors / np.abs(spec.macro)).max()))
        assert np.nanmax(spec.residuals) < 1e-8 and spec.state.wall_mass < 1e-11
    errors = np.array(errors)
    fit = convergence_rate(eps_values, errors)
    for eps, err, rel in zip(eps_values, errors, relative, strict=True):
        print(f"eps = {eps:.0e}: max |lambda_kin - lambda_macro| = {err:.3e} (relative {rel:.2e})")
    print(f"observed order {fit.rate:.3f}")
    assert np.all(np.diff(errors) < 0) and np.all(errors[:-1] / errors[1:] > 8)
    assert 0.95 < fit.rate < 1.1
    assert errors[-1] < 1e-3 and relative[-1] < 2e-3
    assert errors[-1] == pytest.approx(10 * D * eps_values[-1], rel=0.3)  # ≈ 10 D ε


def test_nonnegative_kernel_gives_no_unstable_kinetic_eigenvalue():
    k = [0.0, 5.0, 10.0, 20.0, 60.0]
    spec = stability_kinetic.kinetic_spectrum(EXCITABLE, GAUSS, k, (48, 24), 1e-3, 1.0, 0.01, 6)
    assert spec.n_converged.min() >= 6
    assert np.nanmax(spec.eigenvalues.real) < -0.05
    assert spec.max_error < 1e-3
    # the rightmost eigenvalues at small k are internal modes of the w-distribution (≈ −1.5 τb)
    tau_b = EXCITABLE.tau * EXCITABLE.b
    assert spec.eigenvalues[0, 0].real == pytest.approx(-1.5 * tau_b, rel=0.2)


def test_turing_case_has_positive_real_kinetic_eigenvalues_near_k_max():
    k = [0.0, 5.0, 17.9, 40.0]
    lam = stability_kinetic.kinetic_dispersion(
        TURING, HAT, k, (48, 24), 1e-3, 1.0, 0.01, 4, V_TURING
    )
    assert lam.shape == (4, 4) and lam.dtype == complex
    macro = stability.dispersion(TURING, HAT, k, 1.0, V_TURING)
    np.testing.assert_array_equal(lam[:, 0].real > 0, macro[:, 0].real > 0)
    assert lam[2, 0].real == pytest.approx(1.19994, abs=1e-3) and lam[2, 0].imag == 0
    assert lam[2, 1].real < 0


def test_invalid_arguments():
    with pytest.raises(ParameterError, match="tau, b"):
        linear.steady_state(TURING.replace(tau=0.0), HAT, (16, 8), 1e-2, 1.0, 0.0, V_TURING)
    with pytest.raises(ParameterError, match="kinetic.eps"):
        linear.steady_state(TURING, HAT, (16, 8), -1.0, 1.0, 0.0, V_TURING)
    outward = VelocityGrid(0.69, 0.72, 16, 0.35, 0.36, 8)  # τ(v − 2 w) < 0 at (0.69, 0.35)
    with pytest.raises(ParameterError, match="not invariant"):
        linear.steady_state(TURING, HAT, outward, 1e-2, 1.0, 0.0, V_TURING)


CONFIG = """
[model]
a = 0.0
b = 2.0
tau = 1.0
[kernel]
type = "mexican_hat"
width_exc = 0.05
width_inh = 0.1
a_exc = 6.0
a_inh = 5.0
[dispersion]
k_max = 60.0
n_k = 301
V_star = 0.7071067811865476
n_k_kinetic = 7
[kinetic]
eps = 1e-3
n_v = 32
n_w = 16
diffusion = 0.01
"""


def test_dispersion_command_draws_kinetic_eigenvalues(tmp_path):
    from fem_fhn.cli import main

    config = tmp_path / "turing.toml"
    config.write_text(CONFIG)
    assert main(["dispersion", str(config), "--out", str(tmp_path / "out")]) == 0
    data = json.loads((tmp_path / "out" / "dispersion.json").read_text())
    assert (tmp_path / "out" / "dispersion.png").stat().st_size > 10_000
    kin = data["kinetic"]
    assert np.array(kin["eigenvalues"]).shape == (7, 4, 2)
    assert kin["k"] == pytest.approx(np.linspace(0, 60, 7).tolist())
    assert kin["eps"] == 1e-3 and kin["diffusion"] == 0.01 and kin["grid"]["n_v"] == 32
    assert kin["max_error"] < 1e-3 and kin["steady_residual"] < 1e-12
    lam, macro = np.array(kin["eigenvalues"]), np.array(kin["macro"])
    np.testing.assert_allclose(lam[:, 0, 0], macro[:, 0, 0], atol=1e-3)  # rightmost = λ_1
    assert lam[:, 0, 0].max() > 1.0 and lam[0, 0, 0] < 0


@pytest.mark.parametrize(
    "change,message",
    [
        ("[dispersion]\nn_k_kinetic = 0\n[kinetic]\n", "dispersion.n_k_kinetic = 0"),
        (
            "[dispersion]\nV_star = 0.7071067811865476\n"
            "[kinetic]\nv_min = 0.69\nv_max = 0.72\nw_min = 0.35\nw_max = 0.36\n",
            "not invariant",
        ),
        ("[dispersion]\nrho = 0.0\n[kinetic]\n", "dispersion.rho = 0.0"),
    ],
)
def test_dispersion_command_kinetic_errors(tmp_path, change, message):
    from fem_fhn.config import ConfigError
    from fem_fhn.plot_stability import dispersion_command

    config = tmp_path / "bad.toml"
    config.write_text("[model]\na = 0.0\nb = 2.0\ntau = 1.0\n" + change)
    with pytest.raises(ConfigError, match=message):
        dispersion_command(config, tmp_path / "out")
