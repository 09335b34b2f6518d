"""``python main.py score``: the numbers of sacreBLEU itself (API and command line) on the same files, and one-line
refusals of files that do not pair up."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import sacrebleu

from tests.conftest import write
from utils.commands.score import score_command
from utils.errors import UserInputError

HYPS = ["A man is running in the park.", "the dog sleeps on a red sofa.", "Two women are talking, aren't they?",
        "A child \"jumps\" (high)."]
REFS = ["A man runs in the park.", "The dog sleeps on the red sofa.", "Two women talk, don't they?",
        "A child jumps high."]


def printed_scores(capsys: pytest.CaptureFixture, *argv: str) -> tuple[float, float, list[str]]:
    assert score_command(list(argv)) == 0
    out = capsys.readouterr().out
    bleu = float(re.search(r"^BLEU = ([\d.]+)", out, re.M).group(1))
    chrf = float(re.search(r"^chrF2 = ([\d.]+)", out, re.M).group(1))
    return bleu, chrf, re.findall(r"signature: (\S+)", out)


@pytest.mark.parametrize("lowercase", [False, True])
def test_score_equals_sacrebleu_called_directly(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                lowercase: bool) -> None:
    hyp = write(tmp_path, "hyp.txt", "".join(h + "\n" for h in HYPS))
    ref = write(tmp_path, "ref.txt", "".join(r + "\n" for r in REFS))
    flags = ["--lowercase"] if lowercase else []
    bleu, chrf, signatures = printed_scores(capsys, "--hyp", str(hyp), "--ref", str(ref), *flags)
    api_bleu = sacrebleu.metrics.BLEU(lowercase=lowercase)
    assert bleu == pytest.approx(api_bleu.corpus_score(HYPS, [REFS]).score, abs=0.005)
    assert chrf == pytest.approx(sacrebleu.metrics.CHRF(lowercase=lowercase).corpus_score(HYPS, [REFS]).score,
                                 abs=0.005)
    assert signatures[0] == str(api_bleu.get_signature())
    lowercase_flags = ["-lc", "--chrf-lowercase"] if lowercase else []
    cli = subprocess.run([sys.executable, "-m", "sacrebleu", str(ref), "-i", str(hyp), "-m", "bleu", "chrf", "-b",
                          "-f", "text", "-w", "2", *lowercase_flags], capture_output=True, text=True, check=True)
    assert [float(x) for x in cli.stdout.split()] == pytest.approx([bleu, chrf], abs=0.005)


def test_score_refuses_files_that_do_not_pair_up(tmp_path: Path) -> None:
    hyp = write(tmp_path, "hyp.txt", "a\nb\n")
    with pytest.raises(UserInputError, match="has 2 lines but --ref .* has 3"):
        score_command(["--hyp", str(hyp), "--ref", str(write(tmp_path, "ref.txt", "a\nb\nc\n"))])
    with pytest.raises(UserInputError, match="file is empty"):
        score_command(["--hyp", str(hyp), "--ref", str(write(tmp_path, "empty.txt", ""))])
