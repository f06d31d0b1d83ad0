"""The documentation builds, its references come from the code, and every link stays inside the
repository."""

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fem_fhn import config

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")
USER_FILES = ["README.md", "demos/README.md", "benchmarks/README.md", "docker/README.md"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Build the HTML documentation with warnings as errors (no demo is executed)."""
    out = tmp_path_factory.mktemp("docs")
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    result = subprocess.run([*cmd, str(ROOT / "docs"), str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-4000:]
    return out


def test_docs_build_every_page(built):
    for page in ("index", "science", "discretisation", "usage", "architecture", "api", "gallery"):
        assert (built / f"{page}.html").is_file(), page
    assert (built / "_generated" / "configuration.html").is_file()
    assert (built / "_generated" / "cli.html").is_file()


def test_configuration_reference_lists_every_key(built):
    text = (ROOT / "docs" / "_generated" / "configuration.md").read_text()
    for name, cls in config.SECTIONS.items():
        assert f"## `[{name}]`" in text, name
        if cls is config.KernelConfig:
            continue
        for f in dataclasses.fields(cls):
            assert f"| `{f.name}` |" in text, f"{name}.{f.name}"
    cli = (ROOT / "docs" / "_generated" / "cli.md").read_text()
    for command in ("run", "validate", "neuron", "mesh", "dispersion", "limit-study", "compare"):
        assert f"## `fem-fhn {command}`" in cli, command


def _links(path: Path) -> list[str]:
    return [m.group(1) for m in LINK.finditer(path.read_text())]


@pytest.mark.parametrize("name", USER_FILES + ["docs"])
def test_links_resolve_inside_the_repository(name):
    paths = sorted((ROOT / name).glob("*.md")) if name == "docs" else [ROOT / name]
    for path in paths:
        for target in _links(path):
            assert not re.match(r"[a-z]+://", target), f"{path.name}: external link {target}"
            file = target.split("#")[0]
            if not file:
                continue
            resolved = (path.parent / file).resolve()
            assert resolved.is_relative_to(ROOT), f"{path.name}: {target} leaves the repository"
            assert resolved.exists(), f"{path.name}: {target} does not exist"


def test_nothing_points_outside_the_repository():
    """Code, demos and documents cite only what the repository holds."""
    pattern = re.compile(r"\.\./shared|DESIGN\.md|DESIGN §")
    offenders = []
    for folder in ("fem_fhn", "demos", "docs", "benchmarks", "docker"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".md", ".toml") and "_build" not in path.parts:
                if pattern.search(path.read_text()):
                    offenders.append(str(path.relative_to(ROOT)))
    if pattern.search((ROOT / "README.md").read_text()):
        offenders.append("README.md")
    assert not offenders, offenders
