"""Open a fem_fhn run in ParaView and draw the 3D demos' picture: a clip (a volume mesh) or the
whole surface (a surface mesh in space) coloured by V, and the front V = 0.

A run folder holds the same fields in up to three formats; `choose_source` picks the first that
this ParaView reads:

1. ``fields.bp`` (VTX/ADIOS2) with the ``ADIOS2VTXReader`` — only in ParaView >= 5.10 built
   with ADIOS2 (many distribution builds are not);
2. ``vtk/fields.pvd`` (VTK XML) with the ``PVDReader`` — every ParaView;
3. ``fields.xdmf`` (XDMF3 + HDF5) with the ``Xdmf3ReaderT`` — every ParaView.

The selection logic and the constants are plain Python (importable without ParaView); the
functions that draw import ``paraview.simple`` when called. The scripts next to this module
(``demo_*.py``) run it under ``pvpython``/``pvbatch`` or in the GUI's Python shell.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: the run's field files in the order they are tried: (path in the run folder, ParaView reader)
SOURCES: tuple[tuple[str, str], ...] = (
    ("fields.bp", "ADIOS2VTXReader"),
    ("vtk/fields.pvd", "PVDReader"),
    ("fields.xdmf", "Xdmf3ReaderT"),
)
#: the reader that needs ParaView built with ADIOS2
VTX_READER = "ADIOS2VTXReader"
#: the colour range of V: the FHN excursion (rest about -0.7, excited +1, refractory -1.1)
V_RANGE: tuple[float, float] = (-1.2, 1.2)
#: the colour map of V (the same table as matplotlib's "viridis")
COLOUR_MAP = "Viridis (matplotlib)"
#: screenshot size in pixels (width, height)
IMAGE_SIZE: tuple[int, int] = (1200, 900)
#: the scalar bar's box in the screenshot, as fractions (x0, y0, x1, y1) of the image from its
#: lower left corner; the picture's statistics leave it out
SCALAR_BAR_BOX: tuple[float, float, float, float] = (0.86, 0.05, 1.0, 0.95)
#: colour of the front V = 0 (RGB in [0, 1]) and its opacity
FRONT_COLOUR: tuple[float, float, float] = (0.85, 0.2, 0.1)
FRONT_OPACITY = 0.6


def choose_source(folder: Path, have_vtx: bool) -> tuple[Path, str]:
    """The file of a run to open and the ParaView reader for it.

    Args:
        folder: the run's output folder.
        have_vtx: whether this ParaView has the ``ADIOS2VTXReader``.

    Returns:
        (path, reader name): the first of `SOURCES` that exists in `folder`, skipping the VTX
        file when `have_vtx` is false.

    Raises:
        FileNotFoundError: none of the files is there, or only a VTX file this ParaView cannot
            read; the message says what to do.
    """
    for name, reader in SOURCES:
        path = folder / name
        if path.exists() and (have_vtx or reader != VTX_READER):
            return path, reader
    if (folder / SOURCES[0][0]).exists():
        raise FileNotFoundError(
            f"{folder} holds only fields.bp and this ParaView has no {VTX_READER} (it needs "
            'ParaView >= 5.10 built with ADIOS2): rerun with [output] formats = ["vtx", "vtk"]'
        )
    raise FileNotFoundError(
        f"{folder} holds none of {', '.join(n for n, _ in SOURCES)}: run the demo first"
    )


def run_folder(argv: Sequence[str], default: str, namespace: Mapping[str, Any]) -> Path:
    """The run folder a script shows.

    In order: ``RUN_FOLDER`` set in the script's namespace (the GUI's Python shell:
    ``RUN_FOLDER = "/path/to/out/demo_scroll_3d"`` before running the script), the first
    command-line argument, `default` (relative to the working directory).
    """
    if namespace.get("RUN_FOLDER"):
        return Path(namespace["RUN_FOLDER"])
    args = [a for a in argv[1:] if a]
    return Path(args[0]) if args else Path(default)


def open_run(folder: Path) -> Any:
    """Open the run in `folder` with the best reader this ParaView has (`choose_source`), print
    which file and reader it used, and set the animation to the run's output times."""
    from paraview import simple as pvs

    path, reader_name = choose_source(folder, hasattr(pvs, VTX_READER))
    absolute = str(path.resolve())  # so that the saved state finds it from anywhere
    xdmf = reader_name.startswith("Xdmf")
    reader = getattr(pvs, reader_name)(
        registrationName=path.name, FileName=[absolute] if xdmf else absolute
    )
    reader.UpdatePipelineInformation()
    pvs.GetAnimationScene().UpdateAnimationUsingDataTimeSteps()
    print(f"opened {path} with {reader_name}")
    return block_with(reader, "V") if xdmf else reader


def block_with(reader: Any, field: str) -> Any:
    """The block of a multiblock source that carries the point field `field`.

    The XDMF file holds one grid per field (V, W, rho0 on the same mesh); drawn together, the
    blocks without V would cover the coloured one.
    """
    from paraview import simple as pvs

    reader.UpdatePipeline()
    block = pvs.ExtractBlock(registrationName=field, Input=reader)
    for index in range(len(reader.PointData.keys())):
        block.Selectors = [f"/Root/Block{index}"]
        block.UpdatePipeline()
        if field in block.PointData.keys():
            return block
    raise ValueError(f"no block of {reader.FileName} carries the point field {field}")


def render_view() -> Any:
    """The active render view at `IMAGE_SIZE`, white background, no orientation axes."""
    from paraview import simple as pvs

    view = pvs.GetActiveViewOrCreate("RenderView")
    view.ViewSize = list(IMAGE_SIZE)
    if hasattr(view, "UseColorPaletteForBackground"):  # ParaView >= 5.10
        view.UseColorPaletteForBackground = 0
    view.Background = [1.0, 1.0, 1.0]
    view.OrientationAxesVisibility = 0
    return view


def colour_by_v(source: Any, view: Any) -> Any:
    """Show `source` coloured by V over `V_RANGE` with `COLOUR_MAP`, shaded, with the scalar bar
    in `SCALAR_BAR_BOX`; returns its display."""
    from paraview import simple as pvs

    display = pvs.Show(source, view)
    pvs.ColorBy(display, ("POINTS", "V"))
    lut = pvs.GetColorTransferFunction("V")
    lut.ApplyPreset(COLOUR_MAP, True)
    lut.AutomaticRescaleRangeMode = "Never"
    lut.RescaleTransferFunction(*V_RANGE)
    display.Ambient, display.Diffuse = 0.3, 0.7  # shaded, but colours stay readable
    display.SetScalarBarVisibility(view, True)
    bar = pvs.GetScalarBar(lut, view)
    x0, y0, x1, y1 = SCALAR_BAR_BOX
    bar.WindowLocation = "Any Location"
    bar.Orientation = "Vertical"
    bar.Position = [x0 + 0.02, y0 + 0.02]
    bar.ScalarBarLength = y1 - y0 - 0.04
    bar.TitleColor = bar.LabelColor = [0.0, 0.0, 0.0]
    return display


def show_front(reader: Any, view: Any) -> None:
    """The front: the contour V = 0 of the whole domain (an isosurface in a volume, a line on a
    surface), semi-transparent, in `FRONT_COLOUR`."""
    from paraview import simple as pvs

    front = pvs.Contour(registrationName="front V = 0", Input=reader)
    front.ContourBy = ["POINTS", "V"]
    front.Isosurfaces = [0.0]
    front_display = pvs.Show(front, view)
    pvs.ColorBy(front_display, None)
    front_display.AmbientColor = front_display.DiffuseColor = list(FRONT_COLOUR)
    front_display.Opacity = FRONT_OPACITY


def show_clip_and_front(reader: Any, view: Any) -> None:
    """Half of the domain, y >= 0, clipped by the plane y = 0 and coloured by V
    (`colour_by_v`), and the front V = 0 in the whole domain (`show_front`)."""
    from paraview import simple as pvs

    clip = pvs.Clip(registrationName="clip y = 0", Input=reader)
    clip.ClipType = "Plane"
    clip.ClipType.Origin = [0.0, 0.0, 0.0]
    clip.ClipType.Normal = [0.0, 1.0, 0.0]
    clip.Invert = 0  # keep y >= 0, the half the demos' own pictures show
    colour_by_v(clip, view)
    show_front(reader, view)


def show_surface_and_front(reader: Any, view: Any) -> None:
    """A surface mesh (the cortex) whole, coloured by V (`colour_by_v`; a surface needs no
    clip), with the front V = 0 drawn on it as a line (`show_front`)."""
    colour_by_v(reader, view)
    show_front(reader, view)


def show_outline(reader: Any, view: Any) -> None:
    """The bounding box of the domain in grey, for orientation."""
    from paraview import simple as pvs

    outline = pvs.Show(pvs.Outline(registrationName="outline", Input=reader), view)
    outline.AmbientColor = outline.DiffuseColor = [0.3, 0.3, 0.3]


def look_from(view: Any, position: Sequence[float] = (1.0, 1.0, 1.0)) -> None:
    """Look at the origin from the direction of `position` (default: isometric, as the demos'
    own pictures), z up, the domain filling the view."""
    view.CameraPosition = list(position)
    view.CameraFocalPoint = [0.0, 0.0, 0.0]
    view.CameraViewUp = [0.0, 0.0, 1.0]
    view.ResetCamera()


def save_pictures(view: Any, folder: Path, name: str) -> Path:
    """Save the last time as ``folder/name.png``, every time as ``folder/frames/name.NNNN.png``
    and the ParaView state as ``folder/name.pvsm`` (File → Load State in the GUI).

    Returns:
        The path of the screenshot of the last time.
    """
    from paraview import simple as pvs

    times = list(pvs.GetTimeKeeper().TimestepValues) or [0.0]
    pvs.GetAnimationScene().AnimationTime = times[-1]
    pvs.Render(view)
    picture = folder / f"{name}.png"
    size = list(IMAGE_SIZE)
    pvs.SaveScreenshot(str(picture), view, ImageResolution=size)
    (folder / "frames").mkdir(exist_ok=True)
    pvs.SaveAnimation(str(folder / "frames" / f"{name}.png"), view, ImageResolution=size)
    pvs.SaveState(str(folder / f"{name}.pvsm"))
    print(f"wrote {picture}, {name}.pvsm and {len(times)} frames in {folder / 'frames'}/")
    sys.stdout.flush()
    return picture
