# Two commands set everything up on a fresh machine with Python 3.11+:
#   make demo   installs the library and its adapters (.venv-all), runs the offline demo
#   make test   installs the test dependencies and runs every test
# Environments: .venv holds the core and its test tools only (no framework, so the core's
# zero-dependency promise is tested); each adapter gets adapters/<name>/.venv with its framework's
# newest release; .venv-all holds every adapter together, for the conformance suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ALL_VENV := .venv-all
ARQ_VENV := .venv-arq
ADAPTERS := langgraph crewai openai_agents google_adk
PIP_FLAGS := --disable-pip-version-check --quiet

.PHONY: demo test test-core test-adapters test-conformance test-bench bench lint typecheck format clean $(addprefix test-adapter-,$(ADAPTERS))

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "agent-runtime-core needs Python 3.11+; try: make PYTHON=python3.12 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip $(PIP_FLAGS) install --upgrade pip

$(VENV)/.installed-core: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip $(PIP_FLAGS) install -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip $(PIP_FLAGS) install -e '.[test,dev]'
	@touch $@ $(VENV)/.installed-core

# The demo runs the same task natively and through the three adapters: it needs them all.
demo: $(ALL_VENV)/.installed
	$(ALL_VENV)/bin/agent-runtime demo

test: test-core test-adapters test-conformance test-bench

test-core: $(VENV)/.installed-test
	$(BIN)/python -m pytest

# One virtual environment per adapter, with the core installed first from this checkout.
adapters/%/.venv/.installed: adapters/%/pyproject.toml pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed")'
	$(PYTHON) -m venv adapters/$*/.venv
	adapters/$*/.venv/bin/python -m pip $(PIP_FLAGS) install -e . -e './adapters/$*[test]'
	@touch $@

$(addprefix test-adapter-,$(ADAPTERS)): test-adapter-%: adapters/%/.venv/.installed
	cd adapters/$* && .venv/bin/python -m pytest

test-adapters: $(addprefix test-adapter-,$(ADAPTERS))

$(ALL_VENV)/.installed: pyproject.toml $(foreach a,$(ADAPTERS),adapters/$(a)/pyproject.toml)
	$(PYTHON) -m venv $(ALL_VENV)
	$(ALL_VENV)/bin/python -m pip $(PIP_FLAGS) install -e '.[test,otel]' $(foreach a,$(ADAPTERS),-e './adapters/$(a)[test]')
	@touch $@

# The suite across frameworks, in one environment with all three (not collected by test-core).
test-conformance: $(ALL_VENV)/.installed
	$(ALL_VENV)/bin/python -m pytest -o addopts="--strict-markers -ra --import-mode=importlib" tests/conformance

# The queue benchmark compares with arq, whose redis<6 pin would downgrade .venv-all's redis-py:
# its workers (ours and arq's alike) run in a small environment of their own.
$(ARQ_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(ARQ_VENV)
	$(ARQ_VENV)/bin/python -m pip $(PIP_FLAGS) install -e '.[bench]'
	@touch $@

# Every benchmark, tiny, so bench/ cannot rot (it checks tables are printed, never a speed).
test-bench: $(ALL_VENV)/.installed $(ARQ_VENV)/.installed
	$(ALL_VENV)/bin/python -m pytest -o addopts="--strict-markers -ra --import-mode=importlib" tests/bench

# The benchmarks: ratios against baselines measured in the same run (docs/performance.md).
bench: $(ALL_VENV)/.installed $(ARQ_VENV)/.installed
	$(ALL_VENV)/bin/python -m bench

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/mypy

typecheck: lint

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) $(ALL_VENV) $(ARQ_VENV) adapters/*/.venv .pytest_cache .mypy_cache .ruff_cache .agent-runtime
