"""Bad input to `fem-fhn run`: exit code 1, one line on stderr naming the key, the value and what
is allowed, and nothing written to the output folder (tests/test_cli.py has the first 15 cases)."""

import json
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fem_fhn.cli import EXIT_BAD_INPUT, main

#: the tables that choose the kinetic model and the network
KINETIC = "[solver]\nmodel = 'kinetic'\n[kinetic]\n"
NETWORK = "[solver]\nmodel = 'network'\n[network]\n"
BASE = """
[mesh]
source = "interval"
[kernel]
type = "gaussian"
width = 0.5
[initial]
V = "1.0 if x < 2 else -0.69248"
W = -0.36042
[time]
t_end = 0.2
dt = 0.05
n_outputs = 2
[output]
png = false
gif = false
progress = false
"""

POINTS_ONLY_MSH = """$MeshFormat
2.2 0 8
$EndMeshFormat
$Nodes
3
1 0 0 0
2 1 0 0
3 0 1 0
$EndNodes
$Elements
1
1 15 2 1 1 1
$EndElements
"""

# three triangles, the last with collinear vertices (zero area)
DEGENERATE_MSH = """$MeshFormat
2.2 0 8
$EndMeshFormat
$Nodes
5
1 0 0 0
2 1 0 0
3 0 1 0
4 2 0 0
5 1 1 0
$EndNodes
$Elements
3
1 2 2 1 1 1 2 3
2 2 2 1 1 2 4 5
3 2 2 1 1 1 2 4
$EndElements
"""


def edit(old: str, new: str) -> str:
    assert old in BASE
    return BASE.replace(old, new)


def with_mesh(name: str) -> str:
    return edit('source = "interval"', f'source = "{name}"')


# (id, config text, substrings of the message: key and value, then what is allowed)
CASES = [
    # meshes
    ("empty msh", with_mesh("empty.msh"), ["mesh.source = 'empty.msh'", "allowed: a gmsh"]),
    ("garbage msh", with_mesh("garbage.msh"), ["mesh.source = 'garbage.msh'", "allowed:"]),
    ("folder named msh", with_mesh("folder.msh"), ["mesh.source = 'folder.msh'", "is a folder"]),
    ("garbage xdmf", with_mesh("garbage.xdmf"), ["mesh.source = 'garbage.xdmf'", "allowed:"]),
    ("msh without cells", with_mesh("points.msh"), ["mesh.source = 'points.msh'", "no cells"]),
    (
        "degenerate cells",
        with_mesh("degenerate.msh"),
        ["mesh.source = 'degenerate.msh'", "1 of 3 cells are degenerate", "positive area"],
    ),
    ("unsupported suffix", with_mesh("mesh.step"), ["mesh.step", "neither a .msh/.xdmf"]),
    ("surface without triangles", with_mesh("mesh.stl"), ["mesh.stl", "holds no triangles"]),
    ("unknown domain", with_mesh("intervall"), ["'intervall'", "bundled domain (interval"]),
    (
        "mesh h on a file",
        edit('"interval"', '"degenerate.msh"\nh = 0.1'),
        ["mesh.h = 0.1", "allowed: leave"],
    ),
    ("mesh h negative", edit('"interval"', '"interval"\nh = -1.0'), ["mesh.h = -1.0", "> 0"]),
    # kernels
    ("kernel width inf", edit("width = 0.5", "width = inf"), ["kernel.width = inf", "finite"]),
    (
        "kernel strength nan",
        edit("width = 0.5", "width = 0.5\nstrength = nan"),
        ["kernel.strength = nan", "finite"],
    ),
    (
        "kernel negative",
        edit("width = 0.5", "width = 0.5\nstrength = -1.0"),
        ["kernel = 'gaussian'", "'strength': -1.0", "allow_negative = true"],
    ),
    (
        "mexican hat without allow_negative",
        edit(
            'type = "gaussian"\nwidth = 0.5',
            'type = "mexican_hat"\nwidth_exc = 0.3\nwidth_inh = 0.6\na_exc = 2.0\na_inh = 1.0',
        ),
        ["kernel = 'mexican_hat'", "negative values", "allow_negative = true"],
    ),
    (
        "allow_negative not a bool",
        edit("width = 0.5", "width = 0.5\nallow_negative = 'yes'"),
        ["kernel.allow_negative = 'yes'", "true or false"],
    ),
    # velocity grids
    ("kinetic n_v", BASE + KINETIC + "n_v = 2\n", ["kinetic.n_v = 2", ">= 4"]),
    (
        "kinetic v_min > v_max",
        BASE + KINETIC + "v_min = 2.0\nv_max = -2.0\nw_min = -1.0\nw_max = 1.0\n",
        ["kinetic.v_max = -2.0", "v_max > v_min = 2.0"],
    ),
    (
        "kinetic box not invariant",
        BASE + KINETIC + "v_min = -2.0\nv_max = 0.5\nw_min = -1.0\nw_max = 1.0\n",
        ["[-2, 0.5] x [-1, 1]", "not invariant", "an invariant box is"],
    ),
    (
        "kinetic dt above CFL",
        edit("dt = 0.05", "dt = 5.0") + KINETIC + "n_v = 16\nn_w = 8\n",
        ["time.dt = 0.1", "needs dt <="],
    ),
    # network
    ("network n 0", BASE + NETWORK + "n = 0\n", ["network.n = 0", ">= 1"]),
    ("network radius", BASE + NETWORK + "radius = -0.1\n", ["network.radius = -0.1", "> 0"]),
    ("network eps 0", BASE + NETWORK + "eps = 0.0\n", ["network.eps = 0.0", "eps > 0"]),
    ("network profile", BASE + NETWORK + "profile = 'gauss'\n", ["network.profile = 'gauss'"]),
    (
        "network positions missing",
        BASE + NETWORK + "positions = 'nowhere.npy'\n",
        ["network.positions = 'nowhere.npy'", "does not exist", "allowed"],
    ),
    (
        "kinetic and network",
        BASE + "[kinetic]\n[network]\n",
        ["[network] is not allowed with solver.model = 'nonlocal'", "solver.model = 'network'"],
    ),
    (
        "table of another model",
        BASE + "[solver]\nmodel = 'network'\n[kinetic]\n",
        ["[kinetic] is not allowed with solver.model = 'network'", "solver.model = 'kinetic'"],
    ),
    (
        "unknown model",
        BASE + "[solver]\nmodel = 'mean-field'\n",
        ["solver.model = 'mean-field' is not allowed", "nonlocal, local, network, kinetic"],
    ),
    # time
    ("t_end 0", edit("t_end = 0.2", "t_end = 0.0"), ["time.t_end = 0.0", "t_end > 0"]),
    ("t_end inf", edit("t_end = 0.2", "t_end = inf"), ["time.t_end = inf", "finite"]),
    ("n_outputs 0", edit("n_outputs = 2", "n_outputs = 0"), ["time.n_outputs = 0", ">= 1"]),
    ("dt word", edit("dt = 0.05", "dt = 'fast'"), ["time.dt = 'fast'", 'dt > 0 or "auto"']),
    (
        "imex without stiff part",
        edit("dt = 0.05", "dt = 0.05\nscheme = 'imex-ars222'"),
        [
            "time.scheme = 'imex-ars222' is not allowed with solver.model = 'nonlocal'",
            "one of euler, heun, ssprk3, rk4, adaptive",
        ],
    ),
    # checkpoints
    (
        "checkpoint every negative",
        BASE + "[checkpoint]\nevery = -1\n",
        ["checkpoint.every = -1", ">= 0"],
    ),
    (
        "checkpoint dir outside",
        BASE + "[checkpoint]\ndir = '../elsewhere'\n",
        ["checkpoint.dir = '../elsewhere'", "inside the output folder"],
    ),
    ("checkpoint unknown key", BASE + "[checkpoint]\nevry = 3\n", ["'checkpoint.evry'", "every"]),
    # fields
    (
        "rho0 file length",
        BASE + "[rho0]\nvalue = 'short.npy'\n",
        ["rho0.value", "short.npy", "has 5 values, the mesh has 201 nodes"],
    ),
    (
        "rho0 file missing",
        BASE + "[rho0]\nvalue = 'missing.npy'\n",
        ["rho0.value = 'missing.npy'", "does not exist", "allowed: a number"],
    ),
    (
        "rho0 zero",
        BASE + "[rho0]\nvalue = '0.0*x'\n",
        ["rho0.value = '0.0*x'", "integral over the mesh is 0", "positive integral"],
    ),
    (
        "initial syntax",
        edit("W = -0.36042", 'W = "1 +* x"'),
        ["initial.W = '1 +* x'", "not a valid expression"],
    ),
    (
        "initial not finite",
        edit("W = -0.36042", 'W = "1/x"'),
        ["initial.W = '1/x'", "not finite at 1 of 201", "at x = (0)", "finite values"],
    ),
    (
        "initial sqrt negative",
        edit("W = -0.36042", 'W = "sqrt(1 - x)"'),
        ["initial.W = 'sqrt(1 - x)'", "not finite at 180 of 201"],
    ),
    (
        "stimulus unknown function",
        BASE + "[stimulus]\nI = 'foo(t)'\n",
        ["stimulus.I = 'foo(t)'", "allowed names"],
    ),
    (
        "stimulus not finite",
        BASE + "[stimulus]\nI = '1/t'\n",
        ["stimulus.I = '1/t'", "at t = 0", "finite values"],
    ),
    # output
    (
        "output format png",
        BASE.replace("[output]", "[output]\nformats = ['vtk', 'png']"),
        ["output.formats = 'png'", "('vtx', 'xdmf', 'vtk')"],
    ),
]

# inputs that used to crash, run away or mean nothing: refused before any work, by `run` and
# by `validate` alike
REFUSED = [
    (
        "stimulus from a file",
        BASE + "[stimulus]\nI = 'values.npy'\n",
        ["stimulus.I = 'values.npy'", "a finite number or an expression of x, y, z, t"],
    ),
    (
        "checkpoint dir is an output file",
        BASE + "[checkpoint]\ndir = 'V.png'\n",
        ["checkpoint.dir = 'V.png'", "not one of the run's own files"],
    ),
    (
        "dt 1e-300",
        edit("dt = 0.05", "dt = 1e-300"),
        ["time.dt = 1e-300 is not allowed with time.t_end = 0.2", "2e+299 time steps", "[budget]"],
    ),
    (
        "t_end 1e300",
        edit("t_end = 0.2", "t_end = 1e300"),
        ["time.dt = 0.05 is not allowed with time.t_end = 1e+300", "[budget] steps"],
    ),
    (
        "steps over the budget",
        BASE + "[budget]\nsteps = 3\n",
        ["time.dt = 0.05", "needs 4 time steps, the budget is 3 ([budget] steps)"],
    ),
    (
        "n_outputs 1e9",
        edit("n_outputs = 2", "n_outputs = 1_000_000_000"),
        ["time.n_outputs = 1000000000", "[budget] outputs", "1 <= n_outputs <= 10000"],
    ),
    (
        "kinetic 1e8 x 1e8",
        BASE + KINETIC + "n_v = 100_000_000\nn_w = 100_000_000\n",
        ["kinetic.n_v = 100000000", "GiB per rank", "kinetic density", "[budget] memory_gib"],
    ),
    (
        "network 1e12",
        BASE + NETWORK + "n = 1_000_000_000_000\n",
        ["network.n = 1000000000000", "GiB per rank", "most for the dense operator"],
    ),
    (
        "memory budget",
        BASE + "[budget]\nmemory_gib = 1e-4\n",
        [
            "mesh.source = 'interval' is not allowed",
            # 201 nodes × 2048 bytes + the dense operator 201² × 8 bytes
            f"needs about {(201 * 2048 + 201**2 * 8) / 2**30:.3g} GiB per rank",
            "[budget] memory_gib is 0.0001 GiB",
        ],
    ),
    (
        "budget negative",
        BASE + "[budget]\nmemory_gib = -1.0\n",
        ["budget.memory_gib = -1.0", "or 0: the memory available"],
    ),
    ("probe nan", BASE + KINETIC + "probes = [[nan]]\n", ["kinetic.probes = [[nan]]", "finite"]),
    ("probe bool", BASE + KINETIC + "probes = [[true]]\n", ["kinetic.probes = [[True]]"]),
    (
        "probe 3D on a 1D mesh",
        BASE + KINETIC + "probes = [[1.0, 0.0, 0.0]]\n",
        ["kinetic.probes = [[1.0, 0.0, 0.0]]", "has 3 coordinates, the mesh is 1D"],
    ),
    (
        "probe outside",
        BASE + KINETIC + "probes = [[5.0], [100.0]]\n",
        ["kinetic.probes", "[100.0] is 90 from the nearest mesh node", "within one cell size"],
    ),
    (
        "network n and positions",
        BASE + NETWORK + "n = 50\npositions = 'positions.npy'\n",
        ["network.n = 50 is not allowed with network.positions = 'positions.npy'", "holds 100"],
    ),
    (
        "positions not a table of numbers",
        BASE + NETWORK + "positions = 'short.npy'\n",
        ["network.positions = 'short.npy'", "shape (5,), not 2 axes"],
    ),
    (
        "dispersion map parameter",
        BASE + "[dispersion]\nmap = {param1 = 'taux', range1 = [0.1, 1.0], param2 = 'rho', "
        "range2 = [0.0, 2.0]}\n",
        ["dispersion.map.param1 = 'taux'", "one of a, b, tau, I_ext"],
    ),
    (
        "dispersion k_max 1e300",
        BASE + "[dispersion]\nk_max = 1e300\n",
        ["dispersion.k_max = 1e+300", "k_max <= 2000", "resolve the kernel"],
    ),
    (
        "mesh h larger than the domain",
        edit('"interval"', '"interval"\nh = 20.0'),
        ["mesh.h = 20.0", "is 10 across", "0 < h <= 2.5"],
    ),
    (
        "npy of objects",
        BASE + "[rho0]\nvalue = 'objects.npy'\n",
        ["rho0.value = 'objects.npy'", "cannot be read as numbers", "allowed: a .npy file"],
    ),
    (
        "npy that is text",
        BASE + "[rho0]\nvalue = 'text.npy'\n",
        ["rho0.value = 'text.npy'", "cannot be read as numbers"],
    ),
    (
        "csv of words",
        edit('V = "1.0 if x < 2 else -0.69248"', 'V = "words.csv"'),
        ["initial.V = 'words.csv'", "cannot be read as numbers", "spaces or commas"],
    ),
    (
        "dispersion n_k 1e12",
        BASE + "[dispersion]\nn_k = 1_000_000_000_000\n",
        ["dispersion.n_k = 1000000000000", "2 <= n_k <= 10000000"],
    ),
    ("dt nan", edit("dt = 0.05", "dt = nan"), ["time.dt = nan", 'a finite number or "auto"']),
    ("radius inf", BASE + NETWORK + "radius = inf\n", ['a finite number or "auto"']),
    ("V_star nan", BASE + "[dispersion]\nV_star = nan\n", ['a finite number or "rest"']),
    ("kinetic eps -inf", BASE + KINETIC + "eps = -inf\n", ["kinetic.eps = -inf", "or inf"]),
]
CASES += REFUSED


@pytest.fixture
def folder(tmp_path):
    """A config folder holding the bad files the cases refer to."""
    (tmp_path / "empty.msh").write_text("")
    (tmp_path / "garbage.msh").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "folder.msh").mkdir()
    (tmp_path / "garbage.xdmf").write_text("<Xdmf><Domain><Grid")
    (tmp_path / "points.msh").write_text(POINTS_ONLY_MSH)
    (tmp_path / "degenerate.msh").write_text(DEGENERATE_MSH)
    (tmp_path / "mesh.stl").write_text("solid nothing\nendsolid nothing\n")
    (tmp_path / "mesh.step").write_text("ISO-10303-21;\n")
    np.save(tmp_path / "short.npy", np.ones(5))
    np.save(tmp_path / "positions.npy", np.linspace(0.5, 9.5, 100)[:, None])
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    (tmp_path / "text.npy").write_text("1.0 2.0 3.0\n")
    (tmp_path / "words.csv").write_text("V\n" + "0.5\n" * 201)
    return tmp_path


def run_bad(capsys, config, out, *extra) -> str:
    code = main(["run", str(config), "--out", str(out), "--quiet", *extra])
    err = capsys.readouterr().err.strip()
    assert code == EXIT_BAD_INPUT, err
    assert len(err.splitlines()) == 1 and err.startswith("fem-fhn: error:"), err
    return err


@pytest.mark.parametrize("text,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_exits_1_with_one_line_and_no_output(folder, capsys, text, expected):
    config = folder / "run.toml"
    config.write_text(text)
    out = folder / "out"
    err = run_bad(capsys, config, out)
    for piece in expected:
        assert piece in err, err
    assert not out.exists()


def test_bad_input_leaves_an_existing_output_folder_empty(folder, capsys):
    out = folder / "out"
    out.mkdir()
    config = folder / "run.toml"
    config.write_text(edit("W = -0.36042", 'W = "1/x"'))
    run_bad(capsys, config, out)
    assert list(out.iterdir()) == []


# ---------------------------------------------------------------------- restarts


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished run (checkpoint at t = 0.2) and its config."""
    root = tmp_path_factory.mktemp("restart")
    config = root / "run.toml"
    config.write_text(BASE)
    assert main(["run", str(config), "--out", str(root / "done"), "--quiet"]) == 0
    return root


def snapshot(path):
    return sorted((str(p), p.stat().st_mtime_ns) for p in path.rglob("*"))


RESTART_CASES = [
    (
        "changed physics",
        edit("t_end = 0.2", "t_end = 0.4") + "[model]\ntau = 0.1\nb = 0.7\n",
        ["the physics differs", "model.b = 0.7 (checkpoint: 0.8)", "model.tau = 0.1"],
    ),
    (
        "changed kernel",
        edit("t_end = 0.2", "t_end = 0.4").replace("width = 0.5", "width = 0.6"),
        ["kernel.width = 0.6 (checkpoint: 0.5)"],
    ),
    (
        "changed mesh",
        edit("t_end = 0.2", "t_end = 0.4").replace('"interval"', '"interval"\nh = 0.1'),
        ["mesh.h = 0.1 (checkpoint: 0.0)"],
    ),
    (
        "other model kind",
        edit("t_end = 0.2", "t_end = 0.4") + "[solver]\nmodel = 'local'\n",
        ["model kind = 'local' (checkpoint: 'nonlocal')"],
    ),
    (
        "nothing left to run",
        BASE,
        ["time.t_end = 0.2 is not allowed with this restart", "t_end > 0.2"],
    ),
]


@pytest.mark.parametrize(
    "text,expected", [c[1:] for c in RESTART_CASES], ids=[c[0] for c in RESTART_CASES]
)
def test_bad_restart_exits_1_and_writes_nothing(finished, capsys, text, expected):
    config = finished / "again.toml"
    config.write_text(text)
    before = snapshot(finished / "done")
    out = finished / "new"
    err = run_bad(capsys, config, out, "--restart", str(finished / "done"))
    for piece in expected:
        assert piece in err, err
    assert not out.exists()
    assert snapshot(finished / "done") == before
    # in place: the earlier run's folder is left as it was
    run_bad(capsys, config, finished / "done", "--restart", str(finished / "done"))
    assert snapshot(finished / "done") == before


def test_restart_from_a_folder_without_checkpoint(finished, capsys):
    empty = finished / "empty"
    empty.mkdir(exist_ok=True)
    err = run_bad(capsys, finished / "run.toml", finished / "new", "--restart", str(empty))
    assert f"--restart {str(empty)!r} is not allowed: it holds no checkpoint" in err
    assert "checkpoint/meta.json" in err
    assert not (finished / "new").exists() and list(empty.iterdir()) == []


def test_restart_from_a_missing_folder(finished, capsys):
    missing = finished / "missing"
    err = run_bad(capsys, finished / "run.toml", finished / "new", "--restart", str(missing))
    assert f"--restart {str(missing)!r} is not allowed: the folder does not exist" in err
    assert not (finished / "new").exists() and not missing.exists()


def test_restart_from_a_corrupt_checkpoint(finished, capsys):
    broken = finished / "broken"
    shutil.copytree(finished / "done", broken, dirs_exist_ok=True)
    (broken / "checkpoint" / "meta.json").write_text("{ not json")
    err = run_bad(capsys, finished / "run.toml", finished / "new", "--restart", str(broken))
    assert "meta.json' cannot be read" in err and "allowed" in err
    meta = {"format": "fem_fhn checkpoint", "version": 99}
    (broken / "checkpoint" / "meta.json").write_text(json.dumps(meta))
    err = run_bad(capsys, finished / "run.toml", finished / "new", "--restart", str(broken))
    assert "checkpoint version 99" in err and "allowed: version 1" in err
    meta["version"] = 1
    (broken / "checkpoint" / "meta.json").write_text(json.dumps(meta))
    err = run_bad(capsys, finished / "run.toml", finished / "new", "--restart", str(broken))
    assert "meta.json' lacks kind, reason, t" in err
    assert not (finished / "new").exists()


def test_allow_negative_lets_a_sign_changing_kernel_run(folder):
    text = edit(
        'type = "gaussian"\nwidth = 0.5',
        'type = "mexican_hat"\nwidth_exc = 0.3\nwidth_inh = 0.6\na_exc = 2.0\na_inh = 1.0\n'
        "allow_negative = true",
    )
    (folder / "run.toml").write_text(text)
    assert main(["run", str(folder / "run.toml"), "--out", str(folder / "out"), "--quiet"]) == 0
    summary = json.loads((folder / "out" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["kernel"]["type"] == "mexican_hat"


@pytest.mark.parametrize("text,expected", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_validate_refuses_what_run_refuses(folder, capsys, text, expected):
    config = folder / "run.toml"
    config.write_text(text)
    out = folder / "out"
    code = main(["validate", str(config), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == EXIT_BAD_INPUT, err
    assert len(err.splitlines()) == 1 and err.startswith("fem-fhn: error:"), err
    for piece in expected:
        assert piece in err, err
    assert not out.exists()


def test_validate_passes_what_run_runs(folder, capsys):
    """Values the messages document as allowed: eps = inf (no relaxation / no short range), a
    comma-separated .csv, positions without n (n is the number of rows)."""
    (folder / "rho.csv").write_text(",".join(["1.0"] * 101) + "\n" + ", ".join(["2"] * 100))
    text = edit("[output]", "[rho0]\nvalue = 'rho.csv'\n[output]")
    kinetic = KINETIC + "eps = inf\nn_v = 8\nn_w = 8\n"
    for extra in (kinetic, NETWORK + "eps = inf\n"):
        (folder / "run.toml").write_text(text.replace("dt = 0.05", "dt = 'auto'") + extra)
        assert main(["validate", str(folder / "run.toml"), "--out", str(folder / "out")]) == 0
    from fem_fhn.config import load_config
    from fem_fhn.mesh import load_numbers

    assert load_numbers(folder / "rho.csv", "rho0.value").tolist() == [1.0] * 101 + [2.0] * 100
    (folder / "run.toml").write_text(BASE + NETWORK + "positions = 'positions.npy'\n")
    assert load_config(folder / "run.toml").network.n == 100
    assert "valid" in capsys.readouterr().out
    assert not (folder / "out").exists()


def one_line(capsys, code: int, *pieces: str) -> None:
    err = capsys.readouterr().err.strip()
    assert code == EXIT_BAD_INPUT, err
    assert len(err.splitlines()) == 1 and err.startswith("fem-fhn: error:"), err
    for piece in pieces:
        assert piece in err, err


def test_paths_that_are_not_what_they_should_be(folder, capsys):
    """A config that is a folder or binary, --out under a file: the key = value form."""
    one_line(capsys, main(["validate", str(folder)]), f"config = {str(folder)!r} is not allowed")
    binary = folder / "binary.toml"
    binary.write_bytes(bytes(range(256)))
    one_line(capsys, main(["run", str(binary)]), "cannot be read as UTF-8 text")
    (folder / "run.toml").write_text(BASE)
    afile = folder / "afile"
    afile.write_text("a file")
    out = str(afile / "out")
    for command in ("run", "validate"):
        code = main([command, str(folder / "run.toml"), "--out", out])
        one_line(capsys, code, f"--out = {out!r} is not allowed", "is a file")
    code = main(["neuron", "--v0", "inf", "--out", str(folder / "n.png")])
    one_line(capsys, code, "--v0 = inf is not allowed: a finite number")
    msh = str(afile / "x.msh")
    one_line(capsys, main(["mesh", "square", "--out", msh]), f"--out = {msh!r} is not allowed")
    one_line(capsys, main(["neuron", "--out", msh]), f"--out = {msh!r} is not allowed")
    assert afile.read_text() == "a file" and not (folder / "n.png").exists()


# ---------------------------------------------------------------------- restarts: what changed


def test_restart_refuses_changed_input_files(folder, capsys):
    """A ρ0 file whose contents changed since the checkpoint is named; the same file is fine."""
    rho = np.linspace(1.0, 2.0, 201)
    np.save(folder / "rho.npy", rho)
    text = edit("[output]", "[rho0]\nvalue = 'rho.npy'\n[output]")
    (folder / "run.toml").write_text(text)
    done = folder / "done"
    assert main(["run", str(folder / "run.toml"), "--out", str(done), "--quiet"]) == 0
    meta = json.loads((done / "checkpoint" / "meta.json").read_text())
    assert set(meta["inputs"]) == {"mesh.source", "rho0.value"}
    (folder / "again.toml").write_text(text.replace("t_end = 0.2", "t_end = 0.4"))
    np.save(folder / "rho.npy", rho[::-1])
    before = snapshot(done)
    err = run_bad(capsys, folder / "again.toml", folder / "new", "--restart", str(done))
    assert "input files differ from the checkpointed run's: rho0.value (" in err
    assert "rho.npy': contents differ)" in err
    assert snapshot(done) == before and not (folder / "new").exists()
    np.save(folder / "rho.npy", rho)
    new = folder / "new"
    args = ["run", str(folder / "again.toml"), "--out", str(new), "--quiet", "--restart", str(done)]
    assert main(args) == 0
    assert json.loads((new / "summary.json").read_text())["status"] == "completed"


def test_restart_refuses_a_non_finite_state_and_bad_positions(finished, capsys):
    import h5py

    broken = finished / "nonfinite"
    shutil.copytree(finished / "done", broken)
    with h5py.File(broken / "checkpoint" / "rank0.h5", "r+") as f:
        state = f["state"][...]
        state[7, 1] = np.nan
        f["state"][...] = state
    again = finished / "longer.toml"
    again.write_text(edit("t_end = 0.2", "t_end = 0.4"))
    err = run_bad(capsys, again, finished / "new", "--restart", str(broken))
    assert "the checkpointed state has 1 values that are not finite" in err
    path = broken / "checkpoint" / "meta.json"
    good = json.loads(path.read_text())
    for change, shown in (
        ({"t": float("nan")}, "is not allowed: t = nan"),
        ({"t": -1.0}, "is not allowed: t = -1.0"),
        ({"steps": -3}, "is not allowed: steps = -3"),
        ({"position": {**good["position"], "t": 0.1}}, "is not allowed: position = "),
        ({"interval": [0.0, 0.1]}, "interval = [0.0, 0.1] does not hold t = 0.2"),
    ):
        path.write_text(json.dumps({**good, **change}))
        err = run_bad(capsys, again, finished / "new", "--restart", str(broken))
        assert shown in err and "a finite time t >= 0, steps >= 0" in err, err
    assert not (finished / "new").exists()


def test_dispersion_command_refuses_an_unresolved_k_range(folder, capsys):
    """k_max = 1e300 used to overflow and report no instability for a kernel with a band."""
    text = (
        '[kernel]\ntype = "mexican_hat"\nwidth_exc = 0.3\nwidth_inh = 0.6\na_exc = 2.0\n'
        "a_inh = 1.0\nallow_negative = true\n[dispersion]\ndim = 1\nrho = 3.0\n"
    )
    (folder / "disp.toml").write_text(text + "k_max = 1e300\n")
    code = main(["dispersion", str(folder / "disp.toml"), "--out", str(folder / "d")])
    one_line(capsys, code, "dispersion.k_max = 1e+300 is not allowed", "resolve the kernel")
    assert not (folder / "d").exists()
    (folder / "disp.toml").write_text(text)
    assert main(["dispersion", str(folder / "disp.toml"), "--out", str(folder / "d")]) == 0
    assert json.loads((folder / "d" / "dispersion.json").read_text())["kind"] == "oscillatory"


# ---------------------------------------------------------------------- property: any config

#: values that break a key of almost any type (wrong type, out of range, not finite, huge)
BREAKERS = [
    math.nan,
    math.inf,
    -math.inf,
    -1,
    0,
    -0.5,
    1e300,
    1e-300,
    10**12,
    True,
    "",
    "nonsense",
    "1 +* x",
    "missing.npy",
    [],
    [[math.nan]],
    {"a": 1},
]
#: (table, key) pairs a broken config changes, covering every table a run reads
KEYS = [
    ("mesh", "source"),
    ("mesh", "h"),
    ("rho0", "value"),
    ("model", "a"),
    ("model", "b"),
    ("model", "tau"),
    ("model", "I_ext"),
    ("kernel", "width"),
    ("kernel", "strength"),
    ("kernel", "type"),
    ("nonlocal", "method"),
    ("nonlocal", "tol"),
    ("initial", "V"),
    ("initial", "W"),
    ("stimulus", "I"),
    ("time", "t_end"),
    ("time", "dt"),
    ("time", "scheme"),
    ("time", "n_outputs"),
    ("output", "formats"),
    ("output", "png"),
    ("checkpoint", "every"),
    ("checkpoint", "dir"),
    ("budget", "memory_gib"),
    ("budget", "steps"),
    ("kinetic", "n_v"),
    ("kinetic", "eps"),
    ("kinetic", "probes"),
    ("network", "n"),
    ("network", "radius"),
    ("unknown", "key"),
]


def toml_value(value) -> str:
    """A Python value as TOML (nan and inf included)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_text(config: dict) -> str:
    return "".join(
        f"[{table}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in keys.items())
        for table, keys in config.items()
    )


@st.composite
def configs(draw):
    """A small valid config on the bundled interval, and maybe one key broken."""
    config = {
        "mesh": {"source": "interval"},
        "model": {
            "a": draw(st.floats(0.0, 1.0)),
            "b": draw(st.floats(0.0, 1.0)),
            "tau": draw(st.floats(0.0, 0.2)),
            "I_ext": draw(st.floats(-0.5, 0.5)),
        },
        "kernel": {"type": "gaussian", "width": draw(st.floats(0.3, 1.0)), "strength": 1.0},
        "initial": {
            "V": draw(st.sampled_from([-0.7, 0.0, "1.0 if x < 2 else -0.69", "tanh(x - 5)"])),
            "W": draw(st.sampled_from([-0.36, 0.1, "0.1*x"])),
        },
        "time": {
            "t_end": draw(st.sampled_from([0.1, 0.2])),
            "dt": draw(st.sampled_from([0.02, 0.05, "auto"])),
            "n_outputs": draw(st.integers(1, 3)),
        },
        "output": {"png": False, "gif": False, "progress": False},
    }
    if draw(st.integers(0, 3)):  # three in four broken
        table, key = draw(st.sampled_from(KEYS))
        config.setdefault(table, {})[key] = draw(st.sampled_from(BREAKERS))
    return config


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(config=configs())
def test_any_config_runs_or_is_refused_in_one_line(tmp_path, capsys, config):
    """The invariant of `fem-fhn run`: exit 0 with a completed record; or exit 1 with exactly
    one line on stderr and nothing written; or (a valid config that blows up) exit 2 with one
    line and a "failed" record. Never a traceback."""
    capsys.readouterr()
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    (folder / "run.toml").write_text(toml_text(config))
    out = folder / "out"
    code = main(["run", str(folder / "run.toml"), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code in (0, 1, 2), (code, err)
    if code == 0:
        assert err == ""
        assert json.loads((out / "summary.json").read_text())["status"] == "completed"
        return
    assert len(err.splitlines()) == 1 and err.startswith("fem-fhn: error:"), err
    if code == 1:
        assert not out.exists(), err
    else:
        assert json.loads((out / "summary.json").read_text())["status"] == "failed"
