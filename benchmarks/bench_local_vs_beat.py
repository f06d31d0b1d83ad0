"""The local FHN model (`fem_fhn.macro.local_rd`) against fenicsx-beat's monodomain FHN, per step.

Problem (both codes, same mesh, step and step count): the unit square
``dolfinx.mesh.create_unit_square(comm, k, k)`` with P1 elements (k = 64, 128, 256: 4 225, 16 641
and 66 049 nodes), ∂t V = σ ΔV + V − V³ − W, ∂t W = τ (V + a − b W) with ``FHNParameters()``,
σ = 0.01, no-flux boundary, V0 = tanh((0.2 − x)/0.05), W0 = −0.3, dt = 0.05, ``--steps`` steps.

- fenicsx-beat (``beat.MonodomainModel`` with conductivity σ, C_m = 1, its default solver:
  MUMPS LU, PDE θ = 0.5; ``beat.MonodomainSplittingSolver`` with θ = 0.5, i.e. Strang splitting;
  the ODE step is a numpy forward-Euler step of the FHN reaction on the P1 nodes, as beat takes
  any ``fun(states, t, parameters, dt)``).
- fem_fhn: ``LocalFHN(nodes, FHNParameters(), σ)`` (lumped mass) advanced by
  ``LocalFHN(..., linear_solver=...)`` advanced by ``make_integrator(scheme, dt)``.

Each repetition times, in the same process and one after the other, the ``--steps`` steps of
beat and of every (scheme, solver) of fem_fhn, each after one warm-up step that assembles and
factorises (reported as setup). Times are the max over ranks; the table gives medians over
``--repeat`` repetitions and the median of the per-repetition ratios fem_fhn / beat, of the wall
time (the targets) and of the process CPU time (steadier on a shared machine).

Targets: imex-euler with the default solver ≤ 0.5 × beat per step on 1 rank at every size, and
≤ 0.6 × beat on 2 ranks at 66 049 nodes.

fenicsx-beat is not a dependency of fem_fhn; add it to the benchmark environment with
``pip install --no-deps fenicsx-beat pint flexcache flexparser`` (its own dependency resolution
fails on ``scifem``, which the monodomain model does not need).

Usage::

    python benchmarks/bench_local_vs_beat.py                     # 1 rank, the three sizes
    python benchmarks/bench_local_vs_beat.py --ranks 2 --sizes 256 --output \
        benchmarks/results/bench_local_vs_beat_2ranks.json

``--ranks R`` relaunches the script under the ``mpirun`` next to ``sys.executable``.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import driver  # noqa: E402
import numpy as np  # noqa: E402

SIGMA, DT, W0 = 0.01, 0.05, -0.3
TARGET = {1: 0.5, 2: 0.6}
INSTALL_BEAT = "pip install --no-deps fenicsx-beat pint flexcache flexparser"
COLUMNS = [
    ("nodes", "nodes", "{:d}"),
    ("ranks", "ranks", "{:d}"),
    ("scheme", "scheme", "{}"),
    ("solver", "solver", "{}"),
    ("fem_fhn ms", "ms_per_step", "{:.3f}"),
    ("beat ms", "beat_ms_per_step", "{:.3f}"),
    ("ratio", "ratio", "{:.3f}"),
    ("target", "target", "{}"),
    ("met", lambda row: driver.yes_no(row["met"]), "{}"),
    ("CPU ratio", "cpu_ratio", "{:.3f}"),
    ("|ΔV| to beat", "max_abs_V_difference_to_beat", "{:.2e}"),
]


def _initial(x: np.ndarray) -> np.ndarray:
    return np.tanh((0.2 - x) / 0.05)


class BeatCase:
    """beat's monodomain FHN (Strang splitting, MUMPS LU, θ = 0.5) on `mesh`."""

    def __init__(self, mesh, params):
        import beat
        import dolfinx

        def fhn_step(states, t, parameters, dt):
            V, W = states
            return np.stack(
                [V + dt * (params.N(V) - W + params.I_ext), W + dt * params.recovery(V, W)]
            )

        time_ = dolfinx.fem.Constant(mesh, 0.0)
        self.pde = beat.MonodomainModel(time=time_, mesh=mesh, M=SIGMA, C_m=1.0)
        x = self.pde.V.tabulate_dof_coordinates()[:, 0]
        states = np.stack([_initial(x), np.full_like(x, W0)])
        self.pde.state.x.array[:] = states[0]
        v_ode = dolfinx.fem.Function(self.pde.V)
        ode = beat.odesolver.DolfinODESolver(
            v_ode=v_ode,
            v_pde=self.pde.state,
            init_states=states,
            parameters=np.zeros(0),
            fun=fhn_step,
            num_states=2,
            v_index=0,
        )
        self.solver = beat.MonodomainSplittingSolver(pde=self.pde, ode=ode, theta=0.5)
        self.t = 0.0

    def run(self, steps: int) -> None:
        for _ in range(steps):
            self.solver.step((self.t, self.t + DT))
            self.t += DT

    def owned_V(self, n_owned: int) -> np.ndarray:
        return self.pde.state.x.array[:n_owned].copy()


class FemFhnCase:
    """fem_fhn's LocalFHN and its IMEX scheme on the same mesh."""

    def __init__(self, nodes, params, scheme: str, solver: str):
        from fem_fhn.macro.local_rd import LocalFHN
        from fem_fhn.timestepping import make_integrator

        self.model = LocalFHN(nodes, params, SIGMA, linear_solver=solver)
        x = nodes.coords[:, 0]
        self.y = self.model.state(_initial(x), np.full_like(x, W0))
        self.stepper = make_integrator(scheme, DT)
        self.t = 0.0

    def run(self, steps: int) -> None:
        self.t, self.y, _ = self.stepper.advance(self.model, self.t, self.y, self.t + steps * DT)


def run_size(comm, cells: int, steps: int, repeat: int, variants: list[tuple[str, str]]) -> dict:
    """All repetitions for one mesh; returns the case record (rank 0's copy is written).

    Each repetition runs beat and every variant one after the other (``driver.rounds``): the
    wall and process CPU times, max over ranks (one thread per rank: on a shared machine the
    CPU time stays near an idle machine's wall time, where the wall time grows with the load;
    on several ranks it includes MPI's busy waiting)."""
    from mpi4py import MPI

    from fem_fhn._fenics import dolfinx
    from fem_fhn.mesh import NodalMesh
    from fem_fhn.params import FHNParameters

    params = FHNParameters()
    mesh = dolfinx.mesh.create_unit_square(comm, cells, cells)
    nodes = NodalMesh.from_mesh(mesh)
    beat_case = BeatCase(mesh, params)
    ours = {v: FemFhnCase(nodes, params, *v) for v in variants}

    def runs(n: int) -> dict:
        calls = {"beat": lambda: beat_case.run(n)}
        calls.update({"/".join(v): (lambda case=case: case.run(n)) for v, case in ours.items()})
        return calls

    setup = {key: t.wall[0] for key, t in driver.rounds(runs(1), 1, comm=comm).items()}
    measured = driver.rounds(runs(steps), repeat, comm=comm)
    times = {key: [s / steps for s in t.wall] for key, t in measured.items()}
    cpu = {key: [s / steps for s in t.cpu] for key, t in measured.items()}
    # Both codes ran 1 + repeat·steps steps from the same initial state: compare V.
    V_beat = beat_case.owned_V(nodes.n_owned)
    rows = []
    for v, case in ours.items():
        key = "/".join(v)
        ratios = [a / b for a, b in zip(times[key], times["beat"], strict=True)]
        cpu_ratios = [a / b for a, b in zip(cpu[key], cpu["beat"], strict=True)]
        diff = comm.allreduce(float(np.abs(case.y[0] - V_beat).max()), op=MPI.MAX)
        rows.append(
            {
                "scheme": v[0],
                "solver": v[1],
                "ms_per_step": 1e3 * statistics.median(times[key]),
                "ms_per_step_all": [1e3 * s for s in times[key]],
                "setup_ms": 1e3 * setup[key],
                "ratio": statistics.median(ratios),
                "ratios_all": ratios,
                "cpu_ms_per_step": 1e3 * statistics.median(cpu[key]),
                "cpu_ratio": statistics.median(cpu_ratios),
                "max_abs_V_difference_to_beat": diff,
                "linear_iterations": case.stepper.part.linear_iterations,
            }
        )
    return {
        "cells": cells,
        "nodes": nodes.n_global,
        "ranks": comm.size,
        "steps": steps,
        "repeat": repeat,
        "beat_ms_per_step": 1e3 * statistics.median(times["beat"]),
        "beat_ms_per_step_all": [1e3 * s for s in times["beat"]],
        "beat_cpu_ms_per_step": 1e3 * statistics.median(cpu["beat"]),
        "beat_setup_ms": 1e3 * setup["beat"],
        "fem_fhn": rows,
    }


def run(args) -> None:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    variants = [(s, solver) for s in args.schemes for solver in args.solvers]
    cases = [run_size(comm, k, args.steps, args.repeat, variants) for k in args.sizes]
    if comm.rank != 0:
        return
    for case in cases:
        for row in case["fem_fhn"]:
            target = TARGET.get(case["ranks"])
            row["target"] = target
            row["met"] = None if target is None else bool(row["ratio"] <= target)
    print(driver.format_table(COLUMNS, [{**c, **row} for c in cases for row in c["fem_fhn"]]))
    record = {
        "benchmark": "bench_local_vs_beat",
        **driver.machine_info(("date", "python", "beat"), names={"beat": "beat_version"}),
        "threads": driver.thread_env(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")),
        "problem": {"sigma": SIGMA, "dt": DT, "V0": "tanh((0.2 - x)/0.05)", "W0": W0},
        "targets": "imex-euler/cholesky <= 0.5 x beat per step (1 rank), <= 0.6 x (2 ranks)",
        "cases": cases,
    }
    driver.write_json(args.output, record)


def main(argv: list[str] | None = None) -> None:
    parser = driver.make_parser(__doc__, "bench_local_vs_beat", case=False)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256], help="cells/side")
    parser.add_argument("--steps", type=int, default=100, help="timed steps per repetition")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions")
    parser.add_argument("--schemes", nargs="+", default=["imex-euler", "imex-ars222"])
    parser.add_argument("--solvers", nargs="+", default=["cholesky"], help="linear solvers")
    parser.add_argument("--ranks", type=int, default=1, help="MPI ranks (relaunches)")
    args = parser.parse_args(argv)
    driver.require_positive(args, "sizes", "steps", "repeat", "ranks")
    if importlib.util.find_spec("beat") is None:
        sys.exit(f"fenicsx-beat is not installed; add it with: {INSTALL_BEAT}")
    if args.ranks > 1 and os.environ.get("FEM_FHN_BENCH_CHILD") != "1":
        env = dict(os.environ, FEM_FHN_BENCH_CHILD="1")
        cmd = [*driver.mpirun(args.ranks), __file__, *sys.argv[1:]]
        sys.exit(subprocess.run(cmd, env=env, check=False).returncode)
    run(args)


if __name__ == "__main__":
    main()
