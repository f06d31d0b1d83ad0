"""The `fem-fhn` command and config validation: clear one-line errors, no partial output."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fem_fhn.cli import EXIT_BAD_INPUT, main
from fem_fhn.config import DEFAULT_CONFIG, load_config

SMALL = """
[mesh]
source = "square"
[kernel]
type = "gaussian"
width = 0.1
strength = 2.0
[model]
a = 0.0
b = 2.0
tau = 0.0
[initial]
V = "tanh((x - 0.5)/0.05)"
W = 0.1
[time]
t_end = 0.5
dt = 0.05
n_outputs = 2
[output]
png = false
gif = false
progress = false
"""


def write(tmp_path, text, name="run.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_default_config_is_valid():
    config = load_config()
    assert config.mesh.source == "folded" and config.time.scheme in ("ssprk3", "rk4")


def test_small_run_writes_outputs(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(write(tmp_path, SMALL)), "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ranks"] == 1 and summary["mesh"]["nodes"] == 1931
    assert summary["time"]["steps"] == 10
    for name in ("fields.bp", "fields.xdmf", "fields.h5", "vtk/fields.pvd", "diagnostics.csv"):
        assert (out / name).exists(), name
    rows = np.genfromtxt(out / "diagnostics.csv", delimiter=",", names=True)
    assert len(rows) == 3 and np.allclose(rows["max_W"], 0.1)  # tau = 0 freezes W


BAD = [
    (
        "misspelled key",
        SMALL.replace("tau = 0.0", "tua = 0.0"),
        "unknown key 'model.tua' (did you mean 'tau'?)",
    ),
    ("unknown section", SMALL + "\n[solvr]\nform = 'V'\n", "unknown key 'solvr'"),
    ("negative rho0", SMALL + '\n[rho0]\nvalue = "x - 0.5"\n', "rho0.value must be >= 0"),
    ("negative rho0 constant", SMALL + "\n[rho0]\nvalue = -1.0\n", "rho0.value = -1.0"),
    ("negative tau", SMALL.replace("tau = 0.0", "tau = -0.1"), "model.tau = -0.1 is not allowed"),
    (
        "missing mesh",
        SMALL.replace('source = "square"', 'source = "nowhere.msh"'),
        "does not exist",
    ),
    ("bad scheme", SMALL.replace("dt = 0.05", "dt = 0.05\nscheme = 'rk7'"), "time.scheme = 'rk7'"),
    ("negative dt", SMALL.replace("dt = 0.05", "dt = -0.05"), "time.dt = -0.05"),
    ("wrong type", SMALL.replace("n_outputs = 2", "n_outputs = 'two'"), "time.n_outputs = 'two'"),
    ("unsafe expression", SMALL.replace("W = 0.1", "W = \"__import__('os')\""), "initial.W"),
    ("unknown name", SMALL.replace("W = 0.1", "W = 'q * x'"), "unknown name 'q'"),
    ("bad kernel", SMALL.replace('type = "gaussian"', 'type = "gausian"'), "kernel"),
    ("kernel width", SMALL.replace("width = 0.1", "width = 0.0"), "width"),
    ("bad method", SMALL + "\n[nonlocal]\nmethod = 'fmm'\n", "nonlocal.method = 'fmm'"),
    ("invalid toml", SMALL + "\n[model\n", "not valid TOML"),
]


@pytest.mark.parametrize("text,message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_config_exits_1_with_one_line_and_no_output(tmp_path, capsys, text, message):
    out = tmp_path / "out"
    code = main(["run", str(write(tmp_path, text)), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == EXIT_BAD_INPUT
    assert len(err.splitlines()) == 1 and err.startswith("fem-fhn: error:")
    assert message in err, err
    assert not out.exists()


def test_tau_zero_is_allowed(tmp_path):
    assert main(["validate", str(write(tmp_path, SMALL))]) == 0


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = main(["run", str(write(tmp_path, SMALL)), "--out", str(blocker / "out"), "--quiet"])
    assert code == EXIT_BAD_INPUT
    assert "cannot be created" in capsys.readouterr().err
    assert blocker.read_text() == "not a folder"


def test_missing_config_file(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "none.toml")]) == EXIT_BAD_INPUT
    assert "does not exist" in capsys.readouterr().err


def test_neuron_command_draws_phase_plane(tmp_path, capsys):
    png = tmp_path / "pp.png"
    assert main(["neuron", "--I-ext", "0.5", "--out", str(png)]) == 0
    assert png.stat().st_size > 10_000
    assert "oscillatory" in capsys.readouterr().out


def test_mesh_command(tmp_path):
    assert main(["mesh", "square", "--h", "0.2", "--out", str(tmp_path / "sq.msh")]) == 0
    assert (tmp_path / "sq.msh").stat().st_size > 0
    assert main(["mesh", "sqare", "--out", str(tmp_path / "x.msh")]) == EXIT_BAD_INPUT


def test_default_run_from_command_line(tmp_path):
    """`fem-fhn run` without a config: the bundled pulse on the folded domain, with pictures."""
    fem_fhn = Path(sys.executable).parent / "fem-fhn"
    result = subprocess.run(
        [str(fem_fhn), "run", "--quiet"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out" / "default"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mesh"]["source"] == "folded" and summary["config"] == str(DEFAULT_CONFIG)
    assert (out / "V.png").stat().st_size > 10_000 and (out / "V.gif").stat().st_size > 10_000
    assert summary["final"]["max_V"] > 0.5  # the pulse is still travelling at t_end


def test_auto_time_step_with_the_nonlocal_model(tmp_path):
    text = SMALL.replace("dt = 0.05", 'dt = "auto"')
    out = tmp_path / "out"
    assert main(["run", str(write(tmp_path, text)), "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    # 0.9 x the explicit bound 1/(2 max K rho0 + 3 * 1.5**2 - 1) = 0.0923 here: 6 steps to 0.5
    assert summary["time"]["dt"] == "auto" and summary["time"]["steps"] == 6


def test_run_calls_extra_observers_at_every_output_time(tmp_path):
    import tomllib

    from fem_fhn.config import parse_config
    from fem_fhn.runner import run

    seen = []
    config = parse_config(tomllib.loads(SMALL))
    run(config, tmp_path / "out", observers=[lambda setup: lambda t, y, step: seen.append(t)])
    assert seen == pytest.approx([0.0, 0.25, 0.5])
