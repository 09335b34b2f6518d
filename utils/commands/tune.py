"""``python main.py tune``: an Optuna study over the flags of ``python main.py``."""
from __future__ import annotations

from utils.commands.parsing import CommandParser
from utils.errors import UserInputError


def tune_command(argv: list[str]) -> int:
    """Tune hyperparameters with Optuna (TPE, median pruning on the validation loss). Every other flag is a flag
    of python main.py (see its --help) and fixed for all trials; each trial is a normal run of those plus values
    sampled from the search space, compared by its best val/loss. The test split is evaluated only by
    --final_seeds. Rerunning the same command continues the study in --storage. Details: docs/tuning.md."""
    parser = CommandParser(prog="main.py tune", description=tune_command.__doc__,
                           usage="python main.py tune --trials N --study NAME [--storage URL] [--space FILE] "
                                 "[--tune_dir DIR] [--final_seeds S,S,...] [flags of python main.py]")
    parser.add_argument("--trials", type=int, required=True,
                        help="finished (complete or pruned) trials the study should have, all workers together; "
                             "a rerun adds the missing")
    parser.add_argument("--study", required=True, help="study name; the same name and --storage continue a study")
    parser.add_argument("--storage", default="sqlite:///runs/tune.db",
                        help="Optuna storage URL: sqlite:///FILE, or postgresql://USER@HOST/DB for workers on "
                             "several machines (pip install -r requirements-distributed.txt)")
    parser.add_argument("--space", default=None, help="search space YAML, one space per --model "
                                                      "(default: utils/tune/search_spaces.yaml)")
    parser.add_argument("--tune_dir", default=None, help="folder of the trial-NNNN and final-seedS run directories "
                                                         "(default: runs/tune-STUDY)")
    parser.add_argument("--final_seeds", default=None, help="e.g. 1,2,3: retrain the best trial with each seed "
                                                            "and report test mean ± std")
    args, base_argv = parser.parse_known_args(argv)
    seeds = [] if args.final_seeds is None else [token.strip() for token in args.final_seeds.split(",")]
    if not all(token.lstrip("-").isdigit() for token in seeds) or len(set(seeds)) != len(seeds):
        raise UserInputError(f"--final_seeds must be distinct integers like 1,2,3, got {args.final_seeds!r}")
    from config import parse_config
    from utils.run.threads import export_thread_environment, plan_threads

    plan = plan_threads(parse_config(base_argv))  # as for a training run: decided before torch loads
    export_thread_environment(plan)
    from utils.tune.study import tune

    tune(base_argv, args.study, args.trials, args.storage, args.space, args.tune_dir, [int(s) for s in seeds], plan)
    return 0
