"""Shared fixtures. MPI tests carry the `mpi` marker and run under `mpirun -n 2` (make test-mpi)."""

import os

import numpy as np
import pytest

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")


@pytest.fixture
def rng():
    return np.random.default_rng(20261130)
