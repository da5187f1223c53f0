# Two commands: `make demo` (embedded, no cloud) and `make test` (whole suite, starts Azurite itself).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench serve docs clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	touch $@

demo: $(STAMP)
	$(VENV)/bin/shoplake demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

# The test session starts Azurite from node_modules on free ports and stops it afterwards.
test: $(STAMP) node_modules/.installed lint
	$(PY) -m pytest

# Everything but the slow and the Azurite tests (Azurite is not started; no npm needed).
test-fast: $(STAMP) lint
	$(PY) -m pytest -m "not slow and not azurite"

bench: $(STAMP)
	$(PY) bench/ingest.py
	$(PY) bench/refresh.py
	$(PY) bench/recommend.py

serve: $(STAMP)
	$(VENV)/bin/shoplake serve

# The reference documentation (docs/) as a site in site/; strict: a broken link fails.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

clean:
	rm -rf $(VENV) node_modules lake out site .pytest_cache
