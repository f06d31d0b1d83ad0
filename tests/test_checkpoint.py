"""Checkpoints, restarts and faults of `fem-fhn run`, for every solver the runner builds.

A run is stopped by a real signal sent to a subprocess (`fem-fhn run`, and `mpirun -n 2 fem-fhn
run`: MPICH's hydra forwards SIGINT and SIGTERM to the ranks), restarted from its checkpoint
(`--restart`), and its final state — read back from the checkpoint written at the end, by global
node or particle id — is compared with an uninterrupted run. Restarts from a checkpoint written
on the same number of ranks agree to 1e-12; from 2 ranks to 1 to 1e-10 for fixed-step runs and
10 × the solver tolerance where an iterative solve or error control is involved
(tests/test_mpi_checkpoint.py restarts from 1 rank on 2).
"""

import csv
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from fem_fhn.checkpoint import read_global
from fem_fhn.cli import EXIT_RUNTIME, main
from fem_fhn.config import parse_config
from fem_fhn.runner import run

BIN = Path(sys.executable).parent
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}

COMMON = """
[mesh]
source = "interval"
[kernel]
type = "gaussian"
width = 0.5
strength = 2.0
[initial]
V = "1.0 if x < 2 else -0.69248"
W = -0.36042
[checkpoint]
every = 1
signal_steps = 5
[output]
png = false
gif = false
progress = false
"""

# each runs a few seconds: long enough for a signal to land mid-run
SOLVERS = {
    "macro-rk4": '[time]\nt_end = 20.0\ndt = 0.01\nn_outputs = 20\nscheme = "rk4"\n',
    "macro-adaptive": (
        '[time]\nt_end = 40.0\ndt = 0.01\nn_outputs = 20\nscheme = "adaptive"\n'
        "rtol = 1e-8\natol = 1e-10\n"
    ),
    "local": (
        '[solver]\nmodel = "local"\n'
        '[time]\nt_end = 20.0\ndt = 0.02\nn_outputs = 20\nscheme = "imex-ars222"\n'
    ),
    "network": (
        '[solver]\nmodel = "network"\n[network]\nn = 400\neps = 0.01\nnoise = 0.1\n'
        '[time]\nt_end = 10.0\ndt = 0.02\nn_outputs = 20\nscheme = "imex-ars222"\n'
    ),
    "kinetic": (
        '[solver]\nmodel = "kinetic"\n[kinetic]\neps = 0.01\nn_v = 16\nn_w = 8\n'
        '[time]\nt_end = 2.0\ndt = "auto"\nn_outputs = 20\n'
    ),
}
T_END = {"macro-adaptive": 40.0, "network": 10.0, "kinetic": 2.0}

#: restart on another number of ranks: 1e-10 for fixed steps; 10 × rtol of the adaptive error
#: control; 10 × the CG tolerance of the local model's diffusion solve (1e-12); the network's
#: CG tolerance is raised to 8 eps_mach ‖Ω⁻¹M‖ ≈ 6e-14 here, so 10 × that, rounded up
ACROSS_RANKS = {
    "macro-rk4": 1e-10,
    "macro-adaptive": 1e-7,
    "local": 1e-11,
    "network": 1e-12,
    "kinetic": 1e-10,
}
SAME_RANKS = 1e-12


@pytest.fixture(scope="module", autouse=True)
def one_numba_thread():
    """Like the subprocesses (ENV): one numba thread, so in-process runs are not slowed down by
    thread oversubscription on a busy machine."""
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


@pytest.fixture(scope="module")
def configs(tmp_path_factory):
    root = tmp_path_factory.mktemp("configs")
    paths = {}
    for name, text in SOLVERS.items():
        paths[name] = root / f"{name}.toml"
        paths[name].write_text(COMMON + text)
    return paths


@pytest.fixture(scope="module")
def references(configs, tmp_path_factory):
    """Uninterrupted serial runs: {solver: (ids, final state rows)}."""
    root = tmp_path_factory.mktemp("reference")
    result = {}
    for name, config in configs.items():
        assert main(["run", str(config), "--out", str(root / name), "--quiet"]) == 0
        meta, ids, rows = read_global(root / name)
        assert meta["reason"] == "final" and meta["t"] == T_END.get(name, 20.0)
        result[name] = (ids, rows, meta["steps"])
    return result


def interrupt(
    config, out: Path, ranks: int = 1, sig=signal.SIGTERM, program=(str(BIN / "fem-fhn"),)
) -> tuple[int, str]:
    """Start `fem-fhn run` (or `program` run ...), signal it once its first checkpoint exists;
    (exit code, stderr)."""
    command = [*program, "run", str(config), "--out", str(out), "--quiet"]
    if ranks > 1:
        command = [str(BIN / "mpirun"), "-n", str(ranks), *command]
    proc = subprocess.Popen(command, env=ENV, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoint" / "meta.json").exists():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "no checkpoint after 120 s"
            time.sleep(0.01)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


def check_interrupted(out: Path, code: int, err: str, sig, t_end: float, every: int = 1) -> dict:
    """The interrupted run's exit code, message, checkpoint and closed output files (field
    files at every `every`-th output time)."""
    name = signal.Signals(sig).name
    assert code == 128 + sig, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"fem-fhn: interrupted by {name} at t = "), err
    assert "--restart" in last
    meta = json.loads((out / "checkpoint" / "meta.json").read_text())
    assert meta["reason"] == "interrupted" and 0 < meta["t"] < t_end
    assert not (out / "checkpoint.tmp").exists() and not (out / "checkpoint.old").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["signal"] == name
    assert summary["checkpoint"]["t"] == meta["t"]
    with open(out / "diagnostics.csv") as f:
        times = [float(row["t"]) for row in csv.DictReader(f)]
    assert times == sorted(times) and times[-1] <= meta["t"] and len(times) >= 2
    # the files ParaView opens were closed properly: complete XML, one frame per output time
    frames = ET.parse(out / "vtk" / "fields.pvd").getroot().findall(".//DataSet")
    assert [float(d.get("timestep")) for d in frames] == pytest.approx(times[::every])
    grids = ET.parse(out / "fields.xdmf").getroot().findall(".//Grid[@GridType='Uniform']")
    assert len(grids) >= len(times[::every])
    assert (out / "fields.bp" / "md.idx").stat().st_size > 0
    return meta


def final_difference(out: Path, reference) -> float:
    ids_ref, rows_ref, steps = reference
    meta, ids, rows = read_global(out)
    assert meta["reason"] == "final" and meta["steps"] == steps
    assert np.array_equal(ids, ids_ref) and np.all(np.isfinite(rows))
    return float(np.abs(rows - rows_ref).max())


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_sigterm_then_restart_in_place_matches_uninterrupted_run(
    solver, configs, references, tmp_path
):
    out = tmp_path / "run"
    sig = signal.SIGINT if solver == "network" else signal.SIGTERM
    code, err = interrupt(configs[solver], out, sig=sig)
    meta = check_interrupted(out, code, err, sig, T_END.get(solver, 20.0))
    # continue in the same folder: the first segment's field files move to segment0/
    assert main(["run", str(configs[solver]), "--restart", str(out), "--quiet"]) == 0
    assert final_difference(out, references[solver]) <= SAME_RANKS
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["restarts"][0]["t"] == meta["t"]
    assert (out / "segment0" / "vtk" / "fields.pvd").exists()
    with open(out / "diagnostics.csv") as f:
        times = [float(row["t"]) for row in csv.DictReader(f)]
    assert times == pytest.approx(np.linspace(0, T_END.get(solver, 20.0), 21))
    frames = ET.parse(out / "vtk" / "fields.pvd").getroot().findall(".//DataSet")
    assert float(frames[0].get("timestep")) > meta["t"] - 1e-12
    assert float(frames[-1].get("timestep")) == pytest.approx(times[-1])


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_mpirun_signal_then_restart_on_one_rank(solver, configs, references, tmp_path):
    """hydra forwards the signal; both ranks stop at the same check and write one checkpoint."""
    out = tmp_path / "mpi"
    sig = signal.SIGINT if solver == "macro-rk4" else signal.SIGTERM
    code, err = interrupt(configs[solver], out, ranks=2, sig=sig)
    meta = check_interrupted(out, code, err, sig, T_END.get(solver, 20.0))
    assert meta["ranks"] == 2 and sum(meta["counts"]) == meta["n_global"]
    new = tmp_path / "serial"
    args = ["run", str(configs[solver]), "--restart", str(out), "--out", str(new), "--quiet"]
    assert main(args) == 0
    assert final_difference(new, references[solver]) <= ACROSS_RANKS[solver]
    assert json.loads((new / "summary.json").read_text())["restarts"][0]["ranks"] == 2


BLOW_UP = (
    COMMON.replace("strength = 2.0", "strength = 2.0\n[stimulus]\nI = '200 if t > 2 else 0'")
    + '[time]\nt_end = 10.0\ndt = 0.05\nn_outputs = 20\nscheme = "rk4"\n'
)


def test_blow_up_stops_with_message_exit_2_and_keeps_last_good_state(tmp_path, capsys):
    n = itertools.count(1)
    config = tmp_path / "blow.toml"
    config.write_text(BLOW_UP)
    out = tmp_path / "out"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == EXIT_RUNTIME
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("fem-fhn: error: non-finite values in the state at t = 2."), err
    assert "(step " in err and "likely causes: time.dt = 0.05" in err
    assert "max_stable_dt = " in err and "the last good state (t = " in err
    meta, ids, rows = read_global(out)
    assert meta["reason"] == "failed" and 2.0 <= meta["t"] < 2.5 and np.all(np.isfinite(rows))
    assert len(ids) == 201 and rows.shape == (201, 2)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and "non-finite" in summary["error"]
    with open(out / "diagnostics.csv") as f:
        assert float(list(csv.DictReader(f))[-1]["t"]) <= meta["t"]
    # it is the state the run had at that time: stop the same run there (one check per 5 steps)
    checks = 1 + meta["steps"] // 5
    config_ = parse_config(tomllib.loads(BLOW_UP))
    stopped = run(config_, tmp_path / "stopped", stop=lambda: signal.SIGTERM * (next(n) >= checks))
    assert stopped["checkpoint"]["t"] == meta["t"]
    assert np.array_equal(read_global(tmp_path / "stopped")[2], rows)
    # the saved state continues with a stable time step (same physics, smaller dt)
    config.write_text(BLOW_UP.replace("dt = 0.05", "dt = 0.005"))
    assert main(["run", str(config), "--restart", str(out), "--quiet"]) == 0
    meta2, ids2, rows2 = read_global(out)
    assert meta2["reason"] == "final" and meta2["t"] == 10.0 and np.all(np.isfinite(rows2))
    assert meta2["restarts"][0]["reason"] == "failed"
    with open(out / "diagnostics.csv") as f:
        times = [float(row["t"]) for row in csv.DictReader(f)]
    assert times == pytest.approx(np.linspace(0, 10, 21))


def test_checkpoints_are_replaced_atomically_and_handlers_restored(configs, tmp_path):
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    out = tmp_path / "out"
    config = tmp_path / "short.toml"
    config.write_text(configs["macro-rk4"].read_text().replace("t_end = 20.0", "t_end = 2.0"))
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 0
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("checkpoint")) == [
        "checkpoint"
    ]
    meta = json.loads((out / "checkpoint" / "meta.json").read_text())
    assert meta["reason"] == "final" and meta["kind"] == "nonlocal" and meta["node_axis"] == 1
    assert meta["integrator"] == {"type": "FixedStep", "dt": 0.01}
    assert len(meta["diagnostics"]) == 21 and meta["physics"]["model.tau"] == 0.08
    # a stale temporary folder (a crash while writing) is ignored and cleaned up
    shutil.copytree(out / "checkpoint", out / "checkpoint.tmp")
    (out / "checkpoint.tmp" / "meta.json").unlink()
    config.write_text(config.read_text().replace("t_end = 2.0", "t_end = 3.0"))
    assert main(["run", str(config), "--restart", str(out), "--quiet"]) == 0
    assert not (out / "checkpoint.tmp").exists()
    assert read_global(out)[0]["t"] == 3.0


def test_kill_9_leaves_a_true_record_and_restarts(configs, references, tmp_path):
    """kill -9 cannot be caught: what is on disk must still say what happened. summary.json
    (replaced atomically at every checkpoint) says "running" with the last checkpoint,
    diagnostics.csv (a row flushed at every output time) reaches at least that time, and the
    run continues from there to the uninterrupted result."""
    out = tmp_path / "killed"
    command = [str(BIN / "fem-fhn"), "run", str(configs["macro-rk4"]), "--out", str(out)]
    proc = subprocess.Popen([*command, "--quiet"], env=ENV, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while '"checkpoint"' not in _read(out / "summary.json"):
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "no checkpoint recorded after 120 s"
            time.sleep(0.01)
        proc.kill()
        proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    meta = json.loads((out / "checkpoint" / "meta.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    # the record may lag the checkpoint folder by the one written as the process died
    assert summary["status"] == "running" and summary["checkpoint"]["t"] <= meta["t"] < 20.0
    assert summary["checkpoint"]["t"] in np.linspace(0.0, 20.0, 21)
    with open(out / "diagnostics.csv") as f:
        times = [float(row["t"]) for row in csv.DictReader(f)]
    assert times[0] == 0.0 and times[-1] >= summary["checkpoint"]["t"]
    assert times == pytest.approx(np.linspace(0.0, 20.0, 21)[: len(times)])
    assert main(["run", str(configs["macro-rk4"]), "--restart", str(out), "--quiet"]) == 0
    assert final_difference(out, references["macro-rk4"]) <= SAME_RANKS
    assert json.loads((out / "summary.json").read_text())["status"] == "completed"


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""
