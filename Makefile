# Thin aliases for dev.py, which needs nothing but Python.
PY ?= python3

.PHONY: demo test setup clean

demo:
	$(PY) dev.py demo

test:
	$(PY) dev.py test

setup:
	$(PY) dev.py setup

clean:
	rm -rf .venv build dist examples/*.sqlite3* examples/demo-worker.log
