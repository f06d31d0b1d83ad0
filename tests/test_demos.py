"""Every demo in demos/ runs (shortened: CI=1) and follows the literate layout."""

import os
import py_compile
import re
import subprocess
import sys
from pathlib import Path

import pytest

DEMO_DIR = Path(__file__).parents[1] / "demos"
DEMOS = sorted(DEMO_DIR.glob("demo_*.py"))
SECTIONS = ("## Parameters", "## Mesh", "## Model", "## Solver", "## Output", "## Main loop")
PARAVIEW_SCRIPTS = sorted((DEMO_DIR / "paraview").glob("*.py"))
#: a demo on a 3D domain: named *_3d, or meshing a bundled 3D domain
DEMOS_3D = [
    d
    for d in DEMOS
    if d.stem.endswith("_3d")
    or re.search(r"""["']source["']:\s*["'](ball|torus)["']""", d.read_text())
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


@pytest.mark.parametrize("demo", DEMOS_3D, ids=lambda p: p.stem)
def test_3d_demo_has_paraview_script(demo):
    script = DEMO_DIR / "paraview" / demo.name
    assert script.is_file(), f"{demo.name} is a 3D demo without demos/paraview/{demo.name}"
    text = script.read_text()
    assert "fem_fhn_paraview" in text and f"out/{demo.stem}" in text


@pytest.mark.parametrize("script", PARAVIEW_SCRIPTS, ids=lambda p: p.stem)
def test_paraview_script_compiles(script, tmp_path):
    """pvpython scripts cannot run here (no ParaView): check their syntax."""
    py_compile.compile(str(script), cfile=str(tmp_path / "script.pyc"), doraise=True)
