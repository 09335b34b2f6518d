"""LightningModule for token seq2seq (``--task seq2seq``): training, greedy validation, beam-search test.

Checkpoints are self-contained: the hyperparameters are plain Python values (the config dict and the two
tokenizers as JSON strings), so ``torch.load(ckpt, weights_only=True)`` suffices and
:func:`translate_file` can translate with nothing but the checkpoint.

Metrics: ``{stage}/loss`` (the training objective: token cross entropy with label smoothing, ignoring
padding, token-weighted over the epoch), ``{stage}/ppl`` (exp of the unsmoothed per-token NLL over the
epoch), ``{stage}/bleu`` and ``{stage}/chrf`` (sacreBLEU corpus scores of detokenized hypotheses against the
normalised references) and ``{stage}/exact_match``. Validation decodes greedily, test with beam search.
"""
from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path
from typing import Any, Optional

import lightning as L
import sacrebleu
import torch
from tokenizers import Tokenizer
from torch import Tensor
from torch.nn import functional as F
from torchmetrics import SumMetric

from config import Config
from models.search import beam_search, greedy_decode
from models.seq2seq import Seq2Seq, build_seq2seq
from utils.errors import UserInputError
from utils.schedules import adamw
from utils.text_data import EOS, PAD, SOS, decode_ids, encode_sources, pad_sequences, read_lines, reference_text


def config_from_dict(values: dict[str, Any]) -> Config:
    """A Config from a stored dict, ignoring keys this version does not know."""
    known = {f.name for f in dataclasses.fields(Config)}
    return Config(**{k: v for k, v in values.items() if k in known})


class TranslationTask(L.LightningModule):
    monitor = "val/loss"
    monitor_mode = "min"

    def __init__(self, config: dict[str, Any], src_tokenizer: str, tgt_tokenizer: str) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.config = config_from_dict(config)
        self.src_tokenizer = Tokenizer.from_str(src_tokenizer)
        self.tgt_tokenizer = Tokenizer.from_str(tgt_tokenizer)
        self.model: Seq2Seq = build_seq2seq(self.config, self.src_tokenizer.get_vocab_size(),
                                            self.tgt_tokenizer.get_vocab_size(), PAD)
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

    def _references(self, stage: str, batch: dict[str, Tensor]) -> list[str]:
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if datamodule is not None and hasattr(datamodule, "splits") and stage in datamodule.splits:
            targets = datamodule.splits[stage].targets
            return [reference_text(self.tgt_tokenizer, targets[i]) for i in batch["index"].tolist()]
        return [decode_ids(self.tgt_tokenizer, row[1:]) for row in batch["tgt"].tolist()]

    def _eval_step(self, stage: str, batch: dict[str, Tensor]) -> None:
        loss, nll, tokens = self._loss(batch)
        self.log(f"{stage}/loss", loss, batch_size=tokens, sync_dist=True)
        self.nll_sum[stage].update(nll)
        self.token_count[stage].update(torch.tensor(float(tokens), device=self.device))
        beam = 1 if stage == "val" else self.config.beam_size
        hyp_ids, _ = self.decode(batch["src"], batch["src_lengths"], beam)
        hyps = [decode_ids(self.tgt_tokenizer, row) for row in hyp_ids.tolist()]
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
        self.log(f"{stage}/bleu", sacrebleu.corpus_bleu(list(hyps), [list(refs)]).score, sync_dist=True)
        self.log(f"{stage}/chrf", sacrebleu.corpus_chrf(list(hyps), [list(refs)]).score, sync_dist=True)
        self.log(f"{stage}/exact_match", sum(h == r for h, r in zip(hyps, refs)) / len(hyps), sync_dist=True)

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

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return adamw(self.parameters(), self.config.lr, self.config.weight_decay, self.config.precision)

    # ---- translation and artefacts ------------------------------------------------------------------
    @torch.no_grad()
    def translate(self, sentences: list[str], beam_size: Optional[int] = None, max_len: Optional[int] = None,
                  batch_size: int = 64) -> tuple[list[str], list[tuple[list[str], list[str], Tensor]]]:
        """Translate raw sentences (any order of lengths; output in input order).

        Returns the translations and, per sentence, (source tokens, output tokens, attention (T, S)).
        """
        was_training = self.training
        self.eval()
        beam_size = self.config.beam_size if beam_size is None else beam_size
        encoded = encode_sources(self.src_tokenizer, sentences)
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        results: list[str] = [""] * len(encoded)
        details: list[Any] = [None] * len(encoded)
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            src, lengths = pad_sequences([encoded[i] for i in chunk])
            tokens, attention = self.decode(src.to(self.device), lengths.to(self.device), beam_size, max_len)
            for row, i in enumerate(chunk):
                ids = tokens[row].tolist()
                results[i] = decode_ids(self.tgt_tokenizer, ids)
                out_len = ids.index(EOS) + 1 if EOS in ids else len([t for t in ids if t != PAD])
                src_tokens = [self.src_tokenizer.id_to_token(t) for t in encoded[i]]
                out_tokens = [self.tgt_tokenizer.id_to_token(t) for t in ids[:out_len]]
                details[i] = (src_tokens, out_tokens, attention[row, :out_len, :len(src_tokens)].float().cpu())
        self.train(was_training)
        return results, details

    def write_artifacts(self, run_dir: Path, datamodule: Any) -> dict[str, Path]:
        """``hypotheses.txt`` (test set, beam search, file order) and 3 attention heatmaps as PNGs."""
        run_dir = Path(run_dir)
        datamodule.load()
        sources = datamodule.splits["test"].sources
        hypotheses, details = self.translate(sources, self.config.beam_size)
        (run_dir / "hypotheses.txt").write_text("".join(h + "\n" for h in hypotheses), encoding="utf-8")
        images: dict[str, Path] = {}
        if self.config.attention == "none" or not sources:
            return images
        for k, i in enumerate(sorted(set(range(0, len(sources), max(1, len(sources) // 3))))[:3]):
            src_tokens, out_tokens, weights = details[i]
            path = run_dir / f"attention_test{i}.png"
            plot_alignment(weights.numpy(), src_tokens, out_tokens, path, title=f"test sentence {i}")
            images[f"attention_{k}"] = path
        return images


def plot_alignment(weights: Any, src_tokens: list[str], out_tokens: list[str], path: Path,
                   title: str = "") -> Path:
    """Heatmap of attention weights: output tokens (rows) x source tokens (columns)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4.0, 0.45 * len(src_tokens) + 2), max(3.0, 0.4 * len(out_tokens) + 1.5)))
    image = ax.imshow(weights, cmap="viridis", aspect="auto", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(src_tokens)))
    ax.set_xticklabels(src_tokens, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(out_tokens)))
    ax.set_yticklabels(out_tokens, fontsize=8)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    if title:
        ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def build_translation_task(config: Config, datamodule: Any) -> TranslationTask:
    """Model sizes and tokenizers come from the (loaded) TextDataModule."""
    datamodule.load()
    src_json, tgt_json = datamodule.tokenizer_json()
    return TranslationTask(config.to_dict(), src_json, tgt_json)


def load_translation_task(ckpt_path: str, map_location: str | torch.device = "cpu") -> TranslationTask:
    """Rebuild a TranslationTask from a checkpoint alone (``weights_only=True``)."""
    path = Path(ckpt_path)
    if not path.is_file():
        raise UserInputError(f"{ckpt_path}: checkpoint not found")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a user error here
        raise UserInputError(f"{ckpt_path}: not a readable checkpoint ({type(exc).__name__})") from None
    hparams = checkpoint.get("hyper_parameters", {}) if isinstance(checkpoint, dict) else {}
    if not {"config", "src_tokenizer", "tgt_tokenizer"} <= set(hparams):
        raise UserInputError(f"{ckpt_path}: not a --task seq2seq checkpoint (no tokenizers stored)")
    task = TranslationTask(hparams["config"], hparams["src_tokenizer"], hparams["tgt_tokenizer"])
    task.load_state_dict(checkpoint["state_dict"])
    return task.to(map_location).eval()


def translate_file(ckpt_path: str, input_path: str, output_path: Optional[str] = None, beam_size: int = 5,
                   max_len: int = 50) -> int:
    """Translate one sentence per line of ``input_path`` with a checkpoint; write ``output_path`` (or print).

    Blank input lines give blank output lines. Returns the number of lines translated.
    """
    if beam_size < 1 or max_len < 1:
        raise UserInputError(f"--beam_size and --max_len must be >= 1, got {beam_size} and {max_len}")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    task = load_translation_task(ckpt_path, device)
    lines = read_lines(Path(input_path))
    todo = [i for i, line in enumerate(lines) if line.strip()]
    translations, _ = task.translate([lines[i].strip() for i in todo], beam_size, max_len)
    output = [""] * len(lines)
    for i, text in zip(todo, translations):
        output[i] = text
    text = "".join(line + "\n" for line in output)
    if output_path:
        Path(output_path).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return len(lines)
