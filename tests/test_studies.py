"""Multi-model commands: `fem-fhn limit-study` and `fem-fhn dispersion`, and `fem-fhn run` for
the kinetic, network and local-limit models."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from fem_fhn.analysis import ENTROPY_PARTS
from fem_fhn.cli import EXIT_BAD_INPUT, EXIT_RUNTIME, main
from fem_fhn.kinetic.diagnostics import NODE_FIELDS
from fem_fhn.kinetic.limit import HISTORY_COLUMNS

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def small_limit_config(tmp_path_factory):
    text = (ROOT / "demos" / "limit_study.toml").read_text()
    for old, new in [
        ("n_v = 128", "n_v = 64"),
        ("n_w = 64", "n_w = 32"),
        ("h = 1.0", "h = 2.0"),
        ("t_end = 1.5", "t_end = 0.5"),
        ("n_outputs = 10", "n_outputs = 4"),
    ]:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path_factory.mktemp("limit") / "small.toml"
    path.write_text(text)
    return path


def test_limit_study_writes_csv_json_plot_and_rate(small_limit_config, tmp_path):
    out = tmp_path / "study"
    assert (
        main(
            [
                "limit-study",
                str(small_limit_config),
                "--eps",
                "0.2",
                "0.1",
                "0.05",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    result = json.loads((out / "limit_rate.json").read_text())
    assert result["window"] == [0.2, 0.1, 0.05] and result["dim"] == 1
    assert result["rate"] >= 1.4 > result["theorem_rate"] == pytest.approx(1 / 7)
    sup = np.array(result["sup_relative_entropy"])
    assert np.all(np.diff(sup) < 0) and sup.min() > 10 * result["floor"]
    with open(out / "limit_study.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["eps", "t", *HISTORY_COLUMNS]
    assert len(rows) == 4 * 5  # three ε and the floor run, five output times
    assert max(float(r["relative_entropy"]) for r in rows if float(r["eps"]) == 0.2) == sup[0]
    # every quantity of the proof has its rate next to the theorem's exponent
    q = result["quantities"]
    assert {k: q[k]["theorem_rate"] for k in q} == pytest.approx(
        {
            "sup_relative_entropy": 1 / 7,
            "int_dissipation": 1.0,
            "int_dissipation_unweighted": 2 / 7,
            "sup_abs_int_error_term": 1 / 7,
        }
    )
    # ∫_0^T D ≈ ε ∫ρ0 σ_v²/2 once the initial layer (time ε/2ρ) fits in T: the slope nears 1
    dissipation = np.array(q["int_dissipation"]["values"])
    assert np.all(np.diff(dissipation) < 0) and q["int_dissipation"]["rate"] >= 0.7
    assert np.log(dissipation[1] / dissipation[2]) / np.log(2) >= 0.8
    assert q["int_dissipation"]["window"] == [0.2, 0.1, 0.05]
    assert all(q[k]["rate"] is not None and q[k]["rate"] > 0 for k in q)
    # the time integrals in the csv grow in t; the moments stay bounded uniformly in ε
    for column in ("int_dissipation", "int_dissipation_unweighted", "int_moment6"):
        series = [float(r[column]) for r in rows if float(r["eps"]) == 0.1]
        assert series[0] == 0.0 and np.all(np.diff(series) > 0)
    assert 1.0 <= result["bounded"]["sup_moment4"]["max_over_min"] < 1.5
    assert 1.0 <= result["bounded"]["int_moment6"]["max_over_min"] < 2.0
    with open(out / "limit_summary.csv") as f:
        summary = list(csv.DictReader(f))
    assert [float(r["eps"]) for r in summary] == [0.2, 0.1, 0.05, 1e-8]
    assert [float(r["int_dissipation"]) for r in summary[:3]] == pytest.approx(dissipation)
    assert (out / "limit_rate.png").stat().st_size > 10_000


VACUUM_CONFIG = """
[mesh]
source = "interval"
h = 2.0
[rho0]
value = "max(0, cos(pi*x/10))"
[kernel]
type = "gaussian"
width = 1.5
[initial]
V = "-0.5 + 1.5/(1 + exp((x - 3)/0.7))"
W = "-0.2 + 0.05*x"
[kinetic]
n_v = 32
n_w = 16
sigma_v = 0.4
sigma_w = 0.2
[solver]
form = "Z"
[limit_study]
perturbation = 0.3
eta = 0.5
[time]
t_end = 0.3
dt = "auto"
n_outputs = 3
[output]
png = false
gif = false
"""


def test_limit_study_with_vacuum_and_ill_prepared_data(tmp_path):
    config = tmp_path / "vacuum.toml"
    config.write_text(VACUUM_CONFIG)
    out = tmp_path / "study"
    assert main(["limit-study", str(config), "--eps", "0.2", "0.1", "0.05", "--out", str(out)]) == 0
    result = json.loads((out / "limit_rate.json").read_text())
    assert result["macro_form"] == "Z" and result["vacuum_nodes"] == 3  # x = 6, 8, 10
    p = result["perturbation"]
    eps = np.array(result["eps"])
    assert p["exponent"] == pytest.approx(1 / 14)
    assert p["size"] == pytest.approx(0.3 * eps ** (1 / 14), rel=1e-14)
    # H(0) = ∫ρ0^ε(|sφ|² + |sφ|²)/2: half the hypothesis' moment part, which scales like s²
    assert p["initial_relative_entropy"] == pytest.approx(np.array(p["moment_part"]) / 2, rel=1e-12)
    assert p["rates"]["initial_relative_entropy"] == pytest.approx(1 / 7, abs=0.03)
    assert p["rates"]["hypothesis"] == pytest.approx(1 / 7, abs=0.03)
    assert np.all(np.array(p["final_relative_entropy"]) < np.array(p["initial_relative_entropy"]))
    with open(out / "limit_study.csv") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        parts = [float(row[name]) for name in ENTROPY_PARTS]
        assert sum(parts) == pytest.approx(float(row["relative_entropy"]), rel=1e-13, abs=1e-300)
        assert float(row["entropy_rho0_zero"]) == 0.0
    assert min(result["entropy_split"]["entropy_rho0_le_eta"]) > 0  # the node x = 4
    with open(out / "limit_summary.csv") as f:
        summary = list(csv.DictReader(f))
    assert float(summary[-1]["size"]) == 0.0  # the floor run starts well prepared


@pytest.mark.parametrize(
    "change,message",
    [
        ('form = "Z"', "solver.form = 'V' is not allowed: rho0 vanishes at 3 nodes"),
        ("perturbation = 0.3", "limit_study.perturbation = 5.0 is not allowed at eps = 0.2"),
        ("perturbation = 0.3", "limit_study.perturbation = -1.0 is not allowed"),
    ],
)
def test_limit_study_refuses_bad_vacuum_and_perturbation(tmp_path, capsys, change, message):
    value = message.split(" = ")[1].split(" ")[0]
    new = 'form = "V"' if "solver" in message else f"perturbation = {value}"
    config = tmp_path / "bad.toml"
    config.write_text(VACUUM_CONFIG.replace(change, new))
    out = tmp_path / "study"
    assert main(["limit-study", str(config), "--eps", "0.2", "--out", str(out)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and not out.exists()


def test_limit_study_without_enough_points_keeps_files_and_fails(small_limit_config, tmp_path):
    out = tmp_path / "study"
    code = main(
        ["limit-study", str(small_limit_config), "--eps", "1e-5", "1e-6", "--out", str(out)]
    )
    assert code == EXIT_RUNTIME
    result = json.loads((out / "limit_rate.json").read_text())
    assert result["rate"] is None and "refine the velocity grid" in result["error"]
    assert (out / "limit_study.csv").exists()


def test_limit_study_bad_input(tmp_path, capsys):
    config = tmp_path / "macro.toml"
    config.write_text('[mesh]\nsource = "interval"\n')
    out = tmp_path / "out"
    assert main(["limit-study", str(config), "--eps", "0.1", "--out", str(out)]) == EXIT_BAD_INPUT
    assert "needs a [kinetic] table" in capsys.readouterr().err and not out.exists()


def run_config(tmp_path, text: str) -> dict:
    config = tmp_path / "run.toml"
    config.write_text(text + "\n[output]\ngif = false\nprogress = false\n")
    assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    return json.loads((tmp_path / "out" / "summary.json").read_text())


def test_run_kinetic_conserves_mass_and_draws_phase_space(tmp_path):
    summary = run_config(
        tmp_path,
        """
[mesh]
source = "interval"
h = 1.0
[kernel]
type = "gaussian"
width = 1.5
[initial]
V = "1.0 if x < 3 else -0.69248"
W = -0.36042
[solver]
model = "kinetic"
[kinetic]
eps = 1e-3
n_v = 32
n_w = 16
probes = [[2.0], [8.0]]
[time]
t_end = 1.0
dt = "auto"
n_outputs = 2
""",
    )
    assert summary["model"] == "kinetic_fhn" and summary["kinetic"]["grid"]["v"][2] == 32
    final = summary["final"]
    assert final["min_rho"] == pytest.approx(1.0, abs=1e-12)
    assert final["max_rho"] == pytest.approx(1.0, abs=1e-12)
    assert (tmp_path / "out" / "phase_space.png").stat().st_size > 10_000
    assert (tmp_path / "out" / "V.png").exists()
    # the limit diagnostics are output fields (ParaView) and diagnostics.csv columns
    xdmf = (tmp_path / "out" / "fields.xdmf").read_text()
    for name in NODE_FIELDS:
        assert f'Name="{name}"' in xdmf
    with open(tmp_path / "out" / "diagnostics.csv") as f:
        rows = list(csv.DictReader(f))
    assert float(rows[0]["min_dissipation"]) > 0 and float(rows[-1]["max_moment4"]) > 0


def test_run_network_writes_particles(tmp_path):
    summary = run_config(
        tmp_path,
        """
[mesh]
source = "square"
[kernel]
type = "gaussian"
width = 0.1
[initial]
V = "1.0 if x < 0.2 else -0.69248"
W = -0.36042
[solver]
model = "network"
[network]
n = 800
eps = 1e-6
[time]
t_end = 0.5
dt = 0.05
scheme = "imex-ars222"
n_outputs = 2
""",
    )
    assert summary["model"] == "network_fhn" and summary["n_global"] == 800
    assert summary["final"]["mean_rho"] == pytest.approx(1.0, rel=1e-12)
    assert len(list((tmp_path / "out" / "particles").glob("*.vtu"))) == 3


def test_run_local_limit(tmp_path):
    summary = run_config(
        tmp_path,
        """
[mesh]
source = "strip"
[kernel]
type = "gaussian"
width = 1.0
[model]
a = 0.0
b = 2.0
tau = 0.0
[initial]
V = "tanh((5 - x)/0.5)"
W = 0.1
[solver]
model = "local"
[time]
t_end = 2.0
dt = 0.1
scheme = "imex-ars222"
n_outputs = 2
""",
    )
    assert summary["model"] == "local_fhn" and summary["sigma"] == pytest.approx(0.5)
    assert summary["final"]["max_W"] == pytest.approx(0.1)


def test_dispersion_command_line(tmp_path, capsys):
    config = tmp_path / "turing.toml"
    config.write_text("""
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
V_star = 0.7071067811865476
""")
    assert main(["dispersion", str(config), "--out", str(tmp_path / "d")]) == 0
    assert "stationary" in capsys.readouterr().out
    assert json.loads((tmp_path / "d" / "dispersion.json").read_text())["k_max"] == pytest.approx(
        17.918, abs=0.01
    )


def test_compare_network_approaches_mean_field(tmp_path):
    config = tmp_path / "compare.toml"
    config.write_text("""
[mesh]
source = "interval"
h = 0.5
[rho0]
value = "1 + 0.5*cos(pi*x/5)"
[kernel]
type = "gaussian"
width = 1.5
[initial]
V = "-0.5 + 1.5/(1 + exp((x - 3)/0.7))"
W = "-0.2 + 0.05*x"
[kinetic]
eps = 0.05
n_v = 32
n_w = 16
sigma_v = 0.2
sigma_w = 0.1
[network]
eps = 0.05
neighbours = 20
[time]
t_end = 0.4
dt = 0.002
scheme = "imex-ars222"
n_outputs = 2
""")
    out = tmp_path / "out"
    assert main(["compare", str(config), "--n", "300", "1000", "3000", "--out", str(out)]) == 0
    result = json.loads((out / "compare.json").read_text())
    assert result["radius"] == pytest.approx([10 / 30, 10 / 100, 10 / 300])  # r ∝ 1/n in 1D
    for name in ("macro", "kinetic"):
        sup = np.array(result["sup"][name])
        assert np.all(np.diff(sup) < 0), (name, sup)
        assert -0.8 < result["slope"][name] < -0.3  # about n^(-1/2)
    with open(out / "compare.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["model"] for r in rows} == {"kinetic", "network"} and len(rows) == 3 + 3 * 3
    assert (out / "compare.png").stat().st_size > 10_000
