"""Every ``lightning.Trainer`` argument from the command line (``--trainer.NAME VALUE``) or a YAML ``trainer:``
mapping, so Lightning's own switches (``fast_dev_run``, ``limit_train_batches``, ``max_steps``,
``accumulate_grad_batches``, ``val_check_interval``, ``profiler``, ...) need no hand-written flag each.

Values are read as YAML scalars (``true``, ``0.25``, ``500``, ``null``, ``simple``). Names are checked against
``Trainer.__init__``'s signature; the few arguments the project sets from its own flags are refused with the
flag to use instead.
"""
from __future__ import annotations

import ast
import difflib
import functools
import importlib.util
from pathlib import Path
from typing import Any

import yaml

from utils.errors import UserInputError

PREFIX = "--trainer."
# Trainer arguments the project derives from its own settings: use the flag on the right instead.
OWN_FLAGS = {
    "max_epochs": "--epochs", "accelerator": "--accelerator", "devices": "--devices", "strategy": "--strategy",
    "num_nodes": "--num_nodes", "precision": "--precision", "deterministic": "--deterministic",
    "gradient_clip_val": "--grad_clip", "logger": "--logger", "default_root_dir": "--output_dir",
    "callbacks": "(the project's callbacks)", "plugins": "(the project's checkpoint plugin)",
    "enable_checkpointing": "(best.ckpt and last.ckpt are always written)",
}


def parse_value(text: str) -> Any:
    """``"1e-3"`` -> 0.001, ``"true"`` -> True, ``"null"`` -> None, ``"simple"`` -> "simple"."""
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def split_trainer_args(argv: list[str]) -> tuple[list[str], dict[str, Any]]:
    """Separate ``--trainer.NAME VALUE`` / ``--trainer.NAME=VALUE`` (a bare ``--trainer.NAME`` means true)."""
    rest: list[str] = []
    values: dict[str, Any] = {}
    index = 0
    while index < len(argv):
        token = argv[index]
        index += 1
        if not token.startswith(PREFIX):
            rest.append(token)
            continue
        name, has_value, text = token[len(PREFIX):].partition("=")
        if not has_value:
            takes_next = index < len(argv) and not argv[index].startswith("--")
            text = argv[index] if takes_next else "true"
            index += takes_next
        values[name] = parse_value(text)
    return rest, values


@functools.lru_cache(maxsize=1)
def trainer_argument_names() -> frozenset[str]:
    """``lightning.Trainer.__init__``'s parameter names, read from its source: importing lightning would load
    torch before main.py has set the thread environment (utils/run/threads.py)."""
    spec = importlib.util.find_spec("lightning")  # finds the package without importing it
    if spec is None or spec.origin is None:
        raise UserInputError("--trainer.*: the lightning package is not installed")
    source = Path(spec.origin).parent / "pytorch" / "trainer" / "trainer.py"
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ClassDef) and node.name == "Trainer":
            init = next(n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
            arguments = [*init.args.posonlyargs, *init.args.args, *init.args.kwonlyargs]
            return frozenset(a.arg for a in arguments) - {"self"}
    raise UserInputError(f"--trainer.*: no Trainer class in {source}")


def check_trainer_args(values: dict[str, Any], source: str = "") -> dict[str, Any]:
    """Refuse names ``lightning.Trainer`` does not take, or that the project's own flags set."""
    if not values:
        return values
    known = trainer_argument_names()
    where = f"{source}: " if source else ""
    for name, value in values.items():
        if name in OWN_FLAGS:
            raise UserInputError(f"{where}--trainer.{name} is set by the project: use {OWN_FLAGS[name]}")
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known - set(OWN_FLAGS)), n=1)
            hint = f" (did you mean --trainer.{close[0]}?)" if close else ""
            raise UserInputError(f"{where}--trainer.{name} is not a lightning.Trainer argument{hint}")
        if name == "limit_val_batches" and value in (0, 0.0):
            raise UserInputError(f"{where}--trainer.limit_val_batches 0: checkpoints, early stopping and the lr "
                                 "schedule follow the validation loss, so validation cannot be switched off")
    return values
