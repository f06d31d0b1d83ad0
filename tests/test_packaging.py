"""The bundled domains travel with the package: the top-level meshes/ folder is installed as
fem_fhn.meshes by a built wheel and by an editable install, and a run on a bundled domain works
from the installed wheel exactly as from the checkout, and so do the files of the made-up brain
of meshes/sphere_brain/."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from mpi4py import MPI

from fem_fhn import meshes
from fem_fhn.mesh import load_mesh

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "MANIFEST.in", "fem_fhn", "meshes")
NODES_SCRIPT = """
import json, fem_fhn, fem_fhn.meshes as m
from mpi4py import MPI
from fem_fhn.mesh import load_mesh
nodes = {n: load_mesh(n, MPI.COMM_SELF).topology.index_map(0).size_global for n in m.names()}
found = {"package": fem_fhn.__file__, "meshes": m.__file__, "nodes": nodes}
print(json.dumps({**found, "brain": str(m.sphere_brain_path("cortex.zip"))}))
"""


def _run(cmd: list[str], cwd: Path, pythonpath: str = "") -> str:
    """Run `cmd` in `cwd` with only `pythonpath` on PYTHONPATH; return its stdout."""
    env = {**os.environ, "PYTHONPATH": pythonpath}
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result.stdout


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A copy of what a build reads, so that build/ and *.egg-info stay out of the checkout."""
    src = tmp_path_factory.mktemp("src")
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=skip)
        else:
            shutil.copy2(ROOT / name, src / name)
    return src


def _build_wheel(what: Path, out: Path) -> Path:
    """`pip wheel` of a source tree or a source distribution, without fetching anything."""
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    _run([*pip, "-w", str(out), str(what)], cwd=out)
    (built,) = out.glob("fem_fhn-*.whl")
    return built


def _contents(wheel: Path) -> dict[str, bytes]:
    """The files of a wheel, without its metadata folder."""
    with zipfile.ZipFile(wheel) as archive:
        return {n: archive.read(n) for n in archive.namelist() if ".dist-info/" not in n}


@pytest.fixture(scope="module")
def wheel(source, tmp_path_factory) -> Path:
    return _build_wheel(source, tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def site(wheel, tmp_path_factory) -> Path:
    """The wheel unpacked: what an installation puts into site-packages."""
    target = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    return target


def _checkout_nodes() -> dict[str, int]:
    return {
        n: load_mesh(n, MPI.COMM_SELF).topology.index_map(0).size_global for n in meshes.names()
    }


def test_checkout_imports_the_top_level_folder() -> None:
    assert Path(meshes.__file__) == ROOT / "meshes" / "__init__.py"
    assert meshes.bundled_path("folded") == ROOT / "meshes" / "folded.msh"


def test_wheel_holds_every_domain_script_and_mesh(wheel) -> None:
    files = _contents(wheel)
    for name in meshes.names():
        for suffix in (".py", ".msh"):
            packed = files[f"fem_fhn/meshes/{name}{suffix}"]
            assert packed == (ROOT / "meshes" / f"{name}{suffix}").read_bytes(), name + suffix
    # the registry itself is installed; the checkout's stand-in and a top-level `meshes` are not
    assert files["fem_fhn/meshes/__init__.py"] == (ROOT / "meshes" / "__init__.py").read_bytes()
    assert not [name for name in files if name.startswith("meshes/")]


def test_wheel_holds_the_sphere_brain(wheel) -> None:
    """The made-up brain of meshes/sphere_brain/ (TVB-format surface, region mapping,
    connectivity, and the script that writes them) is package data of fem_fhn.meshes."""
    files = _contents(wheel)
    packed = sorted(n for n in files if n.startswith("fem_fhn/meshes/sphere_brain/"))
    assert packed == sorted(f"fem_fhn/meshes/sphere_brain/{n}" for n in meshes.SPHERE_BRAIN_FILES)
    for name in meshes.SPHERE_BRAIN_FILES:
        checkout = meshes.sphere_brain_path(name)
        assert files[f"fem_fhn/meshes/sphere_brain/{name}"] == checkout.read_bytes(), name
    on_disk = sorted(p.name for p in (ROOT / "meshes" / "sphere_brain").iterdir() if p.is_file())
    assert on_disk == sorted(meshes.SPHERE_BRAIN_FILES)


def test_wheel_from_the_source_distribution_is_the_same(source, wheel, tmp_path) -> None:
    """An install from the sdist: it keeps what package discovery needs (MANIFEST.in), so the
    wheel built from it holds the same files, byte for byte, as the one built from the tree."""
    code = f"from setuptools import build_meta; build_meta.build_sdist({str(tmp_path)!r})"
    _run([sys.executable, "-c", code], cwd=source)
    (sdist,) = tmp_path.glob("fem_fhn-*.tar.gz")
    out = tmp_path / "wheel"
    out.mkdir()
    assert _contents(_build_wheel(sdist, out)) == _contents(wheel)


def test_bundled_domains_load_from_the_wheel_as_from_the_checkout(site, tmp_path) -> None:
    found = json.loads(_run([sys.executable, "-c", NODES_SCRIPT], tmp_path, str(site)))
    assert Path(found["package"]) == site / "fem_fhn" / "__init__.py"
    assert Path(found["meshes"]) == site / "fem_fhn" / "meshes" / "__init__.py"
    assert found["nodes"] == _checkout_nodes()
    assert Path(found["brain"]) == site / "fem_fhn" / "meshes" / "sphere_brain" / "cortex.zip"


def test_domain_script_runs_from_the_wheel(site, tmp_path) -> None:
    """`python -m fem_fhn.meshes.interval --h 1`: the interval [0, 10] meshed with 11 nodes."""
    out = tmp_path / "interval.msh"
    cmd = [sys.executable, "-m", "fem_fhn.meshes.interval", "--h", "1", "--out", str(out)]
    _run(cmd, tmp_path, str(site))
    assert load_mesh(out, MPI.COMM_SELF).topology.index_map(0).size_global == 11


def test_run_on_a_bundled_domain_from_the_wheel(site, tmp_path) -> None:
    """The bundled default (the folded band) for five steps, from the installed package."""
    text = (ROOT / "fem_fhn" / "data" / "default.toml").read_text()
    text, n = re.subn(r"(?m)^t_end = .*$", "t_end = 0.1", text)
    assert n == 1
    (tmp_path / "tiny.toml").write_text(re.sub(r"(?m)^n_outputs = .*$", "n_outputs = 1", text))
    cmd = [sys.executable, "-m", "fem_fhn", "run", "tiny.toml", "--out", "out", "--quiet"]
    _run(cmd, tmp_path, str(site))
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["mesh"]["nodes"] == _checkout_nodes()["folded"]


def test_editable_install_maps_the_top_level_folder(source, tmp_path) -> None:
    """`pip install -e .` (as `make venv` does) into a fresh environment that sees this one's
    packages but not its .pth files, hence not this environment's own install of fem_fhn."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = Path(
        _run([str(python), "-c", "import site; print(site.getsitepackages()[0])"], tmp_path).strip()
    )
    (purelib / "shared.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps"]
    _run([*pip, "--no-build-isolation", "-e", str(source)], cwd=tmp_path)
    script = "import fem_fhn.meshes as m, fem_fhn.meshes.torus as t; "
    script += "print(m.__file__, t.__file__, m.bundled_path('torus'))"
    found = _run([str(python), "-c", script], cwd=tmp_path).split()
    assert [Path(p) for p in found] == [
        source / "meshes" / "__init__.py",
        source / "meshes" / "torus.py",
        source / "meshes" / "torus.msh",
    ]
