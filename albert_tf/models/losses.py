"""Loss reductions shared by the models: global-batch normalisation under a tf.distribute strategy.

Keras sums the replicas' gradients, so each replica must return its share of the loss of the *global*
batch: a sum over its own examples divided by a total taken over every replica. On one device, and
under JAX (one step sees the global batch), this is the plain (weighted) mean the original computes.
"""

from keras import ops

from albert_tf.backend import replica_total, replicas_in_sync


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
        total = total + ops.cast(ops.sum(model.losses), "float32") / replicas_in_sync()
    return total


def sparse_cross_entropy(labels, logits):
    """Per-example `-log_softmax(logits)[label]` in float32.

    On TensorFlow `ops.sparse_categorical_crossentropy` is the fused
    `tf.nn.sparse_softmax_cross_entropy_with_logits` (no log-prob tensor kept), as the original.
    """
    return ops.sparse_categorical_crossentropy(
        ops.cast(labels, "int32"), ops.cast(logits, "float32"), from_logits=True
    )


def sigmoid_cross_entropy(labels, logits):
    """Per-element `tf.nn.sigmoid_cross_entropy_with_logits` (what `ops.binary_crossentropy` is on TensorFlow)."""
    return ops.binary_crossentropy(ops.cast(labels, "float32"), ops.cast(logits, "float32"), from_logits=True)
