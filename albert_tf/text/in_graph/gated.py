"""Work done only when a flag is set, in a form TF1 sessions accept.

A batch usually needs neither the digit-comma re-encoding nor the exact search, and each costs
dozens of kernel launches even on empty inputs. ``tf.cond`` would skip
them, but a TF1 session (``saved_model_cli``, TF Serving) lowers a cond whose branch holds loops
into frames that can fail to match, so the work runs in a ``tf.while_loop`` taken zero or one
times instead.
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf


def tensors_if(flag, compute: Callable[[], tuple], default: tuple) -> tuple:
    """``compute()`` if the scalar bool ``flag`` holds, else ``default``: tuples of tensors of
    the same dtypes and ranks (any sizes); ``compute`` is traced once but runs only when ``flag``
    holds.

    >>> default = (tf.constant(["a"]),)
    >>> tensors_if(tf.constant(False), lambda: (tf.constant(["b", "c"]),), default)[0].numpy().tolist()
    [b'a']
    """
    def body(i, *_):
        return (i + 1,) + tuple(compute())

    invariants = tuple(tf.TensorShape([None] * t.shape.rank) for t in default)
    return tuple(tf.while_loop(
        lambda i, *_: i < tf.cast(flag, tf.int32),
        body,
        (tf.constant(0),) + tuple(default),
        shape_invariants=(tf.TensorShape([]),) + invariants,
    )[1:])


def ragged_if(flag, compute: Callable[[], tf.RaggedTensor], default: tf.RaggedTensor) -> tf.RaggedTensor:
    """:func:`tensors_if` for one 2-D ragged tensor.

    >>> default = tf.ragged.constant([[1], [2, 3]])
    >>> ragged_if(tf.constant(False), lambda: default + 1, default).to_list()
    [[1], [2, 3]]
    >>> ragged_if(tf.constant(True), lambda: default + 1, default).to_list()
    [[2], [3, 4]]
    """
    def parts(ragged):
        ragged = ragged.with_row_splits_dtype(tf.int64)
        return ragged.flat_values, ragged.row_splits

    values, splits = tensors_if(flag, lambda: parts(compute()), parts(default))
    return tf.RaggedTensor.from_row_splits(values, splits, validate=False)
