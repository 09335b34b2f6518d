"""``data/samplers.py``: the bucketed batch sampler covers every example with similar lengths per batch."""

from __future__ import annotations

from data.samplers import BucketBatchSampler


def test_bucket_sampler_covers_everything_with_similar_lengths():
    lengths = [(i * 7919) % 50 for i in range(1000)]
    sampler = BucketBatchSampler(list(range(1000)), 10, False, lengths=lengths, shuffle=True, seed=1,
                                 chunk_batches=20)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 100
    assert sorted(i for b in batches for i in b) == list(range(1000))
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    assert spread < 5
    assert batches != list(sampler)  # a new order each epoch
