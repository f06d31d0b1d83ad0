"""Connectome coupling with conduction delays (fem_fhn.connectome): readers and validation, the
coupling term against closed forms, a delay-differential reference solved by the method of
steps, the delay history's checkpoint, and region/sensor output of a run."""

import bz2
import csv
import zipfile

import numpy as np
import pytest
from mpi4py import MPI

from fem_fhn.checkpoint import read_global
from fem_fhn.config import ConfigError, parse_config
from fem_fhn.connectome import (
    Connectome,
    ConnectomeCoupling,
    RegionMeans,
    check_scheme,
    read_connectome,
    read_labels,
    read_matrix,
    read_projection,
    read_tvb_zip,
)
from fem_fhn.params import ParameterError
from fem_fhn.timestepping import TABLEAUX, FixedStep

SELF = MPI.COMM_SELF


def _text(matrix) -> str:
    return "\n".join(" ".join(f"{v:.17g}" for v in row) for row in matrix) + "\n"


def _coupling(W, L, labels, masses, rho0, G=1.0, speed=1.0, dt=0.1, names=None):
    W = np.asarray(W, dtype=float)
    names = names or tuple(f"r{k}" for k in range(W.shape[0]))
    means = RegionMeans(labels, masses, rho0, W.shape[0], SELF)
    return ConnectomeCoupling(Connectome(W, np.asarray(L, dtype=float), names), means, G, speed, dt)


# ---------------------------------------------------------------------- readers


@pytest.mark.parametrize("folder,compress", [("", False), ("conn/", True)])
def test_tvb_zip_round_trip(tmp_path, rng, folder, compress):
    W = rng.random((4, 4))
    L = 100 * rng.random((4, 4))
    names = ["rA1", "rA2", "lB", "lC"]
    centres = "".join(f"{n} {x:.3f} 0.0 1.5\n" for n, x in zip(names, range(4), strict=True))
    path = tmp_path / "conn.zip"
    with zipfile.ZipFile(path, "w") as z:
        for name, text in (("weights.txt", _text(W)), ("tract_lengths.txt", _text(L))):
            if compress:
                z.writestr(folder + name + ".bz2", bz2.compress(text.encode()))
            else:
                z.writestr(folder + name, text)
        z.writestr(folder + "centres.txt", centres)
    c = read_tvb_zip(path)
    assert np.array_equal(c.weights, W) and np.array_equal(c.tract_lengths, L)
    assert c.names == tuple(names) and c.n_regions == 4


@pytest.mark.parametrize("suffix", [".npy", ".csv", ".txt"])
def test_matrix_and_labels_round_trip(tmp_path, rng, suffix):
    W = rng.random((5, 5))
    labels = rng.integers(0, 5, 40)
    wpath, lpath = tmp_path / f"W{suffix}", tmp_path / f"labels{suffix}"
    if suffix == ".npy":
        np.save(wpath, W)
        np.save(lpath, labels)
    else:
        sep = "," if suffix == ".csv" else " "
        wpath.write_text("\n".join(sep.join(f"{v:.17g}" for v in row) for row in W) + "\n")
        lpath.write_text("\n".join(str(v) for v in labels) + "\n")
    assert np.array_equal(read_matrix(wpath, "connectome.weights"), W)
    assert np.array_equal(read_labels(lpath, 5), labels)
    c = read_connectome(wpath)
    assert np.array_equal(c.tract_lengths, np.zeros((5, 5))) and c.names[4] == "region4"


def test_projection_round_trip(tmp_path, rng):
    from scipy.io import savemat

    P = rng.standard_normal((3, 11))
    np.save(tmp_path / "P.npy", P)
    savemat(tmp_path / "P.mat", {"ProjectionMatrix": P})
    for name in ("P.npy", "P.mat"):
        data = read_projection(tmp_path / name)
        assert np.array_equal(data.matrix, P) and data.rows.tolist() == [0, 1, 2]
    P[1] = np.nan  # a sensor without a projection (as in TVB's EEG files) is left out
    np.save(tmp_path / "P.npy", P)
    data = read_projection(tmp_path / "P.npy")
    assert np.array_equal(data.matrix, P[[0, 2]]) and data.rows.tolist() == [0, 2]
    assert data.n_rows == 3
    P[2, 4] = np.inf
    np.save(tmp_path / "P.npy", P)
    with pytest.raises(ParameterError) as err:
        read_projection(tmp_path / "P.npy")
    assert "row 2 has non-finite values" in _one_line(err, "connectome.projection = ")


def _one_line(err, start: str) -> str:
    message = str(err.value)
    assert "\n" not in message and message.startswith(start), message
    return message


def test_bad_connectome_data_is_refused(tmp_path):
    square = np.ones((3, 3))
    for W, what in (
        (np.ones((2, 3)), "square"),
        (np.array([[0.0, -1.0], [1.0, 0.0]]), "negative"),
        (np.array([[0.0, np.nan], [1.0, 0.0]]), "not finite"),
    ):
        with pytest.raises(ParameterError) as err:
            Connectome(W, np.zeros_like(W), ("a",) * W.shape[0])
        assert what in _one_line(err, "connectome.weights = ")
    with pytest.raises(ParameterError) as err:
        Connectome(square, np.ones((2, 2)), ("a", "b", "c"))
    assert "(3, 3)" in _one_line(err, "connectome.tract_lengths = ")
    with pytest.raises(ParameterError) as err:
        Connectome(square, square, ("a", "b"))
    _one_line(err, "connectome.names = ")
    for values, what in (([0, 1, 3], "outside"), ([0, 1.5], "integer"), ([-1, 0], "outside")):
        path = tmp_path / "labels.txt"
        path.write_text(" ".join(map(str, values)))
        with pytest.raises(ParameterError) as err:
            read_labels(path, 3)
        assert what in _one_line(err, "connectome.labels = ")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("1,2\n3\n")
    with pytest.raises(ParameterError) as err:
        read_matrix(ragged, "connectome.weights")
    assert "different lengths" in _one_line(err, "connectome.weights = ")
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as z:
        z.writestr("weights.txt", "1")
    with pytest.raises(ParameterError) as err:
        read_tvb_zip(empty)
    assert "tract_lengths.txt" in _one_line(err, "connectome.zip = ")


# ---------------------------------------------------------------------- config


BASE = {
    "mesh": {"source": "interval"},
    "time": {"t_end": 1.0, "dt": 0.01, "scheme": "rk4", "n_outputs": 2},
}


def _config(tmp_path, **table):
    np.save(tmp_path / "W.npy", np.ones((2, 2)))
    np.save(tmp_path / "labels.npy", np.zeros(5))
    table = {"weights": "W.npy", "labels": "labels.npy", **table}
    return {**BASE, "connectome": table}


@pytest.mark.parametrize(
    "change,start",
    [
        ({"time": {**BASE["time"], "scheme": "adaptive"}}, "time.scheme = 'adaptive'"),
        ({"solver": {"model": "local"}}, "connectome = "),
        ({"connectome": {"zip": "c.zip", "weights": "W.npy", "labels": "l.npy"}}, "connectome.zip"),
        ({"connectome": {"weights": "W.npy"}}, "connectome.labels = ''"),
        ({"connectome": {"weights": "W.npy", "labels": []}}, "connectome.labels = []"),
        ({"connectome": {"weights": "W.npy", "labels": ["l.npy", 2]}}, "connectome.labels = ['"),
        (  # a list of labels for a bundled domain: one file, not two
            {"connectome": {"weights": "W.npy", "labels": ["labels.npy", "labels.npy"]}},
            "connectome.labels = ['labels.npy', 'labels.npy'] is not allowed: 2 label file(s)",
        ),
        (
            {"connectome": {"weights": "W.npy", "labels": "labels.npy", "speed": 0.0}},
            "connectome.sp",
        ),
        ({"connectome": {"weights": "nothing.npy", "labels": "labels.npy"}}, "connectome.weights"),
        ({"connectome": {"weights": "W.npy", "labels": "labels.npy", "G": "x"}}, "connectome.G"),
    ],
)
def test_bad_connectome_config_is_refused(tmp_path, change, start):
    data = {**_config(tmp_path), **change}
    with pytest.raises(ParameterError) as err:
        parse_config(data, tmp_path)
    _one_line(err, start)


def test_connectome_config_reads(tmp_path):
    config = parse_config(_config(tmp_path, speed=float("inf"), G=0.5), tmp_path)
    assert config.connectome.speed == float("inf") and config.connectome.G == 0.5
    np.save(tmp_path / "labels.npy", np.array([0, 2]))
    with pytest.raises(ConfigError) as err:
        parse_config({**BASE, "connectome": {"weights": "W.npy", "labels": "labels.npy"}}, tmp_path)
    assert "outside the regions" in _one_line(err, "connectome.labels = ")


def test_adaptive_scheme_is_refused():
    with pytest.raises(ParameterError) as err:
        check_scheme("adaptive")
    assert "euler, heun, ssprk3, rk4" in _one_line(err, "time.scheme = 'adaptive'")
    for scheme in ("euler", "heun", "ssprk3", "rk4"):
        check_scheme(scheme)


# ---------------------------------------------------------------------- the term


def test_region_means_match_a_plain_loop(rng):
    n, k = 50, 4
    labels, masses, rho0 = rng.integers(0, k, n), rng.random(n), rng.random(n)
    rho0[labels == 2] = 0.0  # region 2 has no ρ0-mass: no mean
    V = rng.standard_normal(n)
    means = RegionMeans(labels, masses, rho0, k, SELF)
    for r in range(k):
        w = masses[labels == r] * rho0[labels == r]
        expected = (w @ V[labels == r]) / w.sum() if w.sum() > 0 else 0.0
        assert means(V)[r] == pytest.approx(expected, rel=1e-14, abs=0)
    assert list(means.present) == [True, True, False, True]


def test_uniform_state_feels_no_coupling(rng):
    n, k = 40, 5
    labels = np.arange(n) % k
    labels[labels == 3] = 4  # region 3 is empty: left out
    W, L = rng.random((k, k)), 10 * rng.random((k, k))
    c = _coupling(W, L, labels, rng.random(n), rng.random(n), G=2.0, speed=3.0, dt=0.05)
    assert c.max_delay > 5
    V = np.full(n, 0.37)
    c.start(V)
    for step in range(1, 30):
        c.advance_history(step * 0.05, V)
        for frac in (0.0, 0.5, 1.0):
            assert np.abs(c.term((step + frac) * 0.05, V)).max() <= 1e-15


def test_zero_delay_coupling_conserves_the_rho0_mass_weighted_sum(rng):
    """Σ_i m_i ρ0_i C_label(i) = G Σ_kl M_k W_kl (V̄_l − V̄_k) = 0 when M_k W_kl is symmetric:
    symmetric W on regions of equal ρ0-mass, or W_kl = S_kl / M_k with S symmetric."""
    n, k = 60, 4
    labels = np.arange(n) % k
    masses, rho0, V = rng.random(n), rng.random(n), rng.standard_normal(n)
    S = rng.random((k, k))
    S = S + S.T
    M = RegionMeans(labels, masses, rho0, k, SELF).mass
    c = _coupling(S / M[:, None], np.zeros((k, k)), labels, masses, rho0, G=3.0)
    c.start(V)
    total = (masses * rho0) @ c.term(0.0, V)
    scale = (masses * rho0) @ np.abs(c.term(0.0, V))
    assert abs(total) <= 1e-14 * scale and scale > 1
    # equal region masses: symmetric W itself
    masses_eq = np.ones(n)
    c = _coupling(S, np.zeros((k, k)), labels, masses_eq, np.ones(n), G=3.0)
    c.start(V)
    assert abs(c.term(0.0, V).sum()) <= 1e-13 * np.abs(c.term(0.0, V)).sum()


def test_prescribed_signal_is_delayed_by_whole_steps():
    """V̄_l(t) prescribed on the step grid: the term is G W_kl (V̄_l(t − d_kl) − V̄_k(t)) with the
    constant extension before t = 0, and linear in the stage fraction between step values."""
    dt, G, speed = 0.1, 1.5, 2.0
    n_01, n_10 = 3, 5
    W = np.array([[0.0, 0.7], [1.3, 0.0]])
    L = np.array([[0.0, n_01 * dt * speed], [n_10 * dt * speed, 0.0]])
    labels = np.array([0, 0, 1, 1, 1])
    masses = np.array([1.0, 2.0, 0.5, 1.0, 3.0])
    rho0 = np.array([1.0, 0.25, 2.0, 1.0, 0.5])
    c = _coupling(W, L, labels, masses, rho0, G=G, speed=speed, dt=dt)
    assert c.delay_steps.tolist() == [[0, n_01], [n_10, 0]]

    def f(t):  # the prescribed region means
        t = max(t, 0.0)
        return np.array([np.sin(3 * t) + 0.2, np.cos(2 * t) - t])

    def state(means):
        return means[labels]

    c.start(state(f(0.0)))
    for step in range(12):
        t_n = step * dt
        if step:
            c.advance_history(t_n, state(f(t_n)))
        stage = np.array([-0.4, 0.9])
        for frac in (0.0, 0.5, 1.0):
            lag = (1 - frac) * np.array([f(t_n - n_01 * dt)[1], f(t_n - n_10 * dt)[0]]) + frac * (
                np.array([f(t_n - (n_01 - 1) * dt)[1], f(t_n - (n_10 - 1) * dt)[0]])
            )
            expected = G * np.array([W[0, 1], W[1, 0]]) * (lag - stage)
            got = c.region_term(t_n + frac * dt, state(stage))
            assert np.allclose(got, expected, rtol=1e-14, atol=1e-14)
            assert np.array_equal(c.term(t_n + frac * dt, state(stage)), got[labels])


class _TwoRegions:
    """x' = −x + C_0, y' = −y + C_1: two vertices, one per region (a test model)."""

    comm = SELF
    parts = frozenset({"rhs", "history"})

    def __init__(self, coupling):
        self.coupling = coupling

    def rhs(self, t, y):
        return -y + self.coupling.term(t, y)

    def after_step(self, t, y):
        self.coupling.advance_history(t, y)


def _method_of_steps(x0, y0, a, g, d, t):
    """x' = −a x + g y(t − d), y' = −a y + g x(t − d), constant history, at t in [d, 2d]: on
    [0, d] the delayed values are the initial ones, on [d, 2d] the phase-1 exponentials."""
    x_inf, y_inf = g * y0 / a, g * x0 / a

    def phase1(u0, u_inf, s):
        return u_inf + (u0 - u_inf) * np.exp(-a * s)

    def phase2(u_d, other0, other_inf, s):
        base = g * other_inf / a
        return base + (u_d - base) * np.exp(-a * s) + g * (other0 - other_inf) * s * np.exp(-a * s)

    s = t - d
    x_d, y_d = phase1(x0, x_inf, d), phase1(y0, y_inf, d)
    return np.array([phase2(x_d, y0, y_inf, s), phase2(y_d, x0, x_inf, s)])


@pytest.mark.parametrize("scheme,order", [("euler", 1), ("heun", 2), ("rk4", 2)])
def test_delay_equation_converges_to_the_method_of_steps(scheme, order):
    """Second order with the stage interpolation of the delayed means (first for Euler)."""
    G, w, d, speed = 1.0, 0.8, 1.0, 4.0
    W = np.array([[0.0, w], [w, 0.0]])
    L = np.array([[0.0, d * speed], [d * speed, 0.0]])
    y0 = np.array([1.0, -0.5])
    exact = _method_of_steps(*y0, 1 + G * w, G * w, d, 2 * d)
    errors = []
    for n in (8, 16, 32):
        c = _coupling(W, L, [0, 1], [1.0, 1.0], [1.0, 1.0], G=G, speed=speed, dt=d / n)
        assert c.max_delay == n
        c.start(y0)
        _, y, steps = FixedStep(TABLEAUX[scheme], d / n).advance(_TwoRegions(c), 0.0, y0, 2 * d)
        assert steps == 2 * n
        errors.append(np.abs(y - exact).max())
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(rates > order - 0.15) and np.all(rates < order + 0.5), (errors, rates)


def test_a_history_beyond_one_gib_is_refused():
    W, L = np.ones((2, 2)), np.full((2, 2), 1.0)
    with pytest.raises(ParameterError) as err:
        _coupling(W, L, [0, 1], [1.0, 1.0], [1.0, 1.0], speed=1e-9, dt=0.1)
    assert "GiB" in _one_line(err, "connectome.speed = 1e-09")


def test_history_restore_continues_bit_identically(rng):
    dt = 0.05
    W, L = rng.random((3, 3)), dt * (0.6 + 5 * rng.random((3, 3)))  # delays of 1 to 6 steps
    labels, masses, rho0 = np.array([0, 1, 2, 2]), rng.random(4), rng.random(4)

    def make():
        return _coupling(W, L, labels, masses, rho0, G=0.7, speed=1.0, dt=dt)

    c = make()
    assert c.max_delay >= 5 and c.delay_steps.min() >= 1
    integrator = FixedStep(TABLEAUX["rk4"], dt)
    y0 = rng.standard_normal(4)
    c.start(y0)
    _, y_mid, _ = integrator.advance(_TwoRegions(c), 0.0, y0, 7 * dt)
    saved = {k: v.copy() for k, v in c.history_state().items()}
    _, y_a, _ = integrator.advance(_TwoRegions(c), 7 * dt, y_mid, 20 * dt)
    c2 = make()
    c2.start(np.zeros(4))
    c2.restore(saved)
    _, y_b, _ = integrator.advance(_TwoRegions(c2), 7 * dt, y_mid, 20 * dt)
    assert np.array_equal(y_a, y_b)
    assert saved["means"].shape == (c.max_delay + 1, 3) and saved["t"][0] == pytest.approx(7 * dt)
    other = _coupling(W, L, labels, masses, rho0, G=0.7, speed=0.1, dt=dt / 2)
    with pytest.raises(ParameterError) as err:
        other.restore(saved)
    _one_line(err, "--restart = 'connectome history'")


# ---------------------------------------------------------------------- runs

RUN = """
[mesh]
source = "interval"
[kernel]
type = "gaussian"
width = 0.5
strength = 2.0
[initial]
V = "1.0 if x < 2 else -0.69248"
W = -0.36042
[output]
png = {png}
gif = false
progress = false
formats = []
[time]
t_end = {t_end}
dt = 0.01
n_outputs = {n_out}
scheme = "rk4"
[checkpoint]
every = 1
[connectome]
weights = "W.npy"
tract_lengths = "L.npy"
labels = "labels.npy"
speed = 2.0
G = 0.8
projection = "P.npy"
sensors = "sensors.txt"
"""


def connectome_run_inputs(folder, comm):
    """W, L, labels (4 regions along x) and a projection P for the bundled interval mesh."""
    import tomllib

    from fem_fhn.mesh import NodalMesh
    from fem_fhn.parallel import to_global_order

    nodes = NodalMesh.load("interval", comm)
    x = to_global_order(comm, nodes.global_index, nodes.coords[:, 0])
    if comm.rank == 0:
        gen = np.random.default_rng(5)
        labels = np.minimum((4 * (x - x.min()) / np.ptp(x)).astype(int), 3)
        np.save(folder / "labels.npy", labels)
        np.save(folder / "W.npy", gen.random((4, 4)))
        np.save(folder / "L.npy", 0.1 + 0.4 * gen.random((4, 4)))
        P = gen.standard_normal((4, x.size))
        P[1] = np.nan  # a sensor without a projection: left out
        np.save(folder / "P.npy", P)
        (folder / "sensors.txt").write_text("Fp1 1 0 0\nFp2 0 1 0\nCz 0 0 1\nOz 1 1 0\n")
    comm.barrier()

    def config(t_end, n_out, png="false"):
        text = RUN.format(t_end=t_end, n_out=n_out, png=png)
        return parse_config(tomllib.loads(text), folder)

    return config


def test_weighted_form_matches_the_v_form(tmp_path):
    """solver.form = "Z" evolves ρ0 V with ρ0 × the coupling: the same region series."""
    import tomllib

    from fem_fhn.runner import run

    connectome_run_inputs(tmp_path, SELF)  # writes the input files
    base = RUN.format(t_end=0.5, n_out=2, png="false")
    base += '[rho0]\nvalue = "1 + 0.5 * sin(x)"\n'
    for form in ("V", "Z"):
        text = base + f'[solver]\nform = "{form}"\n'
        run(parse_config(tomllib.loads(text), tmp_path), tmp_path / form, SELF)
    _, v_form = _csv(tmp_path / "V" / "regions.csv")
    _, z_form = _csv(tmp_path / "Z" / "regions.csv")
    assert np.ptp(v_form[:, 1:]) > 0.1 and np.abs(v_form - z_form).max() <= 1e-12


def _csv(path):
    with open(path) as f:
        rows = list(csv.reader(f))
    return rows[0], np.array(rows[1:], dtype=float)


def test_run_writes_regions_and_sensors_and_restarts_exactly(tmp_path):
    from fem_fhn.runner import run

    config = connectome_run_inputs(tmp_path, SELF)
    states = []

    def capture(setup):
        return lambda output: states.append((output.t, output.fields["V"].copy(), setup))

    summary = run(config(1.0, 4, "true"), tmp_path / "full", SELF, observers=[capture])
    delays = np.rint(np.load(tmp_path / "L.npy") / 2.0 / 0.01)  # speed 2, dt 0.01
    assert summary["connectome"]["max_delay_steps"] == delays.max() > 10
    for name in ("regions.csv", "regions.png", "sensors.csv", "sensors.png"):
        assert name in summary["files"] and (tmp_path / "full" / name).is_file()
    header, regions = _csv(tmp_path / "full" / "regions.csv")
    sensor_header, sensors = _csv(tmp_path / "full" / "sensors.csv")
    assert sensor_header == ["t", "Fp1", "Cz", "Oz"]
    assert header == ["t", "region0", "region1", "region2", "region3"]
    setup = states[0][2]
    labels = np.load(tmp_path / "labels.npy")[setup.nodes.global_index]
    P = np.load(tmp_path / "P.npy")[[0, 2, 3]][:, setup.nodes.global_index]
    w = setup.nodes.masses * setup.rho0
    assert regions.shape == (5, 5) and sensors.shape == (5, 4)
    for row_r, row_s, (t, V, _) in zip(regions, sensors, states, strict=True):
        means = [(w[labels == k] @ V[labels == k]) / w[labels == k].sum() for k in range(4)]
        assert row_r[0] == t and np.allclose(row_r[1:], means, rtol=1e-13, atol=1e-15)
        assert np.allclose(row_s[1:], P @ V, rtol=1e-13, atol=1e-13)
    assert np.ptp(regions[:, 1:]) > 0.1  # the regions do move

    run(config(0.5, 2), tmp_path / "half", SELF)
    run(config(1.0, 4), tmp_path / "half", SELF, restart=tmp_path / "half")
    _, _, full = read_global(tmp_path / "full")
    meta, _, resumed = read_global(tmp_path / "half")
    assert meta["t"] == 1.0 and np.abs(resumed - full).max() <= 1e-12
    _, regions_resumed = _csv(tmp_path / "half" / "regions.csv")
    assert np.array_equal(regions_resumed[:, 0], regions[:, 0])
    assert np.abs(regions_resumed - regions).max() <= 1e-12


def test_plot_series_stacks_centred_traces(tmp_path, monkeypatch):
    """Each trace is drawn about its own mean, trace j shifted by j × the largest spread of the
    centred traces (sensor signals with large, different offsets stay apart and readable); a
    column without a finite value is drawn as NaN."""
    import fem_fhn.plot
    from fem_fhn.connectome.output import plot_series

    t = np.linspace(0.0, 1.0, 5)
    columns = [1000.0 + np.sin(t), -50.0 + 3.0 * t, np.full(5, np.nan)]
    path = tmp_path / "series.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["t", "a", "b", "c"])
        writer.writerows(zip(t, *columns, strict=True))
    drawn = []
    monkeypatch.setattr(fem_fhn.plot, "save", lambda fig, png: drawn.append(fig) or png)
    plot_series(path, tmp_path / "series.png")
    lines = drawn[0].axes[0].get_lines()
    centred = [c - c.mean() for c in columns[:2]]
    offset = max(np.ptp(np.concatenate(centred)), 0.0)
    for j, c in enumerate(centred):
        np.testing.assert_allclose(lines[j].get_ydata(), c + j * offset, rtol=0, atol=1e-12)
    assert np.isnan(lines[2].get_ydata()).all()


def test_auto_dt_counts_the_connectome_rate(tmp_path):
    """time.dt = "auto" is 0.9 / (2 max Kρ0 + max|N'| + 2 |G| max_k Σ_l |W_kl|). W pairs the
    regions 0 ↔ 1 and 2 ↔ 3 (weight w, no delays): V = ±1 on a pair is a mode of the coupling
    with rate −2 G w, the bound itself. With G w far above the model's own rates, Heun is
    stable at the auto step (z ≈ −0.9 on that mode) and blows up at 3 × it (z ≈ −2.7 < −2)."""
    import tomllib

    from fem_fhn.runner import build, run
    from fem_fhn.simulation import SimulationError

    connectome_run_inputs(tmp_path, SELF)
    G, w = 100.0, 1.0
    W = np.zeros((4, 4))
    W[0, 1] = W[1, 0] = W[2, 3] = W[3, 2] = w
    np.save(tmp_path / "W.npy", W)
    text = RUN.format(t_end=1.0, n_out=1, png="false")
    text = text.replace('scheme = "rk4"', 'scheme = "heun"').replace("speed = 2.0", "speed = inf")
    text = text.replace("G = 0.8", f"G = {G}").replace("[checkpoint]\nevery = 1\n", "")

    def config(dt, t_end):
        changed = text.replace("dt = 0.01", f"dt = {dt}").replace("t_end = 1.0", f"t_end = {t_end}")
        return parse_config(tomllib.loads(changed), tmp_path)

    setup = build(config('"auto"', 1.0), SELF)
    kernel_rate = 2 * np.abs(setup.model.laplacian.K_rho0).max()
    reaction_rate = 3 * 1.5**2 - 1
    expected = 0.9 / (kernel_rate + reaction_rate + 2 * G * w)
    assert setup.integrator.dt == pytest.approx(expected, rel=1e-13)
    assert 2 * G * w > 15 * (kernel_rate + reaction_rate)  # the connectome sets the step
    assert setup.kind.stable_dt(setup, 0.0) == pytest.approx(expected / 0.9, rel=1e-13)

    dt = setup.integrator.dt
    steps = 60
    summary = run(config('"auto"', steps * 3 * dt), tmp_path / "auto", SELF)
    assert summary["status"] == "completed"
    header, rows = _csv(tmp_path / "auto" / "diagnostics.csv")
    V_range = rows[-1, [header.index("min_V"), header.index("max_V")]]
    assert np.all(np.abs(V_range) < 1.5), V_range  # bounded: V stays between the cubic's wells
    with pytest.raises(SimulationError) as err:
        run(config(3 * dt, steps * 3 * dt), tmp_path / "three", SELF)
    message = str(err.value)
    assert "non-finite values in the state" in message
    assert f"is above the stability limit of this model, max_stable_dt = {dt / 0.9:.4g}" in message
