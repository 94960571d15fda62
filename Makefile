# Tapfleet — one entry point for people and CI.
#   make demo   set everything up, then run a demo fleet (broker, coordinator, kiosks)
#   make test   set everything up, then run lint, type checks and the whole test suite
#   make bench  run the benchmarks (not part of make test)
#   make soak   long soak run of the fault scenario (not part of make test)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tapfleet-installed
PYTEST_ARGS ?=
# Two workers (the machine and CI have 2 cores), a test file at a time on one worker (module
# fixtures are built once). Not loadgroup: xdist 3.8 marks groups through item._nodeid,
# which pytest 9 no longer reads, so xdist_group marks are silently ignored.
PYTEST_PARALLEL ?= -n 2 --dist loadfile

.PHONY: setup system-deps test lint typecheck pytest demo bench bench-scale soak clean

setup: system-deps $(STAMP)

system-deps:
	@sh deploy/install-system-deps.sh

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q --upgrade pip
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[test]'
	@touch $(STAMP)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

demo: setup
	$(BIN)/tapfleet demo $(DEMO_ARGS)

bench: setup
	$(BIN)/python bench/run_all.py

bench-scale: setup
	$(BIN)/python bench/run_all.py --scale

soak: setup
	$(BIN)/pytest -m soak tests/reliability -p no:cacheprovider --timeout=7200

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
