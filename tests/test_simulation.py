"""The run loop: observers see each output once with the fields computed once; stop requests
land on the step grid and a resumed run repeats the same steps; a blow-up keeps the last good
state and names the likely causes."""

import signal

import numpy as np
import pytest
from test_timestepping import Y0, LinearTest

from fem_fhn.simulation import Output, Simulation, SimulationError, failure_hints
from fem_fhn.timestepping import make_integrator

TIMES = np.linspace(0.0, 1.0, 5)


class Counting(LinearTest):
    calls = 0

    def fields_of(self, y):
        Counting.calls += 1
        return super().fields_of(y)


def test_observers_get_outputs_and_model_outputs_the_state():
    model, seen, raw = Counting(), [], []
    sim = Simulation(model, make_integrator("rk4", 0.01), TIMES, progress=False)
    sim.observers = [seen.append, lambda output: None]
    sim.model_outputs = [lambda t, y, step: raw.append((t, y.copy(), step))]
    before = Counting.calls
    y = sim.run(Y0.copy())
    assert Counting.calls - before == len(TIMES)  # once per output time for both observers
    assert [o.index for o in seen] == list(range(5)) and [o.step for o in seen] == [
        0,
        25,
        50,
        75,
        100,
    ]
    assert all(isinstance(o, Output) and set(o.fields) == {"u", "w"} for o in seen)
    assert np.array_equal(seen[-1].fields["u"], y[0]) and np.array_equal(raw[-1][1], y)
    assert sim.status == "completed" and sim.steps == 100


def test_stop_request_lands_on_the_step_grid_and_resumes_identically():
    model = LinearTest()
    reference = Simulation(
        model, make_integrator("heun", 0.01), TIMES, progress=False, chunk_steps=10
    )
    y_ref = reference.run(Y0.copy())
    saved = {}
    checks = [0]

    def stop():
        checks[0] += 1
        return signal.SIGTERM if checks[0] == 6 else 0  # at step 20 of the 2nd interval

    def checkpoint(t, y, position, reason):
        saved.update(t=t, y=y.copy(), position=position, reason=reason)
        return "memory"

    sim = Simulation(
        model,
        make_integrator("heun", 0.01),
        TIMES,
        progress=False,
        chunk_steps=10,
        stop=stop,
        checkpoint=checkpoint,
    )
    sim.run(Y0.copy())
    assert sim.status == "interrupted" and sim.signal == signal.SIGTERM
    assert saved["reason"] == "interrupted" and saved["position"].substep == 20
    assert saved["position"].steps == 45 and saved["t"] == pytest.approx(0.45)
    resumed = Simulation(
        model, make_integrator("heun", 0.01), TIMES, progress=False, chunk_steps=10
    )
    y = resumed.run(saved["y"], saved["position"])
    assert resumed.steps == reference.steps and np.array_equal(y, y_ref)


class Exploding(LinearTest):
    def explicit(self, t, y):
        return 1e200 * y**2 if t > 0.5 else super().explicit(t, y)


def test_blow_up_keeps_the_last_good_state_and_names_the_causes():
    saved = {}

    def checkpoint(t, y, position, reason):
        saved.update(t=t, y=y.copy(), reason=reason)
        return "memory"

    sim = Simulation(
        Exploding(),
        make_integrator("rk4", 0.05),
        TIMES,
        progress=False,
        checkpoint=checkpoint,
        hints=lambda t: failure_hints(sim.integrator, 0.02, ("a cause of the model",)),
    )
    with pytest.raises(SimulationError) as err:
        sim.run(Y0.copy())
    message = str(err.value)
    assert "non-finite values in the state at t = 0.75" in message
    assert "time.dt = 0.05 is above the stability limit" in message
    assert "a cause of the model" in message and "saved in memory" in message
    assert saved["reason"] == "failed" and saved["t"] == 0.5 and np.all(np.isfinite(saved["y"]))
    assert sim.status == "failed"


def test_failure_hints_for_fixed_and_adaptive_steps():
    rk4 = make_integrator("rk4", 0.01)
    assert "may still be too large" in failure_hints(rk4, 0.02)
    assert "may be above the stability limit" in failure_hints(rk4)
    adaptive = make_integrator("adaptive", 0.01)
    assert "adaptive step control failed" in failure_hints(adaptive)
    assert "initial data, stimulus or parameters" in failure_hints(adaptive)
