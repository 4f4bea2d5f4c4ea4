"""`FactorizedEmbedding`: V×E word + position + token-type lookups at width E, then the E→H projection."""

import keras
from keras import ops

from albert_tf.backend import assert_length_at_most

# The original normalises with epsilon 1e-12 on the variance everywhere (Keras' default is 1e-3).
LAYER_NORM_EPSILON = 1e-12


def truncated_normal(stddev):
    """The original's initializer: truncated normal, re-drawn beyond 2 stddev."""
    return keras.initializers.TruncatedNormal(stddev=stddev)


@keras.saving.register_keras_serializable(package="albert_tf")
class FactorizedEmbedding(keras.layers.Layer):
    """ALBERT's factorized embedding.

    Word (V×E), token-type (T×E) and learned position (P×E) embeddings are summed, normalised
    (LayerNorm, epsilon 1e-12) and dropped out at width E; only then are they projected to H.
    As in the original, the projection exists only when E != H.

    Returns `(embedding_output, hidden_states)`: `[B, S, E]` and `[B, S, H]`.

    Example:

    >>> import numpy as np
    >>> layer = FactorizedEmbedding(vocab_size=100, embedding_size=8, hidden_size=16,
    ...                             max_position_embeddings=32)
    >>> ids = np.array([[5, 6, 7]], dtype="int32")
    >>> embedded, hidden = layer(ids, np.zeros_like(ids))
    >>> tuple(embedded.shape), tuple(hidden.shape)
    ((1, 3, 8), (1, 3, 16))
    """

    def __init__(
        self,
        vocab_size,
        embedding_size,
        hidden_size,
        max_position_embeddings=512,
        type_vocab_size=2,
        dropout=0.0,
        initializer_range=0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.embedding_size = embedding_size
        self.hidden_size = hidden_size
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.dropout = dropout
        self.initializer_range = initializer_range

        # An initializer per table: a Keras initializer holds its seed, so a shared instance would draw the
        # same numbers for each (albert_tf.layers.transformer says more).
        self.word_embeddings = keras.layers.Embedding(
            vocab_size, embedding_size, embeddings_initializer=truncated_normal(initializer_range),
            dtype=self.dtype_policy, name="word_embeddings"
        )
        self.token_type_embeddings = keras.layers.Embedding(
            type_vocab_size,
            embedding_size,
            embeddings_initializer=truncated_normal(initializer_range),
            dtype=self.dtype_policy,
            name="token_type_embeddings",
        )
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=LAYER_NORM_EPSILON, dtype=self.dtype_policy, name="layer_norm"
        )
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy, name="dropout")
        self.projection = None
        if embedding_size != hidden_size:
            self.projection = keras.layers.Dense(
                hidden_size, kernel_initializer=truncated_normal(initializer_range), dtype=self.dtype_policy,
                name="embedding_projection"
            )

    def build(self, input_ids_shape=None, segment_ids_shape=None):
        self.word_embeddings.build((None, None))
        self.token_type_embeddings.build((None, None))
        # A plain weight rather than keras-hub's PositionEmbedding: the slice must fail with a message
        # that names both lengths, and the checkpoint converters address this [P, E] table directly.
        self.position_embeddings = self.add_weight(
            name="position_embeddings",
            shape=(self.max_position_embeddings, self.embedding_size),
            initializer=truncated_normal(self.initializer_range),
        )
        self.layer_norm.build((None, None, self.embedding_size))
        if self.projection is not None:
            self.projection.build((None, None, self.embedding_size))
        self.built = True

    @property
    def embedding_table(self):
        """The [V, E] word-embedding table (the MLM decoder is tied to it).

        The variable itself, or, once `model.quantize` made the lookup int8 (or int4), the table as the
        quantized lookup serves it: every row dequantized, so the decoder scores exactly the vectors the
        lookup returns. Its int8 values alone would be off by the per-row scale.
        """
        if self.word_embeddings.quantization_mode is None:
            return self.word_embeddings.embeddings
        return self.word_embeddings(ops.arange(self.vocab_size, dtype="int32"))

    def _check_length(self, input_ids):
        limit = self.max_position_embeddings
        static_length = input_ids.shape[1]
        if static_length is not None:
            if static_length > limit:
                raise ValueError(
                    f"Sequence length {static_length} is longer than max_position_embeddings {limit}."
                )
            return input_ids
        return assert_length_at_most(
            input_ids, limit, f"Sequence length is longer than max_position_embeddings {limit} (length, limit):"
        )

    def call(self, input_ids, segment_ids, training=None):
        input_ids = self._check_length(input_ids)
        length = ops.shape(input_ids)[1]
        # Same summation order as the original: word + token type, then + position.
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(segment_ids)
        positions = ops.cast(self.position_embeddings[:length], x.dtype)
        x = x + positions[None, :, :]
        embedding_output = self.dropout_layer(self.layer_norm(x), training=training)
        hidden = embedding_output if self.projection is None else self.projection(embedding_output)
        return embedding_output, hidden

    def compute_output_spec(self, input_ids, segment_ids, training=None):
        batch, length = input_ids.shape
        return (
            keras.KerasTensor((batch, length, self.embedding_size), dtype=self.compute_dtype),
            keras.KerasTensor((batch, length, self.hidden_size), dtype=self.compute_dtype),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocab_size": self.vocab_size,
                "embedding_size": self.embedding_size,
                "hidden_size": self.hidden_size,
                "max_position_embeddings": self.max_position_embeddings,
                "type_vocab_size": self.type_vocab_size,
                "dropout": self.dropout,
                "initializer_range": self.initializer_range,
            }
        )
        return config
