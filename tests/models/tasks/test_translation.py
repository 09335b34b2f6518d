"""``models/tasks/translation.py``: TranslationTask end to end: Lightning fit/test on the dates task, its
checkpoint -> the translate command, the translation artefacts."""

from __future__ import annotations

import re
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from config import Config
from data.make_dates_dataset import generate_pairs
from data.text.datamodule import TextDataModule
from models.tasks.translation import TranslationTask, build_translation_task
from models.tasks.translator import translate_sentences
from utils.commands import translate_command
from utils.errors import UserInputError
from utils.run.artifacts import write_translation_artifacts

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small dates model trained for a few epochs with Lightning; yields (task, datamodule, ckpt, tmp)."""
    tmp = tmp_path_factory.mktemp("dates")
    data = tmp / "dates.tsv"
    data.write_text("".join(f"{s}\t{t}\n" for s, t in generate_pairs(1500, seed=5)), encoding="utf-8")
    config = Config(task="seq2seq", data_path=str(data), emb_size=32, hidden_size=64, bidirectional=True,
                    attention="bahdanau", rnn_type="gru", batch_size=32, lr=3e-3, beam_size=3, max_len=14,
                    epochs=6, seed=0, label_smoothing=0.1)
    L.seed_everything(0, verbose=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    datamodule = TextDataModule(config)
    datamodule.load()
    task = build_translation_task(config, datamodule)
    checkpoint = ModelCheckpoint(dirpath=tmp, filename="best", monitor=task.monitor, mode=task.monitor_mode)
    trainer = L.Trainer(max_epochs=config.epochs, accelerator="cpu", devices=1, logger=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[checkpoint],
                        gradient_clip_val=1.0)
    trainer.fit(task, datamodule=datamodule)
    val = trainer.validate(task, datamodule=datamodule, ckpt_path="best", verbose=False)[0]
    test = trainer.test(task, datamodule=datamodule, ckpt_path="best", verbose=False)[0]
    torch.set_num_threads(threads)
    return task, datamodule, Path(checkpoint.best_model_path), tmp, {**val, **test}


def test_metrics_logged_and_model_learns(trained):
    _, _, _, _, metrics = trained
    for stage in ("val", "test"):
        for name in ("loss", "ppl", "bleu", "chrf", "exact_match"):
            assert f"{stage}/{name}" in metrics
    assert metrics["test/exact_match"] > 0.5, metrics
    assert metrics["val/ppl"] < 2.0


def test_checkpoint_is_weights_only_and_translates(trained, tmp_path):
    task, datamodule, ckpt, _, _ = trained
    stored = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert isinstance(stored["hyper_parameters"]["src_tokenizer"], str)
    sources = datamodule.splits["test"].sources[:20]
    (tmp_path / "in.txt").write_text("\n".join(sources[:10]) + "\n\n" + "\n".join(sources[10:]) + "\n")
    assert translate_command(["--ckpt", str(ckpt), "--input", str(tmp_path / "in.txt"), "--output",
                              str(tmp_path / "out.txt"), "--beam_size", "3", "--max_len", "14"]) == 0
    lines = (tmp_path / "out.txt").read_text().splitlines()
    assert len(lines) == 21 and lines[10] == ""
    reloaded = TranslationTask.load_from_checkpoint(ckpt, map_location="cpu")
    expected, _ = translate_sentences(reloaded, sources, beam_size=3, max_len=14)
    assert lines[:10] + lines[11:] == expected
    references = datamodule.references("test")[:20]  # as the file holds them: "2 0 2 6 - 1 1 - 2 3"
    assert sum(h == r.replace(" ", "") for h, r in zip(expected, references)) >= 10


def test_translate_command_errors(trained, tmp_path):
    _, _, ckpt, _, _ = trained

    def translate(checkpoint, source):
        return translate_command(["--ckpt", str(checkpoint), "--input", str(source), "--beam_size", "1",
                                  "--max_len", "5"])

    source = tmp_path / "in.txt"
    source.write_text("12 may 2001\n")
    with pytest.raises(UserInputError, match="not found"):
        translate(tmp_path / "missing.ckpt", source)
    with pytest.raises(UserInputError, match="x.txt"):
        translate(ckpt, tmp_path / "x.txt")
    with pytest.raises(UserInputError, match="file is empty"):
        translate(ckpt, write_empty(tmp_path / "empty.txt"))
    bad = tmp_path / "other.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"config": {}}}, bad)
    with pytest.raises(UserInputError, match="not a seqlab checkpoint"):
        translate(bad, source)
    forecaster = tmp_path / "forecaster.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"config": {"task": "regression"}}}, forecaster)
    with pytest.raises(UserInputError, match="a checkpoint of --task regression, not of --task seq2seq"):
        translate(forecaster, source)


def write_empty(path: Path) -> Path:
    path.write_text("")
    return path


def test_write_artifacts(trained, tmp_path):
    task, datamodule, _, _, _ = trained
    images = write_translation_artifacts(task, datamodule, tmp_path)
    hypotheses = (tmp_path / "hypotheses.txt").read_text().splitlines()
    assert len(hypotheses) == len(datamodule.splits["test"])
    assert len(images) == 3 and all(p.suffix == ".png" and p.stat().st_size > 1000 for p in images.values())


FRENCH_NOUNS = {"man": "l'homme", "child": "l'enfant", "bird": "l'oiseau", "cat": "le chat", "mother": "la mère",
                "dog": "le chien"}
FRENCH_TEMPLATES = [("I love the {}.", "J'aime {}."), ("Do you love the {}?", "Aimes-tu {} ?"),
                    ("He saw the {} today.", "Il a vu {} aujourd'hui."), ("She says: the {}!", "Elle dit : « {} » !")]


def test_a_trained_model_writes_french_as_french() -> None:
    """English -> French with elisions, hyphens, « » and the space before "?" / "!": the written translations
    never split a word at its apostrophe or hyphen ("j 'aime", "aujourd' hui", "aimes - tu"), and the sentences the
    model learned come out exactly as the references (capitals included)."""
    from tests.tiny_seq2seq import tiny_task

    pairs = [(en.format(noun), fr.format(french)) for en, fr in FRENCH_TEMPLATES
             for noun, french in FRENCH_NOUNS.items()]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        task = tiny_task(pairs, pairs, seed=0, steps=80, batch=24, emb_size=32, hidden_size=64, tgt_lang="fr",
                         max_len=16)
        written, _ = translate_sentences(task, [en for en, _ in pairs], beam_size=1)
    finally:
        torch.set_num_threads(threads)
    split = re.compile(r"\w ['’]\w|\w['’] \w|\w [-]\w|\w[-] \w")
    assert not [text for text in written if split.search(text)], written
    exact = sum(text == fr for text, (_, fr) in zip(written, pairs))
    assert exact >= 0.9 * len(pairs), list(zip(written, [fr for _, fr in pairs]))
