"""What ``python main.py inspect`` computes and writes for a trained recurrent model: figures (PNG) and the numbers
behind each (CSV, ``summary.json``) in one directory.

A forecaster is inspected on N windows of a CSV read as ``predict`` reads it (:mod:`data.recent`), each with its
horizon in the file so that the training loss L can be taken; a token seq2seq model on N source sentences, L being the
negative log-likelihood of its own translation (teacher-forced on it). One recorded forward and backward pass
(:mod:`models.introspection.probe`) gives every core's h_t, gates and ∂L/∂h_t; integrated gradients (Captum) give the
attribution, beside the attention weights. Figures:

* ``gradient_flow.png``: ‖∂L/∂h_t‖ per layer and direction against the step (mean and 10-90% over sequences);
* ``gates.png`` and ``gate_saturation.png``: gate activation distributions, per-unit saturation (Karpathy et al.);
* ``hidden_states.png`` and ``hidden_pca.png``: units x time for a few sequences, the PCA trajectory of h_t;
* ``attribution.png`` (forecasters): input steps and features, beside the attention weights;
* ``alignment.png`` (encoder-decoder forecasters), ``alignment_K.png`` (token seq2seq, one per sentence).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.nn import functional as F

from data.recent import RecentSeries
from data.series_meta import SeriesMeta
from data.time_features import TIME_FEATURES
from models.introspection.attribution import (STEPS, exact_gradients, integrated_gradients,
                                               layer_integrated_gradients, shares)
from models.introspection.probe import StateRecord, record_states
from models.introspection.statistics import (first_to_last, gate_histograms, gradient_flow, pca_trajectories,
                                             saturation)
from utils.errors import UserInputError
from utils.introspection_plots import (plot_attribution, plot_gate_distributions, plot_gate_saturation,
                                       plot_gradient_flow, plot_hidden_heatmaps, plot_pca_trajectories,
                                       plot_source_alignment, plot_window_alignment)

SHOWN = 3  # sequences drawn in the heatmaps, trajectories and window alignments
ALIGNMENTS = 6  # sentences drawn as alignment_K.png


@dataclass
class Inspection:
    """What was written: figure name -> PNG, table name -> CSV, and ``summary.json``'s content."""

    images: dict[str, Path] = field(default_factory=dict)
    tables: dict[str, Path] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    def table(self, name: str, frame: pd.DataFrame, out: Path) -> None:
        self.tables[name] = out / f"{name}.csv"
        frame.to_csv(self.tables[name], index=False, float_format="%.6g")


def window_starts(rows: int, seq_len: int, horizon: int, windows: int) -> np.ndarray:
    """Starts of up to ``windows`` windows evenly spaced over ``rows`` rows, each with its horizon inside."""
    last = rows - seq_len - horizon
    return np.unique(np.linspace(0, last, num=min(windows, last + 1)).round().astype(int))


def _over_time(records: list[StateRecord]) -> list[StateRecord]:
    """Records with more than one step (a decoder cell run once per output segment has one)."""
    return [record for record in records if record.hidden.shape[1] > 1]


def _write_state_figures(result: Inspection, records: list[StateRecord], out: Path, rows: list[int],
                         titles: list[str], step_labels: dict[str, str], loss_label: str) -> None:
    """Gradient flow, gates, hidden states and PCA of every record; ``rows``: the sequences drawn."""
    timed = _over_time(records)
    flow = gradient_flow(timed)
    ratios = {record.label: first_to_last(record) for record in timed}
    result.summary["gradient_flow"] = {
        record.label: {"first_to_last": ratios[record.label], "steps": int(record.hidden.shape[1]),
                       "source": record.grad_source} for record in timed}
    result.table("gradient_flow", flow, out)
    result.images["gradient_flow"] = plot_gradient_flow(flow, ratios, out / "gradient_flow.png", step_labels,
                                                        loss_label)
    gated = [record for record in records if record.gates]
    if gated:
        histograms, units = gate_histograms(gated), saturation(gated)
        result.table("gate_histograms", histograms, out)
        result.table("gate_saturation", units, out)
        result.images["gates"] = plot_gate_distributions(histograms, out / "gates.png")
        result.images["gate_saturation"] = plot_gate_saturation(units, out / "gate_saturation.png")
        result.summary["gates"] = {
            f"{record.core} layer {record.layer}{' reverse' if record.direction else ''} {gate}": {
                "mean": float(values[record.valid].mean()),
                "left_saturated": float((values[record.valid] < 0.1).mean()),
                "right_saturated": float((values[record.valid] > 0.9).mean())}
            for record in gated for gate, values in record.gates.items()}
    else:
        result.summary["gates"] = "the model's recurrent cores have no gates (plain rnn)"
    encoders = [record for record in timed if not record.core.startswith("decoder")] or timed
    heat, trajectories, heat_rows, pca_rows = [], [], [], []
    for record in encoders:
        hidden = record.hidden[rows]
        heat.append((record.label, hidden))
        coords, explained = pca_trajectories(record)
        trajectories.append((record.label, coords[rows], explained))
        result.summary.setdefault("pca_explained_variance", {})[record.label] = [float(v) for v in explained]
        for window, row in zip(titles, rows):
            steps, units = record.hidden.shape[1:]
            ids = {"sequence": window, "core": record.core, "layer": record.layer,
                   "direction": "reverse" if record.direction else "forward"}
            heat_rows.append(pd.DataFrame({**ids, "step": np.repeat(np.arange(steps), units),
                                           "unit": np.tile(np.arange(units), steps),
                                           "h": record.hidden[row].reshape(-1)}))
            pca_rows.append(pd.DataFrame({**ids, "step": np.arange(steps), "pc1": coords[row, :, 0],
                                          "pc2": coords[row, :, 1] if coords.shape[-1] > 1 else np.nan}))
    result.table("hidden_states", pd.concat(heat_rows, ignore_index=True), out)
    result.table("hidden_pca", pd.concat(pca_rows, ignore_index=True), out)
    label = step_labels.get(encoders[0].core, "step")
    result.images["hidden_states"] = plot_hidden_heatmaps(heat, titles, out / "hidden_states.png", label)
    result.images["hidden_pca"] = plot_pca_trajectories(trajectories, titles, out / "hidden_pca.png")


# ----------------------------------------------------------------------------------------------- forecasters
def feature_names(meta: SeriesMeta) -> list[str]:
    return list(meta.input_columns) + (list(TIME_FEATURES) if meta.time_features else [])


def inspect_forecaster(task: Any, meta: SeriesMeta, series: RecentSeries, windows: int, out: Path,
                       steps: int = STEPS) -> Inspection:
    """``task``: a loaded ``ForecastingTask`` with a recurrent core; ``series``: the CSV read against ``meta``
    (at least ``seq_len + horizon`` rows); ``windows`` evenly spaced windows; ``out`` exists and is empty."""
    started = time.perf_counter()
    result = Inspection()
    config = task.config
    starts = window_starts(series.rows, meta.seq_len, meta.horizon, windows)
    x = torch.from_numpy(np.ascontiguousarray(series.input_windows(starts, meta.seq_len)))
    future = series.targets[starts[:, None] + meta.seq_len + np.arange(meta.horizon)]  # (N, horizon, targets)
    mean, std = task.target_mean.cpu().numpy(), task.target_std.cpu().numpy()
    y = torch.from_numpy(((future - mean) / std).astype(np.float32))
    task.eval()
    with torch.enable_grad(), record_states(task.model) as recording:
        loss, attention = task.window_loss(x, y)
        (loss * len(x)).backward()  # the sum of each window's own loss: every row's gradient is its window's
    task.zero_grad(set_to_none=True)
    records = recording.states()
    channels = len(meta.target_names) if config.channel_independent and len(meta.target_names) > 1 else 1
    picks = np.linspace(0, len(starts) - 1, num=min(SHOWN, len(starts))).round().astype(int)
    dates = series.dates
    titles = [f"window {i}" + (f" ({dates.iloc[starts[i] + meta.seq_len - 1]:%Y-%m-%d %H:%M})"
                               if dates is not None else "") for i in picks]
    segment = config.segment_len if config.segment_len > 1 else 1
    encoder_steps = ("input step (0 = oldest)" if segment == 1
                     else f"recurrent step: segments of {segment} inputs (0 = oldest)")
    step_labels = {record.core: ("decoder step" if record.core.startswith("decoder") else encoder_steps)
                   for record in records}
    loss_label = f"the training loss (--loss {config.loss}) of each window over its {meta.horizon}-step horizon"
    result.summary.update({
        "model": config.model, "rnn": _core_description(config), "windows": len(starts),
        "window_starts": [int(s) for s in starts], "channels_per_window": channels,
        "loss": {"name": config.loss, "mean_over_windows": float(loss.detach())}})
    _write_state_figures(result, records, out, [int(i) * channels for i in picks], titles, step_labels, loss_label)
    attention_steps = _attention_over_inputs(attention, meta.seq_len)
    _write_attribution(result, task, x, out, meta, attention_steps, steps)
    if attention is not None and attention.dim() == 3:  # encoder-decoder: (N, decoder steps, input steps)
        weights = attention.detach().float().numpy()
        result.table("alignment", pd.DataFrame([
            {"window": int(w), "decoder_step": d, "input_step": s, "weight": weights[w, d, s]}
            for w in picks for d in range(weights.shape[1]) for s in range(weights.shape[2])]), out)
        result.images["alignment"] = plot_window_alignment(weights[picks], titles, out / "alignment.png",
                                                           encoder_steps)
    result.summary["seconds"] = round(time.perf_counter() - started, 2)
    return result


def _core_description(config: Any) -> str:
    kind = {"lstm_attention": "lstm", "seq2seq": config.rnn_type}.get(config.model, config.model)
    return f"{kind} ({config.lstm_impl})" if kind == "lstm" else kind


def _attention_over_inputs(attention: Optional[Tensor], seq_len: int) -> Optional[np.ndarray]:
    """Attention (N, S) or (N, decoder steps, S) as weights over the ``seq_len`` input steps (N, seq_len): averaged
    over decoder steps, a segment's weight spread evenly over its inputs."""
    if attention is None:
        return None
    weights = attention.detach().float().numpy()
    if weights.ndim == 3:
        weights = weights.mean(axis=1)
    segment = seq_len // weights.shape[1]
    return np.repeat(weights, segment, axis=1) / segment


def _write_attribution(result: Inspection, task: Any, x: Tensor, out: Path, meta: SeriesMeta,
                       attention: Optional[np.ndarray], steps: int) -> None:
    """Integrated gradients of each window's mean forecast (scaled units) with respect to its inputs, from the
    all-zeros window (every column at its training mean)."""
    model = task.model

    def mean_forecast(inputs: Tensor) -> Tensor:
        return model(inputs)[0].float().mean(dim=(1, 2))

    with exact_gradients(model):
        attributions, delta = integrated_gradients(mean_forecast, x.clone().requires_grad_(True),
                                                   torch.zeros_like(x), steps=steps)
    with torch.no_grad():
        change = (mean_forecast(x) - mean_forecast(torch.zeros_like(x))).double().numpy()
    per_step = shares(attributions, axis=1)  # (N, T)
    magnitude = np.abs(attributions)
    total = magnitude.sum(axis=(1, 2), keepdims=True)
    grid = np.divide(magnitude, total, out=np.zeros_like(magnitude), where=total > 0).mean(axis=0).T  # (F, T)
    names = feature_names(meta)
    result.table("attribution", pd.DataFrame({"feature": np.repeat(names, grid.shape[1]),
                                              "step": np.tile(np.arange(grid.shape[1]), len(names)),
                                              "share": grid.reshape(-1)}), out)
    low, high = np.percentile(per_step, [10, 90], axis=0)
    steps_table = pd.DataFrame({"step": np.arange(per_step.shape[1]), "share_mean": per_step.mean(axis=0),
                                "share_q10": low, "share_q90": high})
    if attention is not None:
        steps_table["attention_mean"] = attention.mean(axis=0)
    result.table("attribution_steps", steps_table, out)
    result.images["attribution"] = plot_attribution(per_step, grid, names, out / "attribution.png", attention,
                                                    "the mean forecast")
    result.summary["attribution"] = {
        "method": "integrated gradients (Captum, Gauss-Legendre)", "steps": steps,
        "of": "each window's mean forecast in scaled units", "baseline": "all zeros: every column at its training mean",
        "completeness_error": _completeness_error(delta, change),
        "feature_shares": dict(zip(names, (float(v) for v in grid.sum(axis=1)))),
        "last_quarter_share": float(per_step[:, -max(1, per_step.shape[1] // 4):].sum(axis=1).mean())}


# ---------------------------------------------------------------------------------------------- token seq2seq
def inspect_translator(task: Any, sentences: list[str], out: Path, steps: int = STEPS) -> Inspection:
    """``task``: a loaded ``TranslationTask`` with a recurrent encoder-decoder; each sentence is translated (the
    checkpoint's beam size) and L is the negative log-likelihood of that translation, teacher-forced on it."""
    from data.text.batches import pad_sequences
    from data.text.vocabulary import PAD, SOS, UNK, encode_sources
    from models.tasks.translator import translate_sentences

    started = time.perf_counter()
    result = Inspection()
    task.eval()
    hypotheses, alignments = translate_sentences(task, sentences)
    encoded = encode_sources(task.src_tokenizer, sentences)
    outputs = [[task.tgt_tokenizer.token_to_id(token) or UNK for token in out_tokens] or [PAD]
               for _, out_tokens, _ in alignments]
    src, lengths = pad_sequences(encoded)
    tgt_out, _ = pad_sequences(outputs)
    tgt_in, _ = pad_sequences([[SOS] + ids[:-1] for ids in outputs])
    model = task.model

    def log_likelihood(source: Tensor, source_lengths: Tensor, decoder_in: Tensor, gold: Tensor) -> Tensor:
        logits, _ = model(source, source_lengths, decoder_in)
        picked = -F.cross_entropy(logits.float().transpose(1, 2), gold, ignore_index=PAD, reduction="none")
        return picked.sum(dim=1)

    with torch.enable_grad(), record_states(model) as recording:
        nll = -log_likelihood(src, lengths, tgt_in, tgt_out)
        nll.sum().backward()
    task.zero_grad(set_to_none=True)
    records = recording.states()
    picks = list(range(min(SHOWN, len(sentences))))
    titles = [f"sentence {i}" for i in picks]
    step_labels = {record.core: ("output token" if record.core.startswith("decoder") else "source token")
                   for record in records}
    result.summary.update({
        "model": task.config.model, "rnn": _core_description(task.config), "sentences": len(sentences),
        "loss": {"name": "negative log-likelihood of the model's own translation",
                 "mean_over_sentences": float(nll.detach().mean())},
        "translations": [{"source": s, "translation": h} for s, h in zip(sentences, hypotheses)]})
    _write_state_figures(result, records, out, picks, titles, step_labels,
                         "the negative log-likelihood of each sentence's translation")
    attributions, delta = layer_integrated_gradients(log_likelihood, model.src_embed, src,
                                                     extra=(lengths, tgt_in, tgt_out), steps=steps)
    source_shares = shares(attributions, axis=1)  # (N, S): each source token's share
    rows = []
    for k, (source_tokens, out_tokens, weights) in enumerate(alignments):
        for i, token in enumerate(source_tokens):
            rows.append({"sentence": k, "source_position": i, "source_token": token,
                         "attribution_share": source_shares[k, i]})
        if k < ALIGNMENTS and len(out_tokens) and len(source_tokens):
            result.images[f"alignment_{k}"] = plot_source_alignment(
                weights.numpy(), source_tokens, out_tokens, out / f"alignment_{k}.png",
                f"sentence {k}: attention (rows: output) and integrated-gradient share per source token",
                source_shares[k, :len(source_tokens)])
    result.table("source_attribution", pd.DataFrame(rows), out)
    result.table("alignment", pd.DataFrame([
        {"sentence": k, "output_position": o, "output_token": out_tokens[o], "source_position": s,
         "source_token": source_tokens[s], "weight": float(weights[o, s])}
        for k, (source_tokens, out_tokens, weights) in enumerate(alignments)
        for o in range(len(out_tokens)) for s in range(len(source_tokens))]), out)
    result.summary["attribution"] = {
        "method": "integrated gradients over the source token embeddings (Captum, Gauss-Legendre)", "steps": steps,
        "of": "the log-likelihood of each sentence's translation", "baseline": "the padding embedding (zeros)",
        "completeness_error": _completeness_error(delta, nll.detach().double().numpy())}
    result.summary["seconds"] = round(time.perf_counter() - started, 2)
    return result


def _completeness_error(delta: np.ndarray, change: np.ndarray) -> float:
    """The largest |sum of a sequence's attributions - (f(x) - f(baseline))| over the mean |f(x) - f(baseline)|:
    how far integrated gradients are from adding up (0 when exact)."""
    return float(np.max(np.abs(delta)) / max(float(np.mean(np.abs(change))), 1e-12))


def write_summary(result: Inspection, out: Path, extra: dict[str, Any]) -> Path:
    path = out / "summary.json"
    result.summary = {**extra, **result.summary}
    path.write_text(json.dumps(result.summary, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def require_recurrent(model: Any, name: str, path: str) -> None:
    """One line for a checkpoint whose model has no recurrent core (linear, transformer, the naive baselines)."""
    from models.introspection.probe import recurrent_cores

    if not recurrent_cores(model):
        raise UserInputError(f"{path}: --model {name} has no recurrent core to inspect; inspect looks inside rnn, "
                             "lstm, gru, mingru, minlstm, lstm_attention and seq2seq checkpoints")

