# Developer and CI entry points. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?= -q -n 2 -p no:cacheprovider

# Lint only the directories that exist yet, so the targets work while the
# tree is still being filled in.
LINT_DIRS := $(wildcard dialer pacing simulator api tests benchmarks)
TYPED_DIRS := $(wildcard dialer pacing simulator api tests)

.PHONY: help venv run test lint bench clean distclean

help:
	@echo "make venv    create .venv and install the project with its test extras"
	@echo "make run     serve the demo (dialer serve --demo)"
	@echo "make test    lint, then pytest against SQLite, a throwaway PostgreSQL 15 and Prometheus"
	@echo "make lint    ruff, mypy (dialer, pacing) and import-linter"
	@echo "make bench   run benchmarks/simulator.py"
	@echo "make clean   remove caches and the test cluster; distclean also removes .venv"

venv: $(STAMP)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "!!! $(PYTHON) is older than 3.11; set PYTHON=python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Reinstall only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml | $(BIN)/python
	PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 $(BIN)/pip install -e '.[test]'
	@touch $@

run: venv
	$(BIN)/dialer serve --demo

# Lint, start PostgreSQL and Prometheus, run pytest, and always stop both
# again; the recipe exits with pytest's own status.
test: venv
	@$(MAKE) --no-print-directory lint
	@trap 'bash scripts/stop-prometheus.sh; bash scripts/stop-postgres.sh' EXIT; \
	url="$$(bash scripts/start-postgres.sh)"; \
	echo "DIALER_TEST_POSTGRES_URL=$$url"; \
	prom="$$(bash scripts/start-prometheus.sh)"; \
	echo "DIALER_TEST_PROMETHEUS_URL=$$prom"; \
	rc=0; \
	DIALER_TEST_POSTGRES_URL="$$url" DIALER_TEST_PROMETHEUS_URL="$$prom" \
	DIALER_TEST_PROMETHEUS_TARGETS="$(CURDIR)/.prom/targets" \
		$(BIN)/pytest $(PYTEST_ARGS) || rc=$$?; \
	exit $$rc

# Runs every checker even when an earlier one fails, then fails if any did.
lint: venv
	@rc=0; \
	if [ -n "$(LINT_DIRS)" ]; then \
		echo "+ ruff check $(LINT_DIRS)"; $(BIN)/ruff check $(LINT_DIRS) || rc=1; \
	fi; \
	if [ -n "$(TYPED_DIRS)" ]; then \
		echo "+ mypy $(TYPED_DIRS)"; $(BIN)/mypy $(TYPED_DIRS) || rc=1; \
	fi; \
	echo "+ lint-imports"; $(BIN)/lint-imports || rc=1; \
	if [ $$rc -ne 0 ]; then echo "!!! make lint: failed (see above)" >&2; fi; \
	exit $$rc

bench: venv
	$(BIN)/python benchmarks/simulator.py

clean:
	-bash scripts/stop-prometheus.sh
	-bash scripts/stop-postgres.sh
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache build dist
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) *.egg-info
