# Set-up and everyday commands. `make test` and `make run` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8000
HOST ?= 0.0.0.0
ARTIFACTS_DIR ?= artifacts

.PHONY: install tools lint format test test-fast train serve run ui bench monitor clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

# wrk drives the benchmark and its smoke test; installed from Debian's packages as root.
tools:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && apt-get install -y -qq wrk >/dev/null; \
	  else echo "wrk is missing: sudo apt-get install wrk"; exit 2; fi; }

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint tools
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest

test-fast: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -m "not e2e and not load"

train: $(STAMP)
	$(PY) train.py --artifacts-dir $(ARTIFACTS_DIR)

$(ARTIFACTS_DIR)/model_info.json:
	$(MAKE) train

serve: $(STAMP)
	ARTIFACTS_DIR=$(ARTIFACTS_DIR) $(VENV)/bin/uvicorn serve:app --host $(HOST) --port $(PORT)

run: $(STAMP) $(ARTIFACTS_DIR)/model_info.json serve

ui: $(STAMP)
	$(VENV)/bin/mlflow ui

bench: $(STAMP) tools
	$(PY) bench/run.py

monitor: $(STAMP)
	$(PY) -m petalflow.monitor

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
