# Two commands do all the set-up on a fresh machine:
#   make run    build the environment, index docs_raw/ and start the web UI on the embedded defaults
#   make test   build the environment and run the test suite (what CI runs)
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test env bench docs clean constraints check-pins

env: $(STAMP)

$(STAMP): requirements.txt constraints.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --progress-bar off -r requirements.txt -c constraints.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/rag ingest docs_raw/
	$(VENV)/bin/rag ui

test: $(STAMP)
	bash scripts/browser-deps.sh
	$(PY) -m pytest $(PYTEST_ARGS)

# Re-create constraints.txt from the working environment (exact name==version pins only, never the
# local paths a bare `pip freeze` writes for packages installed from a file), then check the pins.
constraints: $(STAMP)
	$(PY) scripts/pins.py freeze
	$(PY) scripts/pins.py check

# What CI checks before anything else: every pin resolves from the registry alone (no cache, no
# local wheels), so a pin that only this machine can satisfy fails here and not on a newcomer's.
check-pins:
	bash scripts/check-registry.sh

bench: $(STAMP)
	$(PY) bench/retrieval_quality.py
	$(PY) bench/ingest_throughput.py
	$(PY) bench/query_latency.py

# The generated docs: docs/settings.md and docs/cli.md from the code, docs/measurements.md and the
# README's figures from bench/results/*.json (tests/test_docs.py fails when they are stale).
docs:
	$(PY) scripts/gen_docs.py

clean:
	rm -rf $(VENV) .rag
