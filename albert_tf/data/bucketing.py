"""Length-bucketed batches: short examples are batched with short examples and trimmed to their bucket.

Fine-tuning records are padded to `max_seq_length` (the original pads every GLUE sentence to 512), so
most of a fixed-shape batch is padding. `bucket_by_length` groups examples by their real length with
`tf.data.Dataset.group_by_window`, batches each group, and trims every sequence feature to the bucket's
boundary. The batch shapes are then one of `len(boundaries)` static shapes (`[B, 32]`, `[B, 64]`, ...),
so XLA and TPUs compile a handful of programs, not one per length. The encoder masks padding, so a
trimmed example gets the same outputs as its fully padded form (up to float rounding).

The length of an example is one past the last non-zero position of `length_key` (`input_mask`); for
multiple-choice records (`[num_choices, S]`) it is the longest choice.

Example:

>>> import numpy as np
>>> import tensorflow as tf
>>> mask = np.zeros((6, 128), "int64")
>>> for row, n in enumerate([5, 40, 7, 100, 9, 33]):
...     mask[row, :n] = 1
>>> ds = tf.data.Dataset.from_tensor_slices({"input_ids": mask * 7, "input_mask": mask})
>>> shapes = sorted(tuple(b["input_ids"].shape) for b in bucket_by_length(ds, 2, 128, drop_remainder=True))
>>> shapes
[(2, 32), (2, 64)]
>>> length_boundaries(512)
[32, 64, 128, 256, 512]
"""

from __future__ import annotations

from typing import Optional, Sequence

import tensorflow as tf

__all__ = ["bucket_by_length", "example_length", "length_boundaries"]


def length_boundaries(max_seq_length: int, smallest: int = 32) -> list:
    """`smallest`, twice that, ... up to and including `max_seq_length` (the last bucket)."""
    if max_seq_length <= 0:
        raise ValueError(f"max_seq_length must be positive, got {max_seq_length}.")
    if smallest <= 0:
        raise ValueError(f"the smallest bucket must be positive, got {smallest}.")
    boundaries = []
    size = smallest
    while size < max_seq_length:
        boundaries.append(size)
        size *= 2
    boundaries.append(max_seq_length)
    return boundaries


def example_length(mask: tf.Tensor) -> tf.Tensor:
    """One past the last non-zero position along the last axis, maximised over any leading axes."""
    mask = tf.cast(tf.not_equal(mask, 0), tf.int32)
    positions = tf.range(1, tf.shape(mask)[-1] + 1, dtype=tf.int32)
    return tf.reduce_max(mask * positions)


def _check_boundaries(boundaries, max_seq_length):
    boundaries = [int(b) for b in boundaries]
    if not boundaries or any(b <= 0 for b in boundaries) or sorted(set(boundaries)) != boundaries:
        raise ValueError(f"bucket boundaries must be positive and strictly increasing, got {boundaries}.")
    if boundaries[-1] > max_seq_length:
        raise ValueError(f"bucket boundary {boundaries[-1]} is longer than max_seq_length {max_seq_length}.")
    if boundaries[-1] < max_seq_length:
        boundaries.append(max_seq_length)
    return boundaries


def bucket_by_length(
    dataset: tf.data.Dataset,
    batch_size: int,
    max_seq_length: int,
    boundaries: Optional[Sequence[int]] = None,
    drop_remainder: bool = False,
    length_key: str = "input_mask",
) -> tf.data.Dataset:
    """Batches an unbatched dataset of feature dicts by length bucket, trimming to the bucket length.

    Sequence features are those whose last dimension is `max_seq_length` (`input_ids`, `input_mask`,
    `segment_ids`, `p_mask`, ...); others (labels, ids) pass through. Every batch holds `batch_size`
    examples of one bucket (with `drop_remainder=False` the last batch of a bucket may be smaller).
    Examples leave in a different order than they came: add an index feature first when the order
    matters (predictions).
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}.")
    boundaries = _check_boundaries(boundaries if boundaries is not None else length_boundaries(max_seq_length), max_seq_length)
    spec = dataset.element_spec
    if not isinstance(spec, dict) or length_key not in spec:
        raise ValueError(f"bucket_by_length needs a dataset of feature dicts with {length_key!r}; got {spec}.")
    sequence_keys = sorted(k for k, s in spec.items() if s.shape.rank and s.shape[-1] == max_seq_length)
    table = tf.constant(boundaries, tf.int32)

    def bucket_of(features):
        length = example_length(features[length_key])
        # The first boundary at least as long as the example (lengths never exceed max_seq_length).
        index = tf.reduce_sum(tf.cast(table < length, tf.int32))
        return tf.cast(tf.minimum(index, len(boundaries) - 1), tf.int64)

    def batch_bucket(key, window):
        length = tf.gather(table, tf.cast(key, tf.int32))
        batched = window.batch(batch_size, drop_remainder=drop_remainder)
        return batched.map(lambda features: _trim(features, sequence_keys, length))

    return dataset.group_by_window(bucket_of, batch_bucket, window_size=batch_size)


def _trim(features, sequence_keys, length):
    trimmed = dict(features)
    for key in sequence_keys:
        trimmed[key] = features[key][..., :length]
    return trimmed
