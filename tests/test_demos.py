"""Every demo in demos/ runs (shortened: CI=1) and follows the literate layout."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

DEMOS = sorted((Path(__file__).parents[1] / "demos").glob("demo_*.py"))
SECTIONS = ("## Parameters", "## Mesh", "## Model", "## Solver", "## Output", "## Main loop")


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
