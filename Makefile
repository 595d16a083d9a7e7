# Set-up and everyday commands. `make test` and `make run` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8000
HOST ?= 0.0.0.0
ARTIFACTS_DIR ?= artifacts

.PHONY: install lint format test test-fast train serve run ui bench monitor clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint
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

bench: $(STAMP)
	$(PY) bench/run.py

monitor: $(STAMP)
	$(PY) -m petalflow.monitor

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
