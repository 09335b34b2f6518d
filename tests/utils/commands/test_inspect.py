"""``python main.py inspect`` in-process on checkpoints written here (untrained weights: the plumbing is under test;
the numbers are tested in tests/models/): every figure with the numbers behind it in one directory, for a forecaster
and a token seq2seq model; every bad input one line, exit code 2 and no output directory."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import main
from tests.conftest import write_tiny_series
from tests.tiny_seq2seq import parallel_pairs, tiny_checkpoint
from tests.utils.commands.test_predict import SEQ_LEN, write_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")
pytest.importorskip("captum", reason="captum is not installed: pip install -r requirements.txt")

FORECASTER_FILES = {"gradient_flow.png", "gradient_flow.csv", "gates.png", "gate_saturation.png",
                    "gate_saturation.csv", "gate_histograms.csv", "hidden_states.png", "hidden_states.csv",
                    "hidden_pca.png", "hidden_pca.csv", "attribution.png", "attribution.csv", "attribution_steps.csv",
                    "summary.json"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("inspect")
    csv = write_tiny_series(tmp / "train.csv")
    paths = {"csv": csv}
    for name, flags in {"lstm_attention": {}, "seq2seq": {"model": "seq2seq", "rnn_type": "rnn",
                                                          "bidirectional": True},
                        "linear": {"model": "linear"}, "transformer": {"model": "transformer", "n_heads": 2}}.items():
        (tmp / name).mkdir()
        paths[name] = tmp / name / "best.ckpt"
        write_checkpoint(csv, paths[name], target="y", **flags)
    (tmp / "translator").mkdir()
    paths["translator"] = tiny_checkpoint(tmp / "translator" / "best.ckpt", steps=5)
    return paths


def inspect(*argv: str) -> int:
    return main.main(["inspect", *argv])


def test_a_forecaster_gets_every_figure_and_the_numbers_behind_it(runs: dict[str, Path],
                                                                   capsys: pytest.CaptureFixture) -> None:
    assert inspect("--ckpt", str(runs["lstm_attention"]), "--windows", "5", "--data_path", str(runs["csv"])) == 0
    out = runs["lstm_attention"].parent / "inspect"  # the default: beside the checkpoint
    assert FORECASTER_FILES <= {p.name for p in out.iterdir()}
    assert "6 figures and 7 tables in" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["windows"] == 5 and summary["gradient_flow"]["encoder layer 0"]["source"] == "autograd"
    flow = pd.read_csv(out / "gradient_flow.csv")
    assert flow["step"].tolist() == list(range(SEQ_LEN)) and (flow["sequences"] == 5).all()
    assert (flow["mean"] > 0).all() and (flow["q10"] <= flow["median"]).all() and (flow["median"] <= flow["q90"]).all()
    steps = pd.read_csv(out / "attribution_steps.csv")
    assert steps["share_mean"].sum() == pytest.approx(1.0) and steps["attention_mean"].sum() == pytest.approx(1.0)
    grid = pd.read_csv(out / "attribution.csv")
    assert set(grid["feature"]) == {"driver", "other", "y"} and grid["share"].sum() == pytest.approx(1.0)
    units = pd.read_csv(out / "gate_saturation.csv")
    assert set(units["gate"]) == {"input", "forget", "output"} and len(units) == 3 * 8
    assert summary["attribution"]["completeness_error"] < 0.05
    assert not list(out.parent.glob(".inspect.partial-*"))
    (out / "gradient_flow.png").unlink()  # a second inspect replaces the directory
    assert inspect("--ckpt", str(runs["lstm_attention"]), "--windows", "2") == 0  # the checkpoint's own CSV
    assert (out / "gradient_flow.png").is_file() and json.loads((out / "summary.json").read_text())["windows"] == 2


def test_an_encoder_decoder_forecaster_adds_its_alignment(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "figures"
    assert inspect("--ckpt", str(runs["seq2seq"]), "--windows", "4", "--output_dir", str(out)) == 0
    gates = {"gates.png", "gate_saturation.png", "gate_saturation.csv", "gate_histograms.csv"}
    names = {p.name for p in out.iterdir()}
    assert (FORECASTER_FILES - gates | {"alignment.png", "alignment.csv"}) <= names and not gates & names  # plain rnn
    flow = json.loads((out / "summary.json").read_text())["gradient_flow"]
    assert set(flow) == {"encoder layer 0", "encoder layer 0 reverse", "decoder.rnn layer 0"}
    assert {value["source"] for value in flow.values()} == {"kernel"}  # our RNN's hand-written BPTT
    alignment = pd.read_csv(out / "alignment.csv")
    np.testing.assert_allclose(alignment.groupby(["window", "decoder_step"])["weight"].sum(), 1.0, rtol=1e-5)


def test_a_translator_gets_an_alignment_per_sentence(runs: dict[str, Path], tmp_path: Path) -> None:
    sentences = tmp_path / "src.txt"
    sentences.write_text("".join(s + "\n\n" for s, _ in parallel_pairs(3, seed=5)))  # blank lines are skipped
    out = tmp_path / "figures"
    assert inspect("--ckpt", str(runs["translator"]), "--input", str(sentences), "--output_dir", str(out)) == 0
    names = {p.name for p in out.iterdir()}
    assert {"alignment_0.png", "alignment_2.png", "source_attribution.csv", "alignment.csv", "gradient_flow.png",
            "gates.png", "hidden_states.png"} <= names
    shares = pd.read_csv(out / "source_attribution.csv")
    np.testing.assert_allclose(shares.groupby("sentence")["attribution_share"].sum(), 1.0, rtol=1e-5)
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["translations"]) == 3 and summary["sentences"] == 3


def test_bad_input_is_one_line_and_leaves_no_directory(runs: dict[str, Path], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    short = tmp_path / "short.csv"
    pd.read_csv(runs["csv"]).head(SEQ_LEN + 2).to_csv(short, index=False)  # one row short of seq_len + horizon
    ckpt = str(runs["lstm_attention"])
    cases = {
        "linear": (["--ckpt", str(runs["linear"])], "--model linear has no recurrent core to inspect"),
        "transformer": (["--ckpt", str(runs["transformer"])], "--model transformer has no recurrent core"),
        "missing": (["--ckpt", str(tmp_path / "nope.ckpt")], "nope.ckpt: checkpoint not found"),
        "short": (["--ckpt", ckpt, "--data_path", str(short)], f"{SEQ_LEN + 2} rows, the model needs at least"),
        "windows": (["--ckpt", ckpt, "--windows", "0"], "--windows must be >= 1, got 0"),
        "input": (["--ckpt", ckpt, "--input", str(short)], "--input is for --task seq2seq checkpoints"),
    }
    for name, (argv, message) in cases.items():
        out = tmp_path / f"out-{name}"
        assert inspect(*argv, "--output_dir", str(out)) == 2, name
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1, (name, err)
        assert not out.exists() and not list(tmp_path.glob(f".out-{name}*")), name
