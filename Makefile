# One bootstrap for everything: `make demo` and `make test` both start here.
# uv is used when it is on PATH; otherwise the venv gets uv through pip (one
# wheel), falling back to plain pip if even that fails.  Installs come from the
# committed lock file, so every machine gets the same versions.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
UV     := $(shell command -v uv 2>/dev/null)

# PyTensor / numba caches and the like stay inside the checkout, git-ignored.
export PYTENSOR_FLAGS ?= compiledir=$(CURDIR)/.cache/pytensor
export NUMBA_CACHE_DIR ?= $(CURDIR)/.cache/numba
export MPLBACKEND ?= Agg

# Left out of the lock on purpose: jsonschema imports rfc3987-syntax (an optional IRI
# format checker, pulled in by jupyter-events) when Altair loads, and it builds a
# parser grammar at every import: 2-10 s added to every command, report and test
# worker. jsonschema skips that format check without it. The install is a sync of the
# lock (exactly its packages), so they stay out.
NOT_INSTALLED := rfc3987-syntax lark

.PHONY: install demo test test-slow lint bench lab apps lock clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || { \
	  if [ -n "$(UV)" ]; then $(UV) venv --python $(PYTHON) $(VENV); \
	  else $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV); fi; }
	@if [ -n "$(UV)" ]; then \
	  VIRTUAL_ENV=$(VENV) $(UV) pip sync --compile-bytecode requirements.lock && \
	  VIRTUAL_ENV=$(VENV) $(UV) pip install --compile-bytecode --no-deps -e .; \
	elif $(BIN)/python -m pip install -q uv; then \
	  VIRTUAL_ENV=$(VENV) $(BIN)/uv pip sync --compile-bytecode requirements.lock && \
	  VIRTUAL_ENV=$(VENV) $(BIN)/uv pip install --compile-bytecode --no-deps -e .; \
	else \
	  $(BIN)/python -m pip install -q --no-deps -r requirements.lock && \
	  $(BIN)/python -m pip install -q --no-deps -e . && \
	  $(BIN)/python -m compileall -q $(VENV)/lib >/dev/null; \
	fi
	@touch $(STAMP)

demo: install
	$(BIN)/workbench simulate --scenario default --out data/demo
	$(BIN)/workbench validate data/demo
	$(BIN)/workbench run --dataset data/demo --out reports

test: install
	$(BIN)/python -m pytest -n 2 --dist worksteal -q

# long recovery studies (large simulated stores, full posterior fits)
test-slow: install
	$(BIN)/python -m pytest -n 2 --dist worksteal -q -m slow

# ruff, and the layering the README's flow states (import-linter contracts in pyproject.toml;
# tests/test_architecture.py runs the same contracts in make test)
lint: install
	$(BIN)/ruff check workbench tests benchmarks notebooks/apps
	$(BIN)/lint-imports

# comparison tools (ChannelAttribution, lifetimes, PyMC-Marketing) go into throwaway
# venvs under .cache/, never into the project's environment
bench: install
	$(BIN)/python benchmarks/bench_simulate.py
	$(BIN)/python benchmarks/bench_experiment.py
	$(BIN)/python benchmarks/bench_discount.py --samplers nutpie pymc --features
	$(BIN)/python benchmarks/bench_attribution.py
	$(BIN)/python benchmarks/bench_ga4_import.py
	@test -x .cache/bench-clv-venv/bin/python || { $(PYTHON) -m venv .cache/bench-clv-venv && \
	  .cache/bench-clv-venv/bin/pip install -q "lifetimes==0.11.3" "pandas<2.2" "numpy<2" \
	  "scipy<1.14" autograd pyarrow pymc-marketing; }
	$(BIN)/python benchmarks/bench_clv.py
	$(BIN)/python benchmarks/bench_cli_clv.py
	$(BIN)/python benchmarks/bench_cli_attribution.py
	$(BIN)/python benchmarks/bench_policy_lab.py

# JupyterLab on the walkthrough notebooks
lab: install
	$(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

# the what-if apps (policy lab, model tuner) served by marimo on http://127.0.0.1:2718,
# on the demo store when it exists (make demo), else on a default simulated store
apps: install
	@if [ -d data/demo ]; then export WORKBENCH_APP_DATASET=data/demo; fi; \
	if [ -f reports/campaign_config.json ]; then \
	  export WORKBENCH_APP_CONFIG=reports/campaign_config.json; fi; \
	$(BIN)/marimo run --host 127.0.0.1 --port 2718 notebooks/apps

# Re-resolve the lock after changing dependencies in pyproject.toml.
lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra spark --python-version 3.11 \
	  $(foreach p,$(NOT_INSTALLED),--no-emit-package $(p)) -o requirements.lock

clean:
	rm -rf $(VENV) .cache .pytest_cache .hypothesis
