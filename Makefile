# Tapfleet — one entry point for people and CI.
#   make demo   set everything up, then run a demo fleet (broker, coordinator, kiosks)
#   make test   set everything up, then run lint, type checks and the whole test suite
#   make bench  run the benchmarks (not part of make test)
#   make soak   long soak run of the fault scenario (not part of make test)
#   make lock   refresh requirements/test.lock (pinned versions with hashes) from pyproject.toml

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tapfleet-installed
# Every package of the test environment, pinned with its hashes (make lock writes it with uv).
LOCK := requirements/test.lock
UV_VERSION ?= 0.13.9
LOCK_TOOLS := build/lock-tools
PYTEST_ARGS ?=
# Two workers (the machine and CI have 2 cores), a test file at a time on one worker (module
# fixtures are built once). Not loadgroup: xdist 3.8 marks groups through item._nodeid,
# which pytest 9 no longer reads, so xdist_group marks are silently ignored.
PYTEST_PARALLEL ?= -n 2 --dist loadfile

.PHONY: setup system-deps test lint typecheck pytest demo bench bench-scale soak lock clean

setup: system-deps $(STAMP)

system-deps:
	@sh deploy/install-system-deps.sh

# The lock installs first, hashes required (pip included), then the project itself without
# dependencies: a fresh machine next month gets exactly the versions the tests passed with.
$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --disable-pip-version-check -q --no-deps -e .
	@touch $(STAMP)

# Re-resolve the newest versions that pyproject.toml allows, for every platform (a Pi too),
# with hashes. Run it on purpose (monthly, or after editing pyproject.toml), then make test
# and commit the lock; tests/test_lock_file.py fails while the lock and pyproject disagree.
lock:
	@test -x $(LOCK_TOOLS)/bin/uv || $(PYTHON) -m pip install --disable-pip-version-check -q \
		--target $(LOCK_TOOLS) 'uv==$(UV_VERSION)'
	PYTHONPATH=$(LOCK_TOOLS) $(LOCK_TOOLS)/bin/uv pip compile --quiet --upgrade --universal \
		--python-version 3.11 --generate-hashes --custom-compile-command 'make lock' \
		pyproject.toml requirements/tools.in -o $(LOCK) --extra test

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
