"""Time integrators, separate from the models: models say what, steppers say how.

A model is anything with `comm` and `rhs(t, y) -> dy/dt` on its owned state array y (any shape).
An integrator advances a model from t to a target time:

    integrator = make_integrator("rk4", dt=0.01)          # or "euler", "ssprk3", "heun", "adaptive"
    t, y, n_steps = integrator.advance(model, t, y, t_target)

Fixed-step schemes are explicit Runge–Kutta methods given by their Butcher tableaux; they take
n = ⌈(t_target − t)/dt⌉ equal steps, so output times need not be multiples of dt. "adaptive" is
PETSc TS with an embedded Runge–Kutta pair and error control (rtol, atol).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from fem_fhn.params import ParameterError, require


class Model(Protocol):
    """What the integrators need; a model may also have `after_step(t, y)`, which `FixedStep`
    calls after every completed step (e.g. to store a delay history)."""

    comm: object

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class ButcherTableau:
    """Explicit Runge–Kutta method given by its Butcher tableau (a, b, c).

    y_{n+1} = y_n + dt Σ_s b_s k_s,   k_s = f(t + c_s dt, y_n + dt Σ_j a_sj k_j).
    """

    name: str
    order: int
    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    c: tuple[float, ...]

    def step(self, model: Model, t: float, y: np.ndarray, dt: float) -> np.ndarray:
        stages: list[np.ndarray] = []
        for c_s, a_s in zip(self.c, self.a, strict=True):
            y_s = y.copy()
            for a_sj, k_j in zip(a_s, stages, strict=False):
                if a_sj:
                    y_s += (dt * a_sj) * k_j
            stages.append(model.rhs(t + c_s * dt, y_s))
        y_new = y.copy()
        for b_s, k_s in zip(self.b, stages, strict=True):
            if b_s:
                y_new += (dt * b_s) * k_s
        return y_new


TABLEAUX = {
    t.name: t
    for t in (
        ButcherTableau("euler", 1, ((),), (1.0,), (0.0,)),
        ButcherTableau("heun", 2, ((), (1.0,)), (0.5, 0.5), (0.0, 1.0)),
        ButcherTableau(
            "ssprk3", 3, ((), (1.0,), (0.25, 0.25)), (1 / 6, 1 / 6, 2 / 3), (0.0, 1.0, 0.5)
        ),
        ButcherTableau(
            "rk4",
            4,
            ((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)),
            (1 / 6, 1 / 3, 1 / 3, 1 / 6),
            (0.0, 0.5, 0.5, 1.0),
        ),
    )
}
SCHEMES = (*TABLEAUX, "adaptive")

_G = 1.0 - 1.0 / math.sqrt(2.0)
_D = 1.0 - 1.0 / (2.0 * _G)


@dataclass(frozen=True)
class IMEXTableau:
    """IMEX Runge–Kutta pair: explicit (a_exp, b_exp, c_exp), diagonally implicit (a_imp, b_imp)."""

    name: str
    order: int
    a_exp: tuple[tuple[float, ...], ...]
    b_exp: tuple[float, ...]
    a_imp: tuple[tuple[float, ...], ...]
    b_imp: tuple[float, ...]

    @property
    def stages(self) -> int:
        return len(self.b_exp)

    @property
    def c_exp(self) -> tuple[float, ...]:
        return tuple(float(sum(row)) for row in self.a_exp)

    @property
    def stiffly_accurate(self) -> bool:
        """b̃ and b equal the last rows of Ã and A: y_{n+1} is the last stage."""
        return self.b_exp == self.a_exp[-1] and self.b_imp == self.a_imp[-1]


IMEX_EULER = IMEXTableau(
    "imex-euler", 1, ((0.0, 0.0), (1.0, 0.0)), (1.0, 0.0), ((0.0, 0.0), (0.0, 1.0)), (0.0, 1.0)
)
IMEX_SSP2 = IMEXTableau(
    "imex-ssp2",
    2,
    ((0.0, 0.0), (1.0, 0.0)),
    (0.5, 0.5),
    ((_G, 0.0), (1.0 - 2.0 * _G, _G)),
    (0.5, 0.5),
)
IMEX_ARS222 = IMEXTableau(
    "imex-ars222",
    2,
    ((0.0, 0.0, 0.0), (_G, 0.0, 0.0), (_D, 1.0 - _D, 0.0)),
    (_D, 1.0 - _D, 0.0),
    ((0.0, 0.0, 0.0), (0.0, _G, 0.0), (0.0, 1.0 - _G, _G)),
    (0.0, 1.0 - _G, _G),
)
IMEX_SCHEMES = {t.name: t for t in (IMEX_EULER, IMEX_SSP2, IMEX_ARS222)}


@dataclass
class FixedStep:
    """Equal explicit RK steps of size ≤ dt up to each target time."""

    tableau: ButcherTableau
    dt: float

    def __post_init__(self) -> None:
        require(self.dt > 0 and math.isfinite(self.dt), "time.dt", self.dt, "dt > 0")

    def n_steps(self, t: float, t_target: float) -> int:
        return max(1, math.ceil((t_target - t) / self.dt * (1 - 1e-12)))

    def advance(self, model: Model, t: float, y: np.ndarray, t_target: float):
        n = self.n_steps(t, t_target)
        h = (t_target - t) / n
        after_step = getattr(model, "after_step", None)
        for i in range(n):
            y = self.tableau.step(model, t + i * h, y, h)
            if after_step is not None:
                after_step(t_target if i == n - 1 else t + (i + 1) * h, y)
        return t_target, y, n


class AdaptivePETSc:
    """PETSc TS with an embedded explicit Runge–Kutta pair and local error control.

    The error is measured in PETSc's weighted RMS norm with tolerances rtol, atol.

    Args:
        rtol, atol: relative and absolute local error tolerances.
        dt: initial step.
        rk_type: PETSc TSRK type ("5dp" Dormand–Prince, "3bs" Bogacki–Shampine, ...).
    """

    def __init__(self, rtol: float = 1e-6, atol: float = 1e-9, dt: float = 1e-2, rk_type="5dp"):
        require(rtol > 0, "time.rtol", rtol, "rtol > 0")
        require(atol > 0, "time.atol", atol, "atol > 0")
        require(dt > 0, "time.dt", dt, "dt > 0")
        self.rtol, self.atol, self.dt, self.rk_type = rtol, atol, dt, rk_type
        self._ts = None
        self._model = None

    def _setup(self, model: Model, y: np.ndarray):
        from fem_fhn._fenics import PETSc

        shape = y.shape
        x = PETSc.Vec().createMPI((y.size, None), comm=model.comm)
        residual = x.duplicate()

        def rhs(ts, t, u, f):
            f.array[:] = model.rhs(t, u.array_r.reshape(shape)).ravel()

        ts = PETSc.TS().create(comm=model.comm)
        ts.setType(PETSc.TS.Type.RK)
        ts.setRKType(self.rk_type)
        ts.setProblemType(PETSc.TS.ProblemType.NONLINEAR)
        ts.setRHSFunction(rhs, residual)
        ts.setTolerances(rtol=self.rtol, atol=self.atol)
        ts.setExactFinalTime(PETSc.TS.ExactFinalTime.MATCHSTEP)
        ts.setMaxSteps(2**31 - 1)
        ts.setTimeStep(self.dt)
        self._ts, self._x, self._model, self._shape = ts, x, model, shape

    def advance(self, model: Model, t: float, y: np.ndarray, t_target: float):
        if self._model is not model:
            self._setup(model, y)
        ts, x = self._ts, self._x
        x.array[:] = y.ravel()
        steps_before = ts.getStepNumber()
        ts.setTime(t)
        ts.setMaxTime(t_target)
        ts.solve(x)
        if ts.getConvergedReason() < 0:
            raise FloatingPointError(
                f"adaptive time stepping failed at t = {ts.getTime():g} "
                f"(PETSc TS reason {ts.getConvergedReason()})"
            )
        return t_target, x.array.reshape(self._shape).copy(), ts.getStepNumber() - steps_before


def make_integrator(
    scheme: str = "rk4", dt: float = 0.01, rtol: float = 1e-6, atol: float = 1e-9
) -> FixedStep | AdaptivePETSc:
    """An integrator by name: one of SCHEMES."""
    if scheme == "adaptive":
        return AdaptivePETSc(rtol=rtol, atol=atol, dt=dt)
    if scheme not in TABLEAUX:
        raise ParameterError(
            f"time.scheme = {scheme!r} is not allowed: one of {', '.join(SCHEMES)}"
        )
    return FixedStep(TABLEAUX[scheme], dt)
