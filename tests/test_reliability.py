"""Crash recovery (--resume after SIGKILL), non-finite losses, mixed precision on CPU, DDP parity, checkpoint
loading that cannot run code, reproducible metrics.json, and W&B offline without credentials."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import main
from tests.conftest import ROOT, recompute_test_metrics, write_tiny_series
from utils.run.checkpoints import SafeCheckpointIO, load_checkpoint_safely
from utils.errors import UserInputError

FLAGS = ["--seq_len", "12", "--horizon", "3", "--hidden_size", "8", "--batch_size", "16", "--accelerator", "cpu",
         "--target", "y", "--deterministic", "--patience", "0"]


def child_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "WANDB_MODE": "disabled", "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1", **extra}


def run(*args: str, env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """``python main.py ARGS`` in a child process (one intra-op thread: the box is shared and small)."""
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT, env=env or child_env(),
                          capture_output=True, text=True, timeout=timeout)


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr[-3000:]
    return [line for line in stderr.splitlines() if line.startswith("error:")]


# ---- 3. crash and --resume -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path: Path, one_thread) -> None:
    data = write_tiny_series(tmp_path / "series.csv", rows=1000)
    flags = ["--model", "lstm", "--data_path", str(data), *FLAGS, "--epochs", "6", "--logger", "csv"]
    reference = tmp_path / "reference"
    assert main.main([*flags, "--output_dir", str(reference)]) == 0

    crashed = tmp_path / "crashed"
    process = subprocess.Popen([sys.executable, str(ROOT / "main.py"), *flags, "--output_dir", str(crashed)],
                               cwd=ROOT, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not (crashed / "last.ckpt").exists():  # written atomically after the first epoch
            assert process.poll() is None and time.monotonic() < deadline, "no last.ckpt before the run ended"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert not (crashed / "metrics.json").exists() and (crashed / "INCOMPLETE").exists()
    killed_after = torch.load(crashed / "last.ckpt", weights_only=True)["epoch"]
    assert killed_after < 5, "the kill came too late to test anything"

    result = run(*flags, "--output_dir", str(crashed), "--resume")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resuming from {crashed / 'last.ckpt'}" in result.stdout
    assert f"epoch {killed_after + 2}/6" in result.stdout and "epoch 1/6" not in result.stdout  # one line per epoch
    resumed, uninterrupted = metrics(crashed), metrics(reference)
    assert resumed.keys() == uninterrupted.keys()
    for key, value in uninterrupted.items():
        assert resumed[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
    assert "resume: false" in (crashed / "config.yaml").read_text()  # the run's original config is kept


def test_checkpoint_every_n_steps_refreshes_last_mid_epoch(tmp_path: Path, tiny_csv: Path, one_thread,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    saved: list[tuple[str, int]] = []
    original = SafeCheckpointIO.save_checkpoint

    def record(self, checkpoint, path, storage_options=None):
        saved.append((Path(path).name, checkpoint["global_step"]))
        if Path(path).name == "last.ckpt" and checkpoint["global_step"] == 4:
            original(self, checkpoint, tmp_path / "mid_epoch.ckpt")
        return original(self, checkpoint, path, storage_options)

    monkeypatch.setattr(SafeCheckpointIO, "save_checkpoint", record)
    out = tmp_path / "run"
    argv = ["--model", "gru", "--data_path", str(tiny_csv), *FLAGS, "--logger", "none", "--epochs", "2",
            "--output_dir", str(out)]
    assert main.main([*argv, "--checkpoint_every_n_steps", "4"]) == 0
    steps_per_epoch = 10  # 154 training windows / 16
    last_steps = [step for name, step in saved if name == "last.ckpt"]
    assert {4, 8, 12, 16, 20} <= set(last_steps) and steps_per_epoch in last_steps
    # resuming from the mid-epoch checkpoint completes (Lightning restarts the interrupted epoch's loop)
    (tmp_path / "mid_epoch.ckpt").replace(out / "last.ckpt")
    (out / "metrics.json").unlink()
    assert main.main([*argv, "--checkpoint_every_n_steps", "4", "--resume"]) == 0
    assert metrics(out)["epochs_trained"] == 2


def test_resume_with_different_model_settings_is_refused(tmp_path: Path, tiny_csv: Path, one_thread, capsys) -> None:
    out = tmp_path / "run"
    argv = ["--model", "gru", "--data_path", str(tiny_csv), *FLAGS, "--logger", "none", "--epochs", "1",
            "--output_dir", str(out)]
    assert main.main(argv) == 0
    capsys.readouterr()
    assert main.main([*argv, "--resume", "--hidden_size", "16"]) == 2
    assert error_lines(capsys.readouterr().err) == [
        f"error: --resume: {out / 'last.ckpt'} was trained with other settings: --hidden_size 16 (checkpoint: 8)"]


# ---- 4. non-finite loss ---------------------------------------------------------------------------------------
def test_nan_loss_stops_naming_epoch_and_step_and_keeps_the_last_good_checkpoint(
        tmp_path: Path, tiny_csv: Path, one_thread, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    from models.tasks.forecasting import ForecastingTask
    original = ForecastingTask._loss

    def poisoned(self, prediction, y):
        loss = original(self, prediction, y)
        return loss * float("nan") if self.training and self.current_epoch == 1 and self.global_step >= 13 else loss

    monkeypatch.setattr(ForecastingTask, "_loss", poisoned)
    out = tmp_path / "run"
    rc = main.main(["--model", "lstm", "--data_path", str(tiny_csv), *FLAGS, "--logger", "none", "--epochs", "3",
                    "--checkpoint_every_n_steps", "2", "--output_dir", str(out)])
    assert rc == 1
    assert error_lines(capsys.readouterr().err) == [
        f"error: non-finite training loss at epoch 1, step 13; the last good checkpoint is kept: {out / 'last.ckpt'}"]
    last = torch.load(out / "last.ckpt", weights_only=True)
    assert last["global_step"] == 12 and last["epoch"] == 1  # the step-12 checkpoint; nothing written after
    assert all(torch.isfinite(t).all() for t in last["state_dict"].values() if t.is_floating_point())
    assert not (out / "metrics.json").exists() and (out / "INCOMPLETE").exists()


def test_diverging_learning_rate_is_one_line_exit_1(tmp_path: Path, tiny_csv: Path, one_thread, capsys) -> None:
    out = tmp_path / "run"
    rc = main.main(["--model", "lstm", "--data_path", str(tiny_csv), *FLAGS, "--logger", "none", "--epochs", "2",
                    "--lr", "1e30", "--output_dir", str(out)])
    assert rc == 1
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith("error: non-finite training loss at epoch 0, step ")
    if (out / "last.ckpt").exists():  # only when a previous epoch finished
        assert torch.load(out / "last.ckpt", weights_only=True)["epoch"] < int(line.split("epoch ")[1].split(",")[0])


def test_non_finite_weights_are_never_written(tmp_path: Path) -> None:
    io = SafeCheckpointIO()
    good = {"state_dict": {"w": torch.ones(2)}, "epoch": 0}
    io.save_checkpoint(good, tmp_path / "last.ckpt")
    with pytest.warns(UserWarning, match="NaN/inf"):
        io.save_checkpoint({"state_dict": {"w": torch.tensor([1.0, float("inf")])}, "epoch": 1}, tmp_path / "last.ckpt")
    assert io.load_checkpoint(tmp_path / "last.ckpt")["epoch"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # no .tmp left behind


# ---- 5. mixed precision on CPU ------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["lstm", "gru", "rnn", "lstm_attention"])
def test_bf16_mixed_on_cpu_completes_with_finite_metrics(tmp_path: Path, tiny_csv: Path, one_thread, model) -> None:
    """predictions.csv comes from a float32 forward pass of the best weights (after the Trainer), the test
    metrics from the Trainer's bf16 autocast passes: they must agree up to bf16 rounding, and differ by it.
    Measured gaps: 2.4e-4 to 4.9e-4 under bf16-mixed, below 1.1e-6 with --precision 32-true."""
    out = tmp_path / "run"
    assert main.main(["--model", model, "--data_path", str(tiny_csv), *FLAGS, "--logger", "none", "--epochs", "1",
                      "--precision", "bf16-mixed", "--output_dir", str(out)]) == 0
    values = metrics(out)
    assert all(torch.isfinite(torch.tensor(v)) for k, v in values.items() if k.startswith(("val/", "test/")))
    float32 = recompute_test_metrics(out, tiny_csv)
    gap = max(abs(values[key] - value) / abs(value) for key, value in float32.items())
    assert 1e-5 < gap < 1e-2, gap


# ---- 6. DDP ---------------------------------------------------------------------------------------------------
def _ddp_pair(tmp_path: Path, data: Path, one: list[str], two: list[str]) -> tuple[dict, dict, Path, str]:
    """The same run on one process (in-process, to save a start-up) and on 2 DDP processes (as a user runs it)."""
    flags = ["--model", "lstm", "--data_path", str(data), *FLAGS, "--epochs", "3", "--logger", "csv"]
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    assert main.main([*flags, *one, "--output_dir", str(single)]) == 0
    second = run(*flags, *two, "--devices", "2", "--strategy", "ddp", "--output_dir", str(ddp), timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    return metrics(single), metrics(ddp), ddp, second.stdout


def _relative_gap(a: dict, b: dict) -> float:
    keys = [k for k in a if k.startswith(("val/", "test/"))]
    return max(abs(a[k] - b[k]) / max(abs(a[k]), 1e-12) for k in keys)


@pytest.mark.slow
def test_ddp_full_batch_matches_one_process_and_only_rank_zero_writes(tmp_path: Path, tiny_csv: Path,
                                                                     one_thread) -> None:
    """Full-batch gradient descent (2 x 77 = 154 training windows, no DistributedSampler padding) makes the
    update independent of the sample order, so DDP must equal one process up to float summation order."""
    single, ddp, out, stdout = _ddp_pair(tmp_path, tiny_csv, ["--batch_size", "154", "--lr", "0.01"],
                                         ["--batch_size", "77", "--lr", "0.01"])
    assert _relative_gap(single, ddp) < 1e-5  # measured 3.6e-7
    assert ddp["data/train_samples"] == single["data/train_samples"]
    assert stdout.count("run directory:") == 1
    assert sorted(p.name for p in out.iterdir()) == ["best.ckpt", "config.yaml", "forecast.png", "last.ckpt", "logs",
                                                    "metrics.json", "predictions.csv", "timing.json"]


@pytest.mark.slow
def test_ddp_same_global_batch_is_close_to_one_process(tmp_path: Path, tiny_csv: Path, one_thread) -> None:
    """2 x 8 vs 16: the DistributedSampler deals the windows in another order than one process's sampler, so
    batches differ and exact equality is not expected. Measured gap after 3 epochs: 0.44% and 0.20% (seeds 1, 2);
    seed-to-seed spread of test MSE is ~7%. 2% leaves 4x headroom and is still well below the seed noise."""
    single, ddp, _, _ = _ddp_pair(tmp_path, tiny_csv, ["--batch_size", "16"], ["--batch_size", "8"])
    assert _relative_gap(single, ddp) < 2e-2


# ---- 7. checkpoints cannot run code ---------------------------------------------------------------------------
class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_crafted_pickle_checkpoint_is_refused_and_runs_nothing(tmp_path: Path, tiny_csv: Path, one_thread,
                                                               capsys) -> None:
    out = tmp_path / "run"
    out.mkdir()
    marker = tmp_path / "pwned"
    torch.save({"state_dict": {}, "epoch": 0, "evil": _Payload(marker)}, out / "last.ckpt")
    rc = main.main(["--model", "gru", "--data_path", str(tiny_csv), *FLAGS, "--logger", "none", "--epochs", "2",
                    "--output_dir", str(out), "--resume"])
    assert rc == 2
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith(f"error: {out / 'last.ckpt'}: refusing to load: not a plain weights checkpoint")
    assert not marker.exists()
    assert sorted(p.name for p in out.iterdir()) == ["last.ckpt"]  # nothing else was written
    with pytest.raises(UserInputError, match="refusing to load"):
        SafeCheckpointIO().load_checkpoint(out / "last.ckpt", weights_only=False)  # Lightning's flag is ignored
    assert not marker.exists()
    torch.load(out / "last.ckpt", weights_only=False)  # the payload is real: an unsafe load runs it
    assert marker.exists()


def test_truncated_checkpoint_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": {"w": torch.ones(1000)}}, path)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(UserInputError, match="not a readable checkpoint"):
        load_checkpoint_safely(path)


def test_trainer_reloads_best_with_weights_only(tmp_path: Path, tiny_csv: Path, one_thread,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    original = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return original(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    assert main.main(["--model", "gru", "--data_path", str(tiny_csv), *FLAGS, "--logger", "none", "--epochs", "1",
                      "--output_dir", str(tmp_path / "run")]) == 0
    assert len(calls) >= 2 and all(flag is True for flag in calls)  # validate + test reload best.ckpt


# ---- 8. reproducibility ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_same_seed_deterministic_runs_write_identical_metrics(tmp_path: Path, tiny_csv: Path, one_thread) -> None:
    flags = ["--model", "lstm_attention", "--data_path", str(tiny_csv), *FLAGS, "--epochs", "2", "--logger", "none"]
    assert main.main([*flags, "--output_dir", str(tmp_path / "a")]) == 0  # in this process ...
    assert run(*flags, "--output_dir", str(tmp_path / "b")).returncode == 0  # ... and in a fresh one
    assert (tmp_path / "a" / "metrics.json").read_bytes() == (tmp_path / "b" / "metrics.json").read_bytes()
    assert "fit_seconds" in json.loads((tmp_path / "a" / "timing.json").read_text())
    assert "fit_seconds" not in metrics(tmp_path / "a")


# ---- 9. W&B without network or credentials ----------------------------------------------------------------------
def test_wandb_mode_never_probes_online_without_credentials(tmp_path: Path, monkeypatch) -> None:
    from utils.run import loggers
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("NETRC", raising=False)
    monkeypatch.setattr(loggers, "_reachable", lambda host, timeout=1.5: pytest.fail("probed the network"))
    assert loggers.wandb_mode() == "offline"


@pytest.mark.slow
def test_wandb_offline_run_finishes_quickly_and_prints_the_sync_hint(tmp_path: Path, tiny_csv: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = child_env(HOME=str(home))
    for key in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_DIR", "NETRC"):
        env.pop(key, None)
    flags = ["--model", "gru", "--data_path", str(tiny_csv), *FLAGS, "--epochs", "1"]
    started = time.perf_counter()
    csv = run(*flags, "--logger", "csv", "--output_dir", str(tmp_path / "csv"), env=env)
    csv_seconds = time.perf_counter() - started
    started = time.perf_counter()
    result = run(*flags, "--logger", "wandb", "--output_dir", str(tmp_path / "wb"), env=env, timeout=180)
    wandb_seconds = time.perf_counter() - started
    assert csv.returncode == 0 and result.returncode == 0, result.stderr[-3000:]
    assert "W&B offline run saved; upload it with: wandb sync " in result.stdout
    runs = list((tmp_path / "wb" / "wandb").glob("*run-*"))
    assert runs and all(r.name.startswith("offline-run-") for r in runs)
    assert wandb_seconds - csv_seconds < 30, (wandb_seconds, csv_seconds)
