"""Every demo in demos/ runs (shortened: CI=1) and follows the literate layout."""

import json
import os
import py_compile
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

DEMO_DIR = Path(__file__).parents[1] / "demos"
DEMOS = sorted(DEMO_DIR.glob("demo_*.py"))
SECTIONS = ("## Parameters", "## Mesh", "## Model", "## Solver", "## Output", "## Main loop")
PARAVIEW_SCRIPTS = sorted((DEMO_DIR / "paraview").glob("*.py"))
#: a demo in 3D space: named *_3d, meshing a bundled 3D domain, or on a surface in space (read
#: with fem_fhn.surface)
DEMOS_3D = [
    d
    for d in DEMOS
    if d.stem.endswith("_3d")
    or re.search(r"""["']source["']:\s*["'](ball|torus)["']""", d.read_text())
    or re.search(r"^from fem_fhn\.surface import", d.read_text(), re.MULTILINE)
]


def test_demos_exist():
    assert DEMOS, "no demos found"


@pytest.mark.parametrize("demo", DEMOS, ids=lambda p: p.stem)
def test_demo_layout(demo):
    text = demo.read_text()
    missing = [s for s in SECTIONS if f"# {s}" not in text]
    assert not missing, f"{demo.name} lacks sections {missing}"
    assert f"out/{demo.stem}" in text


@pytest.mark.parametrize("demo", DEMOS, ids=lambda p: p.stem)
def test_demo_runs(demo, tmp_path):
    env = {**os.environ, "CI": "1"}
    result = subprocess.run(
        [sys.executable, str(demo)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    produced = list((tmp_path / "out" / demo.stem).iterdir())
    assert produced, "the demo wrote nothing"
    check = MEASURED.get(demo.stem)
    if check is not None:
        check(tmp_path / "out" / demo.stem)


def check_turing_kinetic(out: Path) -> None:
    """The kinetic Turing pattern (CI size: a square of 4 wavelengths, 32 x 16 velocity cells).

    For every ε: the dominant wavenumber within 5 % of the macroscopic k_max; the growth rate of
    its Fourier band within 12 % of the kinetic eigenvalue at that k (same velocity grid) and of
    λ(k) — 12 % rather than 10 % at this size, because the bounded square itself slows the
    pattern: the macroscopic model, simulated on the same mesh and measured the same way, grows
    7–8 % below λ_max (asserted within 10 %). For the smallest ε the kinetic rate agrees with that
    macroscopic run within 3 % (the asymptotic-preserving limit; the velocity grid shifts N' by
    O(Δv²))."""
    results = json.loads((out / "results.json").read_text())
    macro = results["macro_run"]
    assert abs(macro["k_error"]) <= 0.05 and abs(macro["rate_error_macro"]) <= 0.10, macro
    assert len(results["runs"]) >= 2
    for run in results["runs"]:
        assert abs(run["k_error"]) <= 0.05, run
        assert abs(run["rate_error_kinetic"]) <= 0.12, run
        assert abs(run["rate_error_macro"]) <= 0.12, run
        assert run["kinetic_rate_is_real"], run
        assert run["fit"]["residual"] < 0.05 and run["fit"]["n"] >= 10, run
    smallest = min(results["runs"], key=lambda run: run["eps"])
    assert abs(smallest["rate_vs_macro_run"]) <= 0.03, smallest
    # without noise the kinetic eigenvalue at k_max is λ_max for every ε (invariant subspace)
    for row in results["eigenvalue_scan_at_k_max"]["D=0"]:
        assert row["lambda"][0] == pytest.approx(results["lambda_max_macro"], rel=1e-6)
        assert abs(row["lambda"][1]) <= 1e-9


def check_neuron(out: Path) -> None:
    """The Hopf currents of the excitable neuron (a = 0.7/√3, b = 0.8, τ = 0.08).

    Reference, the closed form: tr J = 1 − 3v² − τb = 0 at v_H = ±√((1 − τb)/3), an equilibrium
    for I_H = (v_H + a)/b − v_H + v_H³ (0.19127, 0.81910). The demo measures them as the sign
    changes of the rightmost eigenvalue along the equilibrium branch (root finding to 1e-13;
    measured within 1e-16 of the closed form): asserted within 1e-9. At each I_H the small
    oscillations (amplitude 1e-4) have the period 2π/ω_H, ω_H² = det J = τ(1 − τb²) (22.806);
    the amplitude shifts the frequency by O(1e-8) and the crossing interpolation (Δt ≈ 0.009)
    by less than 1e-5 (measured 1.3e-7): asserted within 1e-4 relative."""
    results = json.loads((out / "results.json").read_text())
    a, b, tau = (results["params"][key] for key in ("a", "b", "tau"))
    v_h = np.array([-1.0, 1.0]) * np.sqrt((1.0 - tau * b) / 3.0)
    closed = (v_h + a) / b - v_h + v_h**3
    assert np.allclose(results["hopf_currents"], closed, rtol=0, atol=1e-12)
    assert np.allclose(results["hopf_currents_measured"], closed, rtol=0, atol=1e-9)
    period = 2.0 * np.pi / np.sqrt(tau * (1.0 - tau * b**2))
    assert np.allclose(results["small_oscillation_periods"], period, rtol=1e-4, atol=0)


def bistable_front_speed(w0: float, D: float) -> float:
    """Closed-form speed c = −3 v2 √(D/2) of the front of ∂t V = D ∂xx V + V − V³ − w0 joining
    v3 (behind) to v1 (ahead), v1 < v2 < v3 the roots of v − v³ = w0."""
    v2 = np.sort(np.roots([-1.0, 0.0, 1.0, -w0]).real)[1]
    return float(-3.0 * v2 * np.sqrt(D / 2.0))


def check_planar_pulse(results: dict, key: str) -> None:
    """Assert 0.8 c0 ≤ results[key] < c0 for the frozen-W front speed c0 at the rest state
    (see `check_scroll_3d`)."""
    c0 = bistable_front_speed(results["rest_state"][1], results["D"])
    assert results["c_front_frozen_w"] == pytest.approx(c0, rel=1e-12)
    assert 0.8 * c0 <= results[key] < c0, results[key] / c0


def check_front_strip(out: Path) -> None:
    """The bistable front on the strip (CI: bundled strip, h = 0.1, t ≤ 12) and on the interval.

    Reference, the closed form c = −3 v2 √(D/2) with v2 the middle root of v − v³ = w0
    (−0.15155 for w0 = 0.1, D = 0.5), recomputed here from w0 and D. The front is √(2D) = 1
    wide, so the lumped P1 discretisation (h = 0.1) shifts the speed by O(h²/12) ≈ 1e-3 and
    ARS(2,2,2) with Δt = 0.05 by a similar O(Δt²); the measured speed is 0.08 % off: asserted
    within 0.5 %, with the tracked positions on a straight line (RMS residual < 1e-3: the front
    travels at one speed after the first quarter). The nonlocal fronts with the same second
    moment σ = D are slower, and the more so the wider the kernel (CI: 0.92 and 0.52 × c for
    s = 0.5 and 1): asserted 0 < c(s = 1) < c(s = 0.5) < c in the direction of c; a kernel of
    mass S = 1 = max N' still moves (pinning needs S < 1)."""
    results = json.loads((out / "results.json").read_text())
    c = bistable_front_speed(results["w0"], results["sigma"])
    assert results["c_theory"] == pytest.approx(c, rel=1e-12)
    assert results["c_local"] == pytest.approx(c, rel=5e-3)
    assert results["local_fit_residual"] < 1e-3
    ratios = [run["speed"] / c for run in sorted(results["nonlocal"], key=lambda r: r["width"])]
    assert [run["width"] for run in results["nonlocal"]][:2] == [0.5, 1.0]
    assert 1.0 > ratios[0] > ratios[1] > 0.05, ratios


def turing_dispersion(results: dict, k: np.ndarray) -> np.ndarray:
    """Closed-form growth rate λ(k) of the homogeneous state for a Mexican hat
    Ψ = a_exc G(w_exc) − a_inh G(w_inh), Ĝ_s(k) = exp(−s²k²/2): the larger root of
    λ² − (s_k − τb)λ + τ(1 − b s_k) = 0, s_k = 1 − 3V*² + Ψ̂(k) − Ψ̂(0)."""
    p, hat = results["params"], results["kernel"]
    psi = hat["a_exc"] * np.exp(-((hat["width_exc"] * k) ** 2) / 2) - hat["a_inh"] * np.exp(
        -((hat["width_inh"] * k) ** 2) / 2
    )
    s = 1.0 - 3.0 * p["V_star"] ** 2 + psi - (hat["a_exc"] - hat["a_inh"])
    trace, det = s - p["tau"] * p["b"], p["tau"] * (1.0 - p["b"] * s)
    return (trace + np.sqrt((trace**2 - 4.0 * det).astype(complex))).real / 2.0


def check_turing(out: Path) -> None:
    """The Turing pattern of the Mexican hat (CI: a square of side 1.5, 4.3 wavelengths, t = 10).

    Reference, the dispersion relation in closed form (recomputed here on 0 ≤ k ≤ 60, matching
    `stability.instabilities` to 1e-3): k_max = 17.92, λ_max = 1.200. The saturated pattern
    must fit the square with no-flux sides, whose admissible wavenumbers are spaced by π/L: the
    observed wavenumber is asserted within π/L of k_max (11.7 % on the CI square, 5.8 % on the
    full one; measured −8.7 % and −0.4 %). The RMS deviation is a sum over the band of modes
    growing like exp(λ(k)t); no mode grows faster than λ_max (asserted ≤ 1.02 λ_max for the
    quadrature of the kernel), and the Laplace estimate of the ring sum around k_max lowers the
    rate of the RMS by 1/(4t), at most 0.25 after t = 1 (asserted ≥ λ_max − 0.25; measured
    1.03)."""
    results = json.loads((out / "results.json").read_text())
    k = np.linspace(0.0, 60.0, 60001)
    lam = turing_dispersion(results, k)
    k_max, lambda_max = k[np.argmax(lam)], lam.max()
    assert results["k_max"] == pytest.approx(k_max, abs=1e-3)
    assert results["lambda_max"] == pytest.approx(lambda_max, rel=1e-6)
    assert abs(results["k_observed"] - k_max) <= np.pi / results["side"], results["k_observed"]
    assert lambda_max - 0.25 <= results["rms_growth_rate"] <= 1.02 * lambda_max


def check_large_meshes(out: Path) -> None:
    """The NUFFT runs on the folded band and the ball (CI: 3 943 and 1 343 nodes).

    Reference, the same run with the dense quadrature on the same mesh. The difference δ of V
    obeys δ' = (L + N'(V))δ + e: L is a positive-kernel operator, a contraction in the sup norm,
    N' ≤ 1, and each application of the NUFFT operator is off by e ≤ tol · S · max|V| (S the
    kernel mass), so |δ(t)| ≤ t e^t tol S max|V| (1.5e-5 on the band, 4.5e-4 in the ball;
    measured 6.6e-11 and 1.3e-7): asserted. The excited fraction ∫[V > 0]/|Ω| agrees within
    two nodes' share (2/N) and the leading-front position within 1e-3 (an interpolation on an
    edge of length h ≤ 0.15 across which V changes by O(0.1)); the front advances and the
    excited region grows in both runs (a travelling front, not a decaying bump)."""
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"folded_2d", "ball_3d"}
    for name, case in results.items():
        nufft, dense = case["nufft"], case["dense"]
        t = case["t_end"]
        bound = t * np.exp(t) * case["tol"] * case["kernel"]["strength"] * case["max_V"]
        assert case["max_V_difference"] <= bound, (name, case["max_V_difference"], bound)
        fractions = np.array([nufft["excited_fraction"], dense["excited_fraction"]])
        fronts = np.array([nufft["front_x"], dense["front_x"]])
        assert np.abs(fractions[0] - fractions[1]).max() <= 2.0 / case["nodes"], name
        assert np.abs(fronts[0] - fronts[1]).max() <= 1e-3, name
        assert np.all(fronts[:, -1] > fronts[:, 0]) and np.all(fractions[:, -1] > fractions[:, 0])


def check_pulse_folded(out: Path) -> None:
    """The pulse along the folded band (CI: t ≤ 10, leading edge fitted from x = 0.5 on).

    Reference, the same pulse in the same band unfolded (no closed form for the speed of a
    nonlocal FHN pulse). There the pulse is a travelling wave: the leading-edge positions lie
    on a line to within h/2 = 0.0125 (the crossing is interpolated on mesh edges; measured
    RMS 0.0014, speed 0.140 as in the full run's 0.139). Along the fold (arc length of the
    centre line) the pulse is slower, because the flanks are only 0.141 thick normal to their
    sides and cut off part of the kernel (reach ≈ 3s = 0.18), and the bends add curvature:
    asserted below 0.95 × the unfolded speed, a margin five times the 1 % by which the fitted
    speeds move between the CI and the full run (measured 0.76 in CI, over a flank and a
    trough; 0.86 in the full run). It still propagates through the fold: asserted above
    0.5 × (a straight band as thin as the flanks carries it at 0.88 ×). Along x it is slower
    again by the ratio of horizontal to arc length (both fits over the same positions)."""
    results = json.loads((out / "results.json").read_text())
    assert results["points_unfolded"] >= 5 and results["points_arc"] >= 5
    assert results["residual_unfolded"] <= 0.0125
    ratio = results["speed_arc"] / results["speed_unfolded"]
    assert 0.5 < ratio < 0.95, ratio
    assert 0 < results["speed_x"] < results["speed_arc"]


def check_scroll_3d(out: Path) -> None:
    """The wave round the solid torus (CI: bundled mesh, h = 0.1, t ≤ 20) and the planar pulse.

    Reference for the planar pulse (interval, h = 0.01): the front of the bistable equation
    with W frozen at the rest value W*, c0 = −3 v2 √(D/2) with v2 the middle root of
    v − v³ = W* (0.0837), the pulse's limit for τ → 0; the recovery variable rises while the
    front passes (by about τ × its passage time, 0.09 × δ/c ≈ 0.1 with δ = √(2D) = 0.1) and
    slows it: asserted 0.8 c0 ≤ c < c0 (measured 0.90 c0). Reference for the torus: the planar
    pulse. The first passage along the centre line (arrival times at the probes at φ = π/4 and
    π/2 against the arc length Rφ) runs at the planar speed up to the tilt of the front in the
    tube (+5 % in the full run, h = 0.05) and the error of the coarse CI mesh, whose h = 0.1
    equals the front width (a P1 speed error of several %): asserted within 15 % (measured
    0.98 ×)."""
    results = json.loads((out / "results.json").read_text())
    check_planar_pulse(results, "c_planar")
    assert len(results["first_arrivals"]["t"]) >= 2
    assert results["c_first_passage"] == pytest.approx(results["c_planar"], rel=0.15)


def check_spiral_holes(out: Path) -> None:
    """The plane wave that precedes the spiral on the disc with holes (CI: h = 0.02, t ≤ 30;
    the rotation period, ≈ 37, needs the full run).

    Reference for the planar pulse of this medium (interval, h = 0.0025, a ninth of the front
    width √(2D) = 0.022): the front of the bistable equation with W frozen at the rest value W*,
    c0 = −3 v2 √(D/2) with v2 the middle root of v − v³ = W* (0.01872), the pulse's limit for
    τ → 0; the recovery variable rises while the front passes and slows it: asserted
    0.8 c0 ≤ c < c0 (measured 0.899 c0, the ratio `demo_scroll_3d` finds at 20 × this D: the
    speed scales like √D). Reference for the plane wave climbing the disc (arrivals at y = 0.1
    and 0.35 on x = −0.75): that planar pulse. The CI mesh size h = 0.02 is about the front width,
    and P1 with lumped mass slows a front that coarse by several % (the torus at h = δ: −7 %
    after its +5 % tilt): asserted 0.88 ≤ c / c_planar ≤ 1.02 (measured 0.934)."""
    results = json.loads((out / "results.json").read_text())
    check_planar_pulse(results, "c_planar_1d")
    t_low, t_high = results["climb_arrivals"]
    y_low, y_high = results["climb_heights"]
    assert results["c_plane"] == pytest.approx((y_high - y_low) / (t_high - t_low), rel=1e-12)
    ratio = results["c_plane"] / results["c_planar_1d"]
    assert 0.88 <= ratio <= 1.02, ratio


def check_cortex(out: Path) -> None:
    """The front of the geodesic nonlocal model on the made-up brain on a sphere of radius 60 mm
    (CI size), alone and with the connectome.

    The front alone: where it crosses the equator (±10 mm) it runs at the planar speed of the
    same model on a line within 2 % (measured 1.1 %), and over the whole run (radius 69–110 mm)
    the speed corrected by the geodesic curvature, dr/dt + D κ, does too (0.3 %); the line's
    speed is not the local limit's (12 % apart), so the check tells the nonlocal front from the
    local one.

    With the connectome: the run's regions.csv has t and one column per region of the
    connectivity file (8, named as in it) and sensors.csv t and the 8 electrodes, both at the
    output times, finite; they equal the region means Σ m_i V_i / Σ m_i and the projection P V
    recomputed by the demo from the fields at every output time (round-off: asserted 1e-12 of
    the values' scale; measured 2e-15 and 1e-13). The band 60–90°, which the front crosses,
    feeds the south cap through a tract of 120 mm at 40 mm per time unit: the cap, which the
    front alone leaves at rest up to t = 9, ignites (its mean passes v2; measured at t = 8.2),
    and not before the delay of 3 (the chain of tracts from a region the front ignites)."""
    from fem_fhn.connectome.data import read_tvb_zip
    from fem_fhn.connectome.output import read_series

    results = json.loads((out / "results.json").read_text())
    assert results["surface_speed"]["samples"] >= 10, results["surface_speed"]
    assert results["surface_speed_wide"]["samples"] >= 25, results["surface_speed_wide"]
    assert abs(results["corrected_over_planar"] - 1) <= 0.02, results
    assert abs(results["measured_over_planar"] - 1) <= 0.02, results
    assert abs(results["wide_corrected_over_planar"] - 1) <= 0.02, results
    planar, local = results["planar_speed_line"], results["planar_speed_local_limit"]
    assert abs(planar / local - 1) > 0.05, (planar, local)

    from fem_fhn.meshes import sphere_brain_path

    names = list(read_tvb_zip(sphere_brain_path("connectivity.zip")).names)
    coupled = results["connectome"]
    t_regions, regions, region_names = read_series(out / "connectome" / "regions.csv")
    t_sensors, sensors, sensor_names = read_series(out / "connectome" / "sensors.csv")
    assert region_names == names and len(names) == 8
    assert len(sensor_names) == 8 and sensors.shape == (len(t_sensors), 8)
    assert np.isfinite(regions).all() and np.isfinite(sensors).all()
    assert np.allclose(t_regions, results["times"]) and np.allclose(t_sensors, results["times"])
    assert coupled["regions_csv_vs_fields"] <= 1e-12
    assert (
        0.1 < coupled["sensors_scale"]
        and coupled["sensors_csv_vs_fields"] <= 1e-12 * coupled["sensors_scale"]
    )
    for name in ("regions.png", "sensors.png"):
        assert (out / "connectome" / name).stat().st_size > 0
    for name in ("views.png", "views.gif", "radius.png"):
        assert (out / name).stat().st_size > 0
    cap = [names.index("band3_left"), names.index("band3_right")]
    assert coupled["ignited_by_connectome"] == ["band3_left", "band3_right"]
    assert all(coupled["ignition_front_alone"][k] is None for k in cap)
    delays = coupled["delay_from_front_regions"]
    assert delays == pytest.approx([120.0 / coupled["speed_mm_per_t"]] * 2, rel=1e-12)
    for k, delay in zip(cap, delays, strict=True):
        assert delay < coupled["ignition_coupled"][k] <= results["times"][-1]


#: demos whose measured numbers are checked after the run: stem -> check(out_dir)
MEASURED = {
    "demo_cortex": check_cortex,
    "demo_front_strip": check_front_strip,
    "demo_large_meshes": check_large_meshes,
    "demo_neuron": check_neuron,
    "demo_pulse_folded": check_pulse_folded,
    "demo_scroll_3d": check_scroll_3d,
    "demo_spiral_holes": check_spiral_holes,
    "demo_turing": check_turing,
    "demo_turing_kinetic": check_turing_kinetic,
}


@pytest.mark.parametrize("demo", DEMOS_3D, ids=lambda p: p.stem)
def test_3d_demo_has_paraview_script(demo):
    script = DEMO_DIR / "paraview" / demo.name
    assert script.is_file(), f"{demo.name} is a 3D demo without demos/paraview/{demo.name}"
    text = script.read_text()
    assert "fem_fhn_paraview" in text and f"out/{demo.stem}" in text


def test_paraview_scripts_belong_to_3d_demos():
    """Every ParaView script demo_*.py shows a demo that the rule above counts as 3D."""
    shown = {s.name for s in PARAVIEW_SCRIPTS if s.stem.startswith("demo_")}
    assert shown == {d.name for d in DEMOS_3D}
    assert "demo_cortex.py" in shown


@pytest.mark.parametrize("script", PARAVIEW_SCRIPTS, ids=lambda p: p.stem)
def test_paraview_script_compiles(script, tmp_path):
    """pvpython scripts cannot run here (no ParaView): check their syntax."""
    py_compile.compile(str(script), cfile=str(tmp_path / "script.pyc"), doraise=True)
