"""Shared fixtures. MPI tests carry the `mpi` marker and run under `mpirun -n 2` (make test-mpi)."""

import os

import numpy as np
import pytest

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")


@pytest.fixture
def rng():
    return np.random.default_rng(20261130)


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    """Under mpirun only rank 0 reports, so the output reads like one run."""
    if int(os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0"))) > 0:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            config.pluginmanager.unregister(reporter)


@pytest.fixture(autouse=True)
def _mpi_tests_run_on_two_ranks(request):
    """An `mpi` test proves nothing on one rank: each one asserts that it runs on two."""
    if request.node.get_closest_marker("mpi") is not None:
        from mpi4py import MPI

        assert MPI.COMM_WORLD.size == 2, (
            f"{request.node.name} is an MPI test: run it under mpirun -n 2 (make test-mpi), "
            f"not on {MPI.COMM_WORLD.size} rank(s)"
        )
