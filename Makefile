# Scene Weaver: `make run` starts the whole stack, `make test` runs the suite.
# Both create the virtual environment and install the project first.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-stress test-fast lint bench chaos compose-check clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/scene-weaver up

# Two pytest processes (pytest-xdist), a test file each at a time: the e2e tests mostly wait
# on real processes, so two at once take about half the time on a 2-core machine.
# PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= 2
PYTEST_PARALLEL = $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile)

test: install
	$(BIN)/python -m pytest $(PYTEST_PARALLEL)

# The whole suite while a spinning process keeps one core busy: the suite must not depend on
# an idle machine. The spinner is stopped by its PID however pytest ends (pass, fail, Ctrl-C).
test-stress: install
	{ while :; do :; done; } & spinner=$$!; \
	trap 'kill $$spinner 2>/dev/null; wait $$spinner 2>/dev/null' EXIT INT TERM; \
	echo "test-stress: spinner PID $$spinner keeps one core busy"; \
	$(BIN)/python -m pytest $(PYTEST_PARALLEL)

# No Redis process: Redis-store tests run on fakeredis only, the rest need no Redis.
test-fast: install
	$(BIN)/python -m pytest -m "not e2e and not redis_server"

# Long load and fault runs against real workers and the renderer (a minute or more each), kept
# out of `make test`. Each scenario prints one line, `chaos <scenario>: accepted=N succeeded=N
# failed=N lost=N duplicated=N`, before it asserts; the target fails (pytest's exit code) when a
# scenario loses or duplicates anything or fails otherwise. docs/RELIABILITY.md, "make chaos".
chaos: install
	$(BIN)/python -m pytest -m chaos -s --durations=0 --durations-min=1 tests/e2e

lint: install
	$(BIN)/ruff check scene_weaver workers api tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/deptry .

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Validates docker-compose.yml against the Compose specification's JSON schema (no Docker
# needed) and checks each service runs its role's command (tests/test_compose.py).
compose-check: install
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
	$(BIN)/python -m pytest -q tests/test_compose.py
