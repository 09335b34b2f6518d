"""Calendar covariates from a date column (``--time_features``); torch-free, so a forecast served by
onnxruntime builds the same inputs as training did."""
from __future__ import annotations

import numpy as np
import pandas as pd

TIME_FEATURES = ("hour_of_day", "day_of_week", "day_of_month", "day_of_year")


def time_feature_frame(dates: pd.Series) -> pd.DataFrame:
    """Calendar covariates scaled to [-0.5, 0.5] (Informer's ``timeF`` encoding), one column per TIME_FEATURES."""
    return pd.DataFrame({
        "hour_of_day": dates.dt.hour / 23.0 - 0.5,
        "day_of_week": dates.dt.dayofweek / 6.0 - 0.5,
        "day_of_month": (dates.dt.day - 1) / 30.0 - 0.5,
        "day_of_year": (dates.dt.dayofyear - 1) / 365.0 - 0.5,
    })


def calendar_features(stamps: np.ndarray) -> np.ndarray:
    """The same four covariates from int64 nanoseconds (or datetime64) of any shape, vectorized:
    ``stamps.shape + (4,)`` float32, equal to :func:`time_feature_frame` of the same dates."""
    moments = np.asarray(stamps).astype("datetime64[ns]")
    days = moments.astype("datetime64[D]")
    hour = (moments - days).astype("timedelta64[h]").astype(np.int64)
    day_of_week = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0 as pandas counts
    day_of_month = (days - days.astype("datetime64[M]")).astype(np.int64)
    day_of_year = (days - days.astype("datetime64[Y]")).astype(np.int64)
    return np.stack([hour / 23.0 - 0.5, day_of_week / 6.0 - 0.5, day_of_month / 30.0 - 0.5,
                     day_of_year / 365.0 - 0.5], axis=-1).astype(np.float32)
