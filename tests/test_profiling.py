"""Phase timings: nested phases do not double count, a run reports where its time went, and
--profile writes a cProfile dump."""

import json
import pstats
import time

import pytest
from mpi4py import MPI

from fem_fhn.cli import main
from fem_fhn.profiling import PHASES, PhaseTimer

CONFIG = """
[mesh]
source = "interval"
[kernel]
type = "gaussian"
width = 0.5
[time]
t_end = 1.0
dt = 0.05
n_outputs = 4
scheme = "{scheme}"
[solver]
model = "{model}"
[output]
png = false
gif = false
progress = false
"""


def test_nested_phases_are_not_counted_twice():
    timer = PhaseTimer()
    with timer.timed("right-hand sides"):
        time.sleep(0.02)
        with timer.timed("linear solves"):
            time.sleep(0.05)
        time.sleep(0.02)
    assert 0.05 <= timer.seconds["linear solves"] < 0.07
    assert 0.04 <= timer.seconds["right-hand sides"] < 0.06
    report = timer.report(0.2, MPI.COMM_SELF)
    assert set(report) == {*PHASES, "other"}
    assert report["other"] == pytest.approx(0.2 - sum(timer.seconds.values()), abs=1e-6)


def test_unknown_phase_and_decorator():
    timer = PhaseTimer()
    with pytest.raises(ValueError, match="not allowed"), timer.timed("solving"):
        pass

    @timer.timing("output")
    def write(x):
        time.sleep(0.01)
        return 2 * x

    assert write(3) == 6 and write(4) == 8
    assert 0.02 <= timer.seconds["output"] < 0.04


@pytest.mark.parametrize(
    ("model", "scheme", "busy"),
    [
        ("nonlocal", "rk4", "right-hand sides"),
        ("local", "imex-euler", "linear solves"),
        ("kinetic", "ap-splitting", "transport"),
    ],
)
def test_run_reports_its_phases_and_a_profile(tmp_path, model, scheme, busy):
    config = tmp_path / "run.toml"
    text = CONFIG.format(model=model, scheme=scheme)
    if model == "kinetic":
        text = text.replace("dt = 0.05", "dt = 0.01") + "[kinetic]\neps = 0.01\nn_v = 16\nn_w = 8\n"
    config.write_text(text)
    out = tmp_path / "out"
    assert main(["run", str(config), "--out", str(out), "--quiet", "--profile"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    phases = summary["phases_s"]
    assert set(phases) == {*PHASES, "other"}
    assert phases["mesh"] > 0 and phases["output"] > 0 and phases["checkpoints"] > 0
    assert phases[busy] > 0
    if model == "kinetic":
        assert phases["relaxation"] > 0
    assert all(v >= 0 for v in phases.values())
    assert "profile.prof" in summary["files"]
    stats = pstats.Stats(str(out / "profile.prof"))
    assert any(name == "run" for _, _, name in stats.stats)
