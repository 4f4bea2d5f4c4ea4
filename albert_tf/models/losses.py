"""Loss reductions shared by the models: global-batch normalisation under a tf.distribute strategy.

Keras sums the replicas' gradients, so each replica must return its share of the loss of the *global*
batch: a sum over its own examples divided by a total taken over every replica. On one device this is
the plain (weighted) mean the original computes.
"""

import tensorflow as tf
from keras import ops


def replica_total(value):
    """Sum of `value` over the replicas of a tf.distribute strategy (itself on one device)."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


def global_weighted_mean(values, weights=None):
    """`sum(w * v) / sum(w)` over the global batch; 0 where every weight is 0.

    With 0/1 weights (`is_real_example`) and at least one real example this is exactly the mean over the
    real examples, as the original's weighted `tf.metrics.mean` of the evaluation loss.
    """
    values = ops.cast(values, "float32")
    weights = ops.ones_like(values) if weights is None else ops.cast(weights, "float32")
    total = replica_total(ops.sum(weights))
    return ops.sum(weights * values) / ops.maximum(total, 1e-12)


def add_regularization(model, total):
    """Adds the model's own `losses` (e.g. activity regularisers) as this replica's share."""
    if model.losses:
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        total = total + ops.cast(ops.sum(model.losses), "float32") / replicas
    return total


def sparse_cross_entropy(labels, logits):
    """Per-example `-log_softmax(logits)[label]` in float32 (the fused op, no log-prob tensor kept)."""
    return tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.int32), logits=tf.cast(logits, tf.float32)
    )
