# Scene Weaver: `make run` starts the whole stack, `make test` runs the suite.
# Both create the virtual environment and install the project first.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-fast chaos lint bench compose-check clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/scene-weaver up

test: install
	$(BIN)/python -m pytest

# No Redis process: Redis-store tests run on fakeredis only, the rest need no Redis.
test-fast: install
	$(BIN)/python -m pytest -m "not e2e and not redis_server"

# Long fault runs against real workers and the renderer (a 60 s Semantest outage); prints what they measured.
chaos: install
	$(BIN)/python -m pytest -m chaos -s tests/e2e

lint: install
	$(BIN)/ruff check scene_weaver workers api tests bench
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Validates docker-compose.yml against the Compose schema (needs docker-compose or `docker compose`).
compose-check:
	if command -v docker-compose >/dev/null; then docker-compose -f docker-compose.yml config -q; \
	else docker compose -f docker-compose.yml config -q; fi
