# Two commands do everything on a fresh clone: `make test` and `make demo` (installs included).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LOCK := requirements-dev.lock
STAMP := $(VENV)/.installed-$(shell cat $(LOCK) pyproject.toml | sha1sum | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: install test lint typecheck unit suite demo benchmarks clean lock

install: $(STAMP)

$(STAMP): $(LOCK) pyproject.toml
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	@test -x $(PY) || uv venv --quiet --python $(PYTHON) $(VENV)
	uv pip install --quiet --compile-bytecode --python $(PY) -r $(LOCK)
	uv pip install --quiet --python $(PY) --no-deps -e .
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

unit: install
	$(VENV)/bin/pytest -q -m "$(FAST)" $(PYTEST_ARGS)

# Every test, every marker.
suite: install
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

test: lint typecheck suite

demo: install
	$(PY) scripts/demo.py

benchmarks: install
	$(PY) benchmarks/trigger_scale.py
	$(PY) benchmarks/archive.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache demo-output .airflow-home
