import numpy as np
import pytest
import torch

from utils.row_buffer import RowBuffer


def test_rows_come_back_joined_in_order_across_block_boundaries():
    buffer = RowBuffer(block_rows=4)
    batches = [np.arange(n * 3, dtype=np.float32).reshape(n, 3) + 100 * k for k, n in enumerate([3, 5, 1, 4])]
    for k, batch in enumerate(batches):
        buffer.append(torch.from_numpy(batch), np.full(len(batch), k))
    assert len(buffer) == 13
    values, labels = buffer.arrays()
    np.testing.assert_array_equal(values, np.concatenate(batches))
    np.testing.assert_array_equal(labels, np.repeat([0, 1, 2, 3], [3, 5, 1, 4]))
    assert values.dtype == np.float32
    assert len(buffer) == 0  # released


def test_a_field_missing_or_reshaped_in_some_batch_has_no_joined_rows():
    buffer = RowBuffer(block_rows=8)
    buffer.append(np.ones((2, 2)), np.ones((2, 5)), np.zeros((2, 1)))
    buffer.append(np.ones((3, 2)), None, np.zeros((3, 4)))
    values, missing, reshaped = buffer.arrays()
    assert values.shape == (5, 2) and missing is None and reshaped is None


def test_a_single_partial_block_is_a_copy_of_its_rows_only():
    buffer = RowBuffer(block_rows=1000)
    buffer.append(np.arange(6).reshape(3, 2))
    (values,) = buffer.arrays()
    assert values.shape == (3, 2) and values.base is None


def test_a_changed_number_of_fields_is_refused():
    buffer = RowBuffer()
    buffer.append(np.ones(2))
    with pytest.raises(ValueError, match="2 fields, expected 1"):
        buffer.append(np.ones(2), np.ones(2))


def test_only_empty_batches_give_no_arrays():
    buffer = RowBuffer()
    buffer.append(np.zeros((0, 3)), np.zeros((0, 2)))
    assert len(buffer) == 0 and buffer.arrays() == [None, None]
