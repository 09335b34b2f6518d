"""``utils/commands/translate.py``: ``--beam_size`` / ``--max_len`` default to the checkpoint's config values, and
values below 1 are refused in one line before any model loads."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from utils.commands.translate import trained_settings, translate_command
from utils.errors import UserInputError

TRAINED = {"beam_size": 5, "max_len": 40, "task": "seq2seq"}


@pytest.mark.parametrize("beam_size, max_len, expected", [
    (None, None, (5, 40)), (1, None, (1, 40)), (None, 12, (5, 12)), (3, 7, (3, 7))])
def test_unset_flags_take_the_checkpoint_s_values(beam_size, max_len, expected) -> None:
    args = argparse.Namespace(beam_size=beam_size, max_len=max_len)
    assert trained_settings(args, TRAINED) == expected


def test_values_stored_as_text_are_read_as_numbers() -> None:
    assert trained_settings(argparse.Namespace(beam_size=None, max_len=None), {"beam_size": "2", "max_len": "9"}) \
        == (2, 9)


@pytest.mark.parametrize("flag", ["--beam_size", "--max_len"])
def test_a_value_below_one_is_refused_before_loading(flag: str, tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match=f"^{flag} must be >= 1, got 0$"):
        translate_command(["--ckpt", str(tmp_path / "missing.ckpt"), "--input", "x.txt", flag, "0"])
