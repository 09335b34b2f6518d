"""The one onnxruntime session factory: an unreadable file is one line naming it; the thread plan is honoured."""
from __future__ import annotations

from pathlib import Path

import pytest

from utils.errors import UserInputError
from utils.serve.onnx_session import onnx_session


def test_an_unreadable_file_is_one_line_naming_it(tmp_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(UserInputError, match=r"junk.onnx: not a readable ONNX model \(") as error:
        onnx_session(junk)
    assert "\n" not in str(error.value)


def test_a_model_runs_with_the_planned_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    import numpy as np

    session = onnx_session(path)
    assert session.get_session_options().intra_op_num_threads == 1
    assert session.run(None, {"x": np.array([-1.0, 2.0], dtype=np.float32)})[0].tolist() == [0.0, 2.0]
