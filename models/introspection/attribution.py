"""Which inputs drive an output: integrated gradients (Sundararajan, Taly & Yan, 2017) by Captum.

Integrated gradients and not gradient × input: a recurrent forecaster is far from linear in its inputs, and only
integrated gradients satisfy completeness (the attributions of a sequence add up to f(x) - f(baseline), which
:func:`integrated_gradients` returns as the convergence delta to check) and sensitivity. Captum's implementation
(Gauss-Legendre quadrature over the straight path, batched) is the field's reference, so it is used instead of our own.
Integrated gradients need the true gradient: layers that treat statistics of their input as constants in training
(RevIN's window mean and std, ``detach_statistics``) are switched to differentiate them while attributing
(:func:`exact_gradients`); otherwise the attributions would miss what a window's level and scale do to the forecast,
and would not add up.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

import numpy as np
import torch
from torch import Tensor, nn

from utils.errors import UserInputError

STEPS = 8  # Gauss-Legendre points on the path from the baseline to the input (within 0.2% of complete on the default run)


def _captum() -> Any:
    try:
        import captum.attr
    except ImportError:
        raise UserInputError("attribution needs Captum: pip install -r requirements.txt") from None
    return captum.attr


@contextmanager
def exact_gradients(model: nn.Module) -> Iterator[None]:
    """Inside the block every module with ``detach_statistics`` differentiates through its statistics."""
    switched = [module for module in model.modules() if getattr(module, "detach_statistics", False)]
    for module in switched:
        module.detach_statistics = False
    try:
        yield
    finally:
        for module in switched:
            module.detach_statistics = True


def integrated_gradients(forward: Callable[..., Tensor], inputs: Tensor, baselines: Optional[Tensor] = None,
                         steps: int = STEPS, batch: int = 512,
                         extra: tuple[Any, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
    """``forward(inputs, *extra)`` -> one number per sequence (N,); ``inputs`` (N, ...) -> (attributions shaped like
    ``inputs``, convergence delta (N,): attributions' sum minus (f(inputs) - f(baselines)))."""
    method = _captum().IntegratedGradients(forward)
    attributions, delta = method.attribute(inputs, baselines=baselines, additional_forward_args=extra or None,
                                           n_steps=steps, method="gausslegendre",
                                           internal_batch_size=max(1, batch), return_convergence_delta=True)
    return attributions.detach().double().cpu().numpy(), delta.detach().double().cpu().numpy()


def layer_integrated_gradients(forward: Callable[..., Tensor], layer: nn.Module, inputs: Tensor,
                               extra: tuple[Any, ...] = (), steps: int = STEPS,
                               batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Integrated gradients with respect to ``layer``'s output (e.g. token embeddings, baseline zeros: the padding
    embedding) for discrete ``inputs``; -> (attributions (N, ..., layer features), convergence delta (N,))."""
    method = _captum().LayerIntegratedGradients(forward, layer)
    attributions, delta = method.attribute(inputs, additional_forward_args=extra or None, n_steps=steps,
                                           method="gausslegendre", internal_batch_size=max(1, batch),
                                           return_convergence_delta=True)
    return attributions.detach().double().cpu().numpy(), delta.detach().double().cpu().numpy()


def shares(attributions: np.ndarray, axis: int) -> np.ndarray:
    """|attributions| of each sequence summed over every axis but 0 and ``axis``, as shares of the sequence's total:
    (N, size of ``axis``), each row summing to 1 (0 for a sequence with no attribution at all)."""
    magnitude = np.abs(attributions)
    other = tuple(a for a in range(1, magnitude.ndim) if a != axis)
    per = magnitude.sum(axis=other) if other else magnitude
    total = per.sum(axis=1, keepdims=True)
    return np.divide(per, total, out=np.zeros_like(per), where=total > 0)
