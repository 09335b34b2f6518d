"""Corpus BLEU and chrF as the literature reports them: sacreBLEU on detokenized hypotheses against the untouched
references, cased unless asked otherwise, each with sacreBLEU's signature saying how it was computed.

One computation for ``python main.py score`` and for a run's val/test metrics, so the two always agree. It lives
below the models (sacreBLEU only, no torch), so ``score`` starts fast.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from sacrebleu.metrics import BLEU, CHRF

TOKENIZERS = tuple(BLEU.TOKENIZERS)


@dataclass(frozen=True)
class Score:
    """One corpus score: its name (``BLEU``, ``chrF2``), value, sacreBLEU's one-line report and signature."""

    name: str
    value: float
    report: str
    signature: str


def bleu_and_chrf(hypotheses: Sequence[str], references: Sequence[str], lowercase: bool = False,
                  tokenize: str = "13a") -> tuple[Score, Score]:
    """sacreBLEU's corpus BLEU (``tokenize``: 13a for words, char for character-level text) and chrF, one reference
    per hypothesis."""
    scores = []
    for metric in (BLEU(lowercase=lowercase, tokenize=tokenize), CHRF(lowercase=lowercase)):
        result = metric.corpus_score(list(hypotheses), [list(references)])
        scores.append(Score(result.name, float(result.score), str(result), str(metric.get_signature())))
    return scores[0], scores[1]


def corpus_scores(hypotheses: Sequence[str], references: Sequence[str],
                  tokenize: str = "13a") -> tuple[dict[str, float], dict[str, str]]:
    """The run's translation metrics and the signatures of the cased ones: ``bleu`` and ``chrf`` cased (comparable
    with published figures), ``bleu_lowercase`` and ``chrf_lowercase`` (what Multi30k tutorials report), and
    ``exact_match`` (the share of hypotheses equal to their reference once both are tokenized as BLEU does)."""
    bleu, chrf = bleu_and_chrf(hypotheses, references, False, tokenize)
    bleu_lc, chrf_lc = bleu_and_chrf(hypotheses, references, True, tokenize)
    split = BLEU(tokenize=tokenize).tokenizer
    exact = sum(split(h).split() == split(r).split() for h, r in zip(hypotheses, references))
    metrics = {"bleu": bleu.value, "bleu_lowercase": bleu_lc.value, "chrf": chrf.value,
               "chrf_lowercase": chrf_lc.value, "exact_match": exact / max(len(hypotheses), 1)}
    return metrics, {"bleu": bleu.signature, "chrf": chrf.signature}
