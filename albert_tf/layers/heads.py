"""Pretraining heads: the tied masked-LM head and the sentence-order head."""

import keras
from keras import ops

from albert_tf.backend import batched_gather
from albert_tf.layers.activations import get_activation
from albert_tf.layers.embedding import LAYER_NORM_EPSILON, truncated_normal


def gather_positions(sequence, positions):
    """[B, S, H] gathered at int [B, P] positions -> [B, P, H] (`albert_tf.backend.batched_gather`)."""
    return batched_gather(sequence, positions)


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


@keras.saving.register_keras_serializable(package="albert_tf")
class SpanHead(keras.layers.Layer):
    """SQuAD v1 span head: one dense layer to 2 logits per token, split into start and end `[B, S]`.

    The original's `cls/squad/output_weights` `[2, H]` (row 0 start, row 1 end) and `output_bias` `[2]`;
    no dropout, no masking. Returns `(start_logits, end_logits)` in float32.

    Example:

    >>> import numpy as np
    >>> start, end = SpanHead()(np.random.rand(2, 7, 16).astype("float32"))
    >>> tuple(start.shape), tuple(end.shape)
    ((2, 7), (2, 7))
    """

    def __init__(self, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.initializer_range = initializer_range
        self.dense = keras.layers.Dense(
            2, kernel_initializer=truncated_normal(initializer_range), dtype=self.dtype_policy, name="dense"
        )

    def build(self, sequence_shape):
        self.dense.build(sequence_shape)
        self.built = True

    def call(self, sequence_output):
        logits = ops.cast(self.dense(sequence_output), "float32")
        return logits[..., 0], logits[..., 1]

    def compute_output_spec(self, sequence_output):
        spec = keras.KerasTensor(tuple(sequence_output.shape[:-1]), dtype="float32")
        return spec, spec

    def get_config(self):
        config = super().get_config()
        config.update({"initializer_range": self.initializer_range})
        return config


def _mask_logits(logits, p_mask):
    """The original's masking: `logits * (1 - p_mask) - 1e30 * p_mask` (float32)."""
    return logits * (1.0 - p_mask) - 1e30 * p_mask


@keras.saving.register_keras_serializable(package="albert_tf")
class SquadV2Head(keras.layers.Layer):
    """The original `run_squad_v2.py` head: start log-probs, an end distribution conditioned on the start
    (teacher-forced from the gold start in training, a beam of `start_n_top` starts at inference), and an
    answerability logit from an answer classifier without output bias.

    Call with the sequence output `[B, S, H]`, `p_mask` `[B, S]` (1 where no answer may start or end:
    query, separators, padding) and, when known, the gold `start_positions` `[B]`. Returns a dict of
    float32 tensors (indices int32):

    * `start_log_probs` `[B, S]` (masked, log-softmax over S);
    * `end_log_probs` `[B, S]` given the gold start (only when `start_positions` is passed);
    * `cls_logits` `[B]`: the answerability logit (sigmoid-trained against `is_impossible`);
    * when not training (or without gold starts): `start_top_log_probs`, `start_top_index`
      `[B, start_n_top]` and `end_top_log_probs`, `end_top_index` `[B, start_n_top * end_n_top]`,
      start-major, as the original exports them.

    The end network is dense 2H -> H (tanh), LayerNorm (epsilon 1e-12), dense H -> 1 on
    `[token hidden, start hidden]`; the answer classifier is dense 2H -> H (tanh), dropout (`dropout`,
    training only), dense H -> 1 without bias on `[start-probability-weighted hidden, CLS hidden]`.

    Example:

    >>> import numpy as np
    >>> head = SquadV2Head(hidden_size=16, start_n_top=3, end_n_top=2)
    >>> p_mask = np.zeros((2, 7), "float32"); p_mask[:, 1:3] = 1
    >>> out = head(np.random.rand(2, 7, 16).astype("float32"), p_mask)
    >>> tuple(out["start_top_index"].shape), tuple(out["end_top_index"].shape), tuple(out["cls_logits"].shape)
    ((2, 3), (2, 6), (2,))
    """

    def __init__(self, hidden_size, start_n_top=5, end_n_top=5, dropout=0.1, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        if start_n_top < 1 or end_n_top < 1:
            raise ValueError(f"start_n_top and end_n_top must be >= 1, got {start_n_top} and {end_n_top}.")
        self.hidden_size = hidden_size
        self.start_n_top = start_n_top
        self.end_n_top = end_n_top
        self.dropout = dropout
        self.initializer_range = initializer_range

        def dense(units, name, activation=None, use_bias=True):
            return keras.layers.Dense(
                units,
                activation=activation,
                use_bias=use_bias,
                kernel_initializer=truncated_normal(initializer_range),
                dtype=self.dtype_policy,
                name=name,
            )

        self.start_dense = dense(1, "start_dense")
        self.end_dense_0 = dense(hidden_size, "end_dense_0", activation="tanh")
        self.end_layer_norm = keras.layers.LayerNormalization(
            epsilon=LAYER_NORM_EPSILON, dtype=self.dtype_policy, name="end_layer_norm"
        )
        self.end_dense_1 = dense(1, "end_dense_1")
        self.answer_dense_0 = dense(hidden_size, "answer_dense_0", activation="tanh")
        self.answer_dropout = keras.layers.Dropout(dropout, dtype=self.dtype_policy, name="answer_dropout")
        self.answer_dense_1 = dense(1, "answer_dense_1", use_bias=False)

    def build(self, sequence_output_shape, p_mask_shape=None, start_positions_shape=None):
        hidden = sequence_output_shape[-1]
        self.start_dense.build((None, None, hidden))
        self.end_dense_0.build((None, None, 2 * hidden))
        self.end_layer_norm.build((None, None, self.hidden_size))
        self.end_dense_1.build((None, None, self.hidden_size))
        self.answer_dense_0.build((None, 2 * hidden))
        self.answer_dropout.build((None, self.hidden_size))
        self.answer_dense_1.build((None, self.hidden_size))
        self.built = True

    def _end_log_probs(self, sequence_output, start_features, p_mask):
        """End log-probs `[..., S]` for start features `[..., H]` broadcast over the S tokens."""
        tiled = ops.broadcast_to(ops.expand_dims(start_features, -2), ops.shape(sequence_output))
        x = self.end_dense_0(ops.concatenate([sequence_output, tiled], axis=-1))
        x = self.end_dense_1(self.end_layer_norm(x))
        logits = _mask_logits(ops.cast(ops.squeeze(x, -1), "float32"), p_mask)
        return ops.log_softmax(logits, axis=-1)

    def call(self, sequence_output, p_mask, start_positions=None, training=None):
        p_mask = ops.cast(p_mask, "float32")
        start_logits = _mask_logits(ops.cast(ops.squeeze(self.start_dense(sequence_output), -1), "float32"), p_mask)
        start_log_probs = ops.log_softmax(start_logits, axis=-1)
        outputs = {"start_log_probs": start_log_probs}

        if start_positions is not None:
            positions = ops.reshape(ops.cast(start_positions, "int32"), (-1, 1))
            start_features = gather_positions(sequence_output, positions)[:, 0, :]
            outputs["end_log_probs"] = self._end_log_probs(sequence_output, start_features, p_mask)
        if not training or start_positions is None:
            top_log_probs, top_index = ops.top_k(start_log_probs, k=self.start_n_top)
            start_features = gather_positions(sequence_output, top_index)  # [B, K, H]
            seq = ops.broadcast_to(
                ops.expand_dims(sequence_output, 1),
                (ops.shape(sequence_output)[0], self.start_n_top) + tuple(ops.shape(sequence_output)[1:]),
            )
            end_log_probs = self._end_log_probs(seq, start_features, p_mask[:, None, :])  # [B, K, S]
            end_top_log_probs, end_top_index = ops.top_k(end_log_probs, k=self.end_n_top)
            count = self.start_n_top * self.end_n_top
            outputs.update(
                {
                    "start_top_log_probs": top_log_probs,
                    "start_top_index": ops.cast(top_index, "int32"),
                    "end_top_log_probs": ops.reshape(end_top_log_probs, (-1, count)),
                    "end_top_index": ops.reshape(ops.cast(end_top_index, "int32"), (-1, count)),
                }
            )

        start_p = ops.cast(ops.softmax(start_logits, axis=-1), sequence_output.dtype)
        start_feature = ops.einsum("bsh,bs->bh", sequence_output, start_p)
        answer = ops.concatenate([start_feature, sequence_output[:, 0, :]], axis=-1)
        answer = self.answer_dropout(self.answer_dense_0(answer), training=training)
        outputs["cls_logits"] = ops.cast(ops.squeeze(self.answer_dense_1(answer), -1), "float32")
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_size": self.hidden_size,
                "start_n_top": self.start_n_top,
                "end_n_top": self.end_n_top,
                "dropout": self.dropout,
                "initializer_range": self.initializer_range,
            }
        )
        return config
