# # Turing patterns in the kinetic FitzHugh–Nagumo equation
#
# The mean-field density f(t, x, v, w) of a network of FitzHugh–Nagumo neurons solves
#
# $$ \partial_t f + \partial_v\Big[f\Big(N(v) - w - \mathcal K_\Psi[f]
#    - \tfrac1\varepsilon(\rho v - j)\Big)\Big] + \partial_w\big[\tau(v + a - b w) f\big] = 0, $$
#
# $\mathcal K_\Psi[f](x, v) = v\,(\Psi * \rho)(x) - (\Psi * j)(x)$, $\rho = \int f$,
# $j = \int v f$, $N(v) = v - v^3$. As $\varepsilon \to 0$ its moments
# $(V, W) = (j, \int w f)/\rho$ follow the macroscopic nonlocal system of `demo_turing.py`,
# whose homogeneous state $V^* = 1/\sqrt2$, $W^* = V^*/2$ ($a = 0$, $b = 2$, $\tau = 1$,
# $\rho_0 \equiv 1$) is destabilised by the Mexican hat $\Psi = 6\,G_{0.05} - 5\,G_{0.1}$: the
# Fourier mode $e^{ik\cdot x}$ grows like $e^{\lambda(k) t}$,
#
# $$ \lambda^2 - (s_k - \tau b)\lambda + \tau(1 - b\,s_k) = 0, \qquad
#    s_k = N'(V^*) + \hat\Psi(k) - \hat\Psi(0), $$
#
# fastest at $k_{max} \approx 17.9$ with $\lambda_{max} \approx 1.20$ (real).
#
# The kinetic equation has its own linearisation: around the homogeneous steady state $f^*$ a
# mode $g(v, w)\,e^{ik\cdot x}$ evolves by an operator $L_k$ on the velocity grid, whose
# rightmost eigenvalue (`stability_kinetic.kinetic_spectrum`) is the kinetic growth rate. Without
# velocity noise ($D = 0$) $f^*$ is a Dirac mass at $(V^*, W^*)$, the span of
# $\partial_v f^*, \partial_w f^*$ is invariant under $L_k$ and carries exactly $\lambda(k)$ for
# every ε: the pattern's wavenumber and growth rate do not depend on ε. On the grid the Dirac mass
# occupies the two cells around $V^*$, and the kinetic rate is that of $N$'s secant slope across
# them, $N'(V^*) - \Delta v^2/4$ when $V^*$ sits on a cell face (the box below is placed so).
# With noise $D > 0$ the velocity spread $D/\kappa_0$,
# $\kappa_0 = \rho(\hat\Psi(0) + 1/\varepsilon)$, moves the kinetic eigenvalue away from
# $\lambda(k)$ by $O(D\varepsilon)$: the scan at the end follows it up to large ε.
#
# The demo runs the kinetic model (asymptotic-preserving splitting) from a small random
# perturbation of $(V^*, W^*)$ for several ε, measures the dominant wavenumber of the pattern
# (`analysis.dominant_wavenumber`) and the growth rate of its Fourier band in the linear phase
# (`analysis.ring_power`, `analysis.exponential_growth`), and compares both with the kinetic
# spectrum on the same velocity grid and with the macroscopic λ(k).

# +
import os
import time
from pathlib import Path

import numpy as np
from mpi4py import MPI

from fem_fhn import kernels, meshes, stability
from fem_fhn.analysis import dominant_wavenumber, exponential_growth, ring_power
from fem_fhn.config import parse_config
from fem_fhn.io import Every, FieldWriter, write_json
from fem_fhn.kinetic import suggest_grid
from fem_fhn.kinetic.grid import VelocityGrid
from fem_fhn.kinetic.model import negative_coupling
from fem_fhn.mesh import NodalMesh
from fem_fhn.nonlocal_ import METHODS
from fem_fhn.parallel import gather_rows
from fem_fhn.params import FHNParameters
from fem_fhn.plot import PhaseSpacePictures, figure, save
from fem_fhn.runner import build, prepare
from fem_fhn.simulation import Simulation
from fem_fhn.stability_kinetic import kinetic_spectrum

# -

# ## Parameters

# +
CI = bool(os.environ.get("CI"))
params = FHNParameters(a=0.0, b=2.0, tau=1.0)
V_star = 1.0 / np.sqrt(2.0)
W_star = V_star / params.b
hat = {"type": "mexican_hat", "width_exc": 0.05, "width_inh": 0.1, "a_exc": 6.0, "a_inh": 5.0}
psi = kernels.make_kernel({**hat, "dim": 2})
eps_values = (1.0, 0.01) if CI else (1.0, 0.1, 0.01)
diffusion = 0.0  # velocity noise D of the runs
n_v, n_w = 32, 16  # velocity cells per node
noise = 1e-3  # standard deviation of the initial perturbation of V
t_end = 6.0
sample_dt = 0.1  # sampling interval of the pattern's amplitude
frames = 6 if CI else 12  # frames written to the field files
skip = 1.0  # the decay of the stable modes of the noise, left out of the growth fit
# -

# The macroscopic dispersion relation: the unstable band, $k_{max}$ and $\lambda_{max}$.

k = np.linspace(0.0, 60.0, 6001)
info = stability.instabilities(params, psi, k, rho=1.0, V_star=V_star)
wavelength = 2 * np.pi / info.k_max
comm = MPI.COMM_WORLD
if comm.rank == 0:
    (k_lo, k_hi), *_ = info.bands
    print(
        f"macroscopic: unstable for {k_lo:.2f} < k < {k_hi:.2f} ({info.kind}); "
        f"k_max = {info.k_max:.3f}, lambda_max = {info.lambda_max.real:.4f}"
    )

# ## Mesh
#
# A square of 5 predicted wavelengths (4 in CI runs), $h = 0.05$ (seven nodes per wavelength,
# as in `demo_turing.py`).

# +
waves = 4 if CI else 5
side = waves * wavelength
out = Path("out/demo_turing_kinetic")
if comm.rank == 0:
    meshes.generate("square", 0.05, out / "square.msh", side=side)
comm.barrier()
mesh_file = (out / "square.msh").absolute()
n_nodes = NodalMesh.load(mesh_file, comm).n_global
# -

# ## Model
#
# ρ0 ≡ 1 and the initial density has the moments $(1, V^* + \xi, W^*)$ (ξ Gaussian noise, one
# value per node of the mesh file) with the Gaussian velocity widths σ_v = σ_w = 0.1.
#
# Velocity box. The sign-changing Ψ can push f outwards by $(v_{max} - v_{min})(\Psi^- * \rho)$,
# so the smallest invariant box (`suggest_grid`) is wide, about $[-2.6, 2.6] \times [-1.4, 1.4]$.
# It is widened by one cell in each direction and shifted so that $(V^*, W^*)$ is a cell corner:
# the discrete Dirac steady state then sits on 2 × 2 cells centred at $(V^*, W^*)$, and the
# kinetic spectrum carries λ(k) up to $-\Delta v^2/4$ in $N'$ (off a corner the error is
# $O(\Delta v)$, about 20 % of $\lambda_{max}$ at 32 cells).


def cornered_grid(grid: VelocityGrid, V: float, W: float) -> VelocityGrid:
    """The smallest box of the same cell counts containing `grid` with (V, W) on a cell corner."""

    def axis(lo: float, hi: float, n: int, c: float) -> tuple[float, float]:
        h = (hi - lo) / (n - 1)
        start = c - np.ceil((c - lo) / h) * h
        return float(start), float(start + n * h)

    v_lo, v_hi = axis(grid.v_min, grid.v_max, grid.n_v, V)
    w_lo, w_hi = axis(grid.w_min, grid.w_max, grid.n_w, W)
    return VelocityGrid(v_lo, v_hi, grid.n_v, w_lo, w_hi, grid.n_w)


# +
method = next((m for m in ("hmatrix", "nufft") if m in METHODS), "dense")
if comm.rank == 0:
    rng = np.random.default_rng(2024)
    np.save(out / "initial_V.npy", V_star + noise * rng.standard_normal(n_nodes))
comm.barrier()


def make_config(eps: float, grid: VelocityGrid):
    return parse_config(
        {
            "mesh": {"source": str(mesh_file)},
            "model": {"a": params.a, "b": params.b, "tau": params.tau},
            "kernel": {**hat, "allow_negative": True},
            "nonlocal": {"method": method, "tol": 1e-8},
            "initial": {"V": str((out / "initial_V.npy").absolute()), "W": W_star},
            "kinetic": {
                "eps": eps,
                "n_v": grid.n_v,
                "n_w": grid.n_w,
                "v_min": grid.v_min,
                "v_max": grid.v_max,
                "w_min": grid.w_min,
                "w_max": grid.w_max,
                "diffusion": diffusion,
            },
            "time": {"t_end": t_end, "dt": "auto", "n_outputs": round(t_end / sample_dt)},
            "output": {"progress": False},
        }
    )


prepared = prepare(make_config(1.0, VelocityGrid(-1, 1, 4, -1, 1, 4)), comm)
nodes, rho0, _ = prepared
inhibition = comm.allreduce(
    float(negative_coupling(nodes, psi, rho0, comm).max(initial=0.0)), op=MPI.MAX
)
grid = cornered_grid(
    suggest_grid(
        params,
        n_v=n_v,
        n_w=n_w,
        inhibition=inhibition,
        contain=((V_star - 0.5, V_star + 0.5), (W_star - 0.5, W_star + 0.5)),
    ),
    V_star,
    W_star,
)
if comm.rank == 0:
    print(f"{nodes.n_global} nodes, side {side:.3f}; velocity box {grid.describe()}")
# -

# ## Solver
#
# The asymptotic-preserving splitting (`APSplitting`: Strang splitting of the exact relaxation
# and an SSP-RK2 transport step), Δt = 0.9 × the transport's CFL limit, the same for every ε.
# The observer `BandRecorder` stores, at every sampling time, the ring-averaged Fourier power of
# $V - V^*$ on rings $0.5\,k_{max} \le |k| \le 1.6\,k_{max}$; the amplitude of the band around the
# final dominant wavenumber (±15 %) is its square root summed over those rings.

radii = np.arange(0.5, 1.6, 0.05) * info.k_max


class BandRecorder:
    """Observer recording t, the RMS of V − V* and the ring power of V − V* at `radii`."""

    def __init__(self):
        self.nodes = nodes
        self.area = self.nodes.integrate(np.ones(self.nodes.n_owned))
        self.times, self.rms, self.power = [], [], []

    def __call__(self, output) -> None:
        V = output.fields["V"]
        self.times.append(output.t)
        self.rms.append(np.sqrt(self.nodes.integrate((V - V_star) ** 2) / self.area))
        self.power.append(
            ring_power(self.nodes.coords, V, radii, weights=self.nodes.masses, comm=comm)
        )


# ## Output
#
# `out/demo_turing_kinetic/eps_<ε>/`: `fields.bp` (ParaView: ADIOS2VTXReader), `fields.xdmf`,
# `vtk/fields.pvd` (V, W, ρ, the velocity variances), `phase_space.png` (f(v, w) at a peak and a
# trough of the pattern at the end); `macro/`: the fields of the macroscopic run. In
# `out/demo_turing_kinetic/`: `growth.png` (the band amplitudes, the fitted rates and both
# predictions), `pattern.png` (V at the end for each ε), `summary.png` (both, the gallery
# picture) and `results.json` (every measured number).


def band_amplitude(power: np.ndarray, k_center: float) -> np.ndarray:
    near = np.abs(radii - k_center) <= 0.15 * k_center
    return np.sqrt(power[:, near].sum(axis=1))


# ## Main loop
#
# First the macroscopic model on the same mesh from the same noise, measured the same way (its
# rate is what the finite square allows: the bounded domain cuts the kernel near the sides),
# then the kinetic model for each ε.

# +


def simulate(setup, run_out: Path):
    """Run a built model to t_end with the field writer and the band recorder."""
    if comm.rank == 0:
        run_out.mkdir(parents=True, exist_ok=True)
    comm.barrier()
    model = setup.model
    writer = FieldWriter(nodes, setup.fields, run_out, static={"rho0": rho0})
    recorder = BandRecorder()
    n_samples = round(t_end / sample_dt)
    times = np.linspace(0.0, t_end, n_samples + 1)
    observers = [Every(writer, max(1, n_samples // frames), n_samples), recorder]
    sim = Simulation(model, setup.integrator, times, observers, progress=False)
    try:
        y = sim.run(setup.y0)
    finally:
        writer.close()
    V = model.fields_of(y)["V"]
    k_obs = dominant_wavenumber(nodes.coords, V, weights=nodes.masses, comm=comm)
    t_rec = np.array(recorder.times)
    amplitude = band_amplitude(np.array(recorder.power), k_obs)
    fit = exponential_growth(t_rec, amplitude, skip=skip)
    if comm.rank == 0:
        np.savez(run_out / "growth.npz", t=t_rec, rms=np.array(recorder.rms), amplitude=amplitude)
    return y, V, k_obs, fit, sim.steps


start = time.perf_counter()
macro_setup = build(make_config(1.0, grid), comm, prepared, kind="nonlocal")
_, _, k_macro_sim, fit_macro_sim, _ = simulate(macro_setup, out / "macro")
macro_run = {
    "k_observed": k_macro_sim,
    "k_error": (k_macro_sim - info.k_max) / info.k_max,
    "growth_rate": fit_macro_sim.rate,
    "rate_error_macro": (fit_macro_sim.rate - info.lambda_max.real) / info.lambda_max.real,
    "fit": fit_macro_sim._asdict(),
    "wall_time_s": time.perf_counter() - start,
}
if comm.rank == 0:
    print(
        f"macroscopic run: k = {k_macro_sim:.3f} ({macro_run['k_error']:+.1%}), growth rate "
        f"{fit_macro_sim.rate:.4f} ({macro_run['rate_error_macro']:+.1%} from lambda_max)"
    )
results = []
patterns = {}
for eps in eps_values:
    start = time.perf_counter()
    setup = build(make_config(eps, grid), comm, prepared, kind="kinetic")
    model = setup.model
    run_out = out / f"eps_{eps:g}"
    f, V, k_obs, fit, steps = simulate(setup, run_out)
    wall = time.perf_counter() - start
    spec = kinetic_spectrum(params, psi, [k_obs, info.k_max], grid, eps, 1.0, diffusion, 2, V_star)
    lam_kin = spec.eigenvalues[:, 0]
    lam_macro = spec.macro[:, 0]
    # the pattern's peak and trough: f(v, w) there
    coords_all = gather_rows(comm, nodes.coords)
    V_all = gather_rows(comm, V)
    probes = [coords_all[np.argmax(V_all)].tolist(), coords_all[np.argmin(V_all)].tolist()]
    PhaseSpacePictures(model, probes, run_out)(t_end, f, 0)
    patterns[eps] = (coords_all, V_all)
    row = {
        "eps": eps,
        "k_observed": k_obs,
        "k_max_macro": info.k_max,
        "k_error": (k_obs - info.k_max) / info.k_max,
        "growth_rate": fit.rate,
        "fit": fit._asdict(),
        "kinetic_rate_at_k": float(lam_kin[0].real),
        "kinetic_rate_at_k_max": float(lam_kin[1].real),
        "kinetic_rate_is_real": bool(abs(lam_kin[0].imag) < 1e-9),
        "macro_rate_at_k": float(lam_macro[0].real),
        "lambda_max_macro": float(info.lambda_max.real),
        "rate_error_kinetic": (fit.rate - lam_kin[0].real) / lam_kin[0].real,
        "rate_error_macro": (fit.rate - lam_macro[0].real) / lam_macro[0].real,
        "rate_vs_macro_run": (fit.rate - fit_macro_sim.rate) / fit_macro_sim.rate,
        "V_range": [float(V_all.min()), float(V_all.max())],
        "steps": steps,
        "dt": setup.integrator.dt,
        "wall_time_s": wall,
    }
    results.append(row)
    if comm.rank == 0:
        print(
            f"eps = {eps:g}: k = {k_obs:.3f} (k_max {info.k_max:.3f}, {row['k_error']:+.1%}); "
            f"growth rate {fit.rate:.4f} on [{fit.t_start:.2f}, {fit.t_end:.2f}] vs kinetic "
            f"{lam_kin[0].real:.4f} ({row['rate_error_kinetic']:+.1%}), macroscopic "
            f"{lam_macro[0].real:.4f} ({row['rate_error_macro']:+.1%}); {wall:.1f} s"
        )
# -

# The pictures: the pattern V at the end for each ε, and the growth of the band amplitude with
# the fitted rate and both predictions (slopes drawn through the fit's window).

# +
if comm.rank == 0:
    from matplotlib.tri import Triangulation

    def pattern_axes(axes, rows):
        for ax, row in zip(axes, rows, strict=True):
            coords_all, V_all = patterns[row["eps"]]
            tri = Triangulation(coords_all[:, 0], coords_all[:, 1])
            image = ax.tripcolor(tri, V_all, shading="gouraud", cmap="RdBu_r")
            ax.set_aspect("equal")
            ax.set_title(f"V at t = {t_end:g}, ε = {row['eps']:g}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        return image

    def growth_axes(ax):
        for i, row in enumerate(results):
            data = np.load(out / f"eps_{row['eps']:g}" / "growth.npz")
            fit = row["fit"]
            color = f"C{i}"
            ax.semilogy(data["t"], data["amplitude"], color=color, lw=1.2)
            window = np.linspace(fit["t_start"], fit["t_end"], 2)
            label = (
                f"ε = {row['eps']:g}: k = {row['k_observed']:.2f}, rate {row['growth_rate']:.3f}"
                f" (kin. {row['kinetic_rate_at_k']:.3f}, macro {row['macro_rate_at_k']:.3f})"
            )
            ax.semilogy(window, fit["a0"] * np.exp(fit["rate"] * window), "k--", lw=0.8)
            a_start = fit["a0"] * np.exp(fit["rate"] * window[0])
            ax.semilogy(
                window,
                a_start * np.exp(row["kinetic_rate_at_k"] * (window - window[0])),
                ":",
                color=color,
                lw=1.0,
            )
            ax.plot([], [], color=color, label=label)
        data = np.load(out / "macro" / "growth.npz")
        label = f"macroscopic run: k = {k_macro_sim:.2f}, rate {fit_macro_sim.rate:.3f}"
        ax.semilogy(data["t"], data["amplitude"], color="0.6", lw=1.0, label=label)
        ax.plot([], [], "k--", lw=0.8, label="fitted exponential")
        ax.plot([], [], "k:", lw=1.0, label="kinetic eigenvalue")
        ax.set_xlabel("t")
        ax.set_ylabel(r"band amplitude of $V - V^*$")
        ax.set_title(f"k_max = {info.k_max:.2f}, λ_max = {info.lambda_max.real:.3f}", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")

    fig = figure((6.4, 4.2))
    growth_axes(fig.subplots())
    save(fig, out / "growth.png")
    fig = figure((3.2 * len(results), 3.2))
    image = pattern_axes(np.atleast_1d(fig.subplots(1, len(results))), results)
    fig.colorbar(image, ax=fig.axes, shrink=0.8)
    save(fig, out / "pattern.png")
    fig = figure((10.0, 3.6))
    left, right = fig.subfigures(1, 2, width_ratios=(1.0, 1.6))
    pattern_axes([left.subplots()], results[-1:])
    growth_axes(right.subplots())
    save(fig, out / "summary.png", dpi=80)

# Where does the kinetic growth rate leave the macroscopic one? The rightmost kinetic eigenvalue at
# $k_{max}$, one Fourier mode at a time (`kinetic_spectrum`, a fine centred velocity grid of
# 64 × 32 cells), for ε from $10^{-3}$ to $10^3$, without noise and with the velocity noise
# D = 0.05 (for which the steady state has the variance $D/\kappa_0$ in v).

# +
scan_eps = np.logspace(-3, 3, 4 if CI else 13)
scan = {}
for D in (0.0, 0.05):
    rows = []
    for eps in scan_eps:
        s = kinetic_spectrum(params, psi, [info.k_max], (64, 32), float(eps), 1.0, D, 2, V_star)
        lam = s.eigenvalues[0, 0]
        rows.append(
            {"eps": float(eps), "lambda": [float(lam.real), float(lam.imag)], "V": s.state.V}
        )
    scan[f"D={D:g}"] = rows
if comm.rank == 0:
    for key, rows in scan.items():
        text = ", ".join(f"{r['eps']:.0e}: {r['lambda'][0]:.4f}" for r in rows)
        kinds = {"real" if abs(r["lambda"][1]) <= 1e-9 else "complex" for r in rows}
        print(f"rightmost kinetic eigenvalue at k_max, {key} ({'/'.join(kinds)}): {text}")
write_json(
    out / "results.json",
    {
        "params": {"a": params.a, "b": params.b, "tau": params.tau, "V_star": V_star},
        "kernel": hat,
        "k_max_macro": info.k_max,
        "lambda_max_macro": float(info.lambda_max.real),
        "nodes": n_nodes,
        "side": side,
        "grid": {"v": [grid.v_min, grid.v_max, grid.n_v], "w": [grid.w_min, grid.w_max, grid.n_w]},
        "diffusion": diffusion,
        "noise": noise,
        "macro_run": macro_run,
        "runs": results,
        "eigenvalue_scan_at_k_max": scan,
    },
    comm,
)
# -
