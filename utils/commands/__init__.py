"""Sub-commands besides training (``python main.py COMMAND ...``), one per module; ``main.py`` dispatches to
:data:`COMMANDS`. Each takes its own argv and returns an exit code; bad input is a ``UserInputError`` (one line,
exit 2). Every module imports what its command needs only when it runs, so ``--help`` and a torch-free serving
path stay light.
"""
from __future__ import annotations

from typing import Callable

from utils.commands.average import average_command
from utils.commands.backtest import backtest_command
from utils.commands.export import export_command
from utils.commands.inspect import inspect_command
from utils.commands.predict import predict_command
from utils.commands.score import score_command
from utils.commands.translate import translate_command
from utils.commands.tune import tune_command

COMMANDS: dict[str, Callable[[list[str]], int]] = {"translate": translate_command, "predict": predict_command,
                                                    "export": export_command, "tune": tune_command,
                                                    "backtest": backtest_command, "score": score_command,
                                                    "average": average_command, "inspect": inspect_command}
