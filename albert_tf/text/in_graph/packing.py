"""``[CLS] A [SEP] (B [SEP])`` with the original truncation, padded, in a few dense ops.

keras-hub's ``MultiSegmentPacker`` gives the same result (``tests/text/test_packing.py`` compares
them) but builds it with ragged concatenations: about 55 kernels a call, a third of a batch-1
raw-string call's kernels (docs/bench_tokenizer_cpu.txt). Here the trimming is the same
tensorflow-text kernel (``RoundRobinTrimmer``: the longer side is cut first, ties cut B) and each
segment is placed with one gather at its offset.
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf
import tensorflow_text as tf_text


def pack_segments(segments: Sequence[tf.RaggedTensor], sequence_length: int, start_id: int, end_id: int,
                  pad_id: int) -> dict:
    """One or two ragged id batches ``[batch, None]`` packed as ``[start] A [end] (B [end])``.

    Returns int32 ``input_ids`` (``pad_id`` after the last ``end_id``), ``input_mask`` and
    ``segment_ids`` (0 for the start, A and its end; 1 for B and its end), all ``[batch,
    sequence_length]``. When the segments do not fit, ``tf_text.RoundRobinTrimmer`` shortens them.

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
    segments = [tf.cast(s, tf.int32) for s in segments]
    trimmed = tf_text.RoundRobinTrimmer(length - len(segments) - 1).trim(segments)
    batch = trimmed[0].nrows(out_type=tf.int32)
    position = tf.range(length, dtype=tf.int32)[tf.newaxis, :]
    ids = tf.fill(tf.stack([batch, length]), tf.constant(pad_id, tf.int32))
    segment_ids = tf.zeros_like(ids)
    ids = tf.where(position == 0, tf.constant(start_id, tf.int32), ids)
    offset = tf.ones([batch, 1], tf.int32)  # where the current segment starts
    for index, segment in enumerate(trimmed):
        end = offset + tf.cast(segment.row_lengths(), tf.int32)[:, tf.newaxis]  # the position of its end_id
        dense = segment.to_tensor(shape=[None, length])
        placed = tf.gather(dense, tf.clip_by_value(position - offset, 0, length - 1), batch_dims=1)
        ids = tf.where((position >= offset) & (position < end), placed, ids)
        ids = tf.where(position == end, tf.constant(end_id, tf.int32), ids)
        if index:
            segment_ids = tf.where((position >= offset) & (position <= end), index, segment_ids)
        offset = end + 1
    return {"input_ids": ids, "input_mask": tf.cast(position < offset, tf.int32), "segment_ids": segment_ids}
