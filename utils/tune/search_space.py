"""Search spaces of ``python main.py tune``: a YAML file maps each ``--model`` to the flags to sample and how.

A space is checked in full before the first trial (names, types, bounds, and that every bound or choice is a
value its flag accepts on top of the base flags), so a typo ends the command with one line, not a failed study.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Union

from optuna.distributions import (BaseDistribution, CategoricalDistribution, FloatDistribution,
                                  IntDistribution)
from optuna.trial import Trial

from config import parse_config
from utils.errors import UserInputError
from utils.yaml_files import read_yaml_mapping

DEFAULT_SPACES = Path(__file__).resolve().parent / "search_spaces.yaml"
# Flags that tune sets itself (each trial's run directory; the seed, which --final_seeds varies) or that do not
# change the model's fit (where to log).
NOT_TUNABLE = {"config", "output_dir", "resume", "seed", "logger", "wandb_project"}
_KEYS = {"float": {"type", "low", "high", "log", "step"}, "int": {"type", "low", "high", "log", "step"},
         "categorical": {"type", "choices"}}


def load_space(path: Union[str, Path], model: str, base_argv: list[str]) -> dict[str, BaseDistribution]:
    """The space of ``model`` in the YAML file ``path`` as Optuna distributions, flag name -> distribution."""
    spaces = read_yaml_mapping(path, "search space file", "model: {flag: {type: ..., ...}}")
    if model not in spaces:
        raise UserInputError(f"{path}: no search space for --model {model} (it has: {', '.join(map(str, spaces))})")
    entries = spaces[model]
    if not isinstance(entries, dict) or not entries:
        raise UserInputError(f"{path}: {model}: expected a mapping of flag: {{type: ..., ...}}")
    space = {}
    for name, spec in entries.items():
        where = f"{path}: {model}.{name}"
        if name in NOT_TUNABLE:
            raise UserInputError(f"{where}: --{name} is set by tune itself, it cannot be searched")
        space[str(name)] = _distribution(spec, where)
        for value in _edge_values(space[str(name)]):
            try:
                parse_config([*base_argv, *as_flags({str(name): value})])
            except UserInputError as exc:
                raise UserInputError(f"{where}: {value!r} is not a valid value ({exc})") from None
    return space


def suggest(trial: Trial, space: dict[str, BaseDistribution]) -> dict[str, Any]:
    """Sample every flag of the space for ``trial``."""
    values: dict[str, Any] = {}
    for name, dist in space.items():
        if isinstance(dist, CategoricalDistribution):
            values[name] = trial.suggest_categorical(name, dist.choices)
        elif isinstance(dist, IntDistribution):
            values[name] = trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
        else:
            assert isinstance(dist, FloatDistribution)
            values[name] = trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
    return values


def as_flags(values: dict[str, Any]) -> list[str]:
    """Sampled values as command-line flags (``trainer.NAME`` becomes ``--trainer.NAME``), appended to the base
    flags so that they win over any value given there."""
    return [token for name, value in values.items() for token in (f"--{name}", str(value))]


def _distribution(spec: Any, where: str) -> BaseDistribution:
    """One entry -> its distribution; Optuna's own checks (low <= high, log needs low > 0, ...) become one line."""
    kind = spec.get("type") if isinstance(spec, dict) else None
    if kind not in _KEYS:
        raise UserInputError(f"{where}: expected {{type: float|int|categorical, ...}}, got {spec!r}")
    unknown = sorted(set(spec) - _KEYS[kind])
    if unknown:
        raise UserInputError(f"{where}: unknown key(s) {', '.join(map(str, unknown))} for type {kind}")
    try:
        if kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, list) or not choices:
                raise ValueError("choices must be a non-empty list")
            return CategoricalDistribution(choices)
        if "low" not in spec or "high" not in spec:
            raise ValueError("low and high are required")
        number = float if kind == "float" else _integer
        log = spec.get("log", False)
        if not isinstance(log, bool):
            raise ValueError(f"log must be true or false, got {log!r}")
        step = None if spec.get("step") is None else number(spec["step"])
        if kind == "float":
            return FloatDistribution(number(spec["low"]), number(spec["high"]), log=log, step=step)
        return IntDistribution(number(spec["low"]), number(spec["high"]), log=log, step=1 if step is None else step)
    except (TypeError, ValueError) as exc:  # float("abc"), and Optuna's checks of the bounds
        raise UserInputError(f"{where}: {exc}") from None


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    return value


def _edge_values(dist: BaseDistribution) -> list[Any]:
    """The values worth checking against the flag: every choice, or both bounds."""
    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    assert isinstance(dist, (FloatDistribution, IntDistribution))
    return [dist.low, dist.high]
