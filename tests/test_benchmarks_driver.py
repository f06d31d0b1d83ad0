"""The pieces the benchmark scripts share (benchmarks/driver.py): table, medians, interleaved
timings, sampled operator errors, targets, the JSON record and the case launcher."""

import argparse
import datetime
import importlib.util
import json
import math
import os
import platform
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "benchmarks_driver", ROOT / "benchmarks" / "driver.py"
)
driver = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = driver
_spec.loader.exec_module(driver)


def test_format_table_right_aligns_formats_and_marks_missing_values():
    columns = [
        ("N", "n", "{:d}"),
        ("apply ms", "apply_ms", "{:.2f}"),
        ("modes", lambda r: "x".join(map(str, r["modes"])) if "modes" in r else None, "{}"),
    ]
    rows = [{"n": 400, "apply_ms": 1.234, "modes": [56, 56]}, {"n": 12000}]
    assert driver.format_table(columns, rows) == (
        "|     N | apply ms | modes |\n"
        "|------:|---------:|------:|\n"
        "|   400 |     1.23 | 56x56 |\n"
        "| 12000 |        - |     - |"
    )
    assert driver.format_table(columns, []) == (
        "| N | apply ms | modes |\n|--:|---------:|------:|"
    )


def test_median_of_odd_and_even_counts():
    assert driver.median([3.0, 1.0, 2.0]) == 2.0
    assert driver.median([4, 1, 3, 2]) == 2.5
    assert isinstance(driver.median([1, 2, 4]), float)


def test_rounds_interleave_alternate_and_skip_the_warmup():
    order = []
    calls = {name: (lambda name=name: order.append(name)) for name in ("a", "b")}
    times = driver.rounds(calls, repeat=3, warmup=1, alternate=True)
    assert order == ["a", "b", "a", "b", "b", "a", "a", "b"]
    assert [len(times[k].wall) for k in "ab"] == [3, 3]
    assert [len(times[k].cpu) for k in "ab"] == [3, 3]
    assert all(t >= 0 for k in "ab" for t in times[k].wall + times[k].cpu)
    order.clear()
    single = driver.timed(lambda: order.append("x"), repeat=2, warmup=2)
    assert order == ["x"] * 4 and len(single.wall) == 2


def test_sampled_error_is_the_direct_sum_on_a_closed_form_case():
    sources = np.array([[0.0], [1.0], [2.0]])
    strengths = np.array([1.0, -2.0, 3.0])
    exact = 1 - 2 * math.exp(-1) + 3 * math.exp(-2)
    scale = 1 + 2 * math.exp(-1) + 3 * math.exp(-2)
    kernel = lambda r: np.exp(-r)  # noqa: E731
    err, s = driver.sampled_error(sources[:1], np.array([exact + 1e-3]), sources, strengths, kernel)
    assert err == pytest.approx(1e-3, rel=1e-9)
    assert s == pytest.approx(scale, rel=1e-14)


class _DenseOperator:
    """(K u)_i = Σ_j Ψ(|x_i − x_j|) w_j u_j by a dense product, plus a fixed offset."""

    def __init__(self, points, weights, kernel, offset):
        r = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)
        self.matrix, self.offset = kernel(r) * weights, offset

    def apply(self, u):
        return self.matrix @ u + self.offset


def test_measure_operator_reports_the_error_in_units_of_tol():
    rng = np.random.default_rng(3)
    points, weights = rng.random((40, 2)), np.full(40, 1 / 40)
    u = rng.standard_normal(40)
    kernel = lambda r: np.exp(-r / 0.1)  # noqa: E731
    scale = np.max(
        kernel(np.linalg.norm(points[:, None] - points[None], axis=-1)) @ (weights * abs(u))
    )

    def build():
        return _DenseOperator(points, weights, kernel, offset=1e-7)

    op, measured = driver.measure_operator(build, points, weights, kernel, u, rng, 3, tol=1e-6)
    assert isinstance(op, _DenseOperator)
    assert measured["error_over_tol"] == pytest.approx(1e-7 / (1e-6 * scale), rel=1e-6)
    assert len(measured["apply_s_all"]) == 3
    assert measured["apply_s"] == driver.median(measured["apply_s_all"])
    assert measured["peak_mb"] > 1 and measured["build_s"] >= 0


def test_targets_and_their_report():
    targets = {
        "speed": driver.target("apply speed-up", 12.5, 10.0, ">=", "n = 1e4"),
        "step": driver.target("step time (s)", 0.4, 0.3, "<="),
        "large": driver.target("cells", None, 100, ">="),
        "short": {"value": [1.0, 2.0], "met": True},
    }
    assert [t["met"] for t in targets.values()] == [True, False, None, True]
    assert targets["speed"] == {
        "description": "apply speed-up",
        "value": 12.5,
        "threshold": 10.0,
        "relation": ">=",
        "met": True,
        "note": "n = 1e4",
    }
    assert driver.format_targets(targets).splitlines() == [
        "- speed: apply speed-up = 12.5 (>= 10): met; n = 1e4",
        "- step: step time (s) = 0.4 (<= 0.3): NOT met",
        "- large: cells = - (>= 100): not run",
        "- short: [1.0, 2.0]: met",
    ]
    assert [driver.yes_no(f) for f in (True, False, None)] == ["yes", "NO", None]


def test_write_json_with_machine_info(tmp_path, capsys):
    info = driver.machine_info(
        ("date", "python", "cpu_count", "numpy"), names={"cpu_count": "cpus"}
    )
    assert list(info) == ["date", "python", "cpus", "numpy"]
    assert info["python"] == platform.python_version()
    assert info["cpus"] == os.cpu_count() and info["numpy"] == np.__version__
    date = datetime.datetime.fromisoformat(info["date"])
    assert date.utcoffset() == datetime.timedelta(0)
    assert set(driver.machine_info()) == set(driver.MACHINE)
    path = tmp_path / "results" / "bench_x.json"
    record = {"metadata": info, "cases": [{"n": 1, "apply_s": 0.5}]}
    driver.write_json(path, record)
    assert json.loads(path.read_text()) == record
    assert capsys.readouterr().out == f"wrote {path}\n"


def test_one_thread_sets_what_the_caller_left_unset(monkeypatch):
    # a private copy of the environment: numba re-reads NUMBA_NUM_THREADS when it compiles later
    # in this process, and refuses a value other than the one its threads started with
    private = {k: v for k, v in os.environ.items() if k not in driver.THREAD_VARIABLES}
    monkeypatch.setattr(os, "environ", private)
    os.environ["OMP_NUM_THREADS"] = "4"
    driver.one_thread()
    assert driver.thread_env() == {
        "NUMBA_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "4",
        "OPENBLAS_NUM_THREADS": "1",
    }
    driver.one_thread(force=True)
    assert set(driver.thread_env().values()) == {"1"}


def test_require_positive_refuses_in_one_line():
    driver.require_positive(argparse.Namespace(repeat=1, sizes=[5, 7]), "repeat", "sizes")
    with pytest.raises(SystemExit, match=r"^--repeat = 0 is not allowed: whole numbers >= 1$"):
        driver.require_positive(argparse.Namespace(repeat=0), "repeat")
    with pytest.raises(SystemExit, match=r"^--big-steps = \[5, 0\] is not allowed"):
        driver.require_positive(argparse.Namespace(big_steps=[5, 0]), "big_steps")


def test_launch_returns_the_emitted_record_and_reports_failures(tmp_path):
    script = tmp_path / "case.py"
    script.write_text(
        "import json, os, sys\n"
        f"print('noise')\nprint({driver.MARKER!r} + json.dumps("
        "{'args': sys.argv[1:], 'omp': os.environ['OMP_NUM_THREADS']}))\n"
    )
    launched = driver.launch(script, ["--case", "7"], threads=3)
    assert launched.record == {"args": ["--case", "7"], "omp": "3"}
    prefix = "NUMBA_NUM_THREADS=3 OMP_NUM_THREADS=3 OPENBLAS_NUM_THREADS=3 "
    assert launched.command == f"{prefix}{sys.executable} {script} --case 7"
    assert launched.wall_s > 0

    script.write_text("import sys\nsys.exit('bad case: boom')\n")
    with pytest.raises(driver.CaseFailed) as failed:
        driver.launch(script, [])
    assert failed.value.status == "failed (exit 1)"
    assert failed.value.last_line == "bad case: boom"

    script.write_text("import time\ntime.sleep(30)\n")
    with pytest.raises(driver.CaseFailed) as failed:
        driver.launch(script, [], timeout=0.5)
    assert failed.value.status == "timeout after 0.5 s"
    assert failed.value.last_line == "timeout after 0.5 s"
