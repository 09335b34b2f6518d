"""``--threads auto`` in a child process: the thread environment is set before torch loads and each DDP rank
gets its share."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, TINY_FLAGS
from utils.run.preemption import LAUNCHER_PID
from utils.run.threads import SET_BY_SEQLAB

CORES = len(os.sched_getaffinity(0))


PROBE = r"""
import importlib.abc, json, os, sys
seen = {}

class Probe(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and not seen:
            seen.update({key: os.environ.get(key) for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")})
        return None

sys.meta_path.insert(0, Probe())
sys.path.insert(0, ROOT)
import main
code = main.main(sys.argv[1:])
import torch
print(json.dumps({"rank": os.environ.get("LOCAL_RANK", "0"), "env_when_torch_loaded": seen, "code": code,
                  "torch_threads": torch.get_num_threads()}), flush=True)
"""


def clean_env() -> dict[str, str]:
    """A user's environment without thread settings (the tests' own OMP_NUM_THREADS=1 would win)."""
    drop = {"OMP_NUM_THREADS", "MKL_NUM_THREADS", SET_BY_SEQLAB, LAUNCHER_PID}
    return {**{k: v for k, v in os.environ.items() if k not in drop}, "WANDB_MODE": "disabled",
            "PYTHONWARNINGS": "ignore"}


@pytest.mark.slow
@pytest.mark.skipif(CORES < 2, reason="a 2-process CPU DDP run needs 2 cores")
@pytest.mark.parametrize("processes", [1, 2])
def test_environment_is_set_before_torch_loads_and_each_ddp_rank_gets_its_share(
        tmp_path: Path, tiny_csv: Path, processes: int) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(f"ROOT = {str(ROOT)!r}\n{PROBE}")
    out = tmp_path / "run"
    ddp = ["--devices", str(processes), "--strategy", "ddp"] if processes > 1 else []
    # --deterministic: a fixed count, which the governor would otherwise lower if this machine is busy
    flags = ["--model", "gru", "--data_path", str(tiny_csv), "--output_dir", str(out), *TINY_FLAGS, *ddp,
             "--deterministic"]
    result = subprocess.run([sys.executable, str(probe), *flags], cwd=tmp_path, env=clean_env(), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    share = CORES // processes
    reports = sorted((json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")),
                     key=lambda report: report["rank"])
    assert [report["rank"] for report in reports] == [str(rank) for rank in range(processes)]
    for report in reports:
        assert report["env_when_torch_loaded"] == {"OMP_NUM_THREADS": str(share), "MKL_NUM_THREADS": str(share)}
        assert report["torch_threads"] == share and report["code"] == 0
    headers = [line for line in result.stdout.splitlines() if line.startswith("threads:")]
    assert len(headers) == 1  # printed once, by rank 0
    assert headers[0].startswith(f"threads: {share} per process (auto: {CORES} cores / {processes} process")
    assert f"threads: auto  # this run: {share} per process (auto: " in (out / "config.yaml").read_text()
