"""The connectome coupling on 2 ranks agrees with 1 rank: region means, the delayed term along a
time integration, the delay history (identical on every rank), regions.csv and sensors.csv of a
run, and restarts across rank counts (1e-12 on the same ranks, 1e-10 across)."""

from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from fem_fhn.checkpoint import read_global
from fem_fhn.connectome import Connectome, ConnectomeCoupling, RegionMeans
from fem_fhn.timestepping import TABLEAUX, FixedStep

COMM = MPI.COMM_WORLD


class _Vertices:
    """y' = −y + C_label(i) on the owned vertices (a test model)."""

    parts = frozenset({"rhs", "history"})

    def __init__(self, coupling, comm):
        self.coupling, self.comm = coupling, comm

    def rhs(self, t, y):
        return -y + self.coupling.term(t, y)

    def after_step(self, t, y):
        self.coupling.advance_history(t, y)


def _integrate(comm, rows, labels, masses, rho0, y0, connectome, dt):
    means = RegionMeans(labels[rows], masses[rows], rho0[rows], connectome.n_regions, comm)
    c = ConnectomeCoupling(connectome, means, 1.3, 1.0, dt)
    c.start(y0[rows])
    _, y, _ = FixedStep(TABLEAUX["rk4"], dt).advance(_Vertices(c, comm), 0.0, y0[rows], 40 * dt)
    return y, c.history_state()


@pytest.mark.mpi
def test_coupled_integration_is_rank_independent():
    assert COMM.size == 2
    gen = np.random.default_rng(3)
    n, k, dt = 101, 5, 0.05
    labels = gen.integers(0, k, n)
    masses, rho0, y0 = gen.random(n), gen.random(n), gen.standard_normal(n)
    connectome = Connectome(gen.random((k, k)), dt * (0.6 + 8 * gen.random((k, k))), tuple("abcde"))
    split = [np.arange(0, 40), np.arange(40, n)][COMM.rank]
    y, history = _integrate(COMM, split, labels, masses, rho0, y0, connectome, dt)
    y_serial, history_serial = _integrate(
        MPI.COMM_SELF, np.arange(n), labels, masses, rho0, y0, connectome, dt
    )
    assert np.abs(y - y_serial[split]).max() <= 1e-13
    assert history["means"].shape == (int(np.rint(connectome.tract_lengths / dt).max()) + 1, k)
    assert np.abs(history["means"] - history_serial["means"]).max() <= 1e-14
    gathered = COMM.allgather(history["means"])
    assert np.array_equal(gathered[0], gathered[1])  # the history is the same on every rank


@pytest.mark.mpi
def test_run_on_two_ranks_matches_one_and_restarts_across(tmp_path_factory):
    assert COMM.size == 2
    from test_connectome import _csv, connectome_run_inputs

    from fem_fhn.runner import run

    root = Path(COMM.bcast(str(tmp_path_factory.mktemp("conn")) if COMM.rank == 0 else None))
    config = connectome_run_inputs(root, COMM)
    run(config(1.0, 4), root / "two", COMM)
    run(config(0.5, 2), root / "two_half", COMM)
    error = None
    if COMM.rank == 0:  # 1 rank: uninterrupted, and restarted from the 2-rank checkpoint
        try:
            run(config(1.0, 4), root / "one", MPI.COMM_SELF)
            run(config(1.0, 4), root / "one_from_two", MPI.COMM_SELF, restart=root / "two_half")
        except Exception as err:  # the other rank must not wait for ever
            error = repr(err)
    assert COMM.bcast(error, root=0) is None
    run(config(1.0, 4), root / "two_half", COMM, restart=root / "two_half")
    _, _, two = read_global(root / "two")
    _, _, one = read_global(root / "one")
    _, _, two_half = read_global(root / "two_half")
    _, _, one_from_two = read_global(root / "one_from_two")
    assert np.abs(two - one).max() <= 1e-12
    assert np.abs(two_half - two).max() <= 1e-12
    assert np.abs(one_from_two - one).max() <= 1e-10
    for name in ("regions.csv", "sensors.csv"):
        _, a = _csv(root / "two" / name)
        _, b = _csv(root / "one" / name)
        assert a.shape == b.shape == (5, {"regions.csv": 5, "sensors.csv": 4}[name])
        assert np.abs(a - b).max() <= 1e-12
