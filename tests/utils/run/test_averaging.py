"""``utils/run/averaging.py``: the mean of the weights, exactly the checkpoint for copies of one, loadable like any
checkpoint; ``--last N`` picks the newest epoch files; other models are refused in one line."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.tiny_seq2seq import tiny_checkpoint
from utils.errors import UserInputError
from utils.run.averaging import average_checkpoints, last_epoch_checkpoints
from utils.run.checkpoints import load_task


def test_averaging_two_copies_of_a_checkpoint_gives_that_checkpoint(tmp_path: Path) -> None:
    path = tiny_checkpoint(tmp_path / "a.ckpt", seed=1)
    copy = tmp_path / "copy.ckpt"
    copy.write_bytes(path.read_bytes())
    averaged = average_checkpoints([path, copy])
    original = torch.load(path, weights_only=True)
    assert averaged["state_dict"].keys() == original["state_dict"].keys()
    for name, tensor in original["state_dict"].items():
        assert torch.equal(averaged["state_dict"][name], tensor), name
    assert averaged["hyper_parameters"] == original["hyper_parameters"]


def test_average_is_the_elementwise_mean_and_loads(tmp_path: Path) -> None:
    paths = [tiny_checkpoint(tmp_path / f"{seed}.ckpt", seed=seed) for seed in (1, 2, 3)]
    averaged = average_checkpoints(paths)
    weights = [torch.load(p, weights_only=True)["state_dict"] for p in paths]
    for name, tensor in averaged["state_dict"].items():
        assert torch.allclose(tensor, sum(w[name] for w in weights) / 3, atol=1e-7), name
    assert averaged["global_step"] == 3  # the newest input's (tiny_checkpoint's step is its seed)
    out = tmp_path / "avg.ckpt"
    torch.save(averaged, out)
    task = load_task(out, "seq2seq")
    assert torch.equal(task.state_dict()["model.generator.weight"], averaged["state_dict"]["model.generator.weight"])


@pytest.mark.parametrize("other, words", [({"hidden_size": 32}, "shape"), ({"rnn_type": "lstm"}, "--rnn_type lstm"),
                                          ({"model": "transformer", "hidden_size": 16, "n_heads": 2}, "--model"),
                                          ({"extra_pair": ("der vogel singt .", "The bird sings.")}, "vocabularies")])
def test_other_models_are_refused(tmp_path: Path, other: dict, words: str) -> None:
    first = tiny_checkpoint(tmp_path / "a.ckpt")
    second = tiny_checkpoint(tmp_path / "b.ckpt", **other)
    with pytest.raises(UserInputError, match=f"cannot average .*a.ckpt and .*b.ckpt: not the same model: .*{words}"):
        average_checkpoints([first, second])
    with pytest.raises(UserInputError, match="at least 2"):
        average_checkpoints([first])


def test_last_epoch_checkpoints_are_the_newest(tmp_path: Path) -> None:
    for epoch in (8, 9, 10, 11):
        (tmp_path / f"epoch-{epoch:03d}.ckpt").write_bytes(b"")
    (tmp_path / "best.ckpt").write_bytes(b"")
    assert [p.name for p in last_epoch_checkpoints(tmp_path, 3)] == ["epoch-009.ckpt", "epoch-010.ckpt",
                                                                     "epoch-011.ckpt"]
    with pytest.raises(UserInputError, match="holds 4 epoch checkpoints .* --keep_last_checkpoints 5"):
        last_epoch_checkpoints(tmp_path, 5)
