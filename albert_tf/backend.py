"""The operations whose TensorFlow form differs from `keras.ops`, each behind the TensorFlow backend.

The layers, models, losses and optimizers are written in `keras.ops`, so that they build, train and save
under `KERAS_BACKEND=jax` (or torch) without TensorFlow installed. Four things keep a TensorFlow form:

* a batched gather: `tf.gather(..., batch_dims=1)` gathers rows (and scatters their gradients) row by
  row, where `ops.take_along_axis` broadcasts the indices to the full `[B, P, H]` and works element by
  element; XLA (JAX) lowers `take_along_axis` to one gather, so there the portable form costs nothing;
* the cross-replica sum of a loss's normaliser under a `tf.distribute` strategy. Under JAX one
  jitted step sees the global batch (also with `keras.distribution.DataParallel`), so the sum is the
  value itself;
* the arg-max: Keras' `ops.argmax` on TensorFlow first maps -0.0 to the smallest negative float with a
  bitwise sign test, an op LiteRT has no builtin for, so a classifier's `predictions` would stop
  converting; `tf.argmax` is the same answer for logits.
* an embedding's gradient: TensorFlow hands it over as `tf.IndexedSlices`, which the optimizers
  densify (`dense_gradient`); JAX's gradients are dense arrays already.

TensorFlow is imported inside the TensorFlow branches only: under any other backend it is never loaded.
"""

import keras
from keras import ops


def on_tensorflow() -> bool:
    """True when Keras runs on TensorFlow (the default backend of albert_tf).

    >>> on_tensorflow() == (keras.backend.backend() == "tensorflow")
    True
    """
    return keras.backend.backend() == "tensorflow"


def argmax(values, axis=-1):
    """The int32 index of the largest value along `axis`.

    >>> import numpy as np
    >>> ops.convert_to_numpy(argmax(np.array([[0.1, 2.0, -1.0], [3.0, 0.0, 3.5]], "float32"))).tolist()
    [1, 2]
    """
    if on_tensorflow():
        import tensorflow as tf  # the TensorFlow backend is loaded already; other backends never get here

        return tf.argmax(values, axis=axis, output_type=tf.int32)
    return ops.cast(ops.argmax(values, axis=axis), "int32")


def batched_gather(values, indices):
    """`values` `[B, S, ...]` at int `indices` `[B, P]` along axis 1 -> `[B, P, ...]`.

    >>> import numpy as np
    >>> values = np.arange(12, dtype="float32").reshape(2, 3, 2)
    >>> ops.convert_to_numpy(batched_gather(values, np.array([[2, 0], [1, 1]]))).tolist()
    [[[4.0, 5.0], [0.0, 1.0]], [[8.0, 9.0], [8.0, 9.0]]]
    """
    if on_tensorflow():
        import tensorflow as tf  # the TensorFlow backend is loaded already; other backends never get here

        return tf.gather(values, tf.cast(indices, tf.int32), axis=1, batch_dims=1)
    values = ops.convert_to_tensor(values)
    indices = ops.cast(indices, "int32")
    trailing = len(values.shape) - 2
    return ops.take_along_axis(values, ops.reshape(indices, tuple(ops.shape(indices)) + (1,) * trailing), axis=1)


def dense_gradient(gradient):
    """The dense gradient of a `tf.IndexedSlices` (duplicate rows summed); any other value unchanged.

    An embedding lookup's gradient arrives as `IndexedSlices` with one row per looked-up token, so a
    token that occurs k times contributes k separate rows. `tf.clip_by_global_norm` (like
    `tf.clip_by_norm` and value clipping) works on those rows as they are, so it measures
    √(Σ‖row‖²) instead of the norm of their sum, i.e. not the norm of the gradient. Keras' gradient
    accumulation adds the slices to a dense accumulator, so without this the clip would see a different
    norm with accumulation than without it, and the all-reduce (which concatenates the replicas'
    slices) could change it again. Densifying also makes that all-reduce dense, which for
    pretraining-sized batches moves far less data than gathering every looked-up row.

    The clip then sees the norm of the true gradient, as in the original's pretraining setup
    (`use_one_hot_embeddings` on TPU gives a dense embedding gradient); the original run on CPU/GPU
    (gather lookup) clipped on the un-summed rows, whose norm depends on how tokens repeat in the batch.

    >>> import numpy as np
    >>> dense_gradient(np.ones(2)).tolist()
    [1.0, 1.0]
    """
    if not on_tensorflow():
        return gradient
    import tensorflow as tf  # the TensorFlow backend is loaded already

    if isinstance(gradient, tf.IndexedSlices):
        return tf.convert_to_tensor(gradient)
    return gradient


def replica_total(value):
    """Sum of `value` over the replicas of a `tf.distribute` strategy; the value itself elsewhere.

    >>> float(replica_total(ops.convert_to_tensor(3.0)))
    3.0
    """
    if not on_tensorflow():
        return value
    import tensorflow as tf  # the TensorFlow backend is loaded already

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


def replicas_in_sync() -> int:
    """How many replicas a `tf.distribute` strategy sums gradients over (1 outside one, and off TensorFlow).

    >>> replicas_in_sync()
    1
    """
    if not on_tensorflow():
        return 1
    import tensorflow as tf  # the TensorFlow backend is loaded already

    return tf.distribute.get_strategy().num_replicas_in_sync


def assert_length_at_most(input_ids, limit: int, message: str):
    """`input_ids` `[B, S]`, with a run-time check that `S <= limit` where `S` is unknown when traced.

    Only a TensorFlow graph leaves the length unknown; JAX traces with concrete shapes, which the
    caller checks before this.

    >>> import numpy as np
    >>> tuple(assert_length_at_most(np.zeros((1, 3), "int32"), 4, "too long").shape)
    (1, 3)
    """
    if not on_tensorflow():
        return input_ids
    import tensorflow as tf  # the TensorFlow backend is loaded already

    length = tf.shape(input_ids)[1]
    with tf.control_dependencies([tf.debugging.assert_less_equal(length, limit, message=message)]):
        return tf.identity(input_ids)
