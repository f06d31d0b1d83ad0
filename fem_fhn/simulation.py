"""A simulation = a model + an integrator + observers called at output times (docs/architecture.md).

    sim = Simulation(model, make_integrator("rk4", dt=0.05), output_times=np.linspace(0, 20, 41))
    sim.observers.append(writer)          # any callable obs(output), output an `Output`
    y = sim.run(y0)

The loop advances from one output time to the next and calls the observers at each with an
`Output`: the time, the step, the output's number and the model's named fields on the mesh
nodes, computed once for all observers (observers never see the raw state). Model outputs of
the raw state (the network's particle files, the kinetic phase-space pictures) are the model's
own and are called as `model_outputs` obs(t, y, step). Between
checks it lets the integrator run uninterrupted; at every check the ranks agree (one
`allreduce`, MAX) on two flags: a non-finite value anywhere in the state, and a stop request
(`stop()`, e.g. the number of a signal caught by `StopRequest`).

**Checks.** At every output time, and, for integrators whose steps compose exactly, also every
`chunk_steps` time steps inside an output interval. A fixed-step integrator (it has
`n_steps(t0, t1)`) takes n = ⌈(t1 − t0)/dt⌉ equal steps h = (t1 − t0)/n; the interval is then
advanced in pieces [t0 + a h, t0 + b h] with b − a ≤ chunk_steps, each of which the integrator
again splits into b − a steps (checked for every piece: otherwise the interval is advanced in one
go). A run resumed at step i of the interval follows the same pieces, so it repeats the same steps
up to round-off. The adaptive PETSc TS (its step sequence would change) and the Strang-split
kinetic stepper (which merges the half relaxations of consecutive steps inside one call) are
checked at output times only.

**Stop requests.** After a check that sees one, the run writes a checkpoint of the current
state (`checkpoint(t, y, position, "interrupted")`), sets `status = "interrupted"` and `signal`,
and returns. At an output time the observers have been called first.

**Failures.** A non-finite state, or an arithmetic failure of the integrator (a PETSc solver that
did not converge), raises `SimulationError` naming the time, the step and likely causes; before
that the last good state — the one at the previous check — is written as a checkpoint with
reason "failed", so nothing computed before the failure is lost.

**Checkpoints** (`checkpoint` set): every `checkpoint_every` output times (counted from the
first output time, so the same on a resumed run), at a stop request, at a failure and at the end
("final"). `Position` says where the run stands, so that `run(y, start=position)` continues a
checkpointed run.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
from mpi4py import MPI


class SimulationError(RuntimeError):
    """The run cannot go on (non-finite state, failed solver); the message says when and why."""


@dataclass(frozen=True)
class Output:
    """What observers see at an output time.

    Attributes:
        t: the time.
        step: time steps taken since the start of the run.
        index: the output's number (0: the initial time).
        fields: the model's named fields at the owned mesh nodes (`fields_of` of the state).
    """

    t: float
    step: int
    index: int
    fields: Mapping[str, np.ndarray]


Observer = Callable[[Output], None]
ModelOutput = Callable[[float, np.ndarray, int], None]


@dataclass(frozen=True)
class Position:
    """Where a run stands: at time t, `substep` steps into output interval `index`.

    Attributes:
        index: the output interval [output_times[index], output_times[index + 1]].
        substep: time steps taken inside it (0: at the output time output_times[index]; −1: at a
            time off the interval's step grid, e.g. after the time settings changed on restart).
        t: the time of the state.
        steps: time steps taken since the start of the run (all segments of a restarted run).
    """

    index: int
    substep: int
    t: float
    steps: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Position:
        return cls(int(data["index"]), int(data["substep"]), float(data["t"]), int(data["steps"]))


Checkpoint = Callable[[float, np.ndarray, Position, str], str]


@dataclass
class Simulation:
    """Advance `model` through `output_times`, calling each observer at every output time.

    Attributes:
        model: has `comm`, `fields_of(y)` and the parts of the standard form the integrator needs.
        integrator: has `advance(model, t, y, t_target) -> (t, y, n_steps)`, `fixed_step`
            and `splits_exactly` (`fem_fhn.timestepping`).
        output_times: increasing times; the first is the initial time.
        observers: callables obs(output) run at each output time with an `Output` (the initial
            one included, unless the run resumes from a checkpoint: that time was written before).
        progress: show a tqdm bar on rank 0.
        steps: time steps taken (starts at the checkpoint's count on a resumed run).
        wall_time: seconds spent in `run` (max over ranks).
        chunk_steps: at most this many time steps between checks inside an output interval
            (0: check at output times only); see the module docstring.
        stop: returns a nonzero number (a signal number) to ask the run to stop at the next check.
        checkpoint: checkpoint(t, y, position, reason) writes the state and returns where.
        checkpoint_every: output times between periodic checkpoints (0: none).
        status: "new", "running", "completed", "interrupted" or "failed".
        signal: the stop request's number once interrupted (0 otherwise).
        position: where the run stands (the last checked state).
        last_checkpoint: what `checkpoint` returned last.
        fields_of: y -> the named fields the observers get (default: model.fields_of).
        model_outputs: callables obs(t, y, step) of the raw state, run after the observers.
        hints: t -> likely causes of a failure at time t (default: `failure_hints`).
    """

    model: object
    integrator: object
    output_times: np.ndarray
    observers: list[Observer] = field(default_factory=list)
    progress: bool = True
    steps: int = 0
    wall_time: float = 0.0
    chunk_steps: int = 0
    stop: Callable[[], int] | None = None
    checkpoint: Checkpoint | None = None
    checkpoint_every: int = 0
    status: str = "new"
    signal: int = 0
    position: Position | None = None
    last_checkpoint: str | None = None
    fields_of: Callable[[np.ndarray], Mapping[str, np.ndarray]] | None = None
    model_outputs: list[ModelOutput] = field(default_factory=list)
    hints: Callable[[float], str] | None = None

    def run(self, y0: np.ndarray, start: Position | None = None) -> np.ndarray:
        """Advance y0 to the last output time (or until stopped); returns the last state.

        Args:
            y0: the state at the start.
            start: where y0 stands, to resume a checkpointed run (None: at the first output
                time, whose observers are then called).

        Raises:
            SimulationError: non-finite state or failed integration (after writing the last
                good state as a checkpoint).
        """
        times = np.asarray(self.output_times, dtype=float)
        comm = self.model.comm
        clock = time.perf_counter()
        y = np.array(y0, dtype=float)
        self.status, self.signal = "running", 0
        bar = None
        try:
            if start is None:
                start = Position(0, 0, float(times[0]), self.steps)
                bad, _ = self._flags(y)
                if bad:
                    self.status = "failed"
                    raise SimulationError(
                        f"non-finite values in the initial state at t = {times[0]:g}: "
                        "check [initial] and [rho0]"
                    )
                self._observe(0, times[0], y)
            self.steps = start.steps
            self.position = start
            if self.progress and comm.rank == 0:
                from tqdm import tqdm

                bar = tqdm(total=float(times[-1] - times[0]), unit="t", bar_format=_BAR)
                bar.update(float(start.t - times[0]))
            while self.position.index < len(times) - 1:
                k = self.position.index
                t0, t1 = float(times[k]), float(times[k + 1])
                for ta, tb, substep in self._pieces(t0, t1, self.position):
                    y, signum = self._advance(y, ta, tb, k, substep)
                    if signum and substep != 0:
                        return self._interrupt(y, signum)
                self._observe(k + 1, t1, y)
                if bar is not None:
                    bar.update(float(t1 - times[0]) - bar.n)
                if signum:
                    return self._interrupt(y, signum)
                last = k + 1 == len(times) - 1
                if self.checkpoint_every and (k + 1) % self.checkpoint_every == 0 and not last:
                    self._save(y, "periodic")
            self._save(y, "final")
            self.status = "completed"
            return y
        finally:
            if bar is not None:
                bar.close()
            self.wall_time = comm.allreduce(time.perf_counter() - clock, op=MPI.MAX)

    # ------------------------------------------------------------------ stepping

    def _pieces(self, t0: float, t1: float, position: Position):
        """(t_a, t_b, substep at t_b) pieces from `position` to t1 (substep 0 at t1)."""
        plan = self._plan(t0, t1)
        if plan is not None:
            n, marks = plan
            h = (t1 - t0) / n
            here = position.substep
            scale = max(abs(t0), abs(t1), 1.0)
            if here in (0, *marks) and abs(t0 + here * h - position.t) <= 1e-12 * scale:
                ends = [m for m in marks if m > here] + [n]
                ta = position.t
                for b in ends:
                    tb = t1 if b == n else t0 + b * h
                    yield ta, tb, 0 if b == n else b
                    ta = tb
                return
        yield position.t, t1, 0

    def _plan(self, t0: float, t1: float) -> tuple[int, list[int]] | None:
        """(n, inner split points) of [t0, t1] on its step grid, or None for one piece."""
        K = int(self.chunk_steps)
        if K <= 0 or not self.integrator.splits_exactly:
            return None
        n = int(self.integrator.n_steps(t0, t1))
        if n <= K:
            return None
        h = (t1 - t0) / n
        marks = list(range(K, n, K))
        bounds = [0, *marks, n]
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            ta = t0 + a * h
            tb = t1 if b == n else t0 + b * h
            if self.integrator.n_steps(ta, tb) != b - a:
                return None
        return n, marks

    def _advance(self, y: np.ndarray, ta: float, tb: float, k: int, substep: int):
        """One piece; returns (new state, agreed stop request). Raises on failure."""
        good, at = y, self.position
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                _, y_new, n = self.integrator.advance(self.model, ta, y, tb)
        except (FloatingPointError, ArithmeticError) as err:
            self._fail(f"integration failed between t = {ta:g} and t = {tb:g}: {err}", good, at)
        self.steps += n
        bad, signum = self._flags(y_new)
        if bad:
            self._fail(
                f"non-finite values in the state at t = {tb:g} (step {self.steps})", good, at
            )
        index = k + 1 if substep == 0 else k
        self.position = Position(index, substep, float(tb), self.steps)
        return y_new, signum

    def _flags(self, y: np.ndarray) -> tuple[bool, int]:
        """(non-finite anywhere, stop request) agreed by all ranks."""
        local = np.array(
            [int(not np.all(np.isfinite(y))), int(self.stop() if self.stop else 0)],
            dtype=np.int64,
        )
        agreed = np.empty_like(local)
        self.model.comm.Allreduce(local, agreed, op=MPI.MAX)
        return bool(agreed[0]), int(agreed[1])

    def _observe(self, index: int, t: float, y: np.ndarray) -> None:
        if self.observers:
            fields = (self.fields_of or self.model.fields_of)(y)
            output = Output(float(t), self.steps, index, fields)
            for obs in self.observers:
                obs(output)
        for obs in self.model_outputs:
            obs(t, y, self.steps)

    # ------------------------------------------------------------------ ends

    def _save(self, y: np.ndarray, reason: str) -> None:
        if self.checkpoint is not None:
            self.last_checkpoint = self.checkpoint(self.position.t, y, self.position, reason)

    def _interrupt(self, y: np.ndarray, signum: int) -> np.ndarray:
        self._save(y, "interrupted")
        self.status, self.signal = "interrupted", signum
        return y

    def _fail(self, message: str, good: np.ndarray, at: Position):
        """Write the last good state, then raise SimulationError with the likely causes."""
        self.status = "failed"
        hints = (self.hints or (lambda t: failure_hints(self.integrator)))(at.t)
        saved = ""
        if self.checkpoint is not None:
            try:
                where = self.checkpoint(at.t, good, at, "failed")
                self.last_checkpoint = where
                saved = f"; the last good state (t = {at.t:g}, step {at.steps}) is saved in {where}"
            except Exception as err:  # keep the original failure as the message
                saved = f"; saving the last good state failed: {err}"
        self.position = at
        raise SimulationError(f"{message}; likely causes: {hints}{saved}")


def failure_hints(integrator, limit: float | None = None, extra=()) -> str:
    """Likely causes of a blow-up, with the numbers that apply.

    Args:
        integrator: the run's integrator.
        limit: the model's explicit step bound (None: unknown).
        extra: further causes the model kind names (`fem_fhn.registry.ModelKind.hints`).
    """
    hints = []
    dt = getattr(integrator, "dt", None)
    if not integrator.fixed_step:
        hints.append(
            "the adaptive step control failed: tighten time.rtol/time.atol or lower time.dt "
            "(the initial step)"
        )
    elif limit is not None and dt > limit:
        hints.append(
            f"time.dt = {dt:g} is above the stability limit of this model, "
            f"max_stable_dt = {limit:.4g}"
        )
    elif limit is not None:
        hints.append(
            f"time.dt = {dt:g} may still be too large (the model's stability estimate "
            f"max_stable_dt = {limit:.4g} assumes |V| <= 1.5)"
        )
    else:
        hints.append(f"time.dt = {dt:g} may be above the stability limit")
    hints += list(extra)
    hints.append("initial data, stimulus or parameters far outside the usual range")
    return "; ".join(hints)


class StopRequest:
    """SIGINT and SIGTERM handlers that record the signal instead of ending the process.

    Use as a context manager around a run: `stop()` returns the number of the first signal
    caught (0 if none), which `Simulation` turns into a clean stop with a checkpoint. A second
    signal while the first is pending ends the process at once: KeyboardInterrupt for SIGINT,
    SystemExit(128 + signal number) otherwise. The previous handlers are restored on exit.
    Outside the main thread (where Python cannot install handlers) nothing is installed.

    Entering it again while it is active installs the handlers once more (libraries initialised
    meanwhile, such as PETSc, may have replaced them) and keeps the first previous handlers;
    they are restored when the outermost `with` ends.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, signals=SIGNALS):
        self.signals = tuple(signals)
        self.signum = 0
        self._previous: dict[int, object] = {}
        self._depth = 0

    def __call__(self) -> int:
        return self.signum

    def _handle(self, signum, frame) -> None:
        if self.signum:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(128 + signum)
        self.signum = signum

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                previous = signal.signal(sig, self._handle)
                self._previous.setdefault(sig, previous)
        self._depth += 1
        return self

    def __exit__(self, *exc) -> None:
        self._depth -= 1
        if self._depth > 0:
            return
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


_BAR = "{l_bar}{bar}| t={n:.3g}/{total:.3g} [{elapsed}<{remaining}]"
