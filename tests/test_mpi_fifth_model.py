"""The model kind of tests/fifth_model.py under mpirun -n 2, through the `fem-fhn` command line:
a run, a SIGTERM caught mid-run, a restart on 2 ranks, and a restart of the 2-rank checkpoint
on 1 rank — all equal to the uninterrupted run."""

import json
import shutil
import signal
from pathlib import Path

import fifth_model  # noqa: F401  (registers the kind)
import numpy as np
import pytest
from mpi4py import MPI
from test_fifth_model import CONFIG, RATE, T_END

from fem_fhn.checkpoint import read_global
from fem_fhn.cli import main
from fem_fhn.config import load_config
from fem_fhn.runner import run

pytestmark = pytest.mark.mpi
COMM = MPI.COMM_WORLD


def test_fifth_model_run_sigterm_and_restart_on_other_rank_counts(tmp_path_factory):
    assert COMM.size == 2
    root = Path(COMM.bcast(str(tmp_path_factory.mktemp("fifth")) if COMM.rank == 0 else None))
    config = root / "decay.toml"
    if COMM.rank == 0:
        config.write_text(CONFIG)
    COMM.barrier()
    assert main(["run", str(config), "--out", str(root / "reference"), "--quiet"]) == 0

    def sigterm_at_third_output(setup):
        def obs(output):
            if output.index == 3 and COMM.rank == 0:  # one rank is signalled: all stop
                signal.raise_signal(signal.SIGTERM)

        return obs

    stopped = run(load_config(config), root / "two", stop=None, observers=[sigterm_at_third_output])
    assert stopped["status"] == "interrupted" and stopped["signal"] == "SIGTERM"
    assert 0 < stopped["checkpoint"]["t"] < T_END and stopped["ranks"] == 2
    if COMM.rank == 0:
        shutil.copytree(root / "two", root / "two_copy")
    COMM.barrier()
    args = ["run", str(config), "--restart", str(root / "two"), "--quiet"]
    assert main(args) == 0
    meta_ref, ids_ref, rows_ref = read_global(root / "reference")
    meta, ids, rows = read_global(root / "two")
    assert meta["steps"] == meta_ref["steps"] and np.array_equal(ids, ids_ref)
    assert np.abs(rows - rows_ref).max() < 1e-12
    summary = json.loads((root / "two" / "summary.json").read_text())
    assert summary["restarts"][-1]["ranks"] == 2 and summary["decay"]["rate"] == RATE

    # the interrupted 2-rank checkpoint continued on one rank
    if COMM.rank == 0:
        one = run(
            load_config(config),
            root / "one",
            comm=MPI.COMM_SELF,
            restart=root / "two_copy",
        )
        assert one["ranks"] == 1 and one["status"] == "completed"
        meta, ids, rows = read_global(root / "one")
        assert meta["steps"] == meta_ref["steps"] and np.abs(rows - rows_ref).max() < 1e-12
