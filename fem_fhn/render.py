"""Off-screen pictures of P1 fields with pyvista: a PNG snapshot and an animated GIF.

They read the `fields.pvd` series that `fem_fhn.io.FieldWriter` writes, so they work the same after
serial and MPI runs (rank 0 renders). pyvista is imported inside the functions only.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def _pyvista():
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    import pyvista as pv

    pv.OFF_SCREEN = True
    return pv


def _frame(pv, reader, index: int, field: str):
    reader.set_active_time_point(index)
    data = reader.read()
    return data.combine() if isinstance(data, pv.MultiBlock) else data


#: VTK cell types of volume cells (tetrahedra, hexahedra, wedges, pyramids, quadratic ones)
_VOLUME_CELLS = (10, 12, 13, 14, 24, 25)


def _visible(grid, dim3: bool):
    """The part of the grid shown: volume meshes are clipped by the plane y = centre (a surface
    in space is shown whole)."""
    solid = bool(np.isin(np.asarray(grid.celltypes), _VOLUME_CELLS).any())
    return grid.clip(normal="y", invert=False) if dim3 and solid else grid


def _plotter(pv, shown, dim3: bool, field: str, clim, title: str):
    x0, x1, y0, y1, _, _ = shown.bounds
    aspect = 0.6 if dim3 else (y1 - y0) / max(x1 - x0, 1e-12)
    plotter = pv.Plotter(off_screen=True, window_size=(1000, int(np.clip(1000 * aspect, 320, 900))))
    plotter.add_mesh(
        shown,
        scalars=field,
        cmap="viridis",
        clim=clim,
        nan_color="white",
        scalar_bar_args={"title": field, "vertical": True, "position_x": 0.88, "position_y": 0.1},
    )
    plotter.add_text(title, font_size=10, name="title")
    if dim3:
        plotter.view_isometric()
    else:
        plotter.view_xy()
        plotter.camera.tight(padding=0.05)
    return plotter


def render_fields(
    pvd: Path | str,
    field: str = "V",
    png: Path | str | None = None,
    gif: Path | str | None = None,
    fps: int = 8,
) -> dict[str, str]:
    """Render the last time of `field` to `png` and all times to an animated `gif`.

    Returns the paths written. Volume meshes are shown clipped by the plane y = centre; NaN values
    (nodes without a value) are left blank.
    """
    pv = _pyvista()
    reader = pv.get_reader(str(pvd))
    times = list(reader.time_values)
    frames = [_frame(pv, reader, i, field) for i in range(len(times))]
    values = np.concatenate([np.asarray(f.point_data[field]) for f in frames])
    values = values[np.isfinite(values)]  # NaN: no value there (e.g. a network's empty nodes)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    clim = (low, high if high > low else low + 1.0)
    if np.ptp(frames[0].points[:, 1]) == 0 and np.ptp(frames[0].points[:, 2]) == 0:
        return _render_line(frames, times, field, clim, png, gif, fps)
    dim3 = bool(np.ptp(frames[0].points[:, 2]) > 0)
    written = {}
    if png is not None:
        shown = _visible(frames[-1], dim3)
        plotter = _plotter(pv, shown, dim3, field, clim, f"{field}, t = {times[-1]:.3g}")
        plotter.screenshot(str(png))
        plotter.close()
        written["png"] = str(png)
    if gif is not None:
        shown = _visible(frames[0], dim3)
        plotter = _plotter(pv, shown, dim3, field, clim, f"{field}, t = {times[0]:.3g}")
        plotter.open_gif(str(gif), fps=fps)
        for t, grid in zip(times, frames, strict=True):
            shown.point_data[field] = _visible(grid, dim3).point_data[field]
            plotter.add_text(f"{field}, t = {t:.3g}", font_size=10, name="title")
            plotter.write_frame()
        plotter.close()
        written["gif"] = str(gif)
    return written


def _render_line(frames, times, field, clim, png, gif, fps) -> dict[str, str]:
    """1D meshes: the field against x with matplotlib (last time to PNG, all times to GIF)."""
    import imageio.v3 as iio

    from fem_fhn.plot import figure, save

    order = np.argsort(frames[0].points[:, 0])
    x = frames[0].points[order, 0]
    pad = 0.05 * (clim[1] - clim[0])

    def draw(grid, t):
        fig = figure((8.0, 3.2))
        ax = fig.subplots()
        ax.plot(x, np.asarray(grid.point_data[field])[order], color="tab:blue")
        ax.set_ylim(clim[0] - pad, clim[1] + pad)
        ax.set_xlabel("x")
        ax.set_ylabel(field)
        ax.set_title(f"{field}, t = {t:.3g}")
        return fig

    written = {}
    if png is not None:
        written["png"] = str(save(draw(frames[-1], times[-1]), png))
    if gif is not None:
        images = []
        for grid, t in zip(frames, times, strict=True):
            fig = draw(grid, t)
            fig.canvas.draw()
            images.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
        iio.imwrite(gif, images, duration=1000 / fps, loop=0)
        written["gif"] = str(gif)
    return written
