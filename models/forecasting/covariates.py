"""What a forecaster reads besides its input window: covariates known over the horizon, per-series constants
and a learned series embedding, combined with the window's forecast step by step.

The core (with RevIN, the linear skip, ...) forecasts from the past as before; a residual decoder then maps, at each
horizon step ``h``, ``[forecast_h, future_h, static embeddings, series embedding]`` to a correction of
``forecast_h``: TiDE's temporal decoder (Das et al., 2023), which lets a same-time covariate (a promotion, a price,
the hour) move the forecast of exactly its own step. Its last layer starts at zero, so an untrained decoder is the
core alone. Every ``--model`` with parameters gets it the same way.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from data.series_meta import SeriesSpec


def embedding_size(categories: int) -> int:
    """fastai's rule of thumb for a categorical embedding, capped at 16: ~1.6 * categories ** 0.56."""
    return max(1, min(16, round(1.6 * categories ** 0.56)))


class CovariateDecoder(nn.Module):
    """``forward(x (B, T, F), future (B, H, n_future), statics (B, S), series (B,))`` -> ``(prediction, attention)``.

    ``series`` indexes ``spec.n_series`` training series; an index outside them (a series unseen in training) gets
    the one extra "unknown" row of the embedding."""

    def __init__(self, inner: nn.Module, spec: SeriesSpec, series_embedding: int, hidden_size: int) -> None:
        super().__init__()
        self.inner = inner
        self.n_series = spec.n_series
        self.cardinalities = spec.static_cardinalities
        self.static_embeddings = nn.ModuleList(
            nn.Embedding(rows, embedding_size(rows)) for rows in self.cardinalities if rows)
        self.series_embedding = nn.Embedding(spec.n_series + 1, series_embedding) if series_embedding else None
        width = (spec.n_targets + spec.n_future + sum(embedding_size(r) if r else 1 for r in self.cardinalities)
                 + series_embedding)
        self.decoder = nn.Sequential(nn.Linear(width, hidden_size), nn.ReLU(), nn.Linear(hidden_size, spec.n_targets))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Zero output layer: training starts from the core's own forecast."""
        nn.init.zeros_(self.decoder[-1].weight)
        nn.init.zeros_(self.decoder[-1].bias)

    def context(self, statics: Tensor, series: Tensor) -> list[Tensor]:
        """Per-window constants: each static covariate (embedded when categorical) and the series embedding."""
        parts, embeddings = [], iter(self.static_embeddings)
        for column, rows in enumerate(self.cardinalities):
            value = statics[:, column]
            if rows:
                parts.append(next(embeddings)(value.long().clamp(0, rows - 1)))
            else:
                parts.append(value[:, None])
        if self.series_embedding is not None:
            known = (series >= 0) & (series < self.n_series)
            parts.append(self.series_embedding(torch.where(known, series, torch.full_like(series, self.n_series))))
        return parts

    def forward(self, x: Tensor, future: Tensor, statics: Tensor,
                series: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        prediction, attention = self.inner(x)
        horizon = prediction.shape[1]
        steps = [prediction.float(), future.float()]
        steps += [part.float()[:, None, :].expand(-1, horizon, -1) for part in self.context(statics, series)]
        return prediction + self.decoder(torch.cat(steps, dim=-1)), attention
