"""Forecasters: the ``--model`` core wrapped by the optional forecasting layers, composed in ``builder.py``."""
