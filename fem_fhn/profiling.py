"""Where a run's wall time goes: one accumulating timer per phase, and an optional cProfile dump.

    with phases.timed("mesh"):
        nodes = NodalMesh.load(...)

    @phases.timing("linear solves")
    def solve(...): ...

`PHASES` lists the phases a run reports in summary.json (`"phases_s"`: seconds per phase, the
largest over the ranks, and `"other"` for the rest of the run's wall time). The phases do not
overlap: the nonlocal applies inside a right-hand side count as right-hand side, a linear solve
inside an IMEX stage counts as linear solve only. `fem-fhn run --profile` also writes a cProfile
dump per rank (`profile.prof`, `profile.rank<r>.prof`), to read with `python -m pstats`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
from mpi4py import MPI

PHASES = (
    "mesh",
    "build",
    "right-hand sides",
    "linear solves",
    "transport",
    "relaxation",
    "output",
    "checkpoints",
    "pictures",
)


class PhaseTimer:
    """Wall time per phase of this process; an inner phase pauses the outer one."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(PHASES, 0.0)
        self._stack: list[list] = []  # [phase, start of its current stretch]

    def reset(self) -> None:
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self._stack = []

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Count the wall time of the block to `phase` (minus the phases nested inside it)."""
        if phase not in PHASES:
            raise ValueError(f"phase = {phase!r} is not allowed: one of {PHASES}")
        now = time.perf_counter()
        if self._stack:
            outer = self._stack[-1]
            self.seconds[outer[0]] += now - outer[1]
        self._stack.append([phase, now])
        try:
            yield
        finally:
            end = time.perf_counter()
            name, start = self._stack.pop()
            self.seconds[name] += end - start
            if self._stack:
                self._stack[-1][1] = end

    def timing(self, phase: str) -> Callable:
        """A decorator: every call of the function is timed as `phase`."""

        def decorate(function: Callable) -> Callable:
            @functools.wraps(function)
            def timed_call(*args, **kwargs):
                with self.timed(phase):
                    return function(*args, **kwargs)

            return timed_call

        return decorate

    def report(self, wall: float, comm: MPI.Comm) -> dict[str, float]:
        """Seconds per phase (largest over the ranks), and "other" = wall − their sum (≥ 0)."""
        names = PHASES
        local = np.array([self.seconds[name] for name in names])
        largest = np.empty_like(local)
        comm.Allreduce(local, largest, op=MPI.MAX)
        report = {name: round(float(s), 6) for name, s in zip(names, largest, strict=True)}
        report["other"] = round(max(wall - float(largest.sum()), 0.0), 6)
        return report


#: the process-wide timer that the models, steppers and the runner report to
phases = PhaseTimer()
