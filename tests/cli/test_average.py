"""Through ``python main.py`` in child processes: a tiny translation run selected by ``--monitor val/bleu`` keeping
its last epochs, whose test BLEU is what ``score`` gives on its hypotheses and the untouched references; ``average
--last 2`` of it translates and exports; bad input is one line and exit code 2."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import run_main
from tests.tiny_seq2seq import write_corpus


def score_line(output: str) -> float:
    return float(output.split("BLEU = ")[1].split()[0])


@pytest.mark.slow
def test_bleu_selected_run_scores_averages_and_exports(tmp_path: Path) -> None:
    data = write_corpus(tmp_path, {"train": 300, "val": 30, "test": 30})
    run = tmp_path / "run"
    train = run_main("--task", "seq2seq", "--data_path", str(data["train"]), "--src_lang", "de", "--tgt_lang", "en",
                     "--val_path", str(data["val"]), "--test_path", str(data["test"]), "--lowercase", "false",
                     "--min_freq", "1", "--epochs", "3", "--emb_size", "16", "--hidden_size", "24", "--batch_size",
                     "16", "--lr", "0.01", "--beam_size", "3", "--max_len", "14", "--monitor", "val/bleu",
                     "--keep_last_checkpoints", "2", "--logger", "none", "--accelerator", "cpu", "--threads", "1",
                     "--output_dir", str(run))
    assert train.returncode == 0, train.stderr[-3000:]
    assert "sacreBLEU signatures: BLEU nrefs:1|case:mixed|eff:no|tok:13a" in train.stdout
    assert sorted(p.name for p in run.glob("epoch-*.ckpt")) == ["epoch-001.ckpt", "epoch-002.ckpt"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test/bleu"] > 10 and metrics["test/bleu_lowercase"] >= metrics["test/bleu"]
    best = torch.load(run / "best.ckpt", weights_only=True)
    (selection,) = [state for key, state in best["callbacks"].items()
                    if key.startswith("ModelCheckpoint{'monitor': 'val/bleu'")]
    assert float(selection["best_model_score"]) == pytest.approx(metrics["val/bleu"], abs=1e-4)

    scored = run_main("score", "--hyp", str(run / "hypotheses.txt"), "--ref", str(data["test"]) + ".en")
    assert scored.returncode == 0 and score_line(scored.stdout) == pytest.approx(metrics["test/bleu"], abs=0.005)

    averaged = run_main("average", "--last", "2", "--run_dir", str(run), "--output", str(tmp_path / "avg.ckpt"))
    assert averaged.returncode == 0, averaged.stderr[-2000:]
    translated = run_main("translate", "--ckpt", str(tmp_path / "avg.ckpt"), "--input", str(data["test"]) + ".de",
                          "--output", str(tmp_path / "avg.en"))
    assert translated.returncode == 0, translated.stderr[-2000:]
    assert len((tmp_path / "avg.en").read_text().splitlines()) == 30
    exported = run_main("export", "--ckpt", str(tmp_path / "avg.ckpt"), "--format", "onnx", "--output",
                        str(tmp_path / "onnx"))
    assert exported.returncode == 0, exported.stderr[-2000:]

    for argv in (["score", "--hyp", str(tmp_path / "avg.en"), "--ref", str(data["train"]) + ".en"],
                 ["average", "--ckpts", str(run / "best.ckpt"), str(tmp_path / "onnx" / "encoder.onnx"),
                  "--output", str(tmp_path / "x.ckpt")],
                 ["translate", "--ckpt", str(run / "best.ckpt"), "--input", str(data["test"]) + ".de", "--n_best",
                  "4"]):
        refused = run_main(*argv)
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr, \
            refused.stderr
