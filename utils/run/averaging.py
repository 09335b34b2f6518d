"""Checkpoint averaging (Vaswani et al. 2017; fairseq's ``average_checkpoints.py``): the element-wise mean of the
weights of several checkpoints of one model, usually the last epochs of a run, which smooths the end of training
and typically gains a little BLEU over the single best checkpoint at no decoding cost.

The result is a checkpoint like any other (``translate``, ``export``, ``predict`` load it); it keeps the newest input's
hyperparameters, epoch and step, and drops optimiser and callback state, which belong to one run and cannot be
averaged, so it cannot be resumed from.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from utils.errors import UserInputError
from utils.run.checkpoints import load_checkpoint_safely
from utils.run.same_model import require_same_model

EPOCH_PATTERN = "epoch-[0-9]*.ckpt"  # what --keep_last_checkpoints writes


def average_checkpoints(paths: Sequence[Path]) -> dict[str, Any]:
    """The averaged checkpoint of ``paths`` (at least two, the same model): floating-point weights are averaged in
    float64 and cast back; any other tensor (a counter) must be equal in all and is kept."""
    if len(paths) < 2:
        raise UserInputError(f"averaging needs at least 2 checkpoints, got {len(paths)}")
    checkpoints = {str(path): load_checkpoint_safely(path) for path in paths}
    require_same_model(checkpoints, "average")
    loaded = list(checkpoints.values())
    newest = max(loaded, key=lambda c: (c.get("global_step", 0), c.get("epoch", 0)))
    averaged: dict[str, torch.Tensor] = {}
    for name, first in loaded[0]["state_dict"].items():
        tensors = [c["state_dict"][name] for c in loaded]
        if first.is_floating_point():
            averaged[name] = (sum(t.double() for t in tensors) / len(tensors)).to(first.dtype)
        elif all(torch.equal(first, t) for t in tensors[1:]):
            averaged[name] = first.clone()
        else:
            raise UserInputError(f"cannot average {name}: an integer tensor that differs between the checkpoints")
    return {"state_dict": averaged, "hyper_parameters": newest["hyper_parameters"],
            "epoch": newest.get("epoch", 0), "global_step": newest.get("global_step", 0),
            "pytorch-lightning_version": newest.get("pytorch-lightning_version", ""),
            "averaged_from": [str(p) for p in paths]}


def last_epoch_checkpoints(run_dir: Path, count: int) -> list[Path]:
    """The ``count`` newest ``epoch-NNN.ckpt`` of a run trained with ``--keep_last_checkpoints``, oldest first."""
    if not run_dir.is_dir():
        raise UserInputError(f"--run_dir {run_dir}: not a directory")
    found = sorted(run_dir.glob(EPOCH_PATTERN), key=lambda p: int(p.stem.split("-")[1]))
    if len(found) < count:
        raise UserInputError(f"--last {count}: {run_dir} holds {len(found)} epoch checkpoints ({EPOCH_PATTERN}); "
                             f"train with --keep_last_checkpoints {count} or more")
    return found[len(found) - count:]
