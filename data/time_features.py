"""Calendar covariates from a date column (``--time_features``); torch-free, so a forecast served by
onnxruntime builds the same inputs as training did."""
from __future__ import annotations

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
