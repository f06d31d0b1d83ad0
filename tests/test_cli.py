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
    assert summary["time"]["dt_used"] == pytest.approx(0.25 / 3, rel=1e-15)  # 3 per interval


def test_run_calls_extra_observers_at_every_output_time(tmp_path):
    import tomllib

    from fem_fhn.config import parse_config
    from fem_fhn.runner import run

    seen = []
    config = parse_config(tomllib.loads(SMALL))
    run(config, tmp_path / "out", observers=[lambda setup: lambda out: seen.append(out.t)])
    assert seen == pytest.approx([0.0, 0.25, 0.5])


# ---------------------------------------------------------------------- records that are true


def test_records_report_the_step_taken_and_the_files_written(tmp_path, capsys, caplog):
    """dt = 10 with output intervals of 0.25 steps at 0.25: the warning and summary.json say so;
    with png = gif = false the final line lists no pictures (and none are written)."""
    text = SMALL.replace("dt = 0.05", "dt = 10.0")
    out = tmp_path / "out"
    assert main(["run", str(write(tmp_path, text)), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["time"]["dt"] == 10.0 and summary["time"]["dt_used"] == 0.25
    assert summary["time"]["steps"] == 2
    assert "steps of 0.25 are taken" in caplog.text
    assert "time step 0.25 exceeds the explicit stability estimate" in caplog.text
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "V.png" not in line and "V.gif" not in line, line
    assert "fields.bp, fields.xdmf, vtk/fields.pvd, diagnostics.csv, summary.json" in line
    assert summary["files"] == [
        "fields.bp",
        "fields.xdmf",
        "vtk/fields.pvd",
        "diagnostics.csv",
        "summary.json",
        "checkpoint/",
    ]
    assert not (out / "V.png").exists() and not (out / "V.gif").exists()


def kinetic_probe_run(tmp_path, png: bool) -> Path:
    text = SMALL.replace("png = false", f"png = {str(png).lower()}").replace(
        "dt = 0.05", "dt = 'auto'"
    )
    text += "[solver]\nmodel = 'kinetic'\n[kinetic]\neps = 0.1\nn_v = 8\nn_w = 8\n"
    text += "probes = [[0.5, 0.5]]\n"
    out = tmp_path / f"png_{png}"
    assert (
        main(
            [
                "run",
                str(write(tmp_path, text.replace("t_end = 0.5", "t_end = 0.1"))),
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    return out


def test_phase_space_picture_follows_output_png(tmp_path):
    assert not (kinetic_probe_run(tmp_path, False) / "phase_space.png").exists()
    out = kinetic_probe_run(tmp_path, True)
    assert (out / "phase_space.png").stat().st_size > 10_000
    assert "phase_space.png" in json.loads((out / "summary.json").read_text())["files"]


def test_a_signal_after_the_final_checkpoint_leaves_the_run_completed(tmp_path):
    """The stop request comes once the final checkpoint is on disk: the run is complete, exit 0
    (cli) with "status": "completed", the pictures not yet drawn are skipped and the signal is
    recorded."""
    import signal
    import tomllib

    from fem_fhn.config import parse_config
    from fem_fhn.runner import run

    out = tmp_path / "out"
    meta = out / "checkpoint" / "meta.json"

    def stop() -> int:
        final = meta.exists() and json.loads(meta.read_text())["reason"] == "final"
        return signal.SIGTERM if final else 0

    config = parse_config(tomllib.loads(SMALL.replace("png = false", "png = true")))
    summary = run(config, out, stop=stop)
    assert summary["status"] == "completed" and summary["signal_after_completion"] == "SIGTERM"
    assert "signal" not in summary and not (out / "V.png").exists()
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(summary))


def test_a_process_ended_mid_run_says_interrupted(tmp_path):
    """A second signal ends the process at once (SystemExit(143) from the handler): the summary
    on disk says "interrupted" (as the exit code does) and diagnostics.csv holds every output
    time written before."""
    import tomllib

    from fem_fhn.config import parse_config
    from fem_fhn.runner import run

    calls = []

    def observer(setup):
        def obs(output):
            calls.append(output.t)
            if len(calls) == 2:
                raise SystemExit(143)

        return obs

    out = tmp_path / "out"
    config = parse_config(tomllib.loads(SMALL))
    with pytest.raises(SystemExit):
        run(config, out, observers=[observer])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["signal"] == "SIGTERM"
    assert summary["signal_number"] == 15 and summary["final"]["t"] == 0.25
    rows = np.genfromtxt(out / "diagnostics.csv", delimiter=",", names=True)
    assert rows["t"].tolist() == [0.0, 0.25]


def test_network_nodes_without_neurons_are_left_out(tmp_path):
    """200 neurons on the 1931-node square leave nodes with ρ = 0: their V and W are NaN in
    the field files and do not enter the diagnostics (max_W is the neurons' W, not 0)."""
    import h5py

    text = SMALL.replace("W = 0.1", "W = -0.25").replace("t_end = 0.5", "t_end = 0.1")
    text += "[solver]\nmodel = 'network'\n[network]\nn = 200\nseed = 3\nwrite_particles = false\n"
    out = tmp_path / "out"
    assert main(["run", str(write(tmp_path, text)), "--out", str(out), "--quiet"]) == 0
    rows = np.genfromtxt(out / "diagnostics.csv", delimiter=",", names=True)
    assert np.all(rows["max_W"] == -0.25) and np.all(rows["min_W"] == -0.25)  # tau = 0
    assert np.all(rows["mean_W"] == pytest.approx(-0.25, rel=1e-14))
    with h5py.File(out / "fields.h5", "r") as f:
        groups = f["Function"]
        W = np.asarray(groups["W"][sorted(groups["W"])[0]]).ravel()
        rho = np.asarray(groups["rho"][sorted(groups["rho"])[0]]).ravel()
    empty = rho == 0
    assert 0 < empty.sum() < len(rho)
    assert np.array_equal(np.isnan(W), empty) and np.all(W[~empty] == pytest.approx(-0.25))
