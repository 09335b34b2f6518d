"""LightningModule for token seq2seq (``--task seq2seq``): training, greedy validation, beam-search test.

Checkpoints are self-contained: the hyperparameters are plain Python values (the config dict and the two
tokenizers as JSON strings), so ``torch.load(ckpt, weights_only=True)`` suffices and ``python main.py translate``
can translate with nothing but the checkpoint.

Metrics: ``{stage}/loss`` (the training objective: token cross entropy with label smoothing, ignoring
padding, token-weighted over the epoch), ``{stage}/ppl`` (exp of the unsmoothed per-token NLL over the
epoch), ``{stage}/bleu`` and ``{stage}/chrf`` (sacreBLEU corpus scores of detokenized hypotheses against the
untouched references, cased), ``{stage}/bleu_lowercase`` and ``{stage}/chrf_lowercase`` (the same, lowercased) and
``{stage}/exact_match`` (:func:`data.text.scoring.corpus_scores`); the test step prints sacreBLEU's signatures.
Validation decodes greedily, test with beam search. Early stopping and ``best.ckpt`` follow ``--monitor``:
``val/loss`` (lower is better) or ``val/bleu`` (higher is better).

The learning rate follows ``--lr_schedule`` (its default for ``--task seq2seq`` is ``constant``);
``inverse_sqrt`` warms up over ``--warmup_steps`` optimiser steps, the others change it once per epoch.
"""
from __future__ import annotations

import math
from typing import Any, Optional

import lightning as L
import torch
from tokenizers import Tokenizer
from torch import Tensor
from torch.nn import functional as F
from torchmetrics import SumMetric

from config import Config
from data.text.detokenize import decode_ids
from data.text.scoring import corpus_scores
from data.text.vocabulary import EOS, PAD, SOS, joins_without_spaces
from models import model_builder
from models.decoding import IncrementalDecoder
from models.search import beam_search, greedy_decode
from models.tasks.schedules import ConfiguredOptimizer


class TranslationTask(ConfiguredOptimizer, L.LightningModule):
    def __init__(self, config: dict[str, Any], src_tokenizer: str, tgt_tokenizer: str) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.config = Config.from_dict(config)
        self.monitor = self.config.monitor
        self.monitor_mode = "max" if self.monitor == "val/bleu" else "min"
        self.src_tokenizer = Tokenizer.from_str(src_tokenizer)
        self.tgt_tokenizer = Tokenizer.from_str(tgt_tokenizer)
        self.model: IncrementalDecoder = model_builder(self.config.task, self.config.model)(
            self.config, self.src_tokenizer.get_vocab_size(), self.tgt_tokenizer.get_vocab_size(), PAD)
        self.nll_sum = {stage: SumMetric() for stage in ("val", "test")}
        self.token_count = {stage: SumMetric() for stage in ("val", "test")}
        self._metric_modules = torch.nn.ModuleList([*self.nll_sum.values(), *self.token_count.values()])
        self._outputs: dict[str, list[tuple[int, str, str]]] = {"val": [], "test": []}

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        return self.model(src, src_lengths, tgt_in)

    # ---- loss ------------------------------------------------------------------------------------
    def _loss(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, int]:
        """-> (smoothed mean loss, unsmoothed NLL sum, number of target tokens)."""
        tgt = batch["tgt"]
        logits, _ = self.model(batch["src"], batch["src_lengths"], tgt[:, :-1])
        gold = tgt[:, 1:].reshape(-1)
        flat = logits.reshape(-1, logits.size(-1)).float()
        loss = F.cross_entropy(flat, gold, ignore_index=PAD, label_smoothing=self.config.label_smoothing)
        nll = F.cross_entropy(flat.detach(), gold, ignore_index=PAD, reduction="sum")
        return loss, nll, int((gold != PAD).sum())

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        loss, _, tokens = self._loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=tokens)
        return loss

    # ---- evaluation ------------------------------------------------------------------------------
    def decode(self, src: Tensor, src_lengths: Tensor, beam_size: int = 1,
               max_len: Optional[int] = None) -> tuple[Tensor, Tensor]:
        """Token ids (B, T) and attention (B, T, S): greedy for ``beam_size == 1``, else beam search."""
        max_len = max_len or self.config.max_len
        if beam_size <= 1:
            return greedy_decode(self.model, src, src_lengths, max_len, SOS, EOS)
        return beam_search(self.model, src, src_lengths, beam_size, max_len, SOS, EOS, self.config.length_penalty)

    def detokenize(self, ids: list[int]) -> str:
        """Output ids -> running text in the target language (what is written and scored)."""
        return decode_ids(self.tgt_tokenizer, ids, self.config.tgt_lang)

    def _references(self, stage: str, batch: dict[str, Tensor]) -> list[str]:
        """The untouched reference sentences of the batch (the decoded targets when there is no data module)."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if datamodule is not None and hasattr(datamodule, "splits") and stage in datamodule.splits:
            targets = datamodule.splits[stage].targets
            return [targets[i] for i in batch["index"].tolist()]
        return [self.detokenize(row[1:]) for row in batch["tgt"].tolist()]

    def _eval_step(self, stage: str, batch: dict[str, Tensor]) -> None:
        loss, nll, tokens = self._loss(batch)
        self.log(f"{stage}/loss", loss, batch_size=tokens, sync_dist=True)
        self.nll_sum[stage].update(nll)
        self.token_count[stage].update(torch.tensor(float(tokens), device=self.device))
        beam = 1 if stage == "val" else self.config.beam_size
        hyp_ids, _ = self.decode(batch["src"], batch["src_lengths"], beam)
        hyps = [self.detokenize(row) for row in hyp_ids.tolist()]
        refs = self._references(stage, batch)
        self._outputs[stage].extend(zip(batch["index"].tolist(), hyps, refs))

    def _eval_epoch_end(self, stage: str) -> None:
        outputs = self._outputs[stage]
        if torch.distributed.is_available() and torch.distributed.is_initialized() \
                and torch.distributed.get_world_size() > 1:
            gathered: list[Any] = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(gathered, outputs)
            outputs = sorted({o[0]: o for part in gathered for o in part}.values())
        nll, count = self.nll_sum[stage].compute(), self.token_count[stage].compute()
        self.nll_sum[stage].reset()
        self.token_count[stage].reset()
        self._outputs[stage] = []
        if not outputs:
            return
        _, hyps, refs = zip(*outputs)
        ppl = math.exp(min(float(nll) / max(float(count), 1.0), 50.0))
        self.log(f"{stage}/ppl", ppl, sync_dist=True)
        # character-level targets (the dates task) are scored by character, whatever spaces the file has
        tokenize = "char" if joins_without_spaces(self.tgt_tokenizer) else "13a"
        scores, signatures = corpus_scores(hyps, refs, tokenize)
        for name, value in scores.items():
            self.log(f"{stage}/{name}", value, sync_dist=True)
        if stage == "test":
            self.print(f"sacreBLEU signatures: BLEU {signatures['bleu']}; chrF {signatures['chrf']}")

    def on_validation_epoch_start(self) -> None:
        self._outputs["val"] = []

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._eval_step("val", batch)

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def on_test_epoch_start(self) -> None:
        self._outputs["test"] = []

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._eval_step("test", batch)

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")


def build_translation_task(config: Config, datamodule: Any) -> TranslationTask:
    """Model sizes and tokenizers come from the (loaded) TextDataModule."""
    datamodule.load()
    src_json, tgt_json = datamodule.tokenizer_json()
    return TranslationTask(config.to_dict(), src_json, tgt_json)
