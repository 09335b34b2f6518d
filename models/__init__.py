"""Sequence models as plain ``nn.Module``s; which builder a ``--model`` name picks is listed in ``config.py``."""
from __future__ import annotations

import importlib
from typing import Any, Callable

from config import models_for


def model_builder(task: str, name: str) -> Callable[..., Any]:
    """The builder function of ``--model name`` for ``--task``, imported now."""
    module_name, function_name = models_for(task)[name].split(":")
    return getattr(importlib.import_module(module_name), function_name)
