# Thin aliases for dev.py, which needs nothing but Python.
PY ?= python3

.PHONY: demo test bench setup clean

demo:
	$(PY) dev.py demo

test:
	$(PY) dev.py test

bench:
	$(PY) dev.py bench

setup:
	$(PY) dev.py setup

clean:
	rm -rf .venv build dist examples/*.sqlite3* examples/demo-worker.log
