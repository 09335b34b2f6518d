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

bench-ett-quick: .venv
	$(PY) benchmarks/ett.py --quick

bench-ett-ablate: .venv
	OMP_NUM_THREADS=1 $(PY) benchmarks/ett.py --ablate --models lstm_attention --settings M --horizons 96 \
		--epochs 10 --extra "--segment_len 12"

bench-seq2seq-training: .venv
	$(PY) benchmarks/seq2seq_training.py

.PHONY: bench-ett-quick bench-ett-ablate bench-seq2seq-training
