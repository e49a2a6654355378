# The project's tasks. CI runs `make test` (through .ci/run), exactly as the README shows it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/hgsync: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

## demo: set everything up, then run every example pipeline twice against the built-in sandbox
demo: $(BIN)/hgsync
	$(BIN)/hgsync demo

## test: set everything up, start the database servers if they are down, run the tests
test: $(BIN)/hgsync
	scripts/ensure-services
	HGSYNC_REQUIRE_SERVICES=1 $(BIN)/pytest -q

lint: $(BIN)/hgsync
	$(BIN)/ruff check engine connectors tests
	$(BIN)/ruff format --check engine connectors tests

bench: $(BIN)/hgsync
	$(BIN)/python scripts/bench.py

clean:
	rm -rf $(VENV) .hgsync demo/*.db demo/*.db-*
