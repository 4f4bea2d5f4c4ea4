"""Ragged work done only when a flag is set, in a form TF1 sessions accept.

A batch usually needs no digit-comma re-encoding and no exact search, and each costs dozens of
kernel launches even on empty inputs. ``tf.cond`` would skip them, but a TF1 session
(``saved_model_cli``, TF Serving) lowers a cond whose branch holds loops into frames that can fail
to match, so the work runs in a ``tf.while_loop`` taken zero or one times instead.
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf


def ragged_if(flag, compute: Callable[[], tf.RaggedTensor], default: tf.RaggedTensor) -> tf.RaggedTensor:
    """``compute()`` if the scalar bool ``flag`` holds, else ``default`` (a 2-D ragged tensor of
    the same dtype); ``compute`` is traced once either way but runs only when ``flag`` holds.

    >>> default = tf.ragged.constant([[1], [2, 3]])
    >>> ragged_if(tf.constant(False), lambda: default + 1, default).to_list()
    [[1], [2, 3]]
    >>> ragged_if(tf.constant(True), lambda: default + 1, default).to_list()
    [[2], [3, 4]]
    """
    default = default.with_row_splits_dtype(tf.int64)

    def body(i, values, splits):
        result = compute().with_row_splits_dtype(tf.int64)
        return i + 1, result.flat_values, result.row_splits

    _, values, splits = tf.while_loop(
        lambda i, *_: i < tf.cast(flag, tf.int32),
        body,
        (tf.constant(0), default.flat_values, default.row_splits),
        shape_invariants=(tf.TensorShape([]), tf.TensorShape([None]), tf.TensorShape([None])),
    )
    return tf.RaggedTensor.from_row_splits(values, splits, validate=False)
