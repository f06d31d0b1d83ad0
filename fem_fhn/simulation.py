"""A simulation = a model + an integrator + observers called at output times (DESIGN §3).

    sim = Simulation(model, make_integrator("rk4", dt=0.05), output_times=np.linspace(0, 20, 41))
    sim.observers.append(writer)          # any callable obs(t, y, step)
    y = sim.run(y0)

The loop advances from one output time to the next, checks the state for NaN/Inf (a collective
check, so every rank stops together), calls the observers, and shows a progress bar on rank 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from mpi4py import MPI


class SimulationError(RuntimeError):
    """The run cannot go on (non-finite state, failed solver); the message says when and why."""


Observer = Callable[[float, np.ndarray, int], None]


@dataclass
class Simulation:
    """Advance `model` through `output_times`, calling each observer at every output time.

    Attributes:
        model: has `comm` and `rhs(t, y)`.
        integrator: has `advance(model, t, y, t_target) -> (t, y, n_steps)`.
        output_times: increasing times; the first is the initial time.
        observers: callables obs(t, y, step) run at each output time (the initial one included).
        progress: show a tqdm bar on rank 0.
    """

    model: object
    integrator: object
    output_times: np.ndarray
    observers: list[Observer] = field(default_factory=list)
    progress: bool = True
    steps: int = 0
    wall_time: float = 0.0

    def run(self, y0: np.ndarray) -> np.ndarray:
        times = np.asarray(self.output_times, dtype=float)
        comm = self.model.comm
        start = time.perf_counter()
        bar = None
        if self.progress and comm.rank == 0:
            from tqdm import tqdm

            bar = tqdm(total=float(times[-1] - times[0]), unit="t", bar_format=_BAR)
        y = np.array(y0, dtype=float)
        self._check(times[0], y)
        self._observe(times[0], y)
        try:
            for t0, t1 in zip(times[:-1], times[1:], strict=True):
                try:
                    _, y_new, n = self.integrator.advance(self.model, t0, y, t1)
                except (FloatingPointError, ArithmeticError) as err:
                    raise SimulationError(f"integration failed after t = {t0:g}: {err}") from err
                self.steps += n
                self._check(t1, y_new)
                y = y_new
                self._observe(t1, y)
                if bar is not None:
                    bar.update(float(t1 - t0))
        finally:
            if bar is not None:
                bar.close()
            self.wall_time = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
        return y

    def _observe(self, t: float, y: np.ndarray) -> None:
        for obs in self.observers:
            obs(t, y, self.steps)

    def _check(self, t: float, y: np.ndarray) -> None:
        bad = self.model.comm.allreduce(int(not np.all(np.isfinite(y))), op=MPI.SUM)
        if bad:
            dt = getattr(self.integrator, "dt", None)
            hint = (
                f"; the time step dt = {dt:g} may be above the stability limit"
                if dt is not None
                else ""
            )
            raise SimulationError(
                f"non-finite values in the state at t = {t:g} (step {self.steps}){hint}"
            )


_BAR = "{l_bar}{bar}| t={n:.3g}/{total:.3g} [{elapsed}<{remaining}]"
