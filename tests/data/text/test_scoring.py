"""``data/text/scoring.py``: sacreBLEU against untouched references, cased by default, lowercased as a second metric,
character-level text scored by character, exact match as BLEU tokenizes."""
from __future__ import annotations

import pytest
import sacrebleu

from data.text.scoring import bleu_and_chrf, corpus_scores

HYPS = ["a man runs in the park.", "The dog sleeps.", "Two women are talking"]
REFS = ["A man runs in the park.", "The dog sleeps.", "Two women talk."]


def test_scores_are_sacrebleu_on_the_given_texts() -> None:
    bleu, chrf = bleu_and_chrf(HYPS, REFS)
    assert bleu.value == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS]).score)
    assert chrf.value == pytest.approx(sacrebleu.corpus_chrf(HYPS, [REFS]).score)
    assert "case:mixed" in bleu.signature and "tok:13a" in bleu.signature and bleu.report.startswith("BLEU = ")
    lower, _ = bleu_and_chrf(HYPS, REFS, lowercase=True)
    assert lower.value == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS], lowercase=True).score)
    assert "case:lc" in lower.signature


def test_run_metrics_are_cased_with_a_lowercased_second() -> None:
    metrics, signatures = corpus_scores(HYPS, REFS)
    assert metrics["bleu"] < metrics["bleu_lowercase"]  # "a man" only matches "A man" case-insensitively
    assert metrics["chrf"] < metrics["chrf_lowercase"]
    assert metrics["exact_match"] == pytest.approx(1 / 3)
    assert "case:mixed" in signatures["bleu"] and "case:mixed" in signatures["chrf"]


def test_character_level_text_is_scored_whatever_its_spaces() -> None:
    """The dates task's reference file spells "2 0 2 6 - 1 1"; its translations read "2026-11"."""
    metrics, signatures = corpus_scores(["2026-11-23", "1999-05-01"], ["2 0 2 6 - 1 1 - 2 3", "1 9 9 9 - 0 5 - 0 2"],
                                        tokenize="char")
    assert metrics["exact_match"] == 0.5 and 80 < metrics["bleu"] < 100
    assert "tok:char" in signatures["bleu"]
