# Two entry points: `make reproduce` (set-up + main job) and `make test` (set-up + tests).
PYTHON ?= python3
VENV ?= .venv
# CPU build of torch that lies on this machine's disk; GPU users: make setup TORCH="torch==2.x.y"
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test test-fast reproduce figures bench clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install "$(TORCH)"
	$(BIN)/pip install -e ".[test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name lsa --display-name "LSA (.venv)"
	touch $(STAMP)

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

reproduce: setup
	$(BIN)/lsa evaluate --config config/default.yaml

bench: setup
	$(BIN)/python benchmarks/bench_core.py

clean-venv:
	rm -rf $(VENV)
