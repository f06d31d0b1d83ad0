"""Phase timings under MPI: the report takes the largest time of each phase over the ranks."""

import time

import pytest
from mpi4py import MPI

from fem_fhn.profiling import PhaseTimer


@pytest.mark.mpi
def test_report_is_the_largest_over_ranks():
    comm = MPI.COMM_WORLD
    timer = PhaseTimer()
    with timer.timed("transport"):
        time.sleep(0.01 + 0.04 * comm.rank)
    local = timer.seconds["transport"]
    report = timer.report(1.0, comm)
    assert report["transport"] == pytest.approx(comm.allreduce(local, op=MPI.MAX), abs=1e-6)
    assert report["transport"] >= 0.05
