"""``python main.py tune``: an Optuna study over a search space, every trial a normal run directory.

Selection uses the validation split only: a trial's objective is ``val/loss`` of its best checkpoint, and trials
never evaluate the test split. ``--final_seeds`` then retrains the best completed trial's settings with each seed
and reports test mean ± std; that is the only place the test split is looked at.

Resuming: the study lives in its storage (SQLite by default, or PostgreSQL: ``utils/tune/storage.py``), so rerunning
the same command continues it. ``--trials N`` is the number of *finished* (complete or pruned) trials the study
should have, so a rerun only runs the missing ones; workers sharing the study start no more than that between them
(``utils/tune/admission.py``). A trial left RUNNING by a tune process of this machine that no longer exists (killed,
crashed) is marked FAIL on the next start and does not count; a new trial takes its place. A trial that raises
(other than a drawn combination the flags refuse) is FAIL too and this worker starts its replacement at once, so the
study still ends with exactly ``--trials`` finished trials; a worker whose last ``FAILURES_IN_A_ROW`` trials all
raised stops with the last error (a broken setup, not an unlucky draw).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import socket
import statistics
import sys
from pathlib import Path
from typing import Any, Iterator, Optional

import optuna
from optuna.distributions import BaseDistribution
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, Trial, TrialState

from config import Config, parse_config
from utils.errors import UserInputError
from utils.tune.admission import COUNTED, next_trial
from utils.tune.pruning import PruneOnValidationLoss
from utils.tune.search_space import DEFAULT_SPACES, as_flags, load_space, suggest
from utils.tune.storage import open_storage
from utils.run.thread_governor import apply_thread_plan
from utils.run.threads import ThreadPlan

OBJECTIVE = "val/loss"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
BASE_CONFIG_ATTR = "base_config"
FAILURES_IN_A_ROW = 3  # trials of one worker that raised one after another: it stops


def tune(base_argv: list[str], study_name: str, trials: int, storage: str, space_path: Optional[str] = None,
         tune_dir: Optional[str] = None, final_seeds: Optional[list[int]] = None,
         thread_plan: Optional[ThreadPlan] = None) -> None:
    """Bring study ``study_name`` up to ``trials`` finished trials of ``base_argv`` + sampled flags, report the
    best, and retrain it with ``final_seeds`` when given. Every input is checked before the first trial. Trials
    RUNNING in other workers count towards ``trials``: this worker stops when the rest are taken."""
    from utils.run.train import quiet_libraries

    if trials < 0:
        raise UserInputError(f"--trials must be >= 0, got {trials}")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", study_name):
        raise UserInputError(f"--study {study_name!r}: use letters, digits, '.', '_' and '-' (it names a folder)")
    base = parse_config(base_argv)
    _check_base(base)
    space = load_space(space_path or DEFAULT_SPACES, str(base.model), base_argv)
    runs = Path(tune_dir or Path("runs") / f"tune-{study_name}")
    quiet_libraries()
    rdb = open_storage(storage)
    study = open_study(study_name, rdb, base.seed)
    fail_abandoned_trials(study)
    if len(study.get_trials(deepcopy=False, states=COUNTED)) < trials:
        _check_same_base(study, base)
        with _wandb_group(study_name):
            run_trials(study, rdb, trials, base_argv, space, runs, thread_plan)
    print(study_report(study), flush=True)
    if final_seeds:
        with _wandb_group(study_name):
            summary = final_runs(study, final_seeds, runs)
        print(f"\n{summary_markdown(summary)}\nwritten to {runs / 'final.md'} and {runs / 'final.json'}")


def open_study(name: str, storage: RDBStorage, seed: int) -> optuna.Study:
    """Create the study, or load it from ``storage`` to continue it; TPE sampling and median pruning (a trial is
    pruned when its validation loss is worse than the median of earlier trials at the same epoch, once 5 trials
    have finished, never in its first 2 epochs)."""
    study = optuna.create_study(study_name=name, storage=storage, direction="minimize", load_if_exists=True,
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2))
    # seeded by the trials so far: a continued study must not replay the random start of the first session
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials))
    return study


def fail_abandoned_trials(study: optuna.Study) -> list[int]:
    """Mark FAIL the RUNNING trials of tune processes of this machine that no longer exist; return their numbers.
    Trials of live processes and of other machines (parallel workers sharing the storage) are left alone."""
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        host, _, pid = str(trial.user_attrs.get("worker", "")).rpartition(":")
        if host == socket.gethostname() and pid.isdigit() and not _process_exists(int(pid)):
            study.tell(trial.number, state=TrialState.FAIL)
            failed.append(trial.number)
    if failed:
        print(f"marked trial(s) {', '.join(map(str, failed))} failed: their tune process is gone", file=sys.stderr)
    return failed


def run_trials(study: optuna.Study, rdb: RDBStorage, trials: int, base_argv: list[str],
               space: dict[str, BaseDistribution], runs: Path, thread_plan: Optional[ThreadPlan] = None) -> None:
    """Run trials until the study has ``trials`` (its finished and running ones, all workers together). A trial
    that raises is FAIL (its error in the trial's user attributes and one line on stderr) and, not being counted,
    is replaced by the next one, as a trial with a non-finite loss is; ``FAILURES_IN_A_ROW`` raising trials in a
    row stop the worker with the last error. A drawn combination the flags refuse (``UserInputError``) ends the
    command at once: the space needs fixing."""
    in_a_row = 0
    while (trial := next_trial(study, rdb, trials)) is not None:
        try:
            run_and_tell(study, trial, base_argv, space, runs, thread_plan)
        except UserInputError:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded on the trial; the worker goes on (or stops, below)
            _close_wandb_run()  # train() stopped before closing it; the next trial must not log into it
            in_a_row += 1
            if in_a_row >= FAILURES_IN_A_ROW:
                raise
            print(f"trial {trial.number} failed ({_error_line(exc)}); a new trial takes its place", file=sys.stderr,
                  flush=True)
            continue
        in_a_row = 0


def run_and_tell(study: optuna.Study, trial: Trial, base_argv: list[str], space: dict[str, BaseDistribution],
                 runs: Path, thread_plan: Optional[ThreadPlan] = None) -> FrozenTrial:
    """Run one trial of the ask-and-tell loop and record how it ended, as ``study.optimize`` would: PRUNED, FAIL
    (a non-finite objective; or an exception, which goes on up), else COMPLETE with its value."""
    try:
        value = run_trial(trial, base_argv, space, runs, thread_plan)
    except optuna.TrialPruned:
        return study.tell(trial, state=TrialState.PRUNED)
    except (Exception, KeyboardInterrupt) as exc:
        trial.set_user_attr("error", _error_line(exc))
        study.tell(trial, state=TrialState.FAIL)
        raise
    if not math.isfinite(value):
        return study.tell(trial, state=TrialState.FAIL)
    return study.tell(trial, value)


def run_trial(trial: Trial, base_argv: list[str], space: dict[str, BaseDistribution], runs: Path,
              thread_plan: Optional[ThreadPlan] = None) -> float:
    """The objective: one normal training run of the sampled settings, without the test split; its value is the
    validation loss of the best checkpoint. A trial whose loss turns non-finite fails and the study goes on."""
    from utils.run.train import train

    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    values = suggest(trial, space)
    flags = [*base_argv, *as_flags(values)]
    run_dir = runs / f"trial-{trial.number:04d}"
    trial.set_user_attr("flags", flags)
    trial.set_user_attr("run_dir", str(run_dir.resolve()))
    try:
        config = parse_config([*flags, "--output_dir", str(run_dir)])
    except UserInputError as exc:
        raise UserInputError(f"trial {trial.number} ({_describe(values)}): {exc}") from None
    print(f"\ntrial {trial.number}: {_describe(values)}; run directory {run_dir}", flush=True)
    pruning = PruneOnValidationLoss(trial, OBJECTIVE)
    try:
        governor = [apply_thread_plan(thread_plan)] if thread_plan else []  # trials that meet share the cores
        metrics = train(config, callbacks=[pruning, *governor], evaluate_test=False)
    except FloatingPointError as exc:
        _close_wandb_run()  # train() stopped before closing it; the next trial must not log into it
        print(f"trial {trial.number} failed: {exc}", file=sys.stderr)
        trial.set_user_attr("error", str(exc))
        return float("nan")  # Optuna records a NaN objective as a failed trial
    if pruning.pruned_after_epoch is not None:
        raise optuna.TrialPruned(f"{OBJECTIVE} after epoch {pruning.pruned_after_epoch} is worse than the median")
    return float(metrics[OBJECTIVE])


def study_report(study: optuna.Study) -> str:
    counts = {state: len(study.get_trials(deepcopy=False, states=(state,))) for state in TrialState}
    line = (f"study {study.study_name}: {counts[TrialState.COMPLETE] + counts[TrialState.PRUNED]} finished trials "
            f"({counts[TrialState.COMPLETE]} complete, {counts[TrialState.PRUNED]} pruned), "
            f"{counts[TrialState.FAIL]} failed" +
            (f", {counts[TrialState.RUNNING]} running" if counts[TrialState.RUNNING] else ""))
    if not counts[TrialState.COMPLETE]:
        return f"{line}; no completed trial yet"
    best = study.best_trial
    return (f"{line}; best: trial {best.number}, {OBJECTIVE} {best.value:.6g} with {_describe(best.params)}; "
            f"run directory {best.user_attrs.get('run_dir', '?')}")


def final_runs(study: optuna.Study, seeds: list[int], runs: Path) -> dict[str, Any]:
    """Retrain the best completed trial's settings once per seed (normal run directories ``final-seedS``, test
    evaluated) and write ``final.json`` / ``final.md`` with the test metrics' mean ± std."""
    from utils.run.train import train

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        raise UserInputError(f"--final_seeds: study {study.study_name} has no completed trial to retrain yet")
    best = study.best_trial
    if "flags" not in best.user_attrs:
        raise UserInputError(f"--final_seeds: trial {best.number} of study {study.study_name} was not run by "
                             "python main.py tune (it has no flags to retrain)")
    metrics: dict[int, dict[str, Any]] = {}
    run_dirs: dict[int, str] = {}
    for seed in seeds:
        run_dir = runs / f"final-seed{seed}"
        print(f"\nfinal run, seed {seed}: the settings of trial {best.number}; run directory {run_dir}", flush=True)
        metrics[seed] = train(parse_config([*best.user_attrs["flags"], "--seed", str(seed),
                                            "--output_dir", str(run_dir)]))
        run_dirs[seed] = str(run_dir.resolve())
    summary = summarise(study, best, metrics, run_dirs)
    runs.mkdir(parents=True, exist_ok=True)
    (runs / "final.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (runs / "final.md").write_text(summary_markdown(summary) + "\n", encoding="utf-8")
    return summary


def summarise(study: optuna.Study, best: FrozenTrial, metrics: dict[int, dict[str, Any]],
              run_dirs: dict[int, str]) -> dict[str, Any]:
    """Mean and sample standard deviation over the seeds of every ``test/`` metric."""
    seeds = list(metrics)
    names = sorted(k for k, v in metrics[seeds[0]].items() if k.startswith("test/") and isinstance(v, (int, float)))
    test = {}
    for name in names:
        values = [float(metrics[seed][name]) for seed in seeds]
        test[name] = {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else None,
                      "per_seed": dict(zip(map(str, seeds), values))}
    return {"study": study.study_name, "best_trial": best.number, OBJECTIVE: best.value, "params": best.params,
            "finished_trials": len(study.get_trials(deepcopy=False, states=FINISHED)),
            "selection": f"trials were compared by {OBJECTIVE} only; the test split was evaluated here for the "
                         "first time, once per seed",
            "seeds": seeds, "run_dirs": {str(seed): path for seed, path in run_dirs.items()}, "test": test}


def summary_markdown(summary: dict[str, Any]) -> str:
    seeds = summary["seeds"]
    lines = [f"# Study {summary['study']}: the best trial retrained with seeds {', '.join(map(str, seeds))}", "",
             f"Trial {summary['best_trial']} ({OBJECTIVE} {summary[OBJECTIVE]:.6g}, the best of "
             f"{summary['finished_trials']} finished trials): {_describe(summary['params'])}.",
             f"Selection: {summary['selection']}.", "",
             "| metric | mean ± std | " + " | ".join(f"seed {seed}" for seed in seeds) + " |",
             "|---|---:|" + "---:|" * len(seeds)]
    for name, row in summary["test"].items():
        spread = f"{row['mean']:.4g} ± {row['std']:.4g}" if row["std"] is not None else f"{row['mean']:.4g}"
        lines.append(f"| {name} | {spread} | " + " | ".join(f"{v:.4g}" for v in row["per_seed"].values()) + " |")
    return "\n".join(lines)


def _check_base(base: Config) -> None:
    """What tune decides itself cannot be a base flag; trials run in this process, so on one device."""
    from utils.run.trainer import parse_devices

    if base.output_dir or base.resume:
        raise UserInputError("tune names each trial's run directory: use --tune_dir instead of --output_dir/--resume")
    devices = parse_devices(base)
    if devices == "auto" or (len(devices) if isinstance(devices, list) else devices) != 1 or base.num_nodes != 1:
        raise UserInputError(f"tune runs every trial in its own process on one device: --devices {base.devices} "
                             f"--num_nodes {base.num_nodes} must be --devices 1 --num_nodes 1")


def _check_same_base(study: optuna.Study, base: Config) -> None:
    """A continued study must keep comparing trials of the same base settings (data, horizon, epochs, ...)."""
    current = base.to_dict()
    stored = study.user_attrs.get(BASE_CONFIG_ATTR)
    if stored is None:
        study.set_user_attr(BASE_CONFIG_ATTR, current)
        return
    changed = sorted(k for k in set(stored) | set(current) if stored.get(k) != current.get(k))
    if changed:
        details = ", ".join(f"{k}: {stored.get(k)!r} -> {current.get(k)!r}" for k in changed[:3])
        raise UserInputError(f"study {study.study_name} was started with other base flags ({details}); repeat "
                             "them to continue it, or name a new --study")


def _error_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__


def _describe(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())


def _process_exists(pid: int) -> bool:
    if os.name != "posix":  # os.kill(pid, 0) would end the process on Windows; assume it still runs
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


@contextlib.contextmanager
def _wandb_group(name: str) -> Iterator[None]:
    """Every W&B run started inside (trials and final runs) joins the group ``name`` (wandb reads the variable),
    unless the user set a group of their own."""
    if "WANDB_RUN_GROUP" in os.environ:
        yield
        return
    os.environ["WANDB_RUN_GROUP"] = name
    try:
        yield
    finally:
        del os.environ["WANDB_RUN_GROUP"]


def _close_wandb_run() -> None:
    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        wandb.finish()
