"""Whether checkpoints hold the same model, as averaging their weights or ensembling them needs: the same task and
architecture settings, the same everything-but-the-config hyperparameters (a translation model's vocabularies, a
forecaster's scaling), and the same parameter names and shapes. Seeds, learning rates and epochs may differ."""
from __future__ import annotations

from typing import Any, Optional

from utils.errors import UserInputError

# Settings that change what a model computes without (always) changing its parameters' names or shapes.
ARCHITECTURE = ("task", "model", "rnn_type", "attention", "n_heads", "positions", "input_feeding", "bidirectional",
                "num_layers", "share_embeddings", "features", "target", "seq_len", "horizon", "revin", "revin_mode",
                "segment_len", "head", "loss", "quantiles")


def model_difference(first: dict[str, Any], other: dict[str, Any]) -> Optional[str]:
    """What differs between two loaded checkpoints' models, in a few words (None: the same model)."""
    first_hp, other_hp = first.get("hyper_parameters") or {}, other.get("hyper_parameters") or {}
    first_config, other_config = first_hp.get("config") or {}, other_hp.get("config") or {}
    for key in ARCHITECTURE:
        if first_config.get(key) != other_config.get(key):
            return f"--{key} {other_config.get(key)} (the first has {first_config.get(key)})"
    for key in sorted((set(first_hp) | set(other_hp)) - {"config"}):
        if first_hp.get(key) != other_hp.get(key):
            what = "vocabularies" if key.endswith("tokenizer") else "hyperparameters"
            return f"other {what} ({key} differs)"
    first_sd, other_sd = first["state_dict"], other["state_dict"]
    if set(first_sd) != set(other_sd):
        name = sorted(set(first_sd) ^ set(other_sd))[0]
        return f"other parameters ({name} is in only one of them)"
    for name, tensor in first_sd.items():
        if tuple(tensor.shape) != tuple(other_sd[name].shape):
            return f"{name} has shape {tuple(other_sd[name].shape)} (the first has {tuple(tensor.shape)})"
    return None


def require_same_model(checkpoints: dict[str, dict[str, Any]], purpose: str) -> None:
    """Refuse, in one line naming the files, checkpoints that are not all the first one's model."""
    paths = list(checkpoints)
    for path in paths[1:]:
        difference = model_difference(checkpoints[paths[0]], checkpoints[path])
        if difference is not None:
            raise UserInputError(f"cannot {purpose} {paths[0]} and {path}: not the same model: {difference}")
