"""Probabilistic forecasting: scores and conformal radii (``scores``), the quantile and Gaussian heads (``heads``),
a trained task's central intervals and their column names (``intervals``). Level parsing lives in
``utils/levels.py`` (config checks it before torch loads); calibration at the end of a run in
``utils/run/conformal.py``."""
