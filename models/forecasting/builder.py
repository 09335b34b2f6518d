"""The one place a numeric forecaster is put together from its ``--model`` core and the optional layers.

Reading :func:`build_forecaster` top to bottom gives the composition, outermost first::

    MedianEnsemble[ CovariateDecoder | DistributionHead( ChannelIndependent( RevIN( SeasonalSkip( LinearSkip(
        SegmentInput( core ) ) ) ) ) ) x N ]

Each layer is a flag (``--ensemble N`` members; covariates: ``--future_columns``, ``--static_columns``,
``--series_embedding``, ``--time_features`` on a panel; ``--loss quantile|gaussian``, ``--channel_independent``,
``--revin``, ``--seasonal_skip``, ``--linear_skip``, ``--segment_len``). The seasonal skip sits inside RevIN, so it
repeats the normalised window's season and RevIN maps it back: a zero network output is seasonal naive in either
``--revin_mode``. The baselines (``models/baselines.py``) take only the distribution head, channel
independence and, if trained, normalisation. Every layer and the core see a :class:`SeriesSpec` describing
exactly the tensor they receive, and what a core needs to know beyond that (how many channels a batch interleaves) is passed to its builder as an argument.
Flag combinations are validated once, in ``Config.validate``.
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from torch import nn

from config import BASELINES, PARAMETER_FREE
from models import model_builder
from models.forecasting.channel_independence import ChannelIndependent, univariate_spec
from models.forecasting.covariates import CovariateDecoder
from models.forecasting.ensemble import MedianEnsemble
from models.probabilistic.heads import DistributionHead
from models.forecasting.linear_skip import LinearSkip
from models.forecasting.revin import RevIN
from models.forecasting.seasonal_skip import SeasonalSkip
from models.forecasting.segments import SegmentInput
from data.series_meta import SeriesSpec

DISTRIBUTION_LOSSES = ("quantile", "gaussian")  # --loss values that add a DistributionHead

if TYPE_CHECKING:
    from config import Config


def build_forecaster(config: "Config", spec: SeriesSpec) -> nn.Module:
    """``forward(x (B, T, F)) -> (prediction, attention)`` for the data described by ``spec``; with covariates
    ``forward(x, future, statics, series)`` (:class:`CovariateDecoder`). ``--ensemble N`` builds N members one after
    another (each its own initialisation from the run's seed), member k for its lookback
    (:meth:`Config.ensemble_member`)."""
    if config.ensemble > 1:
        lookbacks = [config.ensemble_member(k)[1] for k in range(config.ensemble)]
        return MedianEnsemble([build_member(config, replace(spec, seq_len=n)) for n in lookbacks], lookbacks)
    return build_member(config, spec)


def build_member(config: "Config", spec: SeriesSpec) -> nn.Module:
    """One forecaster (an ensemble's member, or the run's model)."""
    forecasting = not spec.is_classification
    channel_independent = forecasting and config.channel_independent and spec.n_targets > 1
    series = univariate_spec(spec) if channel_independent else spec  # what every layer below sees
    channels = spec.n_targets if channel_independent else 1  # rows of a batch are channel r % channels

    baseline = config.model in BASELINES
    segmented = config.segment_len > 1 and not baseline
    model = model_builder(config.task, config.model)(config, segment_spec(series, config) if segmented else series,
                                                     channels)
    if segmented:
        model = SegmentInput(model, series.n_features, config.segment_len, config.hidden_size)
    if forecasting and config.linear_skip and not baseline:
        model = LinearSkip(model, series)
    if forecasting and config.seasonal_skip and not baseline:  # Config checks --season against the window
        model = SeasonalSkip(model, series, config.season, config.seasonal_cycles)
    if forecasting and config.revin and config.model not in PARAMETER_FREE:
        model = RevIN(model, series, mode=config.revin_mode)
    if channel_independent:
        model = ChannelIndependent(model, spec)
    if forecasting and config.loss in DISTRIBUTION_LOSSES:
        model = DistributionHead(model, spec, config.loss, config.quantile_levels())
    if forecasting and config.covariate_decoder():  # Config refuses it with a DistributionHead
        model = CovariateDecoder(model, spec, config.series_embedding, config.hidden_size)
    return model


def segment_spec(spec: SeriesSpec, config: "Config") -> SeriesSpec:
    """What the core sees behind :class:`SegmentInput`: one ``hidden_size`` embedding per segment, so no input
    column holds a target any more."""
    return replace(spec, n_features=config.hidden_size, seq_len=spec.seq_len // config.segment_len,
                   target_index=(-1,) * spec.n_targets)
