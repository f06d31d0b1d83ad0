"""The scheme registry: every registered scheme reaches its stated order on a problem with a
stiff linear part and a mass matrix, needs exactly the parts it declares, and is refused by
name where a model lacks them."""

import numpy as np
import pytest
from mpi4py import MPI
from scipy.integrate import solve_ivp

from fem_fhn.analysis import convergence_rate
from fem_fhn.params import ParameterError
from fem_fhn.standard_form import missing_methods
from fem_fhn.timestepping import SCHEMES, make_integrator, schemes_for

#: M u' = −L u + M E(t, u, w), w' = E_w: M diagonal, L symmetric positive definite
MASS = np.array([1.0, 2.0, 0.5])
STIFF = 2.0 * np.array([[2.0, -1.0, 0.0], [-1.0, 2.0, -1.0], [0.0, -1.0, 1.0]])
T_END = 1.0


class LinearTest:
    """u' = −M⁻¹ L u + w + sin t,  w' = −u (3 nodes); every part of the IMEX standard form."""

    fields = ("u", "w")
    parts = frozenset({"rhs", "explicit", "implicit"})
    comm = MPI.COMM_SELF

    def explicit(self, t, y):
        return np.stack([y[1] + np.sin(t), -y[0]])

    def rhs(self, t, y):
        dy = self.explicit(t, y)
        dy[0] += Part().apply(y[0])
        return dy

    def implicit_part(self, dt, order):
        return Part()

    def fields_of(self, y):
        return {"u": y[0], "w": y[1]}


class Part:
    """(M + c L) x = M r, solved densely; the counters of `ImplicitPart.info`."""

    solves = 0

    def solve(self, r, c, guess=None):
        Part.solves += 1
        return np.linalg.solve(np.diag(MASS) + c * STIFF, MASS * r)

    def apply(self, v):
        return -(STIFF @ v) / MASS

    def info(self):
        return {"solves": Part.solves}


Y0 = np.array([[1.0, 0.0, -0.5], [0.2, 0.1, 0.0]])


@pytest.fixture(scope="module")
def exact():
    model = LinearTest()
    sol = solve_ivp(
        lambda t, y: model.rhs(t, y.reshape(2, 3)).ravel(),
        (0.0, T_END),
        Y0.ravel(),
        method="DOP853",
        rtol=1e-13,
        atol=1e-14,
    )
    return sol.y[:, -1].reshape(2, 3)


FIXED = [name for name, s in SCHEMES.items() if s.family in ("explicit", "imex")]


def test_every_scheme_is_covered_here_or_by_its_model():
    """The registry's families: the fixed-step explicit and IMEX schemes are tested below for
    their order, the adaptive one for its tolerance; "ap-splitting" needs the kinetic model's
    transport and relaxation (its order: tests/test_kinetic.py, tests/test_limit_quantities.py)."""
    others = {name for name in SCHEMES if name not in FIXED}
    assert others == {"adaptive", "ap-splitting"}
    assert SCHEMES["ap-splitting"].needs == {"transport", "flow"}


@pytest.mark.parametrize("name", FIXED)
def test_scheme_reaches_its_order(name, exact):
    model = LinearTest()
    assert not missing_methods(model)
    assert name in schemes_for(model.parts)
    dts = [0.1, 0.05, 0.025]
    errors = []
    for dt in dts:
        integrator = make_integrator(name, dt)
        t, y, n = integrator.advance(model, 0.0, Y0.copy(), T_END)
        assert t == T_END and n == round(T_END / dt) and integrator.scheme.name == name
        errors.append(np.abs(y - exact).max())
    order = SCHEMES[name].order
    assert abs(convergence_rate(dts, errors).rate - order) < 0.25, (name, errors)


def test_imex_uses_the_implicit_part_and_explicit_schemes_do_not(exact):
    model = LinearTest()
    before = Part.solves
    make_integrator("imex-euler", 0.1).advance(model, 0.0, Y0.copy(), T_END)
    assert Part.solves - before == 10  # one implicit stage per step
    before = Part.solves
    make_integrator("rk4", 0.1).advance(model, 0.0, Y0.copy(), T_END)
    assert Part.solves == before


def test_adaptive_meets_its_tolerance(exact):
    integrator = make_integrator("adaptive", 0.01, rtol=1e-8, atol=1e-10)
    _, y, n = integrator.advance(LinearTest(), 0.0, Y0.copy(), T_END)
    assert np.abs(y - exact).max() < 1e-6 and n > 1
    assert not integrator.fixed_step and not integrator.splits_exactly


def test_schemes_follow_the_parts_a_model_provides():
    assert schemes_for({"rhs"}) == ("euler", "heun", "ssprk3", "rk4", "adaptive")
    assert schemes_for({"explicit", "implicit"}) == ("imex-euler", "imex-ssp2", "imex-ars222")
    assert schemes_for({"transport", "flow"}) == ("ap-splitting",)
    assert set(schemes_for({"rhs", "explicit", "implicit"})) == set(FIXED) | {"adaptive"}


def test_unknown_scheme_and_noise_without_implicit_part_are_refused():
    with pytest.raises(ParameterError, match="time.scheme = 'cn' is not allowed: one of euler"):
        make_integrator("cn", 0.1)
    with pytest.raises(ParameterError, match="network.noise = 0.1 is not allowed"):
        make_integrator("rk4", 0.1, noise=0.1)
    with pytest.raises(ParameterError, match="time.dt"):
        make_integrator("imex-ars222", -1.0)
