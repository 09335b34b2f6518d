"""``utils/run/watch.py`` (``--watch N``): the layers are named as the docs say; every N optimiser steps each layer's
gradient norm (before clipping), weight norm and update ratio reach every logger, and the three agree with plain SGD
(‖Δw‖ = lr ‖g‖, so update_ratio x weight_norm = lr x grad_norm); bad flags are one line."""
from __future__ import annotations

from pathlib import Path

import lightning as L
import pandas as pd
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from torch.utils.data import DataLoader, TensorDataset

import main
from models.recurrent.core import build_recurrent_core
from utils.run.watch import WatchLayers, layer_groups, layer_name

LR = 0.05


class Tiny(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = build_recurrent_core("rnn", 2, 4, num_layers=2)
        self.head = torch.nn.Linear(4, 1)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        out, _ = self.encoder(x)
        return torch.nn.functional.mse_loss(self.head(out[:, -1]), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=LR)


def test_layers_are_recurrent_layers_or_modules_without_the_wrappers() -> None:
    assert layer_name("model.inner.inner.encoder.rnn", "weight_hh_l1_reverse", "RNN") == "encoder.rnn.l1_reverse"
    assert layer_name("model.inner.head.linear", "weight", "Linear") == "head.linear"
    assert layer_name("model", "affine_weight", "RevIN") == "revin"
    assert list(layer_groups(Tiny())) == ["encoder.rnn.l0", "encoder.rnn.l1", "head"]
    assert [len(p) for p in layer_groups(Tiny()).values()] == [4, 4, 2]


def test_every_n_steps_each_layer_reaches_every_logger_and_the_numbers_agree(tmp_path: Path) -> None:
    torch.manual_seed(0)
    data = TensorDataset(torch.randn(40, 5, 2), torch.randn(40, 1))
    loggers = [CSVLogger(str(tmp_path), name="", version="csv"), TensorBoardLogger(str(tmp_path), name="",
                                                                                   version="tb")]
    trainer = L.Trainer(max_epochs=1, logger=loggers, callbacks=[WatchLayers(3)], enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                        log_every_n_steps=1000)
    trainer.fit(Tiny(), DataLoader(data, batch_size=4))  # 10 optimiser steps: 0, 3, 6, 9 are watched
    metrics = pd.read_csv(tmp_path / "csv" / "metrics.csv")
    watched = metrics.dropna(subset=["watch/grad_norm/encoder.rnn.l0"])
    assert watched["step"].tolist() == [0, 3, 6, 9]
    for layer in ("encoder.rnn.l0", "encoder.rnn.l1", "head"):
        grad, weight = watched[f"watch/grad_norm/{layer}"], watched[f"watch/weight_norm/{layer}"]
        ratio = watched[f"watch/update_ratio/{layer}"]
        assert (grad > 0).all() and (weight > 0).all()
        pd.testing.assert_series_equal(ratio * weight, LR * grad, check_names=False, rtol=1e-4)
    assert list((tmp_path / "tb").glob("events.out.tfevents.*")), "TensorBoard got nothing"


@pytest.mark.parametrize("flags, message", [
    (["--watch", "-1"], "--watch out of range: -1"),
    (["--watch", "5", "--logger", "none"], "--watch 5 logs to the experiment logger: it needs --logger wandb"),
])
def test_bad_watch_flags_are_one_line(flags: list[str], message: str, capsys: pytest.CaptureFixture,
                                      tmp_path: Path) -> None:
    assert main.main([*flags, "--output_dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
