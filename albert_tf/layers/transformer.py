"""The two halves of ALBERT's post-LayerNorm Transformer block.

Written by hand rather than reusing keras-hub's `TransformerEncoder` or Keras' `MultiHeadAttention`:
those mask with a boolean softmax mask (-1e9) and use one dropout rate, while the original adds exactly
-10000 on padded keys and has separate attention and hidden dropout. Splitting the block into an
attention half and a feed-forward half lets `SharedEncoder` share either half on its own (the paper's
sharing ablations).
"""

import math

import keras
from keras import ops

from albert_tf.layers.activations import get_activation
from albert_tf.layers.embedding import LAYER_NORM_EPSILON, truncated_normal

# Added to the scores of padded keys, as the original does (not -inf: an all-padding row stays finite).
MASK_ADDER = -10000.0
#: Name scope of the ops from the scaled query-key product to the softmax. Exporters find them by it:
#: full-integer LiteRT files keep them float32 (`albert_tf.litert`), as -10000 in one int8 range
#: leaves the real scores a single quantization step.
ATTENTION_SCORES_SCOPE = "attention_scores"


def attention_bias_from_mask(input_mask):
    """[B, S] 0/1 mask -> additive float32 bias [B, 1, 1, S] on the key axis only."""
    mask = ops.cast(input_mask, "float32")
    return (1.0 - mask)[:, None, None, :] * MASK_ADDER


@keras.saving.register_keras_serializable(package="albert_tf")
class SelfAttentionSublayer(keras.layers.Layer):
    """Multi-head self-attention, output projection, dropout, residual, then LayerNorm.

    `input_mask` is the [B, S] 0/1 padding mask; padded keys get -10000 added to their scores.
    Softmax runs in float32 whatever the compute dtype.

    Example:

    >>> import numpy as np
    >>> layer = SelfAttentionSublayer(hidden_size=16, num_attention_heads=4)
    >>> x = np.random.rand(2, 5, 16).astype("float32")
    >>> tuple(layer(x, np.ones((2, 5), "int32")).shape)
    (2, 5, 16)
    """

    def __init__(
        self,
        hidden_size,
        num_attention_heads,
        attention_dropout=0.0,
        hidden_dropout=0.0,
        initializer_range=0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if hidden_size % num_attention_heads:
            raise ValueError(
                f"hidden_size ({hidden_size}) must be divisible by num_attention_heads ({num_attention_heads})."
            )
        self.hidden_size = hidden_size
        self.num_attention_heads = num_attention_heads
        self.attention_dropout = attention_dropout
        self.hidden_dropout = hidden_dropout
        self.initializer_range = initializer_range
        head_size = hidden_size // num_attention_heads
        self._scale = 1.0 / math.sqrt(head_size)

        # Kernels are [H, N, D] (head-major split of the original's [H, H]), biases [N, D]. Each layer gets
        # an initializer of its own: a Keras initializer holds its seed, so one instance shared by several
        # layers draws the same numbers for each (query = key = value at initialisation), which the
        # original's per-variable tf.truncated_normal_initializer never did.
        projection = dict(
            equation="bsh,hnd->bsnd",
            output_shape=(None, num_attention_heads, head_size),
            bias_axes="nd",
            dtype=self.dtype_policy,
        )
        self.query = keras.layers.EinsumDense(
            name="query", kernel_initializer=truncated_normal(initializer_range), **projection)
        self.key = keras.layers.EinsumDense(
            name="key", kernel_initializer=truncated_normal(initializer_range), **projection)
        self.value = keras.layers.EinsumDense(
            name="value", kernel_initializer=truncated_normal(initializer_range), **projection)
        self.output_dense = keras.layers.EinsumDense(
            "bsnd,ndh->bsh",
            output_shape=(None, hidden_size),
            bias_axes="h",
            kernel_initializer=truncated_normal(initializer_range),
            dtype=self.dtype_policy,
            name="output_dense",
        )
        self.probs_dropout = keras.layers.Dropout(attention_dropout, dtype=self.dtype_policy, name="probs_dropout")
        self.output_dropout = keras.layers.Dropout(hidden_dropout, dtype=self.dtype_policy, name="output_dropout")
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=LAYER_NORM_EPSILON, dtype=self.dtype_policy, name="layer_norm"
        )

    def build(self, hidden_states_shape, input_mask_shape=None):
        for layer in (self.query, self.key, self.value):
            layer.build(hidden_states_shape)
        self.output_dense.build((None, None, self.num_attention_heads, self.hidden_size // self.num_attention_heads))
        self.layer_norm.build(hidden_states_shape)
        self.built = True

    def call(self, hidden_states, input_mask, training=None):
        # The bias is built here from the integer mask: a float argument would be auto-cast to the
        # compute dtype, and -10000 is not exact in bfloat16.
        attention_bias = attention_bias_from_mask(input_mask)
        query = self.query(hidden_states)
        key = self.key(hidden_states)
        value = self.value(hidden_states)
        scores = ops.einsum("bqnd,bknd->bnqk", query, key)
        with keras.name_scope(ATTENTION_SCORES_SCOPE):
            # Scale after the product, in the original's order.
            scores = scores * ops.cast(self._scale, query.dtype)
            scores = ops.cast(scores, "float32") + attention_bias
            probs = ops.softmax(scores, axis=-1)
        probs = self.probs_dropout(ops.cast(probs, self.compute_dtype), training=training)
        context = ops.einsum("bnqk,bknd->bqnd", probs, value)
        attention_output = self.output_dropout(self.output_dense(context), training=training)
        return self.layer_norm(attention_output + hidden_states)

    def compute_output_shape(self, hidden_states_shape, input_mask_shape=None):
        return hidden_states_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_size": self.hidden_size,
                "num_attention_heads": self.num_attention_heads,
                "attention_dropout": self.attention_dropout,
                "hidden_dropout": self.hidden_dropout,
                "initializer_range": self.initializer_range,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="albert_tf")
class FeedForwardSublayer(keras.layers.Layer):
    """H -> I (activation) -> H, dropout, residual, then LayerNorm.

    Example:

    >>> import numpy as np
    >>> layer = FeedForwardSublayer(hidden_size=16, intermediate_size=32)
    >>> tuple(layer(np.random.rand(2, 5, 16).astype("float32")).shape)
    (2, 5, 16)
    """

    def __init__(
        self,
        hidden_size,
        intermediate_size,
        hidden_act="gelu",
        hidden_dropout=0.0,
        initializer_range=0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout = hidden_dropout
        self.initializer_range = initializer_range
        self._activation = get_activation(hidden_act)

        # An initializer per layer (see the attention block above).
        self.intermediate_dense = keras.layers.Dense(
            intermediate_size, kernel_initializer=truncated_normal(initializer_range), dtype=self.dtype_policy,
            name="intermediate_dense"
        )
        self.output_dense = keras.layers.Dense(
            hidden_size, kernel_initializer=truncated_normal(initializer_range), dtype=self.dtype_policy,
            name="output_dense"
        )
        self.output_dropout = keras.layers.Dropout(hidden_dropout, dtype=self.dtype_policy, name="output_dropout")
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=LAYER_NORM_EPSILON, dtype=self.dtype_policy, name="layer_norm"
        )

    def build(self, input_shape):
        self.intermediate_dense.build(input_shape)
        self.output_dense.build((None, None, self.intermediate_size))
        self.layer_norm.build(input_shape)
        self.built = True

    def call(self, hidden_states, training=None):
        intermediate = self._activation(self.intermediate_dense(hidden_states))
        output = self.output_dropout(self.output_dense(intermediate), training=training)
        return self.layer_norm(output + hidden_states)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_size": self.hidden_size,
                "intermediate_size": self.intermediate_size,
                "hidden_act": self.hidden_act,
                "hidden_dropout": self.hidden_dropout,
                "initializer_range": self.initializer_range,
            }
        )
        return config
