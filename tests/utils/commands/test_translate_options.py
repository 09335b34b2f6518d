"""``python main.py translate`` search options on small checkpoints, in-process: --n_best (K=1 is beam's best),
seeded --sample (reproducible; temperature 0 is greedy), --length_penalty, ensembles (one model twice is that
model), and every bad combination refused in one line."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import write
from tests.tiny_seq2seq import parallel_pairs, tiny_checkpoint
from utils.commands.translate import translate_command
from utils.errors import UserInputError

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Two checkpoints of one model (seeds 1, 2) and an input file with a blank line."""
    tmp = tmp_path_factory.mktemp("translate")
    sources = [s for s, _ in parallel_pairs(12, seed=9)]
    source = write(tmp, "in.de", "".join(s + "\n" for s in sources[:5]) + "\n" + "".join(s + "\n" for s in sources[5:]))
    return tiny_checkpoint(tmp / "a.ckpt", seed=1), tiny_checkpoint(tmp / "b.ckpt", seed=2), source


def translate(tmp_path: Path, *argv: str) -> list[str]:
    out = tmp_path / "out.txt"
    assert translate_command([*argv, "--output", str(out)]) == 0
    return out.read_text(encoding="utf-8").splitlines()


def test_n_best_one_equals_beam_best_and_lists_are_ranked(setup, tmp_path: Path) -> None:
    a, _, source = setup
    best = translate(tmp_path, "--ckpt", str(a), "--input", str(source), "--beam_size", "4")
    one = [line.split("\t") for line in translate(tmp_path, "--ckpt", str(a), "--input", str(source), "--beam_size",
                                                  "4", "--n_best", "1")]
    assert [int(i) for i, _, _ in one] == [i for i, line in enumerate(best) if line]  # the blank line 5 is skipped
    assert [text for _, _, text in one] == [line for line in best if line]
    three = [line.split("\t") for line in translate(tmp_path, "--ckpt", str(a), "--input", str(source), "--beam_size",
                                                    "4", "--n_best", "3")]
    assert len(three) == 3 * len(one)
    for k in range(len(one)):
        group = three[3 * k:3 * k + 3]
        assert {i for i, _, _ in group} == {one[k][0]} and group[0][1:] == one[k][1:]
        assert [float(s) for _, s, _ in group] == sorted((float(s) for _, s, _ in group), reverse=True)


def test_length_penalty_changes_the_ranking(setup, tmp_path: Path) -> None:
    a, _, source = setup
    argv = ["--ckpt", str(a), "--input", str(source), "--beam_size", "4", "--n_best", "1"]
    scores = {alpha: [float(line.split("\t")[1]) for line in translate(tmp_path, *argv, "--length_penalty", alpha)]
              for alpha in ("0", "2")}
    assert scores["0"] != scores["2"]


def test_seeded_sampling_reproduces_and_temperature_zero_is_greedy(setup, tmp_path: Path) -> None:
    a, _, source = setup
    argv = ["--ckpt", str(a), "--input", str(source), "--sample", "--top_k", "20", "--top_p", "0.95"]
    first = translate(tmp_path, *argv, "--seed", "3")
    assert translate(tmp_path, *argv, "--seed", "3") == first
    assert translate(tmp_path, *argv, "--seed", "4") != first
    greedy = translate(tmp_path, "--ckpt", str(a), "--input", str(source), "--beam_size", "1")
    assert translate(tmp_path, "--ckpt", str(a), "--input", str(source), "--sample", "--temperature", "0") == greedy
    assert translate(tmp_path, "--ckpt", str(a), "--input", str(source), "--sample", "--temperature", "1e-4") == greedy


@pytest.mark.parametrize("beam", ["1", "4"])
def test_an_ensemble_of_one_model_equals_the_model(setup, tmp_path: Path, beam: str) -> None:
    a, b, source = setup
    alone = translate(tmp_path, "--ckpt", str(a), "--input", str(source), "--beam_size", beam)
    assert translate(tmp_path, "--ckpt", str(a), "--ckpt", str(a), "--input", str(source), "--beam_size", beam) == alone
    pair = translate(tmp_path, "--ckpt", str(a), "--ckpt", str(b), "--input", str(source), "--beam_size", beam)
    assert len(pair) == len(alone)
    scored = [translate(tmp_path, *ckpts, "--input", str(source), "--beam_size", beam, "--n_best", "1")
              for ckpts in (["--ckpt", str(a)], ["--ckpt", str(a), "--ckpt", str(b)])]
    assert scored[0] != scored[1]  # the second model counts (the texts may agree: both learned the task)


@pytest.mark.parametrize("argv, message", [
    (["--beam_size", "2", "--n_best", "3"], "--n_best 3 is larger than --beam_size 2"),
    (["--n_best", "6"], "--n_best 6 is larger than --beam_size 3"),  # the checkpoint's beam size is 3
    (["--sample", "--beam_size", "4"], "--beam_size is beam search; --sample draws"),
    (["--sample", "--n_best", "2"], "--n_best is beam search"),
    (["--sample", "--top_p", "0"], r"--top_p must be in \(0, 1\]"),
    (["--sample", "--temperature", "-1"], "--temperature must be >= 0"),
    (["--top_k", "5"], "--top_k sets how --sample draws: add --sample"),
    (["--n_best", "0"], "--n_best must be >= 1"),
    (["--sample", "--temperature", "nan"], "--temperature must be a finite number, got nan"),
    (["--sample", "--temperature", "inf"], "--temperature must be a finite number, got inf"),
    (["--sample", "--top_p", "-0.5"], r"--top_p must be in \(0, 1\]"),
    (["--sample", "--top_p=-inf"], "--top_p must be a finite number"),
    (["--length_penalty", "nan"], "--length_penalty must be a finite number"),
])
def test_bad_search_options_are_one_line(setup, argv: list[str], message: str) -> None:
    a, _, source = setup
    with pytest.raises(UserInputError, match=message):
        translate_command(["--ckpt", str(a), "--input", str(source), *argv])


def test_ensembles_of_other_models_or_vocabularies_are_refused(setup, tmp_path: Path) -> None:
    a, _, source = setup
    other_vocabulary = tiny_checkpoint(tmp_path / "v.ckpt", extra_pair=("der vogel singt .", "The bird sings."))
    with pytest.raises(UserInputError, match="cannot ensemble .* not the same model: other vocabularies"):
        translate_command(["--ckpt", str(a), "--ckpt", str(other_vocabulary), "--input", str(source)])
    lstm = tiny_checkpoint(tmp_path / "lstm.ckpt", rnn_type="lstm")
    with pytest.raises(UserInputError, match="cannot ensemble .* not the same model: --rnn_type lstm"):
        translate_command(["--ckpt", str(a), "--ckpt", str(lstm), "--input", str(source)])


def test_an_empty_input_file_and_onnx_only_options_are_refused(setup, tmp_path: Path) -> None:
    a, _, _ = setup
    with pytest.raises(UserInputError, match="file is empty"):
        translate_command(["--ckpt", str(a), "--input", str(write(tmp_path, "empty.txt", ""))])
    with pytest.raises(UserInputError, match="--n_best needs --ckpt"):
        translate_command(["--model_dir", str(tmp_path), "--input", "x", "--n_best", "2"])


def test_output_into_a_missing_directory_is_written_and_an_impossible_one_refused_before_translating(
        setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing directory is made (it was a traceback after the whole file was translated); a path that cannot
    be written is refused in one line before any model loads."""
    import utils.commands.translate as command

    a, _, source = setup
    expected = translate(tmp_path, "--ckpt", str(a), "--input", str(source))
    assert translate_command(["--ckpt", str(a), "--input", str(source), "--output",
                              str(tmp_path / "new" / "dir" / "out.en")]) == 0
    assert (tmp_path / "new" / "dir" / "out.en").read_text(encoding="utf-8").splitlines() == expected

    def never(*args, **kwargs):
        raise AssertionError("translated before the output path was checked")

    monkeypatch.setattr(command, "torch_translations", never)
    (tmp_path / "a-file").write_text("x")
    for value, message in ((tmp_path / "a-file" / "out.en", "is a file"), (tmp_path / "new", "is a directory")):
        with pytest.raises(UserInputError, match=message):
            translate_command(["--ckpt", str(a), "--input", str(source), "--output", str(value)])
