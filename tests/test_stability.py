"""Dispersion relation and Turing analysis: closed forms, the docs/science.md example, a simulated
Turing pattern, parameter maps, figures and the dispersion command."""

import json
import math

import numpy as np
import pytest
from mpi4py import MPI

from fem_fhn import kernels, neuron, stability
from fem_fhn.params import FHNParameters, ParameterError

V_TURING = 1 / math.sqrt(2)
TURING = FHNParameters(a=0.0, b=2.0, tau=1.0)
HAT = kernels.MexicanHat(width_exc=0.05, width_inh=0.1, a_exc=6.0, a_inh=5.0, dim=2)
K = np.linspace(0.0, 60.0, 1201)


def jacobian_eigenvalues(p, kernel, k, rho, V):
    """λ of [[f' + μ_k, −1], [τ, −τb]] by numpy, sorted like `dispersion`."""
    out = []
    for kk in k:
        mu = rho * (kernel.fourier(np.array([kk]))[0] - kernel.mass)
        J = np.array([[p.dN(V) + mu, -1.0], [p.tau, -p.tau * p.b]])
        lam = np.linalg.eigvals(J).astype(complex)
        out.append(sorted(lam, key=lambda z: (-z.real, -z.imag)))
    return np.array(out)


@pytest.mark.parametrize(
    "kernel",
    [kernels.Gaussian(0.2, 2, 3.0), kernels.Exponential(0.1, 1, 2.0), HAT],
    ids=["gauss", "exp", "hat"],
)
@pytest.mark.parametrize(
    "params,V_star",
    [
        (FHNParameters(), None),
        (FHNParameters(I_ext=0.5), -0.3),
        (TURING, V_TURING),
        (FHNParameters(a=0.7, b=0.0, tau=0.3), None),
        (FHNParameters(a=0.0, b=2.0, tau=0.0), 0.9),
    ],
    ids=["excitable", "oscillatory", "turing", "b0", "tau0"],
)
def test_dispersion_matches_jacobian_eigenvalues(kernel, params, V_star):
    k = np.linspace(0.0, 40.0, 81)
    lam = stability.dispersion(params, kernel, k, rho=1.3, V_star=V_star)
    V, _ = stability.homogeneous_state(params, V_star)
    assert lam.shape == (81, 2) and lam.dtype == complex
    np.testing.assert_allclose(lam, jacobian_eigenvalues(params, kernel, k, 1.3, V), atol=1e-12)
    assert np.all(lam[:, 0].real >= lam[:, 1].real)


def test_homogeneous_state_defaults_and_b_zero():
    V, W = stability.homogeneous_state(FHNParameters())
    eq = neuron.equilibria(FHNParameters())
    assert (V, W) == pytest.approx(tuple(eq[0]))
    assert stability.homogeneous_state(TURING) == pytest.approx((-V_TURING, -V_TURING / 2))
    p = FHNParameters(a=0.7, b=0.0, tau=0.3, I_ext=0.1)
    assert stability.homogeneous_state(p) == pytest.approx((-0.7, -0.7 + 0.7**3 + 0.1))
    assert stability.homogeneous_state(p, 0.2) == pytest.approx((0.2, 0.2 - 0.008 + 0.1))
    assert stability.homogeneous_state(TURING, V_TURING)[1] == pytest.approx(V_TURING / 2)
    with pytest.raises(ParameterError, match="V_star"):
        stability.homogeneous_state(FHNParameters(I_ext=0.5))  # oscillatory: no stable state


@pytest.mark.parametrize(
    "kernel",
    [
        kernels.Gaussian(0.1, 2, 5.0),
        kernels.Exponential(0.2, 1, 3.0),
        kernels.Indicator(0.3, 2, 2.0),
        kernels.Bump(0.2, 3, 4.0),
    ],
    ids=["gauss", "exp", "indicator", "bump"],
)
@pytest.mark.parametrize("params", [FHNParameters(), TURING, FHNParameters(a=0.9, b=0.5)])
def test_nonnegative_kernels_give_no_instability(kernel, params):
    k = np.linspace(0.0, 80.0, 801)
    info = stability.instabilities(params, kernel, k, rho=2.0)
    assert not info.unstable and info.kind is None and info.bands == ()
    assert stability.dispersion(params, kernel, k, rho=2.0)[:, 0].real.max() < 0


def test_turing_example_of_the_design():
    info = stability.instabilities(TURING, HAT, K, V_star=V_TURING)
    assert info.unstable and info.kind == "stationary" and info.onset == "stationary"
    assert len(info.bands) == 1
    lo, hi = info.bands[0]
    assert lo == pytest.approx(8.5, abs=0.1) and hi == pytest.approx(29.2, abs=0.1)
    assert info.k_max == pytest.approx(17.9, abs=0.1)
    assert info.lambda_max.imag == 0 and info.lambda_max.real == pytest.approx(1.19994, abs=1e-4)
    assert info.k_critical == pytest.approx(info.k_max, abs=1e-4)
    assert info.wavelength == pytest.approx(0.3507, abs=1e-3)
    # Re λ_1 vanishes at the band edges and is the maximum at k_max
    edges = stability.dispersion(TURING, HAT, [lo, hi], V_star=V_TURING)[:, 0]
    np.testing.assert_allclose(edges.real, 0.0, atol=1e-10)
    assert info.lambda_max.real >= stability.dispersion(TURING, HAT, K, V_star=V_TURING).real.max()
    d = info.as_dict()
    assert d["kind"] == "stationary" and d["lambda_max"][1] == 0 and len(d["bands"]) == 1


def test_first_instability_is_oscillatory_when_tau_b2_below_one():
    p = TURING.replace(tau=0.2)  # τ b² = 0.8 < 1
    assert stability.instabilities(p, HAT, K, V_star=V_TURING).onset == "oscillatory"
    first = None
    for rho in np.linspace(0.0, 1.0, 201):  # the coupling grows from 0
        info = stability.instabilities(p, HAT, K, rho=rho, V_star=V_TURING)
        if info.unstable:
            first = (rho, info)
            break
    assert first is not None
    rho, info = first
    assert info.kind == "oscillatory" and abs(info.lambda_max.imag) > 0.1
    assert info.k_max == pytest.approx(info.k_critical, abs=0.2)
    mu_max = HAT.fourier(np.array([info.k_critical]))[0] - HAT.mass
    assert rho == pytest.approx(0.9 / mu_max, abs=0.006)  # tr = 0 at ρ max μ = τb − f' = 0.9
    # with τ b² > 1 the same scan first meets a stationary instability
    for rho in np.linspace(0.0, 1.0, 201):
        info = stability.instabilities(TURING, HAT, K, rho=rho, V_star=V_TURING)
        if info.unstable:
            assert info.kind == "stationary"
            break


def test_parameter_map_matches_pointwise_analysis():
    rhos = np.linspace(0.0, 1.0, 6)
    taus = np.array([0.2, 1.0])
    growth, kind = stability.parameter_map(
        TURING, HAT, "rho", rhos, "tau", taus, K, V_star=V_TURING
    )
    assert growth.shape == kind.shape == (6, 2)
    for i, rho in enumerate(rhos):
        for j, tau in enumerate(taus):
            info = stability.instabilities(TURING.replace(tau=tau), HAT, K, rho, V_TURING)
            lam = stability.dispersion(TURING.replace(tau=tau), HAT, K, rho, V_TURING)
            assert growth[i, j] == pytest.approx(lam[:, 0].real.max(), abs=1e-12)
            code = stability.KIND_CODES[info.kind] if info.unstable else 0
            assert kind[i, j] == code
    assert kind[0].tolist() == [0, 0] and kind[-1].tolist() == [1, 1]
    # kernel fields and the default rest state (a → no stable equilibrium → code −1)
    g2, k2 = stability.parameter_map(TURING, HAT, "a_inh", [0.0, 5.0], "a", [0.0, 2.0], K)
    assert k2.shape == (2, 2) and np.isfinite(g2).all()
    with pytest.raises(ParameterError, match="a_inh"):
        stability.parameter_map(TURING, HAT, "nope", [1.0], "a", [0.0], K)
    g3, k3 = stability.parameter_map(FHNParameters(), HAT, "I_ext", [0.0, 0.5], "rho", [1.0], K)
    assert k3[1, 0] == -1 and np.isnan(g3[1, 0]) and k3[0, 0] >= 0


def test_bad_arguments_are_reported():
    with pytest.raises(ParameterError, match="k ="):
        stability.dispersion(TURING, HAT, [-1.0, 2.0], V_star=V_TURING)
    with pytest.raises(ParameterError, match="rho"):
        stability.dispersion(TURING, HAT, K, rho=-1.0, V_star=V_TURING)
    with pytest.raises(ParameterError, match="increasing"):
        stability.instabilities(TURING, HAT, K[::-1], V_star=V_TURING)


def turing_run(dim, n_wavelengths, n_cells, t_end, seed):
    """NonlocalFHN from a 1% perturbation of V* = 1/√2; returns (nodes, V at each 5 time units)."""
    from fem_fhn._fenics import dolfinx
    from fem_fhn.macro import NonlocalFHN
    from fem_fhn.mesh import NodalMesh
    from fem_fhn.nonlocal_ import NonlocalLaplacian, make_operator
    from fem_fhn.timestepping import make_integrator

    side = n_wavelengths * 2 * math.pi / 17.918
    if dim == 2:
        mesh = dolfinx.mesh.create_rectangle(
            MPI.COMM_SELF, [[0.0, 0.0], [side, side]], [n_cells, n_cells]
        )
    else:
        mesh = dolfinx.mesh.create_interval(MPI.COMM_SELF, n_cells, [0.0, side])
    nodes = NodalMesh.from_mesh(mesh)
    hat = kernels.MexicanHat(0.05, 0.1, 6.0, 5.0, dim)
    op = make_operator(nodes.coords, nodes.masses, hat, comm=MPI.COMM_SELF)
    model = NonlocalFHN(NonlocalLaplacian(op, np.ones(nodes.n_owned)), TURING)
    rng = np.random.default_rng(seed)
    n = nodes.n_owned
    y = model.state(V_TURING + 0.01 * rng.standard_normal(n), np.full(n, V_TURING / 2))
    integrator = make_integrator("rk4", 0.1)
    snapshots = []
    for t0 in range(0, t_end, 5):
        _, y, _ = integrator.advance(model, t0, y, t0 + 5)
        snapshots.append(y[0].copy())
    return nodes, snapshots


@pytest.mark.parametrize(
    "dim,n_wavelengths,n_cells", [(2, 10, 60), (1, 40, 1120)], ids=["square", "interval"]
)
def test_turing_pattern_has_the_predicted_wavelength(dim, n_wavelengths, n_cells):
    """h ≈ 0.058 (2D, 3721 nodes) / 0.0125 (1D) resolves the widths 0.05/0.1 (uniform grids: the
    lumped quadrature is the trapezoidal rule); the box holds 10 (2D) or 40 (1D) predicted
    wavelengths 2π/k_max ≈ 0.351."""
    from fem_fhn.analysis import dominant_wavenumber

    k_max = stability.instabilities(TURING, HAT, K, V_star=V_TURING).k_max
    nodes, snaps = turing_run(dim, n_wavelengths, n_cells, 15, seed=1)
    late, last = snaps[-2], snaps[-1]
    assert last.min() < -1.0 and last.max() > 1.0  # a large-amplitude pattern, not V*
    assert abs(last.std() / late.std() - 1) < 0.03  # saturated amplitude
    predicted = 2 * math.pi / k_max
    for V in (late, last):  # (spots may still drift: compare two times)
        k = dominant_wavenumber(nodes.coords, V, weights=nodes.masses, k_max=40.0)
        wavelength = 2 * math.pi / k
        assert abs(wavelength / predicted - 1) < 0.10, (wavelength, predicted)


def test_figures_are_written(tmp_path):
    from fem_fhn.plot_stability import dispersion_figure, parameter_map_figure

    path = dispersion_figure(TURING, HAT, K, tmp_path / "d.png", V_star=V_TURING)
    assert path.is_file() and path.stat().st_size > 10_000
    rhos, taus = np.linspace(0, 1, 5), np.linspace(0.1, 2, 4)
    growth, kind = stability.parameter_map(
        TURING, HAT, "rho", rhos, "tau", taus, K, V_star=V_TURING
    )
    path = parameter_map_figure(growth, kind, "rho", rhos, "tau", taus, tmp_path / "m" / "m.png")
    assert path.is_file() and path.stat().st_size > 10_000


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
[time]
t_end = 1.0
[dispersion]
k_max = 60.0
n_k = 601
V_star = 0.7071067811865476
map = {param1 = "rho", range1 = [0.0, 1.0], param2 = "tau", range2 = [0.1, 2.0], n = 5}
"""


def test_dispersion_command(tmp_path):
    from fem_fhn.plot_stability import dispersion_command

    config = tmp_path / "turing.toml"
    config.write_text(CONFIG)
    summary = dispersion_command(config, tmp_path / "out")
    data = json.loads((tmp_path / "out" / "dispersion.json").read_text())
    assert data["k_max"] == pytest.approx(17.918, abs=0.01) and data["kind"] == "stationary"
    assert data["bands"][0] == pytest.approx([8.512, 29.172], abs=0.01)
    assert data["kernel"]["dim"] == 2 and data["map"]["param1"] == "rho"
    assert np.array(data["map"]["kind"]).shape == (5, 5)
    assert summary["wavelength"] == pytest.approx(0.3507, abs=1e-3)
    for name in ("dispersion.png", "parameter_map.png"):
        assert (tmp_path / "out" / name).stat().st_size > 10_000


@pytest.mark.parametrize(
    "change,message",
    [
        ("[dispersion]\nk_mx = 3.0\n", "dispersion.k_mx"),
        ("[dispersion]\nn_k = 1\n", "dispersion.n_k = 1"),
        ("[dispersion]\ndim = 4\n", "dispersion.dim = 4"),
        ("[dispersion]\nrho = -2.0\n", "dispersion.rho = -2.0"),
        (
            "[dispersion]\nmap = {param1 = 'x', range1 = [0, 1], param2 = 'a', range2 = [0, 1]}\n",
            "dispersion.map.param1 = 'x'",
        ),  # fmt: skip
        (
            "[dispersion]\nmap = {param1 = 'a', range1 = [1, 0], param2 = 'b', range2 = [0, 1]}\n",
            "dispersion.map.range1",
        ),  # fmt: skip
        ("[model]\ntau = -1.0\n", "tau = -1.0"),
        ("[model]\nalpha = 1.0\n", "model.alpha"),
        ("[kernel]\ntype = 'gaussian'\nwidth = 0.1\ndim = 2\n", "kernel.dim"),
        ("[kernel]\ntype = 'gaussian'\nwidht = 0.1\n", "kernel.widht"),
        ("[dispersion]\nV_star = 'x'\n", "dispersion.V_star = 'x'"),
    ],
)
def test_dispersion_config_errors_name_the_key(tmp_path, change, message):
    from fem_fhn.config import ConfigError
    from fem_fhn.plot_stability import read_dispersion_config

    config = tmp_path / "bad.toml"
    config.write_text(change)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        read_dispersion_config(config)


def test_dispersion_command_without_stable_state_fails_clearly(tmp_path):
    from fem_fhn.config import ConfigError
    from fem_fhn.plot_stability import dispersion_command

    config = tmp_path / "osc.toml"
    config.write_text("[model]\nI_ext = 0.5\n")
    with pytest.raises(ConfigError, match="V_star"):
        dispersion_command(config, tmp_path / "out")
    defaults = tmp_path / "defaults.toml"
    defaults.write_text("")
    summary = dispersion_command(defaults, tmp_path / "out2")
    assert summary["unstable"] is False and summary["kernel"]["type"] == "gaussian"
