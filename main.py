"""seqlab command line: ``python main.py [flags]`` trains, tests and reports (``utils/run/train.py``);
``python main.py COMMAND ...`` runs a sub-command from ``utils/commands/`` (``translate``, ``predict``, ``export``,
``tune``). This file only dispatches and turns failures into exit codes: bad input ends in one line on stderr and
exit code 2, a non-finite loss in exit code 1; SIGTERM / SIGINT in one line saying how to continue, and exit code
143 / 130.
"""
from __future__ import annotations

import sys
from typing import Optional

from config import parse_config
from utils.commands import COMMANDS
from utils.errors import UserInputError
from utils.run.threads import export_thread_environment, plan_threads


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] and argv[0] in COMMANDS:
            return COMMANDS[argv[0]](argv[1:])
        config = parse_config(argv, commands=list(COMMANDS))
        plan = plan_threads(config)
        export_thread_environment(plan)  # before anything loads torch
        from utils.run.train import quiet_libraries, train_until_signalled

        quiet_libraries()
        return train_until_signalled(config, plan, argv)
    except UserInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FloatingPointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
