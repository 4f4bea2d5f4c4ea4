"""``[CLS] A [SEP] (B [SEP])`` with the original truncation, padded, in a few dense ops.

keras-hub's ``MultiSegmentPacker`` gives the same result (``tests/text/test_packing.py`` compares
them) but builds it with ragged trimming and concatenation: about 55 kernels a call, a third of a
batch-1 raw-string call's kernels (docs/bench_tokenizer_cpu.txt). Here the round-robin lengths are
computed in closed form and each segment is placed with one gather at its offset.
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf


def kept_lengths(lengths: Sequence[tf.Tensor], budget: int) -> list:
    """How many ids of each segment a round-robin trim to ``budget`` ids keeps (one id of A, one
    of B, and so on: the longer side is cut first, a tie cuts B), as the original does."""
    if len(lengths) == 1:
        return [tf.minimum(lengths[0], budget)]
    first, second = lengths
    kept_first = tf.minimum(first, tf.maximum((budget + 1) // 2, budget - second))
    return [kept_first, tf.minimum(second, budget - kept_first)]


def pack_segments(segments: Sequence[tf.RaggedTensor], sequence_length: int, start_id: int, end_id: int,
                  pad_id: int) -> dict:
    """One or two ragged id batches ``[batch, None]`` packed as ``[start] A [end] (B [end])``.

    Returns int32 ``input_ids`` (``pad_id`` after the last ``end_id``), ``input_mask`` and
    ``segment_ids`` (0 for the start, A and its end; 1 for B and its end), all ``[batch,
    sequence_length]``. Segments that do not fit are cut as :func:`kept_lengths` says.

    >>> a = tf.ragged.constant([[5, 6, 7, 8], [9]])
    >>> b = tf.ragged.constant([[10, 11], []])
    >>> out = pack_segments([a, b], sequence_length=7, start_id=2, end_id=3, pad_id=0)
    >>> out["input_ids"].numpy().tolist()
    [[2, 5, 6, 3, 10, 11, 3], [2, 9, 3, 3, 0, 0, 0]]
    >>> out["segment_ids"].numpy().tolist()
    [[0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 0, 0, 0]]
    >>> out["input_mask"].numpy().tolist()
    [[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0, 0]]
    """
    if not 1 <= len(segments) <= 2:
        raise ValueError(f"Expected one or two segments, got {len(segments)}")
    length = int(sequence_length)
    lengths = [tf.cast(s.row_lengths(), tf.int32)[:, tf.newaxis] for s in segments]
    kept = kept_lengths(lengths, length - len(segments) - 1)
    position = tf.range(length, dtype=tf.int32)[tf.newaxis, :] + tf.zeros_like(lengths[0])  # [batch, length]
    ids = tf.where(position == 0, tf.constant(start_id, tf.int32), tf.constant(pad_id, tf.int32))
    segment_ids = tf.zeros_like(ids)
    offset = tf.ones_like(kept[0])  # where the current segment starts
    for index, (segment, count) in enumerate(zip(segments, kept)):
        end = offset + count  # the position of its end_id
        dense = tf.cast(segment, tf.int32).to_tensor(shape=[None, length])
        placed = tf.gather(dense, tf.clip_by_value(position - offset, 0, length - 1), batch_dims=1)
        ids = tf.where((position >= offset) & (position < end), placed, ids)
        ids = tf.where(position == end, tf.constant(end_id, tf.int32), ids)
        if index:
            segment_ids = tf.where((position >= offset) & (position <= end), index, segment_ids)
        offset = end + 1
    return {"input_ids": ids, "input_mask": tf.cast(position < offset, tf.int32), "segment_ids": segment_ids}
