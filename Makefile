# Two set-up commands (README): `make demo` and `make test`. Both install what they need.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck unit install install-test system-deps crds

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-test: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'

# redis-server is needed by the tests that talk to a real Redis.
system-deps:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }

# Local mode on the bundled examples: a week of real replayed market data.
demo: install
	$(BIN)/hedgeops local manifests/examples/ --for 7d

lint:
	$(BIN)/ruff check hedgeops tests bench

typecheck:
	$(BIN)/mypy

unit:
	$(BIN)/pytest -q

test: install-test system-deps lint typecheck unit

crds: install
	$(BIN)/hedgeops crds
