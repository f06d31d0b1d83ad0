"""The runner asks the model registry: each built-in kind builds a model that keeps the
contract of its parts with an integrator from the schemes it may use; preflight refuses what
does not belong to the chosen model before anything is written."""

import numpy as np
import pytest
from mpi4py import MPI

from fem_fhn.config import ConfigError, parse_config
from fem_fhn.registry import MODELS, model_names
from fem_fhn.runner import build, observers_of, preflight
from fem_fhn.simulation import Output
from fem_fhn.standard_form import Model, missing_methods

BASE = {
    "mesh": {"source": "interval"},
    "kernel": {"type": "gaussian", "width": 1.0},
    "initial": {"V": "tanh(x - 5)", "W": 0.0},
    "time": {"t_end": 0.2, "dt": 0.01, "n_outputs": 2},
    "output": {"progress": False, "png": False, "gif": False},
}
TABLES = {"network": {"n": 300}, "kinetic": {"n_v": 8, "n_w": 8, "eps": 0.1}}


def config_for(kind: str, **extra):
    data = {**BASE, "solver": {"model": kind}, **extra}
    if kind in TABLES:
        data[kind] = TABLES[kind]
    return parse_config(data)


@pytest.mark.parametrize("kind", ["nonlocal", "local", "network", "kinetic"])
def test_each_builtin_kind_builds_a_model_keeping_its_contract(kind):
    if kind == "kinetic":
        config = config_for(kind, time={**BASE["time"], "dt": "auto"})
    else:
        config = config_for(kind)
    setup = build(config, MPI.COMM_SELF)
    entry = MODELS[kind]
    assert setup.kind is entry and isinstance(setup.model, Model)
    assert setup.model.parts == entry.parts and not missing_methods(setup.model)
    assert setup.integrator.scheme.name == entry.default_scheme
    assert setup.integrator.scheme.needs <= entry.parts
    ids, points = entry.ids(setup), entry.points(setup)
    assert len(ids) == setup.y0.shape[entry.node_axis] == len(points)
    fields = setup.fields_of(setup.y0)
    assert tuple(fields) == setup.fields and fields["V"].shape == (setup.nodes.n_owned,)
    assert entry.stable_dt(setup, 0.0) > 0


def test_registry_lists_the_builtin_kinds_first():
    assert model_names()[:4] == ("nonlocal", "local", "network", "kinetic")
    assert MODELS["kinetic"].schemes == ("ap-splitting",)
    assert MODELS["local"].schemes == MODELS["network"].schemes
    assert (
        "imex-ars222" in MODELS["local"].schemes and "imex-ars222" not in MODELS["nonlocal"].schemes
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"network": {"n": 10}}, "[network] is not allowed with solver.model = 'nonlocal'"),
        (
            {"solver": {"model": "local"}, "kinetic": {}},
            "[kinetic] is not allowed with solver.model = 'local'",
        ),
        (
            {"solver": {"model": "kinetic"}, "time": {**BASE["time"], "scheme": "rk4"}},
            "time.scheme = 'rk4' is not allowed with solver.model = 'kinetic': one of ap-splitting",
        ),
    ],
)
def test_preflight_refuses_what_the_model_cannot_use(data, message, tmp_path):
    config = parse_config({**BASE, **data})
    with pytest.raises(ConfigError) as err:
        preflight(config, MPI.COMM_SELF, tmp_path / "out")
    assert message in str(err.value)
    assert not (tmp_path / "out").exists()


def test_own_observers_write_every_kth_field_and_all_diagnostics(tmp_path):
    from fem_fhn.io import Diagnostics

    config = config_for(
        "nonlocal",
        output={**BASE["output"], "every": 2, "formats": ["vtk"], "probes": [[2.0]]},
    )
    setup = build(config, MPI.COMM_SELF)
    diagnostics = Diagnostics(setup.nodes, setup.rho0)
    observers, closing = observers_of(config, setup, tmp_path, diagnostics)
    for index in range(3):
        fields = setup.fields_of(setup.y0 + index)
        for obs in observers:
            obs(Output(0.1 * index, index, index, fields))
    for item in closing:
        item.close()
    assert [row["t"] for row in diagnostics.rows] == [0.0, 0.1, 0.2]
    assert (tmp_path / "vtk" / "fields.pvd").read_text().count("<DataSet") == 2
    probes = np.genfromtxt(tmp_path / "probes.csv", delimiter=",", names=True)
    assert probes["V0"] == pytest.approx(np.tanh(2.0 - 5.0) + np.arange(3))
