# Three commands do everything on a fresh clone: `make test`, `make demo` and `make ui` (installs included).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LOCK := requirements-dev.lock
STAMP := $(VENV)/.installed-$(shell cat $(LOCK) pyproject.toml | sha1sum | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: install test lint typecheck unit suite demo ui browser tools load chaos benchmarks clean lock

install: $(STAMP)

# A fresh clone downloads, installs and byte-compiles ~200 packages: each step says what it does
# first, and uv reports its progress (bars on a terminal, one line per phase and package in CI logs).
$(STAMP): $(LOCK) pyproject.toml
	@echo "install: the locked dependencies into $(VENV): download, install, then byte-compile (silent; 1-3 minutes on a fresh clone, seconds afterwards)"
	@command -v uv >/dev/null 2>&1 || { echo "install: uv (pip install uv)"; $(PYTHON) -m pip install --quiet uv; }
	@test -x $(PY) || uv venv --quiet --python $(PYTHON) $(VENV)
	uv pip install --compile-bytecode --python $(PY) -r $(LOCK)
	uv pip install --quiet --python $(PY) --no-deps -e .
	@echo "install: done"
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

lock:
	uv pip compile pyproject.toml --extra dev --extra simulator --extra cluster --python-version 3.11 -o $(LOCK)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

# The fast tier for the edit-test loop: everything but the slow markers (see pyproject's markers).
FAST := not (dagrun or e2e or s3 or load or packaging or cluster or ui)

# Its tests spend more than half their wall time waiting on loopback servers and short polls, so
# they run in one pytest-xdist worker per core (UNIT_WORKERS=0 runs them in this process).
UNIT_WORKERS ?= auto

unit: install
	$(VENV)/bin/pytest -q -n $(UNIT_WORKERS) -m "$(FAST)" $(PYTEST_ARGS)

# Every test, every marker (the ui tests need the browser: installed here, an error when it cannot be),
# in two passes: the tests that share stacks or load the machine (ui, cluster, load) run in this
# process in order; the others mostly wait on loopback servers, so they run in one pytest-xdist
# worker per core, a file per worker (SUITE_WORKERS=0: one process). Both passes always run;
# the suite fails if either did.
SUITE_WORKERS ?= auto
SERIAL := ui or cluster or load

suite: install browser tools
	@$(VENV)/bin/pytest -q -n $(SUITE_WORKERS) --dist loadfile -m "not ($(SERIAL))" $(PYTEST_ARGS); first=$$?; \
	$(VENV)/bin/pytest -q -m "$(SERIAL)" $(PYTEST_ARGS); second=$$?; \
	exit $$(( first || second ))

test: lint typecheck suite

demo: install
	$(PY) scripts/demo.py

# The Airflow UI on the simulator and SeaweedFS; Ctrl-C stops everything (state in .videogen-ui/).
ui: install
	$(PY) -m airflow_provider_videogen.testing.ui $(UI_ARGS)

# The browser tests (marker `ui`) drive Debian's Chromium; install it when missing (needs root).
CHROMIUM := /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y --no-install-recommends chromium || { apt-get update && apt-get install -y --no-install-recommends chromium; }; \
	  else echo "$(CHROMIUM) is missing: run 'sudo apt-get install -y chromium' (the ui tests need it)" >&2; exit 1; fi; }
	@test -x $(CHROMIUM) || { echo "could not install $(CHROMIUM)" >&2; exit 1; }

# strace: the README test that proves no key reaches a command line (tests/test_readme_key_not_in_argv.py).
tools:
	@command -v strace >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y --no-install-recommends strace || { apt-get update && apt-get install -y --no-install-recommends strace; }; \
	  else echo "strace is missing: run 'sudo apt-get install -y strace' (a README test needs it)" >&2; exit 1; fi; }

# The cluster load test at full size: 200 mapped generations in each mode (classic, end_from_trigger,
# start_from_trigger, batches of 25) side by side on one cluster; the suite runs 24 in classic, start, batch.
load: install
	VIDEOGEN_LOAD_FULL=1 $(VENV)/bin/pytest -q -s tests/cluster/test_load.py $(PYTEST_ARGS)

# A chaos run (issue 24, CHAOS.md): seeded faults on the cluster under a mixed load, invariants after;
# exits non-zero on a violation. CHAOS_ARGS passes more options (e.g. --keep, --break inflight-marker).
CHAOS_SEED ?= 1
CHAOS_VIDEOS ?= 60
CHAOS_MINUTES ?= 10
CHAOS_ARGS ?=
chaos: install
	$(PY) -m airflow_provider_videogen.testing.chaos --seed $(CHAOS_SEED) --videos $(CHAOS_VIDEOS) --minutes $(CHAOS_MINUTES) $(CHAOS_ARGS)

benchmarks: install
	$(PY) benchmarks/trigger_scale.py
	$(PY) benchmarks/archive.py
	$(MAKE) load

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache demo-output .airflow-home ui-screenshots
