"""Time integrators and their registry: models say what, schemes say how.

A model provides some parts of the standard form (`fem_fhn.standard_form`):

    "rhs"                   dy/dt = F(t, y)                       (the whole right-hand side)
    "explicit" + "implicit" dy/dt = E(t, y) − M⁻¹ L y_0           (L linear and stiff, on field 0)
    "transport" + "flow"    dy/dt = T(t, y) + R(y), R's flow exact (the kinetic relaxation)

Every scheme is registered once in `SCHEMES` with the parts it needs; `schemes_for(parts)` lists
the schemes a model can use, and `make_integrator(name, dt, **options)` builds one:

    integrator = make_integrator("rk4", dt=0.01)
    t, y, n_steps = integrator.advance(model, t, y, t_target)

Families: explicit Runge–Kutta methods given by their Butcher tableaux ("euler", "heun",
"ssprk3", "rk4"); IMEX Runge–Kutta pairs ("imex-euler", "imex-ssp2", "imex-ars222", one engine
for every model with an implicit part); the asymptotic-preserving splitting of the kinetic model
("ap-splitting", `fem_fhn.kinetic.stepper`); "adaptive", PETSc TS with an embedded Runge–Kutta
pair and error control (rtol, atol). Fixed-step schemes take n = ⌈(t_target − t)/dt⌉ equal steps,
so output times need not be multiples of dt.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fem_fhn.params import ParameterError, require
from fem_fhn.standard_form import Model


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
IMEX_TABLEAUX = {t.name: t for t in (IMEX_EULER, IMEX_SSP2, IMEX_ARS222)}


def equal_steps(dt: float, t: float, t_target: float) -> int:
    """n = ⌈(t_target − t)/dt⌉ (at least 1): the number of equal steps ≤ dt from t to t_target."""
    return max(1, math.ceil((t_target - t) / dt * (1 - 1e-12)))


class FixedStepIntegrator:
    """Equal steps of size ≤ dt up to each target time; subclasses define `step`.

    Attributes:
        dt: the largest step.
        fixed_step: True: `n_steps(t, t_target)` says how many steps `advance` takes.
        splits_exactly: advancing an interval in pieces on its step grid repeats the same steps.
    """

    fixed_step = True
    splits_exactly = True
    dt: float

    def n_steps(self, t: float, t_target: float) -> int:
        return equal_steps(self.dt, t, t_target)

    def advance(self, model: Model, t: float, y: np.ndarray, t_target: float):
        """Equal steps from t to t_target; returns (t_target, y, number of steps)."""
        n = self.n_steps(t, t_target)
        h = (t_target - t) / n
        y = np.array(y, dtype=float)
        history = "history" in model.parts
        for i in range(n):
            y = self.step(model, t + i * h, self.perturb(model, y, h), h)
            if history:  # e.g. a delay history: told of every completed step
                model.after_step(t_target if i == n - 1 else t + (i + 1) * h, y)
        return t_target, y, n

    def perturb(self, model: Model, y: np.ndarray, h: float) -> np.ndarray:
        """What happens to the state before each step (default: nothing; IMEX: noise)."""
        return y

    def step(self, model: Model, t: float, y: np.ndarray, h: float) -> np.ndarray:
        raise NotImplementedError


class FixedStep(FixedStepIntegrator):
    """Explicit Runge–Kutta steps of `tableau` on the model's whole right-hand side F."""

    def __init__(self, tableau: ButcherTableau, dt: float):
        require(dt > 0 and math.isfinite(dt), "time.dt", dt, "dt > 0")
        self.tableau, self.dt = tableau, float(dt)

    def step(self, model: Model, t: float, y: np.ndarray, h: float) -> np.ndarray:
        return self.tableau.step(model, t, y, h)


class AdaptivePETSc:
    """PETSc TS with an embedded explicit Runge–Kutta pair and local error control.

    The error is measured in PETSc's weighted RMS norm with tolerances rtol, atol.

    Args:
        rtol, atol: relative and absolute local error tolerances.
        dt: initial step.
        rk_type: PETSc TSRK type ("5dp" Dormand–Prince, "3bs" Bogacki–Shampine, ...).
    """

    fixed_step = False
    splits_exactly = False

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


def auto_ksp_rtol(dt: float, order: int) -> float:
    """min(1e-6, 1e-3 Δt^{p+1}): an iterative solve's tolerance tied to the local truncation
    error O(Δt^{p+1}) of a scheme of order p."""
    return min(1e-6, 1e-3 * dt ** (order + 1))


class IMEXRungeKutta(FixedStepIntegrator):
    """The IMEX Runge–Kutta engine for every model with an implicit part.

    The model's equation is dy/dt = E(t, y) + I(y) (`model.explicit`), with the stiff part
    I(y) = (−M⁻¹ L y_0, 0, …) linear and acting on field 0 only (the local model's diffusion,
    the network's (1/ε) graph Laplacian). With explicit tableau (Ã, b̃, c̃) and diagonally
    implicit tableau (A, b) the stages are

        Y_s = y_n + Δt Σ_{j<s} (Ã_sj E_j + A_sj I_j) + Δt A_ss I(Y_s),   E_j = E(t_n + c̃_j Δt, Y_j),

    i.e. one linear solve (I + Δt A_ss M⁻¹ L) v_s = r_s per implicit stage, done by the model's
    `implicit_part(dt, order)` (`fem_fhn.standard_form.ImplicitPart.solve`), and
    y_{n+1} = y_n + Δt Σ_s (b̃_s E_s + b_s I_s), or y_{n+1} = Y_last for globally stiffly
    accurate schemes. The stiff stage values are recovered as I_s = (Y_s − r_s)/(Δt A_ss),
    never by applying L, so ε → 0 is safe. A model without an implicit part (its
    `implicit_part` returns None) is advanced with I = 0.

    Noise (σ > 0): each step starts with the Euler–Maruyama increment y_0 ← y_0 + σ √Δt ξ_i,n,
    the standard normals ξ depending on (seed, step number n, `model.global_id[i]`) only, so
    noisy runs agree across rank counts (`fem_fhn.network.rng`). The step number counts the
    steps this integrator has taken (checkpointed).

    Args:
        dt: time step (> 0; independent of the stiffness).
        scheme: one of `IMEX_TABLEAUX`.
        noise: σ ≥ 0 of the additive noise σ dW on field 0.
        seed: seed of the noise.
    """

    def __init__(self, dt: float, scheme: str = "imex-ars222", noise: float = 0.0, seed: int = 0):
        require(dt > 0 and math.isfinite(dt), "time.dt", dt, "dt > 0")
        allowed = f"one of {', '.join(IMEX_TABLEAUX)}"
        require(scheme in IMEX_TABLEAUX, "time.scheme", scheme, allowed)
        require(noise >= 0 and math.isfinite(noise), "network.noise", noise, "sigma >= 0")
        self.dt, self.noise, self.seed = float(dt), float(noise), int(seed)
        self.tableau = IMEX_TABLEAUX[scheme]
        self.step_count = 0
        self._model = None
        self.part = None

    @property
    def order(self) -> int:
        return self.tableau.order

    def _part(self, model: Model):
        if self._model is not model:
            self._model = model
            self.part = model.implicit_part(self.dt, self.order)
        return self.part

    def perturb(self, model: Model, y: np.ndarray, h: float) -> np.ndarray:
        """The noise increment of the step (numbered by `step_count`, which this counts)."""
        if self.noise:
            from fem_fhn.network.rng import STREAMS, normals

            xi = normals(self.seed, STREAMS["noise"], self.step_count, model.global_id)
            y[0] += self.noise * math.sqrt(h) * xi
        self.step_count += 1
        return y

    def step(self, model: Model, t: float, y: np.ndarray, h: float) -> np.ndarray:
        """One deterministic IMEX step of size h."""
        part = self._part(model)
        tab = self.tableau
        S = tab.stages
        c_exp = tab.c_exp
        E: list[np.ndarray | None] = [None] * S
        I: list[np.ndarray | None] = [None] * S  # noqa: E741  (field 0 of the stiff stages)
        last = S - 1
        stiffly = tab.stiffly_accurate
        Y = y
        guess = y[0]  # an iterative solve starts from the latest y_0: a function of the state
        for s in range(S):
            Y = y.copy()
            for j in range(s):
                if tab.a_exp[s][j]:
                    Y += (h * tab.a_exp[s][j]) * E[j]
                if tab.a_imp[s][j]:
                    Y[0] += (h * tab.a_imp[s][j]) * I[j]
            a_ss = tab.a_imp[s][s]
            if a_ss and part is None:
                I[s] = np.zeros_like(Y[0])
            elif a_ss:
                r = Y[0].copy()
                Y[0] = guess = part.solve(r, h * a_ss, guess)
                I[s] = (Y[0] - r) / (h * a_ss)
            elif self._needs_stiff(s):
                I[s] = np.zeros_like(Y[0]) if part is None else part.apply(Y[0])
            if not (stiffly and s == last):
                E[s] = model.explicit(t + c_exp[s] * h, Y)
        if stiffly:
            return Y
        y_new = y.copy()
        for s in range(S):
            if tab.b_exp[s]:
                y_new += (h * tab.b_exp[s]) * E[s]
            if tab.b_imp[s] and I[s] is not None:
                y_new[0] += (h * tab.b_imp[s]) * I[s]
        return y_new

    def _needs_stiff(self, s: int) -> bool:
        """Whether I(Y_s) enters a later stage or the update (explicitly evaluated stiff stage)."""
        tab = self.tableau
        later = any(tab.a_imp[k][s] for k in range(s + 1, tab.stages))
        return bool(later or (tab.b_imp[s] and not tab.stiffly_accurate))

    def info(self) -> dict:
        return {
            "scheme": self.tableau.name,
            "dt": self.dt,
            "noise": self.noise,
            "steps": self.step_count,
            **({} if self.part is None else self.part.info()),
        }


# ---------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Scheme:
    """A time-stepping scheme as the registry knows it.

    Attributes:
        name: the value of time.scheme.
        family: "explicit", "imex", "splitting" or "adaptive".
        order: the order of accuracy (the adaptive pair: its higher order).
        needs: the parts of the standard form a model must provide.
        build: build(dt, options) -> integrator, options the dict of `make_integrator`.
        description: one line for the documentation.
        honours_history: whether it tells a model with the "history" part of every completed
            step (fixed steps do; the adaptive scheme, whose steps are not known in advance,
            cannot honour whole-step delays).
    """

    name: str
    family: str
    order: int
    needs: frozenset[str]
    build: Callable[[float, dict], object]
    description: str
    honours_history: bool = True

    @property
    def implicit(self) -> bool:
        """Whether the model's stiff linear part is treated implicitly."""
        return "implicit" in self.needs


SCHEMES: dict[str, Scheme] = {}


def register_scheme(scheme: Scheme) -> Scheme:
    """Add a scheme to the registry (its name must be new)."""
    if scheme.name in SCHEMES:
        raise ValueError(f"a time scheme named {scheme.name!r} is registered already")
    SCHEMES[scheme.name] = scheme
    return scheme


def schemes_for(parts) -> tuple[str, ...]:
    """The names of the registered schemes a model providing `parts` can use: those whose needs
    it provides (and which honour its history, if it has one)."""
    parts = frozenset(parts)
    history = "history" in parts
    return tuple(
        name
        for name, s in SCHEMES.items()
        if s.needs <= parts and (s.honours_history or not history)
    )


def make_integrator(scheme: str = "rk4", dt: float = 0.01, **options):
    """An integrator by name from the registry; `options` are the scheme family's settings:
    rtol, atol (adaptive), noise, seed (IMEX), transport_scheme, splitting, relaxation, v_flux
    (ap-splitting). The built integrator carries its registry entry as `.scheme`."""
    if scheme not in SCHEMES:
        raise ParameterError(
            f"time.scheme = {scheme!r} is not allowed: one of {', '.join(SCHEMES)}"
        )
    entry = SCHEMES[scheme]
    integrator = entry.build(dt, options)
    integrator.scheme = entry
    return integrator


def _explicit(tableau: ButcherTableau):
    def build(dt: float, options: dict):
        noise = options.get("noise", 0.0)
        require(noise == 0, "network.noise", noise, f"0 with the explicit scheme {tableau.name!r}")
        return FixedStep(tableau, dt)

    return build


def _adaptive(dt: float, options: dict):
    noise = options.get("noise", 0.0)
    require(noise == 0, "network.noise", noise, "0 with the adaptive scheme")
    return AdaptivePETSc(rtol=options.get("rtol", 1e-6), atol=options.get("atol", 1e-9), dt=dt)


def _imex(name: str):
    def build(dt: float, options: dict):
        return IMEXRungeKutta(dt, name, options.get("noise", 0.0), options.get("seed", 0))

    return build


def _splitting(dt: float, options: dict):
    from fem_fhn.kinetic.stepper import APSplitting

    keys = ("transport_scheme", "splitting", "relaxation", "v_flux")
    return APSplitting(dt, **{k: options[k] for k in keys if k in options})


for _tab in TABLEAUX.values():
    register_scheme(
        Scheme(
            _tab.name,
            "explicit",
            _tab.order,
            frozenset({"rhs"}),
            _explicit(_tab),
            f"explicit Runge–Kutta, order {_tab.order}",
        )
    )
for _tab in IMEX_TABLEAUX.values():
    register_scheme(
        Scheme(
            _tab.name,
            "imex",
            _tab.order,
            frozenset({"explicit", "implicit"}),
            _imex(_tab.name),
            f"IMEX Runge–Kutta, order {_tab.order}: the stiff linear part implicit",
        )
    )
register_scheme(
    Scheme(
        "ap-splitting",
        "splitting",
        2,
        frozenset({"transport", "flow"}),
        _splitting,
        "asymptotic-preserving splitting: exact relaxation flow and SSP-RK transport",
    )
)
register_scheme(
    Scheme(
        "adaptive",
        "adaptive",
        5,
        frozenset({"rhs"}),
        _adaptive,
        "PETSc TS, embedded Runge–Kutta pair (Dormand–Prince) with error control",
        honours_history=False,
    )
)
