"""Checkpoint/restart across rank counts, in-process: run under `mpirun -n 2` (make test-mpi).

For every solver a run on 2 ranks is stopped (a stop request, as a caught signal would make it) and
restarted on 2 ranks — it must repeat the uninterrupted 2-rank run to 1e-12 — and a run stopped on
1 rank (rank 0, COMM_SELF) is restarted on 2 ranks (tolerances of tests/test_checkpoint.py).
"""

import signal
import tomllib

import numpy as np
import pytest
from mpi4py import MPI
from test_checkpoint import ACROSS_RANKS, COMMON, SAME_RANKS, SOLVERS, T_END

from fem_fhn.checkpoint import read_global
from fem_fhn.config import parse_config
from fem_fhn.runner import run

pytestmark = pytest.mark.mpi
COMM = MPI.COMM_WORLD


def stop_after(checks: int):
    """A stop request at the given check (every rank sees the same sequence of checks)."""
    seen = [0]

    def stop() -> int:
        seen[0] += 1
        return signal.SIGTERM if seen[0] >= checks else 0

    return stop


def difference(a, b) -> float:
    """Max |difference| of two final checkpoints by global id (computed on rank 0)."""
    value = None
    if COMM.rank == 0:
        meta_a, ids_a, rows_a = read_global(a)
        meta_b, ids_b, rows_b = read_global(b)
        assert meta_a["reason"] == meta_b["reason"] == "final"
        assert meta_a["steps"] == meta_b["steps"] and np.array_equal(ids_a, ids_b)
        value = float(np.abs(rows_a - rows_b).max())
    return COMM.bcast(value, root=0)


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_restart_on_two_ranks(solver, tmp_path_factory):
    root = COMM.bcast(str(tmp_path_factory.mktemp(solver)) if COMM.rank == 0 else None)
    config = parse_config(tomllib.loads(COMMON + SOLVERS[solver]))
    t_end = T_END.get(solver, 20.0)

    reference = run(config, f"{root}/reference", COMM)
    assert reference["status"] == "completed" and reference["ranks"] == 2

    stopped = run(config, f"{root}/two", COMM, stop=stop_after(7))
    assert stopped["status"] == "interrupted" and stopped["signal"] == "SIGTERM"
    assert 0 < stopped["checkpoint"]["t"] < t_end
    resumed = run(config, f"{root}/two", COMM, restart=f"{root}/two")
    assert resumed["status"] == "completed" and resumed["final"]["t"] == t_end
    assert difference(f"{root}/two", f"{root}/reference") <= SAME_RANKS

    if COMM.rank == 0:
        one = run(config, f"{root}/one", MPI.COMM_SELF, stop=stop_after(7))
        assert one["status"] == "interrupted" and one["ranks"] == 1
    COMM.barrier()
    resumed = run(config, f"{root}/two_from_one", COMM, restart=f"{root}/one")
    assert resumed["restarts"][0]["ranks"] == 1 and resumed["ranks"] == 2
    assert difference(f"{root}/two_from_one", f"{root}/reference") <= ACROSS_RANKS[solver]
