# Two entry points a newcomer needs: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck bench clean

$(BIN)/celeriac: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,redis]'
	touch $(BIN)/celeriac

demo: $(BIN)/celeriac
	cd examples && ../$(BIN)/celeriac -A proj demo

lint: $(BIN)/celeriac
	$(BIN)/ruff check src tests examples
	$(BIN)/ruff format --check src tests examples
	$(BIN)/lint-imports

typecheck: $(BIN)/celeriac
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest

bench: $(BIN)/celeriac
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build dist examples/*.sqlite3*
