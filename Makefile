# Two commands: `make demo` (embedded, no cloud) and `make test` (whole suite, starts Azurite itself).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The Spark lines the parity tests run on besides the venv's (the newest, requirements-dev):
# Synapse's GA line (3.4) and the line of the pool infra/ deploys (3.5, Python 3.11).
SPARK_LINES := 3.4.4 3.5.8
SPARK_STAMPS := $(SPARK_LINES:%=.spark/%/.installed)

# The dashboard's chart library (Apache ECharts, pinned in package.json), inlined in its page.
ECHARTS := shoplake/dashboard/assets/echarts.common.min.js

.PHONY: demo test test-fast lint bench serve docs clean assets

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

# Each line beside the venv, put first on PYTHONPATH by the test run that uses it.
.spark/%/.installed: | $(STAMP)
	$(PY) -m pip install --quiet --target .spark/$* pyspark==$*
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	touch $@

$(ECHARTS): node_modules/.installed
	mkdir -p $(@D)
	cp node_modules/echarts/dist/echarts.common.min.js $@

assets: $(ECHARTS)

# Debian's Chromium, for the dashboard's browser test and bench (Playwright drives it and
# downloads no browser of its own). Where apt cannot install it, those tests are skipped
# and say why.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
	|| echo "make: could not install Debian's chromium (apt-get, as root): the browser" \
		"tests will be skipped"

demo: $(STAMP) $(ECHARTS)
	$(VENV)/bin/shoplake demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

# The test session starts Azurite from node_modules on free ports and stops it afterwards;
# then the Spark parity tests run again on each other Spark line.
test: $(STAMP) node_modules/.installed $(ECHARTS) $(CHROMIUM) lint $(SPARK_STAMPS)
	$(PY) -m pytest
	for line in $(SPARK_LINES); do \
		SHOPLAKE_SPARK_LINE=$$line PYTHONPATH=.spark/$$line $(PY) -m pytest -m spark || exit 1; \
	done

# Everything but the slow and the Azurite tests (Azurite is not started).
test-fast: $(STAMP) $(ECHARTS) lint
	$(PY) -m pytest -m "not slow and not azurite"

bench: $(STAMP) $(ECHARTS) $(CHROMIUM)
	$(PY) bench/ingest.py
	$(PY) bench/refresh.py
	$(PY) bench/recommend.py
	$(PY) bench/spark.py
	$(PY) bench/dashboard.py
	$(PY) bench/forecast.py

serve: $(STAMP) $(ECHARTS)
	$(VENV)/bin/shoplake serve

# The reference documentation (docs/) as a site in site/; strict: a broken link fails.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

clean:
	rm -rf $(VENV) .spark node_modules lake out site .pytest_cache shoplake/dashboard/assets
