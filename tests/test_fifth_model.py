"""A model kind written only in tests/fifth_model.py runs through `fem-fhn run` like the four
built-in ones: field output, probes, diagnostics, a checkpoint, SIGTERM, and a restart on
another number of ranks — nothing under fem_fhn/ knows it."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI
from test_checkpoint import BIN, ENV, check_interrupted, interrupt

from fem_fhn.checkpoint import read_global

SCRIPT = Path(__file__).parent / "fifth_model.py"
PROGRAM = (sys.executable, str(SCRIPT))
RATE, T_END = 0.3, 20.0

CONFIG = f"""
[solver]
model = "linear-decay"
[decay]
rate = {RATE}
[mesh]
source = "interval"
[kernel]
type = "gaussian"
width = 0.5
[initial]
V = "cos(3*x)"
[time]
t_end = {T_END}
dt = 0.002
n_outputs = 20
[output]
png = false
gif = false
every = 5
probes = [[1.0], [7.5]]
[checkpoint]
every = 2
"""


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fifth") / "decay.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(scope="module")
def reference(config) -> Path:
    out = config.parent / "reference"
    command = [*PROGRAM, "run", str(config), "--out", str(out), "--quiet"]
    result = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return out


def test_runs_with_fields_probes_and_diagnostics(reference):
    summary = json.loads((reference / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["model"] == "linear-decay"
    assert summary["time"]["scheme"] == "rk4" and summary["time"]["steps"] == 10_000
    assert "probes.csv" in summary["files"] and "checkpoint/" in summary["files"]
    rows = np.genfromtxt(reference / "diagnostics.csv", delimiter=",", names=True)
    assert rows["t"].tolist() == pytest.approx(np.linspace(0.0, T_END, 21).tolist())
    # L_rho0 conserves the rho0-weighted integral: only the decay changes it (RK4: 1e-10)
    decay = rows["int_rho0_u"] / rows["int_rho0_u"][0]
    assert np.abs(decay - np.exp(-RATE * rows["t"])).max() < 1e-10
    probes = np.genfromtxt(reference / "probes.csv", delimiter=",", names=True)
    assert probes.dtype.names == ("t", "step", "u0", "u1") and probes.size == 21
    assert probes["u0"][0] == pytest.approx(math.cos(3.0)) and probes["u1"][0] == pytest.approx(
        math.cos(22.5)
    )
    # field files at every 5th output time: t = 0, 5, 10, 15, 20
    pvd = (reference / "vtk" / "fields.pvd").read_text()
    assert pvd.count("<DataSet") == 5 and 'timestep="15"' in pvd


def test_sigterm_then_restart_on_two_ranks(config, reference, tmp_path):
    out = tmp_path / "stopped"
    code, err = interrupt(config, out, program=PROGRAM)
    meta = check_interrupted(out, code, err, 15, T_END, every=5)
    assert meta["kind"] == "linear-decay" and meta["physics"]["decay.rate"] == RATE
    resumed = tmp_path / "resumed"
    command = [str(BIN / "mpirun"), "-n", "2", *PROGRAM, "run", str(config)]
    command += ["--restart", str(out), "--out", str(resumed), "--quiet"]
    result = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    summary = json.loads((resumed / "summary.json").read_text())
    assert summary["ranks"] == 2 and summary["status"] == "completed"
    meta_ref, ids_ref, rows_ref = read_global(reference)
    meta_new, ids_new, rows_new = read_global(resumed)
    assert meta_new["steps"] == meta_ref["steps"] and np.array_equal(ids_new, ids_ref)
    assert np.abs(rows_new - rows_ref).max() < 1e-12
    # a changed rate (the model's own physics) is refused on restart
    changed = config.parent / "faster.toml"
    changed.write_text(CONFIG.replace(f"rate = {RATE}", "rate = 0.4"))
    command = [*PROGRAM, "run", str(changed), "--restart", str(out), "--out", str(tmp_path / "x")]
    result = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 1 and "decay.rate = 0.4 (checkpoint: 0.3)" in result.stderr


def test_registry_names_its_schemes_and_refuses_tables_of_other_models(config, tmp_path):
    import fifth_model  # noqa: F401  (registers the kind in this process)

    from fem_fhn.config import ConfigError, load_config
    from fem_fhn.registry import MODELS
    from fem_fhn.runner import preflight

    assert MODELS["linear-decay"].schemes == ("euler", "heun", "ssprk3", "rk4", "adaptive")
    bad = tmp_path / "bad.toml"
    bad.write_text(CONFIG.replace("[time]", "[network]\nn = 10\n[time]"))
    with pytest.raises(ConfigError, match=r"\[network\] is not allowed with solver.model"):
        preflight(load_config(bad), MPI.COMM_SELF, tmp_path / "o")
    bad.write_text(CONFIG.replace("n_outputs = 20", "n_outputs = 20\nscheme = 'imex-euler'"))
    with pytest.raises(ConfigError, match="one of euler, heun, ssprk3, rk4, adaptive"):
        preflight(load_config(bad), MPI.COMM_SELF, tmp_path / "o")
    assert not (tmp_path / "o").exists()
