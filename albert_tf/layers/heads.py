"""Pretraining heads: the tied masked-LM head and the sentence-order head."""

import keras
import tensorflow as tf
from keras import ops

from albert_tf.layers.activations import get_activation
from albert_tf.layers.embedding import LAYER_NORM_EPSILON, truncated_normal


def gather_positions(sequence, positions):
    """[B, S, H] gathered at int [B, P] positions -> [B, P, H].

    A batched `tf.gather` rather than `ops.take_along_axis`, which broadcasts the indices to
    [B, P, H] and gathers (and scatters gradients) element by element.
    """
    return tf.gather(sequence, tf.cast(positions, tf.int32), axis=1, batch_dims=1)


@keras.saving.register_keras_serializable(package="albert_tf")
class MaskedLMHead(keras.layers.Layer):
    """Masked-LM head tied to the word embedding: H -> E (activation, LayerNorm), then `x · Wᵀ + b`.

    The [V, E] embedding table is passed at call time rather than held, so the head owns only its own
    variables (transform, LayerNorm, output bias) and serialises on its own. keras-hub's `MaskedLMHead`
    is not reused: it resolves "gelu" to the erf form and uses LayerNorm epsilon 1e-5, where the original
    uses tanh GELU and 1e-12. Logits are float32 under any dtype policy.

    Example:

    >>> import numpy as np
    >>> head = MaskedLMHead(vocab_size=50, embedding_size=8)
    >>> sequence = np.random.rand(2, 6, 16).astype("float32")
    >>> positions = np.array([[1, 2], [0, 5]], "int32")
    >>> table = np.random.rand(50, 8).astype("float32")
    >>> tuple(head(sequence, positions, table).shape)
    (2, 2, 50)
    """

    def __init__(self, vocab_size, embedding_size, hidden_act="gelu", initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.embedding_size = embedding_size
        self.hidden_act = hidden_act
        self.initializer_range = initializer_range
        self._activation = get_activation(hidden_act)
        self.transform = keras.layers.Dense(
            embedding_size,
            kernel_initializer=truncated_normal(initializer_range),
            dtype=self.dtype_policy,
            name="transform",
        )
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=LAYER_NORM_EPSILON, dtype=self.dtype_policy, name="layer_norm"
        )

    def build(self, sequence_output_shape, masked_lm_positions_shape=None, embedding_table_shape=None):
        self.transform.build((None, None, sequence_output_shape[-1]))
        self.layer_norm.build((None, None, self.embedding_size))
        self.output_bias = self.add_weight(name="output_bias", shape=(self.vocab_size,), initializer="zeros")
        self.built = True

    def call(self, sequence_output, masked_lm_positions, embedding_table):
        x = gather_positions(sequence_output, masked_lm_positions)
        x = self.layer_norm(self._activation(self.transform(x)))
        table = ops.cast(embedding_table, x.dtype)
        logits = ops.einsum("bpe,ve->bpv", x, table)
        return ops.cast(logits, "float32") + ops.cast(self.output_bias, "float32")

    def compute_output_spec(self, sequence_output, masked_lm_positions, embedding_table):
        batch, count = masked_lm_positions.shape
        return keras.KerasTensor((batch, count, self.vocab_size), dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocab_size": self.vocab_size,
                "embedding_size": self.embedding_size,
                "hidden_act": self.hidden_act,
                "initializer_range": self.initializer_range,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="albert_tf")
class SentenceOrderHead(keras.layers.Layer):
    """Sentence-order (or next-sentence) prediction: a 2-way dense on the pooled output, float32 logits.

    The original stores the weights as [2, H] (`cls/seq_relationship/output_weights`); here the kernel is
    the Keras [H, 2] layout, and the converters transpose.

    Example:

    >>> import numpy as np
    >>> head = SentenceOrderHead()
    >>> tuple(head(np.random.rand(3, 16).astype("float32")).shape)
    (3, 2)
    """

    def __init__(self, num_classes=2, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.initializer_range = initializer_range
        self.dense = keras.layers.Dense(
            num_classes,
            kernel_initializer=truncated_normal(initializer_range),
            dtype=self.dtype_policy,
            name="dense",
        )

    def build(self, pooled_shape):
        self.dense.build(pooled_shape)
        self.built = True

    def call(self, pooled_output):
        return ops.cast(self.dense(pooled_output), "float32")

    def compute_output_spec(self, pooled_output):
        return keras.KerasTensor((pooled_output.shape[0], self.num_classes), dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes, "initializer_range": self.initializer_range})
        return config


@keras.saving.register_keras_serializable(package="albert_tf")
class ClassificationHead(keras.layers.Layer):
    """Dropout then a dense layer to `num_classes` logits (float32), over the last axis.

    The original's GLUE and RACE heads on the pooled output `[B, H]` (dropout 0.1 in training whatever
    the config's dropout; `num_classes=1` for regression and for one multiple-choice score), and the
    per-token tagging head on the sequence output `[B, S, H]`. The original stores the weights as
    `output_weights` `[num_classes, H]`; the kernel here is the Keras `[H, num_classes]` layout.

    Example:

    >>> import numpy as np
    >>> head = ClassificationHead(num_classes=3)
    >>> tuple(head(np.random.rand(4, 16).astype("float32")).shape)
    (4, 3)
    """

    def __init__(self, num_classes, dropout=0.1, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.dropout = dropout
        self.initializer_range = initializer_range
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy, name="dropout")
        self.dense = keras.layers.Dense(
            num_classes,
            kernel_initializer=truncated_normal(initializer_range),
            dtype=self.dtype_policy,
            name="dense",
        )

    def build(self, input_shape):
        self.dropout_layer.build(input_shape)
        self.dense.build(input_shape)
        self.built = True

    def call(self, inputs, training=None):
        return ops.cast(self.dense(self.dropout_layer(inputs, training=training)), "float32")

    def compute_output_spec(self, inputs, training=None):
        return keras.KerasTensor(tuple(inputs.shape[:-1]) + (self.num_classes,), dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            {"num_classes": self.num_classes, "dropout": self.dropout, "initializer_range": self.initializer_range}
        )
        return config
