"""Run every ParaView script of demos/paraview on its demo's output and check its picture
(`make test-paraview`; ``python demos/paraview/check_scripts.py demo_cortex`` checks one).

For each ``demos/paraview/demo_*.py``: run ``demos/demo_*.py`` with ``CI=1`` (this Python), run
the script with ``pvbatch`` under ``xvfb-run``, and read the screenshot it wrote back. Inside the
domain (pixels that are not background and not in the scalar bar's box) each pixel whose colour
is a shade of the colour map is turned back into a value of V: the colour map entry c_k closest
in direction (the shading of the surface scales a colour, c = s c_k, 0 < s <= 1), then
V = V_min + k/(K - 1) (V_max - V_min). The picture passes when

- the domain covers at least `MIN_DOMAIN` of the image and shows at least `MIN_COLOURS` colours;
- at least `MIN_MAPPED` of the domain's pixels are colour-mapped (the rest: front, edges);
- the lowest and highest V read off the picture (0.5 and 99.5 percentiles) are within `V_TOL`
  of the range of V in the shown half (y >= 0; everywhere for a script that sets
  ``CLIP = False``, a surface shown whole) at the last output time, read independently from
  ``vtk/fields.pvd`` with pyvista.

It prints these statistics for every picture and exits with 1 (naming what failed) when a
picture fails or when ``pvbatch``, ``xvfb-run`` or ``xauth`` is missing. It installs nothing.
"""

from __future__ import annotations

import ast
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import fem_fhn_paraview as fp  # noqa: E402

#: matplotlib's name of each ParaView colour map preset the scripts use
MATPLOTLIB_MAPS = {"Viridis (matplotlib)": "viridis"}
#: the smallest part of the image the domain covers
MIN_DOMAIN = 0.02
#: the fewest distinct colours inside the domain
MIN_COLOURS = 16
#: the smallest part of the domain's pixels that are shades of the colour map
MIN_MAPPED = 0.3
#: how far (degrees) a pixel's colour may point from the colour map entry it is read as
MAX_ANGLE = 3.0
#: pixels darker than this (largest channel) are too dark to read a colour from
MIN_BRIGHTNESS = 0.1
#: how far the picture's lowest/highest V may be from the data's (1/16 of the colour range)
V_TOL = 0.15
#: Xvfb must not reset when a client disconnects: pvbatch probes the display, disconnects and
#: connects again, and a connection during the reset fails ("bad X server connection")
XVFB_ARGS = "-screen 0 1280x1024x24 -noreset"


@dataclass(frozen=True)
class PictureStats:
    """What a screenshot shows: see the module docstring."""

    domain: float  #: part of the image (outside the scalar bar) that is not background
    colours: int  #: distinct colours inside the domain
    mapped: float  #: part of the domain's pixels that are shades of the colour map
    v_low: float  #: V of the 0.5 percentile of the colour-mapped pixels (nan if none)
    v_high: float  #: V of the 99.5 percentile of the colour-mapped pixels (nan if none)


def script_settings(script: Path) -> tuple[str, str, bool]:
    """The run folder (``RUN``), picture name (``PICTURE``) and whether the picture is clipped at
    y = 0 (``CLIP``, default True) a ParaView script assigns at module level, read without
    running it."""
    values = {}
    for node in ast.parse(script.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    values[target.id] = node.value.value
    if not isinstance(values.get("RUN"), str) or not isinstance(values.get("PICTURE"), str):
        raise ValueError(f"{script} does not set RUN and PICTURE to strings at module level")
    return values["RUN"], values["PICTURE"], bool(values.get("CLIP", True))


def colour_map_table(n: int = 256) -> np.ndarray:
    """The (n, 3) RGB table in [0, 1] of `fem_fhn_paraview.COLOUR_MAP`."""
    import matplotlib

    return matplotlib.colormaps[MATPLOTLIB_MAPS[fp.COLOUR_MAP]](np.linspace(0.0, 1.0, n))[:, :3]


def read_values(
    pixels: np.ndarray, table: np.ndarray, v_range: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """V read back from colours: the table entry k whose direction is closest to the pixel's
    (the angle at most `MAX_ANGLE`, the pixel at least `MIN_BRIGHTNESS`), V = V_min + k/(K - 1)
    (V_max - V_min).

    Args:
        pixels: (m, 3) RGB in [0, 1].
        table: (K, 3) the colour map.
        v_range: (V_min, V_max) the colour map spans.

    Returns:
        (values, mapped): V of the mapped pixels, and the (m,) mask of the mapped pixels.
    """
    norm = np.linalg.norm(pixels, axis=1, keepdims=True)
    cos = (pixels / np.maximum(norm, 1e-12)) @ (table / np.linalg.norm(table, axis=1)[:, None]).T
    best = cos.argmax(axis=1)
    angle = np.degrees(np.arccos(np.clip(cos[np.arange(len(pixels)), best], -1.0, 1.0)))
    mapped = (angle <= MAX_ANGLE) & (pixels.max(axis=1) >= MIN_BRIGHTNESS)
    lo, hi = v_range
    return lo + best[mapped] / (len(table) - 1) * (hi - lo), mapped


def picture_stats(image: np.ndarray, table: np.ndarray) -> PictureStats:
    """The statistics of a screenshot (H, W, 3 or 4; RGB in [0, 1], row 0 at the top) drawn by
    `fem_fhn_paraview`: white background, scalar bar in `SCALAR_BAR_BOX`, V over `V_RANGE`."""
    rgb = np.asarray(image, dtype=float)[..., :3]
    height, width = rgb.shape[:2]
    x0, y0, x1, y1 = fp.SCALAR_BAR_BOX
    outside = np.ones((height, width), dtype=bool)
    outside[
        int(height * (1 - y1)) : int(np.ceil(height * (1 - y0))),
        int(width * x0) : int(np.ceil(width * x1)),
    ] = False
    domain = outside & ~np.all(rgb >= 0.98, axis=-1)
    pixels = rgb[domain]
    codes = np.round(pixels * 255).astype(np.int64) @ np.array([65536, 256, 1])
    values, mapped = read_values(pixels, table, fp.V_RANGE)
    low, high = np.percentile(values, [0.5, 99.5]) if values.size else (np.nan, np.nan)
    return PictureStats(
        domain=float(domain.sum() / outside.sum()),
        colours=int(np.unique(codes).size),
        mapped=float(mapped.mean()) if mapped.size else 0.0,
        v_low=float(low),
        v_high=float(high),
    )


def failures(stats: PictureStats, data_range: tuple[float, float]) -> list[str]:
    """What is wrong with a picture, given the range of V in the data it shows; empty if
    nothing."""
    found = []
    if stats.domain < MIN_DOMAIN:
        found.append(f"the domain covers {stats.domain:.1%} of the image (< {MIN_DOMAIN:.0%})")
    if stats.colours < MIN_COLOURS:
        found.append(f"{stats.colours} colours in the domain (< {MIN_COLOURS})")
    if stats.mapped < MIN_MAPPED:
        found.append(f"{stats.mapped:.1%} of the domain is colour-mapped (< {MIN_MAPPED:.0%})")
    ends = (("lowest", stats.v_low, data_range[0]), ("highest", stats.v_high, data_range[1]))
    for end, shown, data in ends:
        if not abs(shown - data) <= V_TOL:
            found.append(f"{end} V shown {shown:.3f}, in the data {data:.3f} (tolerance {V_TOL})")
    return found


def shown_data_range(folder: Path, clipped: bool = True) -> tuple[float, float]:
    """min and max of V at the last output time over the nodes with y >= 0 (the clip's half;
    every node if not `clipped`), read from ``folder/vtk/fields.pvd``."""
    import pyvista as pv

    reader = pv.get_reader(str(folder / "vtk" / "fields.pvd"))
    reader.set_active_time_point(len(reader.time_values) - 1)
    data = reader.read()
    grid = data.combine() if isinstance(data, pv.MultiBlock) else data
    v = np.asarray(grid.point_data["V"])
    if clipped:
        v = v[np.asarray(grid.points)[:, 1] >= 0.0]
    return float(v.min()), float(v.max())


def run(command: list[str], env: dict[str, str]) -> None:
    """Run `command` in the repository root; on failure print its output and exit with 1."""
    line = shlex.join(command)
    print("$", line, flush=True)
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    print(result.stdout.rstrip(), flush=True)
    if result.returncode != 0:
        sys.exit(f"error: `{line}` failed (exit {result.returncode}):\n{result.stderr[-4000:]}")


def main(names: list[str] | None = None) -> int:
    """Run and check every ParaView script, or those named (``demo_cortex`` or
    ``demo_cortex.py``); 0 if all pictures pass."""
    missing = [tool for tool in ("pvbatch", "xvfb-run", "xauth") if shutil.which(tool) is None]
    if missing:
        print(
            f"error: {', '.join(missing)} not found: install ParaView and Xvfb (Debian/Ubuntu: "
            "apt-get install --no-install-recommends paraview python3-paraview xvfb xauth)",
            file=sys.stderr,
        )
        return 1
    import matplotlib.image

    table = colour_map_table()
    # pvbatch runs its own Python: it must not see this one's packages
    pv_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    bad = []
    scripts = sorted(HERE.glob("demo_*.py"))
    if names:
        wanted = {Path(name).stem for name in names}
        unknown = wanted - {script.stem for script in scripts}
        if unknown:
            print(f"error: no ParaView script {', '.join(sorted(unknown))}", file=sys.stderr)
            return 1
        scripts = [script for script in scripts if script.stem in wanted]
    for script in scripts:
        folder, picture, clipped = script_settings(script)
        run([sys.executable, f"demos/{script.name}"], {**os.environ, "CI": "1"})
        run(
            ["xvfb-run", "-a", "-s", XVFB_ARGS, "pvbatch", str(script.relative_to(ROOT)), folder],
            pv_env,
        )
        png = ROOT / folder / f"{picture}.png"
        if not png.is_file():
            bad.append(f"{script.name}: {png} was not written")
            continue
        stats = picture_stats(matplotlib.image.imread(png), table)
        data = shown_data_range(ROOT / folder, clipped)
        print(
            f"{png.relative_to(ROOT)}: domain {stats.domain:.1%} of the image, {stats.colours} "
            f"colours, {stats.mapped:.1%} colour-mapped; V shown {stats.v_low:.3f} .. "
            f"{stats.v_high:.3f}, in the data ({'y >= 0' if clipped else 'all'}) "
            f"{data[0]:.3f} .. {data[1]:.3f}",
            flush=True,
        )
        bad += [f"{png.relative_to(ROOT)}: {f}" for f in failures(stats, data)]
    for line in bad:
        print(f"FAILED {line}", file=sys.stderr)
    print("all ParaView pictures pass" if not bad else f"{len(bad)} checks failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
