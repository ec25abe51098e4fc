# Two commands set everything up on a fresh machine with Python 3.11+ and make (make test also needs
# Node.js 20+ and npm, for the server's AG-UI client and browser tests); no other system package,
# everything comes from PyPI and npm:
#   make demo   installs the library and its adapters (.venv-all), runs the offline demo
#   make test   installs the test dependencies and runs every test
# Installer: uv, bootstrapped from PyPI with pip into .venv-tools (the only pip install here). uv
# downloads in parallel into one cache (~/.cache/uv, UV_CACHE_DIR) and hardlinks from it, so a
# package shared by several environments is downloaded and unpacked once.
# Environments (each distribution of this checkout installed editable):
#   .venv                 the core and its test tools only: no framework, so the core's
#                         zero-dependency promise is tested
#   adapters/<name>/.venv one adapter with its framework's newest release, and no other framework
#   .venv-all             every adapter together: the demo, the conformance suite, the benchmarks
#   .venv-arq             the core and arq (whose redis<6 pin would downgrade .venv-all's redis-py)
# `make test` builds the environments first, in parallel (ENV_JOBS of them at a time), then runs
# the suites one after another.
PYTHON ?= python3
ENV_JOBS ?= 4
UV_VERSION ?= 0.13.9
TOOLS := .venv-tools
UV := $(TOOLS)/bin/uv
VENV ?= .venv
BIN := $(VENV)/bin
ALL_VENV := .venv-all
ARQ_VENV := .venv-arq
ADAPTERS := langgraph crewai openai_agents pydantic_ai google_adk
ADAPTER_VENVS := $(foreach a,$(ADAPTERS),adapters/$(a)/.venv/.installed)
ENVS := $(VENV)/.installed-test $(ADAPTER_VENVS) $(ALL_VENV)/.installed $(ARQ_VENV)/.installed

# Every environment is built on the interpreter of .venv-tools (that is, on $(PYTHON)); uv must
# never download a Python of its own. uv reads no pip configuration: it installs from PyPI unless
# UV_DEFAULT_INDEX (or UV_INDEX_URL) says otherwise.
export UV_PYTHON_DOWNLOADS := never
# $(call uv-env,DIR): create the virtual environment DIR unless it exists (with pip in it, as
# `python -m venv` would: `DIR/bin/pip install ...` keeps working).
uv-env = test -x $(1)/bin/python || $(UV) venv --quiet --seed --python $(TOOLS)/bin/python $(1)
# Bytecode: Python compiles and caches what is imported, on first import, which is cheaper than
# compiling all ~17,000 files of .venv-all ahead. With PYTHONDONTWRITEBYTECODE set nothing would
# ever be cached, and every test process would compile the frameworks again: then uv compiles
# everything at install time, as pip always does (COMPILE_BYTECODE=yes or no decides).
COMPILE_BYTECODE ?= $(if $(PYTHONDONTWRITEBYTECODE),yes,no)
UV_PIP := $(UV) pip install --quiet $(if $(filter yes,$(COMPILE_BYTECODE)),--compile-bytecode) --python
.PHONY: demo test test-js-deps envs test-core test-adapters test-conformance test-bench test-packaging bench lint typecheck format clean $(addprefix test-adapter-,$(ADAPTERS))

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "agent-runtime-core needs Python 3.11+; try: make PYTHON=python3.12 ...")'
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip --disable-pip-version-check --quiet install 'uv==$(UV_VERSION)'

$(VENV)/.installed-test: pyproject.toml | $(UV)
	$(call uv-env,$(VENV))
	$(UV_PIP) $(BIN)/python -e '.[test,dev]'
	@touch $@

# The demo runs the same task natively and through the three adapters: it needs them all.
# `make demo SERVE=1` serves the run viewer on the demo's agents instead and prints its URL.
demo: $(ALL_VENV)/.installed
	$(ALL_VENV)/bin/agent-runtime demo $(if $(SERVE),--serve)

# The environments first (side by side), then the suites, one after another.
test: test-js-deps envs
	@$(MAKE) --no-print-directory test-core test-adapters test-conformance test-packaging test-bench

# Every environment `make test` uses, built side by side (they share uv's cache).
envs:
	@$(MAKE) --no-print-directory -j$(ENV_JOBS) $(ENVS)

# The server's tests drive real Node.js clients (AG-UI's TypeScript client, a headless Chromium
# shipped by an npm package): npm ci installs them from tests/serve/js/package-lock.json.
JS_DIR := tests/serve/js
$(JS_DIR)/node_modules/.installed: $(JS_DIR)/package.json $(JS_DIR)/package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "make test needs Node.js 20+ and npm for the server's AG-UI client and browser tests; install them (e.g. apt-get install nodejs npm) and run make test again." >&2; exit 1; }
	cd $(JS_DIR) && npm ci --no-audit --no-fund
	@touch $@

test-js-deps: $(JS_DIR)/node_modules/.installed

test-core: $(VENV)/.installed-test
	$(BIN)/python -m pytest

# One virtual environment per adapter: the core and that adapter, editable from this checkout.
adapters/%/.venv/.installed: adapters/%/pyproject.toml pyproject.toml | $(UV)
	$(call uv-env,adapters/$*/.venv)
	$(UV_PIP) adapters/$*/.venv/bin/python -e . -e './adapters/$*[test]'
	@touch $@

$(addprefix test-adapter-,$(ADAPTERS)): test-adapter-%: adapters/%/.venv/.installed
	cd adapters/$* && .venv/bin/python -m pytest

test-adapters: $(addprefix test-adapter-,$(ADAPTERS))

$(ALL_VENV)/.installed: pyproject.toml $(foreach a,$(ADAPTERS),adapters/$(a)/pyproject.toml) | $(UV)
	$(call uv-env,$(ALL_VENV))
	$(UV_PIP) $(ALL_VENV)/bin/python -e '.[test,otel]' $(foreach a,$(ADAPTERS),-e './adapters/$(a)[test]')
	@touch $@

# The suite across frameworks, in one environment with all three (not collected by test-core).
test-conformance: $(ALL_VENV)/.installed
	$(ALL_VENV)/bin/python -m pytest -o addopts="--strict-markers -ra --import-mode=importlib" tests/conformance

# The four distributions built as wheels and installed from those files into a fresh environment
# (the frameworks they need are taken from .venv-all: see the test's docstring).
test-packaging: $(ALL_VENV)/.installed
	$(ALL_VENV)/bin/python -m pytest -o addopts="--strict-markers -ra --import-mode=importlib" tests/packaging

# The queue benchmark compares with arq, whose redis<6 pin would downgrade .venv-all's redis-py:
# its workers (ours and arq's alike) run in a small environment of their own.
$(ARQ_VENV)/.installed: pyproject.toml | $(UV)
	$(call uv-env,$(ARQ_VENV))
	$(UV_PIP) $(ARQ_VENV)/bin/python -e '.[bench]'
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
	rm -rf $(TOOLS) $(VENV) $(ALL_VENV) $(ARQ_VENV) adapters/*/.venv .pytest_cache .mypy_cache .ruff_cache .agent-runtime tests/serve/js/node_modules .artifacts
