"""Reductions over segments of one long array, without a Python loop over the segments (numpy only; torch-free).

A panel keeps every series' rows back to back in one array; a series (or one split of it) is a segment
``[start, end)`` of rows. These helpers compute per-segment sums, means, standard deviations and repairs for all
segments at once, in blocks of rows so that temporaries stay bounded whatever the panel's size.
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

BLOCK_ROWS = 4_000_000  # rows per block of the blockwise passes (a few tens of MB of float64 temporaries)


def segment_sums(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``(segments, columns)`` float64 sums of ``values[start:end]`` (``values`` ``(rows,)`` or ``(rows, C)``);
    empty segments sum to 0. Segments may overlap and come in any order."""
    starts, ends = np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)
    matrix = _as_matrix(values)
    out = np.zeros((len(starts), matrix.shape[1]), dtype=np.float64)
    if len(starts) == 0:
        return out
    for lo, hi, chosen in _segment_blocks(starts, ends):
        block = np.asarray(matrix[lo:hi], dtype=np.float64)
        cumulative = np.zeros((len(block) + 1, block.shape[1]), dtype=np.float64)
        np.cumsum(block, axis=0, out=cumulative[1:])
        out[chosen] = cumulative[ends[chosen] - lo] - cumulative[starts[chosen] - lo]
    return out


def segment_means(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Per-segment means (NaN for an empty segment)."""
    counts = (np.asarray(ends) - np.asarray(starts)).astype(np.float64)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return segment_sums(values, starts, ends) / counts


def segment_std(values: np.ndarray, starts: np.ndarray, ends: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Population standard deviation per segment about the given per-segment ``means`` (two-pass, so that large
    levels keep their precision). Segments must not overlap."""
    starts, ends = np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)
    matrix = _as_matrix(values)
    squares = np.zeros((len(starts), matrix.shape[1]), dtype=np.float64)
    for lo, hi, chosen in _segment_blocks(starts, ends):
        block = np.asarray(matrix[lo:hi], dtype=np.float64)
        local_starts, local_ends = starts[chosen] - lo, ends[chosen] - lo
        owner = _owners(local_starts, local_ends, len(block))
        inside = owner >= 0
        deviations = np.zeros_like(block)
        centred = block[inside] - means[chosen][owner[inside]]
        deviations[inside] = centred * centred
        cumulative = np.zeros((len(block) + 1, block.shape[1]), dtype=np.float64)
        np.cumsum(deviations, axis=0, out=cumulative[1:])
        squares[chosen] = cumulative[local_ends] - cumulative[local_starts]
    counts = (ends - starts).astype(np.float64)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(squares / counts)


def lagged_abs_diff_means(values: np.ndarray, offsets: np.ndarray, ends: Any, lag: int) -> Any:
    """Per series ``k`` (rows ``offsets[k] .. offsets[k+1]``): the mean of ``|x_t - x_{t-lag}|`` over its
    positions ``t`` in ``[lag, ends[k])``, the MASE denominator of M4; NaN where no such pair exists. ``ends``
    may be a list of such arrays (one pass over the rows for all of them): a list of results comes back."""
    several = isinstance(ends, (list, tuple))
    lengths = np.diff(np.asarray(offsets, dtype=np.int64))
    all_ends = [np.minimum(np.asarray(e, dtype=np.int64), lengths) for e in (ends if several else [ends])]
    matrix = _as_matrix(values)
    starts = np.asarray(offsets[:-1], dtype=np.int64)
    totals = [np.zeros((len(lengths), matrix.shape[1]), dtype=np.float64) for _ in all_ends]
    reach = starts + np.max(np.stack(all_ends), axis=0)  # every row any of the sums needs
    for lo, hi, chosen in _segment_blocks(starts, np.maximum(reach, starts)):
        if hi <= lo:
            continue
        block = np.asarray(matrix[lo:hi], dtype=np.float64)
        diffs = np.zeros_like(block)
        if len(block) > lag:
            diffs[lag:] = np.abs(block[lag:] - block[:-lag])
        cumulative = np.zeros((hi - lo + 1, block.shape[1]), dtype=np.float64)
        np.cumsum(diffs, axis=0, out=cumulative[1:])
        first = starts[chosen] - lo + lag  # the first position whose partner lag rows back is in the series
        for total, end in zip(totals, all_ends):
            last = starts[chosen] - lo + end[chosen]
            total[chosen] = cumulative[np.maximum(last, np.minimum(first, last))] - cumulative[np.minimum(first, last)]
    results = []
    for total, end in zip(totals, all_ends):
        counts = np.maximum(end - lag, 0).astype(np.float64)[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            results.append(np.where(counts > 0, total / np.maximum(counts, 1), np.nan))
    return results if several else results[0]


def _as_matrix(values: Any) -> Any:
    """``(rows, C)``: a 1-D array as one column; 2-D arrays (or a :class:`data.panel_table.ChunkedRows`) as they are."""
    return values[:, None] if getattr(values, "ndim", 2) == 1 else values


def _disjoint(starts: np.ndarray, ends: np.ndarray) -> bool:
    order = np.argsort(starts, kind="stable")
    return bool(np.all(starts[order][1:] >= ends[order][:-1])) if len(starts) > 1 else True


def _owners(starts: np.ndarray, ends: np.ndarray, rows: int) -> np.ndarray:
    """For disjoint segments: each row's segment index, or -1 for a row in none."""
    owner = np.full(rows, -1, dtype=np.int64)
    lengths = ends - starts
    keep = lengths > 0
    index = np.repeat(np.flatnonzero(keep), lengths[keep])
    positions = np.repeat(starts[keep] - np.cumsum(np.concatenate([[0], lengths[keep][:-1]])), lengths[keep])
    owner[positions + np.arange(len(index))] = index
    return owner


def _segment_blocks(starts: np.ndarray, ends: np.ndarray) -> Iterator[tuple[int, int, np.ndarray]]:
    """Groups of segments (sorted by start) whose rows fit in a block of about ``BLOCK_ROWS`` rows: yields
    ``(lo, hi, indices)`` with every chosen segment inside ``[lo, hi)``. A segment longer than a block is a block."""
    if len(starts) == 0:
        return
    order = np.argsort(starts, kind="stable")
    sorted_starts, sorted_ends = starts[order], np.maximum.accumulate(np.maximum(ends[order], starts[order]))
    i = 0
    while i < len(order):
        lo = int(sorted_starts[i])
        j = int(np.searchsorted(sorted_ends, lo + BLOCK_ROWS, side="right"))
        j = max(j, i + 1)
        hi = int(sorted_ends[j - 1])
        yield lo, max(hi, lo), order[i:j]
        i = j


def row_blocks(offsets: np.ndarray, block_rows: int = BLOCK_ROWS) -> Iterator[tuple[int, int]]:
    """Ranges of whole series ``[first, last)`` (indices into ``offsets``) of about ``block_rows`` rows each."""
    offsets = np.asarray(offsets, dtype=np.int64)
    series = len(offsets) - 1
    first = 0
    while first < series:
        last = int(np.searchsorted(offsets, offsets[first] + block_rows, side="right")) - 1
        last = min(max(last, first + 1), series)
        yield first, last
        first = last


def fill_gaps(values: np.ndarray, offsets: np.ndarray, borders: np.ndarray, policy: str) -> np.ndarray:
    """Repair NaNs series by series without reading the future of any split (``--fillna ffill|interpolate``).

    ``values (rows, C)`` float; series ``k`` is rows ``offsets[k]..offsets[k+1]``; ``borders (series, B)`` are the
    positions (within each series, ascending) where a split begins after the first (validation, test, and any
    rows after test). A missing value takes the last observed value before it (``ffill``), or lies on the line
    between the observed values around it when both belong to the same split (``interpolate``; otherwise the
    last value before it, as ``ffill``). A gap at the start of a series, before any observed value, takes the
    series' first observed value in its first split (training): the only fill that looks ahead, and never past
    training. Returns the repaired float64 array; raises ``ValueError(series index)`` for a series whose first
    split has no observed value in some column."""
    out = np.array(values, dtype=np.float64, copy=True)
    rows = len(out)
    if rows == 0:
        return out
    offsets = np.asarray(offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    series_of_row = np.repeat(np.arange(len(lengths)), lengths)
    position = np.arange(rows) - offsets[:-1][series_of_row]
    # the split each row belongs to: how many borders of its series lie at or before its position
    split_of_row = (np.asarray(borders, dtype=np.int64)[series_of_row] <= position[:, None]).sum(axis=1)
    segment_start = np.zeros(rows, dtype=bool)
    segment_start[offsets[:-1][lengths > 0]] = True
    segment_start[1:] |= split_of_row[1:] != split_of_row[:-1]
    segment_id = np.cumsum(segment_start) - 1
    segment_first = np.flatnonzero(segment_start)
    segment_last = np.append(segment_first[1:], rows) - 1
    series_first = offsets[:-1][series_of_row]
    index = np.arange(rows)
    for column in range(out.shape[1]):
        observed = np.isfinite(out[:, column])
        if observed.all():
            continue
        previous = np.maximum.accumulate(np.where(observed, index, -1))
        previous = np.where(previous >= series_first, previous, -1)  # never from another series
        following = np.minimum.accumulate(np.where(observed, index, rows)[::-1])[::-1]
        within = following <= segment_last[segment_id]  # the next observation lies in the same split
        gap = ~observed
        filled = out[:, column].copy()
        has_previous = gap & (previous >= 0)
        filled[has_previous] = out[previous[has_previous], column]
        if policy == "interpolate":
            both = has_previous & within & (following < rows)
            before, after = previous[both], following[both]
            weight = (index[both] - before) / (after - before)
            filled[both] = out[before, column] + weight * (out[after, column] - out[before, column])
        leading = gap & (previous < 0)
        if leading.any():  # before the series' first observation: its first value in training
            first_split_end = segment_last[segment_id[series_first[leading]]]
            following_leading = following[leading]
            bad = following_leading > first_split_end
            if bad.any():
                raise ValueError(int(series_of_row[np.flatnonzero(leading)[np.argmax(bad)]]))
            filled[leading] = out[following_leading, column]
        out[:, column] = filled
    return out
