"""``python main.py --task seq2seq`` / ``translate`` in child processes: the dates task by checkpoint and by
onnxruntime (torch blocked), a Transformer on dates, and a Multi30k subset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_main, run_main_without_torch

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.slow
def test_dates_task_onnx_hypotheses_equal_pytorch(tmp_path: Path) -> None:
    """Train on the shipped dates task, export, translate with the checkpoint and (torch blocked) with onnxruntime."""
    run = tmp_path / "run"
    train = run_main("--task", "seq2seq", "--epochs", "6", "--hidden_size", "32", "--emb_size", "16", "--lr", "0.003",
                     "--bidirectional", "--batch_size", "64", "--trainer.limit_train_batches", "80",
                     "--trainer.limit_val_batches", "2", "--trainer.limit_test_batches", "2", "--logger", "none",
                     "--output_dir", str(run))
    assert train.returncode == 0, train.stderr[-2000:]
    export = run_main("export", "--ckpt", str(run / "best.ckpt"), "--format", "onnx", "--output", str(tmp_path / "m"))
    assert export.returncode == 0, export.stderr[-2000:]
    sources = tmp_path / "sources.txt"
    sources.write_text("".join(line.split("\t")[0] + "\n"
                               for line in (ROOT / "data" / "dates.tsv").read_text().splitlines()[-100:]))
    for beam in ("1", "3"):
        by_checkpoint = run_main("translate", "--ckpt", str(run / "best.ckpt"), "--input", str(sources),
                                 "--beam_size", beam)
        by_onnx = run_main_without_torch("translate", "--model_dir", str(tmp_path / "m"), "--input", str(sources),
                                         "--beam_size", beam)
        assert by_checkpoint.returncode == 0 and by_onnx.returncode == 0, by_onnx.stderr[-2000:]
        assert by_onnx.stdout == by_checkpoint.stdout and by_onnx.stdout.count("\n") == 100


@pytest.mark.slow
def test_main_trains_a_transformer_on_dates(tmp_path: Path):
    """One tiny epoch through ``python main.py``: BPE with shared embeddings, warm-up schedule, beam-search test,
    BLEU in metrics.json and the cross-attention heatmaps."""
    run_dir = tmp_path / "run"
    result = run_main("--task", "seq2seq", "--model", "transformer", "--data_path", str(ROOT / "data" / "dates.tsv"),
                      "--train_ratio", "0.85", "--val_ratio", "0.05", "--epochs", "1", "--hidden_size", "32",
                      "--n_heads", "4", "--ff_size", "64", "--num_layers", "1", "--batch_size", "64",
                      "--tokenizer", "bpe", "--vocab_size", "200", "--share_embeddings", "--lr_schedule",
                      "inverse_sqrt", "--warmup_steps", "20", "--lr", "3e-3", "--beam_size", "3", "--max_len", "14",
                      "--attention", "none", "--logger", "none", "--accelerator", "cpu", "--output_dir", str(run_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for name in ("loss", "ppl", "bleu", "chrf", "exact_match"):
        assert f"test/{name}" in metrics
    assert metrics["test/bleu"] > 20, metrics  # about 60 after this one epoch
    assert len(list(run_dir.glob("attention_test*.png"))) == 3  # --attention (the RNN's score) does not apply
    exported = run_main("export", "--ckpt", str(run_dir / "best.ckpt"), "--format", "onnx", "--output",
                        str(tmp_path / "onnx"))
    assert exported.returncode == 2 and "translate --ckpt" in exported.stderr
    assert exported.stderr.strip().count("\n") == 0


REPO = ROOT


MULTI30K = REPO.parent / "shared" / "data" / "multi30k"


ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}  # small models on a shared CPU: no thread hand-offs


@pytest.mark.slow
@pytest.mark.skipif(not MULTI30K.is_dir(), reason=f"Multi30k not found at {MULTI30K}")
def test_main_seq2seq_on_multi30k_subset(tmp_path):
    """``python main.py --task seq2seq`` on the first 1000 Multi30k training pairs, 1 epoch, then translate."""
    for split, n in (("train", 1000), ("val", 100), ("test_2016_flickr", 100)):
        for lang in ("de", "en"):
            lines = (MULTI30K / f"{split}.{lang}").read_text(encoding="utf-8").splitlines()[:n]
            (tmp_path / f"{split}.{lang}").write_text("\n".join(lines) + "\n", encoding="utf-8")
    run_dir = tmp_path / "run"
    command = [sys.executable, "main.py", "--task", "seq2seq", "--data_path", str(tmp_path / "train"),
               "--src_lang", "de", "--tgt_lang", "en", "--val_path", str(tmp_path / "val"),
               "--test_path", str(tmp_path / "test_2016_flickr"), "--epochs", "1", "--emb_size", "32",
               "--hidden_size", "32", "--batch_size", "50", "--beam_size", "3", "--max_len", "20",
               "--logger", "none", "--accelerator", "cpu", "--output_dir", str(run_dir)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, env=ONE_THREAD)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for name in ("loss", "ppl", "bleu", "chrf", "exact_match"):
        assert f"test/{name}" in metrics and f"val/{name}" in metrics
    hypotheses = (run_dir / "hypotheses.txt").read_text(encoding="utf-8").splitlines()
    assert len(hypotheses) == 100
    assert list(run_dir.glob("attention_*.png"))
    ckpt = run_dir / "best.ckpt"
    assert ckpt.is_file()
    result = subprocess.run([sys.executable, "main.py", "translate", "--ckpt", str(ckpt), "--input",
                             str(tmp_path / "test_2016_flickr.de"), "--output", str(tmp_path / "out.en"),
                             "--beam_size", "2", "--max_len", "20"], cwd=REPO, capture_output=True, text=True,
                            timeout=120, env=ONE_THREAD)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len((tmp_path / "out.en").read_text(encoding="utf-8").splitlines()) == 100
    bad = subprocess.run([sys.executable, "main.py", "--task", "seq2seq", "--data_path", str(tmp_path / "nope"),
                          "--src_lang", "de", "--tgt_lang", "en", "--logger", "none"],
                         cwd=REPO, capture_output=True, text=True, timeout=120, env=ONE_THREAD)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "nope.de" in bad.stderr
