# Two set-up commands (README): `make demo` and `make test`. Both install what they need.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck unit install install-test system-deps crds manifests

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-test: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'

# redis-server, promtool (Debian's prometheus), amtool (Debian's prometheus-alertmanager) and headless chromium
# (pictures are looked at, not just written) are needed by the tests that use the real ones.
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	{ command -v promtool && command -v prometheus; } >/dev/null 2>&1 || missing="$$missing prometheus"; \
	{ command -v amtool && command -v prometheus-alertmanager; } >/dev/null 2>&1 || \
	  missing="$$missing prometheus-alertmanager"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium fonts-dejavu-core"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# Local mode on the bundled examples: a week of real replayed market data.
demo: install
	$(BIN)/hedgeops local manifests/examples/ --for 7d

lint:
	$(BIN)/ruff check hedgeops tests bench scripts

typecheck:
	$(BIN)/mypy

unit:
	$(BIN)/pytest -q -n 2 --dist loadfile

test: install-test system-deps lint typecheck unit

crds: install
	$(BIN)/hedgeops crds

# The plain manifests (install, monitoring) rendered from the Helm chart; a test keeps them current.
manifests: install-test
	$(BIN)/python scripts/render_manifests.py
