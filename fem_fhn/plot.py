"""Figures. Plotting libraries (matplotlib, pyvista) are imported inside the functions only, so that
``import fem_fhn`` and ``import fem_fhn.plot`` never import them. Matplotlib figures are drawn
with the Agg canvas directly (no pyplot, no global backend switch).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fem_fhn.params import FHNParameters

__all__ = ["PhaseSpacePictures", "figure", "phase_plane_figure", "save"]


def figure(size: tuple[float, float] = (6.4, 4.8)):
    """A matplotlib Figure on the Agg canvas (no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig, out_png: str | Path, dpi: int = 120) -> Path:
    """Save a figure as PNG, creating the parent folders."""
    path = Path(out_png)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def phase_plane_figure(
    p: FHNParameters,
    out_png: str | Path,
    v0: float | None = None,
    w0: float | None = None,
    t_end: float = 200.0,
) -> Path:
    """Phase plane of the neuron v' = N(v) − w + I_ext, w' = τ (v + a − b w), saved as a PNG.

    Draws the v-nullcline w = N(v) + I_ext, the w-nullcline w = (v + a)/b (the line v = −a when
    b = 0), the equilibria (filled: linearly stable, open: unstable) and one trajectory from
    (v0, w0). By default the trajectory starts at the first stable equilibrium kicked by +0.5 in v
    (a supra-threshold excitation), or, if no equilibrium is stable, 0.05 to the right of the first
    equilibrium. The title gives the regime (`fem_fhn.neuron.classify`) and the parameters.

    Args:
        p: parameters.
        out_png: output file (parent directories are created).
        v0: initial voltage of the trajectory.
        w0: initial recovery variable of the trajectory.
        t_end: integration time of the trajectory.

    Returns:
        The path of the written PNG.
    """
    from fem_fhn import neuron

    eq = neuron.equilibria(p)
    stable = np.array([neuron.is_stable(p, v, w) for v, w in eq])
    if v0 is None or w0 is None:
        start = eq[np.argmax(stable)] if stable.any() else eq[0]
        kick = 0.5 if stable.any() else 0.05
        v0 = float(start[0] + kick) if v0 is None else v0
        w0 = float(start[1]) if w0 is None else w0
    t, v, w = neuron.trajectory(p, v0, w0, t_end, n_points=4001, rtol=1e-8, atol=1e-10)

    v_lo = min(-2.0, float(v.min()) - 0.2)
    v_hi = max(2.0, float(v.max()) + 0.2)
    vv = np.linspace(v_lo, v_hi, 600)
    w_v, w_w = neuron.nullclines(p, vv)
    w_lo = min(float(w.min()), float(eq[:, 1].min())) - 0.5
    w_hi = max(float(w.max()), float(eq[:, 1].max())) + 0.5

    fig = figure()
    ax = fig.subplots()
    ax.plot(vv, w_v, color="tab:blue", label="v-nullcline  w = N(v) + I")
    if p.b > 0:
        ax.plot(vv, w_w, color="tab:orange", label="w-nullcline  w = (v + a)/b")
    else:
        ax.axvline(-p.a, color="tab:orange", label="w-nullcline  v = -a")
    ax.plot(v, w, color="k", lw=1.0, label=f"trajectory from ({v0:.3g}, {w0:.3g})")
    ax.plot(v0, w0, "k.", ms=6)
    for (ve, we), st in zip(eq, stable, strict=True):
        ax.plot(ve, we, "o", ms=8, mec="tab:red", mfc="tab:red" if st else "white", zorder=5)
    ax.set_xlim(v_lo, v_hi)
    ax.set_ylim(w_lo, w_hi)
    ax.set_xlabel("v")
    ax.set_ylabel("w")
    ax.set_title(
        f"{neuron.classify(p)}: a = {p.a:.4g}, b = {p.b:.4g}, τ = {p.tau:.4g}, I = {p.I_ext:.4g}"
    )
    ax.legend(loc="best", fontsize=8)
    return save(fig, out_png)


class PhaseSpacePictures:
    """Observer drawing the kinetic density f(v, w) at the nodes nearest to given points.

    At every call it redraws `phase_space.png` (one panel per probe, title with t), so the file
    shows the latest output time; the nodes are found once (global nearest node, collective).

    Args:
        model: a `fem_fhn.kinetic.KineticFHN` (grid, nodes, comm).
        probes: points [x, y, ...] in the mesh's dimension (missing coordinates are 0).
        out_dir: output folder.
    """

    def __init__(self, model, probes, out_dir: str | Path):
        from fem_fhn.io import nearest_node

        self.model, self.out = model, Path(out_dir) / "phase_space.png"
        self.owned = []  # (probe index, local node) on the owning rank
        self.points = []
        for k, probe in enumerate(probes):
            i, _, where = nearest_node(model.comm, model.nodes.coords, probe)
            if i >= 0:
                self.owned.append((k, i))
            self.points.append(where)

    def __call__(self, t: float, f: np.ndarray, step: int) -> None:
        comm = self.model.comm
        mine = {k: f[i] for k, i in self.owned}
        gathered = comm.gather(mine, root=0)
        if comm.rank != 0:
            return
        panels = {k: v for part in gathered for k, v in part.items()}
        g = self.model.grid
        fig = figure((4.0 * len(self.points), 3.6))
        axes = np.atleast_1d(fig.subplots(1, len(self.points)))
        for k, ax in enumerate(axes):
            image = ax.imshow(
                panels[k].T,
                origin="lower",
                aspect="auto",
                cmap="magma",
                extent=(g.v_min, g.v_max, g.w_min, g.w_max),
            )
            fig.colorbar(image, ax=ax, shrink=0.85)
            where = ", ".join(f"{c:.3g}" for c in self.points[k])
            ax.set_title(f"f(v, w) at x = ({where}), t = {t:.3g}", fontsize=9)
            ax.set_xlabel("v")
            ax.set_ylabel("w")
        save(fig, self.out)
