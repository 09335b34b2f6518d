"""The GNMT length penalty: one function for the torch and the onnxruntime beam search, on ints, tensors, arrays."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.length_penalty import gnmt_length_penalty


@pytest.mark.parametrize("length,alpha,expected", [(1, 1.0, 1.0), (7, 1.0, 2.0), (13, 0.5, 3 ** 0.5),
                                                   (4, 2.0, 2.25), (19, 0.6, 4 ** 0.6), (30, 0.0, 1.0)])
def test_gnmt_length_penalty_values(length, alpha, expected):
    assert gnmt_length_penalty(length, alpha) == pytest.approx(expected, rel=1e-12)
    as_tensor = gnmt_length_penalty(torch.tensor([float(length)]), alpha)
    assert as_tensor.item() == pytest.approx(expected, rel=1e-6)
    as_array = gnmt_length_penalty(np.array([length, length]), alpha)
    assert as_array.tolist() == pytest.approx([expected, expected], rel=1e-12)
