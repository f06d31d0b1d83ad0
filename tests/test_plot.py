"""Plot helpers: files are written, and plotting libraries are imported lazily."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fem_fhn.params import FHNParameters
from fem_fhn.plot import phase_plane_figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "p",
    [
        FHNParameters(),
        FHNParameters(I_ext=0.5),
        FHNParameters(a=0.0, b=2.0, tau=1.0),
        FHNParameters(a=0.3, b=0.0, tau=0.1),
    ],
    ids=["excitable", "oscillatory", "bistable", "b0"],
)
def test_phase_plane_figure_writes_png(tmp_path: Path, p: FHNParameters) -> None:
    out = phase_plane_figure(p, tmp_path / "sub" / "phase.png", t_end=80.0)
    assert out == tmp_path / "sub" / "phase.png"
    data = out.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 10_000


def test_phase_plane_figure_explicit_start(tmp_path: Path) -> None:
    out = phase_plane_figure(FHNParameters(), tmp_path / "p.png", v0=-1.5, w0=0.5, t_end=50.0)
    assert out.stat().st_size > 10_000


def test_import_does_not_load_plotting_libraries() -> None:
    code = (
        "import sys, fem_fhn, fem_fhn.plot, fem_fhn.neuron, fem_fhn.kernels\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'pyvista'))\n"
        "print(bad)\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "[]"
