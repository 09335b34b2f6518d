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

bench-inference: .venv
	OMP_NUM_THREADS=1 $(PY) benchmarks/inference.py

.PHONY: train test bench-cells bench-decoding bench-inference

bench-ett-quick: .venv
	$(PY) benchmarks/ett.py --quick

HEADLINE = --segment_len 24 --head pmf --revin_mode last --linear_skip false

bench-ett-headline: .venv
	$(PY) benchmarks/suite.py --datasets etth1 --settings M --models lstm_attention --seeds 1,2,3 --epochs 10 \
		--variants "pmf24=$(HEADLINE)" --results runs/suite/etth1_m_headline.csv --table runs/suite/etth1_m_headline.md

bench-ett-ablate: .venv
	OMP_NUM_THREADS=1 $(PY) benchmarks/ett.py --ablate --models lstm_attention --settings M --horizons 96 \
		--epochs 10 --extra "$(HEADLINE)"

bench-segrnn-reference: .venv
	OMP_NUM_THREADS=1 $(PY) benchmarks/segrnn_reference.py --horizon 96 --epochs 10 --patience 3 --seed 1

bench-seq2seq-training: .venv
	$(PY) benchmarks/seq2seq_training.py

.PHONY: bench-ett-quick bench-ett-headline bench-ett-ablate bench-segrnn-reference bench-seq2seq-training

bench-suite-quick: .venv
	$(PY) benchmarks/suite.py --quick --jobs 2

bench-concurrency: .venv
	$(PY) benchmarks/concurrency.py

.PHONY: bench-suite-quick bench-concurrency
