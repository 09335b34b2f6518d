# Shortcuts; README.md has the two commands that set everything up from scratch.
PY ?= .venv/bin/python

.venv:
	python3 -m venv .venv && .venv/bin/pip install -q -r requirements.txt

train: .venv
	$(PY) main.py

test: .venv
	$(PY) -m pytest -q

bench-cells: .venv
	$(PY) benchmarks/cells.py

bench-decoding: .venv
	$(PY) benchmarks/decoding.py

.PHONY: train test bench-cells bench-decoding
