# Set-up and everyday commands. `make test` and `make run` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8000
HOST ?= 0.0.0.0
ARTIFACTS_DIR ?= artifacts
# How uvicorn bounds its clients (docs/serving.md, "Limits and production proxies"). The
# Dockerfile's CMD and the documented commands use the same flags (a test checks).
UVICORN_LIMITS := --http serve:HttpProtocol --limit-concurrency 1000 --timeout-keep-alive 5 --timeout-graceful-shutdown 5

.PHONY: install tools lint format test test-fast train serve check-port run ui bench bench-scale bench-tuning bench-regression monitor clean

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "petalflow needs Python >= 3.11; '$(PYTHON)' is: $$($(PYTHON) --version 2>/dev/null || echo 'not found')."; \
	  echo "Install Python 3.11+ (e.g. sudo apt-get install python3) or name one: make PYTHON=python3.12 ..."; exit 2; }
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { \
	  echo "'$(PYTHON)' cannot create virtual environments (its venv/ensurepip modules are missing)."; \
	  echo "Install them, e.g. sudo apt-get install python3-venv (Debian/Ubuntu), then run make again."; exit 2; }
	@echo "==> creating $(VENV) with $$($(PYTHON) --version)"
	$(PYTHON) -m venv $(VENV)
	@echo "==> installing the pinned dependencies into $(VENV) (MLflow, scikit-learn, ...; about a minute the first time)"
	$(PY) -m pip install --progress-bar on --upgrade pip
	$(PY) -m pip install --progress-bar on -r requirements-dev.txt
	touch $(STAMP)
	@echo "==> $(VENV) is ready"

install: $(STAMP)

# wrk drives the benchmark and its smoke test; chromium renders /docs and /redoc in the docs
# test (tests/e2e/test_docs_page.py); postgresql's server (initdb, pg_ctl; not on PATH in
# Debian) backs the shared-study test of tune (tests/e2e/test_tuning_e2e.py). All from
# Debian's packages, installed as root.
TOOLS := wrk chromium
tools:
	@missing=""; for tool in $(TOOLS); do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	{ command -v initdb || ls /usr/lib/postgresql/*/bin/initdb; } >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "==> installing$$missing (apt-get)"; \
	    apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing:$$missing; install with: sudo apt-get install$$missing"; exit 2; fi; fi

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
	ARTIFACTS_DIR=$(ARTIFACTS_DIR) $(VENV)/bin/uvicorn serve:app --host $(HOST) --port $(PORT) $(UVICORN_LIMITS)

# Fails fast (before installing, training or loading) when something already listens on PORT.
# Binds as uvicorn does (SO_REUSEADDR); no Python yet: the install step says what to do.
check-port:
	@$(PYTHON) -c pass 2>/dev/null || exit 0; \
	error=$$($(PYTHON) -c 'import socket, sys; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((sys.argv[1], int(sys.argv[2])))' '$(HOST)' '$(PORT)' 2>&1) || { \
	  case "$$error" in \
	    *"in use"*) echo "port $(PORT) is already in use on $(HOST) (another server?): stop it or pick another port, e.g. make run PORT=$$(( $(PORT) + 1 ))";; \
	    *) echo "cannot listen on $(HOST):$(PORT): $$(echo "$$error" | tail -n 1)";; \
	  esac; exit 2; }

run: check-port $(STAMP) $(ARTIFACTS_DIR)/model_info.json serve

ui: $(STAMP)
	$(VENV)/bin/mlflow ui

# The full run also serves Iris with MLServer and BentoML from their own venvs, built once
# under ~/.cache/petalflow-bench (docs/performance.md, "Peers"); --quick runs none.
bench: $(STAMP) tools
	$(PY) bench/run.py

# tune (50 trials, logreg, 5-fold CV, Iris and penguins) beside Optuna's MLflowCallback recipe.
bench-tuning: $(STAMP)
	$(PY) bench/tuning.py

# Issue #13's scale check: a generated 1,000,000-row CSV trained by train.py beside a plain
# pandas + scikit-learn script (wall time, peak RSS) and a 100,000-row drift check; writes
# bench/scale_results.md (several minutes; `bench/scale.py --help` for smaller runs).
bench-scale: $(STAMP)
	$(PY) bench/scale.py

# This checkout against an earlier commit (BASE=<commit>; default: before issue #17's
# /invocations rewrite), same model and bodies: single-row /invocations and /predict req/s,
# interleaved; writes bench/regression_results.md.
bench-regression: $(STAMP) tools
	$(PY) bench/regression.py $(if $(BASE),--base $(BASE))

monitor: $(STAMP)
	$(PY) -m petalflow.monitor

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
