# fem_fhn — `make run` runs the bundled default simulation, `make test` the whole test suite.
# Both create the virtual environment .venv on first use.
SHELL := /bin/bash

# First interpreter >= 3.12 that actually runs (a pyenv shim on PATH may exist but fail).
PYTHON ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12.*/bin/python3.12 \
	/usr/local/bin/python3.12 /usr/bin/python3.12 python3.13 \
	$$HOME/.pyenv/versions/3.13.*/bin/python3.13 python3; do \
	  command -v $$p >/dev/null 2>&1 || [ -x "$$p" ] || continue; \
	  $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 && { echo $$p; break; }; \
	done)

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MPIRUN := $(VENV)/bin/mpirun
OUT ?= out/default
NP ?= 2
# One BLAS/numba thread per MPI rank keeps 2-rank runs from oversubscribing the cores.
MPI_ENV := OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1

.PHONY: run test test-serial test-mpi test-paraview lint venv docs clean

$(STAMP): pyproject.toml
	@if [ -z "$(PYTHON)" ]; then echo "error: no Python >= 3.12 found; set PYTHON=/path/to/python3.12" >&2; exit 1; fi
	@[ -x $(PY) ] || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dolfinx,plot,brain,test,dev]"
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/fem-fhn run --out $(OUT)

test: test-serial test-mpi

test-serial: $(STAMP)
	$(PY) -m pytest -m "not mpi" -q

test-mpi: $(STAMP)
	$(MPI_ENV) $(MPIRUN) -n $(NP) $(PY) -m pytest -m mpi -q -p no:cacheprovider

# The ParaView scripts of the 3D demos, run by pvbatch under xvfb-run on the demos' CI-mode output,
# with their screenshots checked. Needs ParaView and Xvfb installed (installs nothing itself).
test-paraview: $(STAMP)
	$(PY) demos/paraview/check_scripts.py

docs: $(STAMP)
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html
	@echo "documentation: docs/_build/html/index.html"

lint: $(STAMP)
	$(VENV)/bin/ruff check fem_fhn meshes tests benchmarks demos
	$(VENV)/bin/ruff format --check fem_fhn meshes tests benchmarks demos

clean:
	rm -rf $(VENV) out .pytest_cache docs/_build docs/_generated
