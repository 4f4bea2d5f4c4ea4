"""`AlbertPretrainer`: backbone + tied masked-LM head + sentence-order head, with the original losses."""

import keras
from keras import ops

from albert_tf.backend import replica_total
from albert_tf.layers.heads import MaskedLMHead, SentenceOrderHead
from albert_tf.models.backbone import AlbertBackbone, as_config, deserialize_model, serialize_model
from albert_tf.models.inputs import INPUT_KEYS, select_inputs
from albert_tf.models.losses import add_regularization, sparse_cross_entropy
from albert_tf.models.quantization import QuantizableModel
from albert_tf.models.serving import ServingModel, backbone_serving_outputs, token_specs

PRETRAINING_INPUT_KEYS = INPUT_KEYS + ("masked_lm_positions",)
LABEL_KEYS = ("masked_lm_ids", "masked_lm_weights", "next_sentence_labels")


def masked_lm_loss(mlm_logits, masked_lm_ids, masked_lm_weights):
    """The original's MLM loss: sum(w * nll) / (sum(w) + 1e-5); exactly 0 when every weight is 0.

    Under a multi-replica strategy the denominator is the weight sum of the *global* batch, and the
    value returned is this replica's share, so the replicas' sum equals the one-device loss of the whole
    batch. (The original normalised per TPU core, which makes the loss depend on the core count.)
    Returns `(loss, per_position_nll)`.
    """
    nll = sparse_cross_entropy(masked_lm_ids, mlm_logits)
    weights = ops.cast(masked_lm_weights, "float32")
    return ops.sum(weights * nll) / (replica_total(ops.sum(weights)) + 1e-5), nll


def sentence_order_loss(sop_logits, labels):
    """Mean cross-entropy of the 2-way sentence-order logits over the (global) batch.

    Returns `(loss, per_example_nll)`; under a strategy, this replica's share as for `masked_lm_loss`.
    """
    nll = sparse_cross_entropy(ops.reshape(labels, (-1,)), sop_logits)
    count = replica_total(ops.cast(ops.shape(nll)[0], "float32"))
    return ops.sum(nll) / count, nll


@keras.saving.register_keras_serializable(package="albert_tf")
class AlbertPretrainer(ServingModel, QuantizableModel, keras.Model):
    """ALBERT with its pretraining heads, trainable with `fit`.

    Input: the backbone's dict plus `masked_lm_positions` `[B, P]`. Output: `mlm_logits` `[B, P, V]`
    (float32; the decoder is the word-embedding table, transposed) and `sop_logits` `[B, 2]`.

    Training batches carry `masked_lm_ids`, `masked_lm_weights` and `next_sentence_labels`, either as the
    `y` of `(x, y)` or inside the single features dict, as the original TFRecords do. The loss is the
    original's: weighted MLM loss plus sentence-order loss. Reported metrics: `masked_lm_accuracy`,
    `masked_lm_loss`, `sentence_order_accuracy`, `sentence_order_loss`.

    Example:

    >>> import numpy as np
    >>> from albert_tf import AlbertConfig
    >>> config = AlbertConfig(vocab_size=100, embedding_size=8, hidden_size=16, num_hidden_layers=2,
    ...                       num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)
    >>> model = AlbertPretrainer(config)
    >>> batch = {"input_ids": np.full((2, 6), 7, "int32"), "input_mask": np.ones((2, 6), "int32"),
    ...          "segment_ids": np.zeros((2, 6), "int32"), "masked_lm_positions": np.array([[1, 2]] * 2, "int32"),
    ...          "masked_lm_ids": np.array([[5, 6]] * 2, "int32"), "masked_lm_weights": np.ones((2, 2), "float32"),
    ...          "next_sentence_labels": np.array([[0], [1]], "int32")}
    >>> model.compile(optimizer="adam")
    >>> history = model.fit(batch, epochs=1, verbose=0)
    >>> sorted(k for k in history.history if "accuracy" in k)
    ['masked_lm_accuracy', 'sentence_order_accuracy']
    """

    def __init__(self, config=None, backbone=None, dtype=None, **kwargs):
        if backbone is None:
            if config is None:
                raise ValueError("AlbertPretrainer needs a `config` (AlbertConfig) or a `backbone`.")
            backbone = AlbertBackbone(as_config(config), dtype=dtype)
        elif config is not None and as_config(config).to_dict() != backbone.config.to_dict():
            raise ValueError("AlbertPretrainer got both `config` and a `backbone` built from another config.")
        super().__init__(dtype=dtype if dtype is not None else backbone.dtype_policy, **kwargs)
        config = backbone.config
        self.backbone = backbone
        self.config = config
        self.masked_lm_head = MaskedLMHead(
            vocab_size=config.vocab_size,
            embedding_size=config.embedding_size,
            hidden_act=config.hidden_act,
            initializer_range=config.initializer_range,
            dtype=self.dtype_policy,
            name="masked_lm_head",
        )
        self.sentence_order_head = SentenceOrderHead(
            initializer_range=config.initializer_range, dtype=self.dtype_policy, name="sentence_order_head"
        )
        # Built eagerly so that weights exist before `.keras` loading or checkpoint conversion.
        self.masked_lm_head.build((None, None, config.hidden_size))
        self.sentence_order_head.build((None, config.hidden_size))
        self.masked_lm_accuracy = keras.metrics.Mean(name="masked_lm_accuracy")
        self.masked_lm_loss = keras.metrics.Mean(name="masked_lm_loss")
        self.sentence_order_accuracy = keras.metrics.Mean(name="sentence_order_accuracy")
        self.sentence_order_loss = keras.metrics.Mean(name="sentence_order_loss")
        self.built = True

    def __call__(self, inputs, *args, **kwargs):
        return super().__call__(select_inputs(inputs, PRETRAINING_INPUT_KEYS, "AlbertPretrainer"), *args, **kwargs)

    def call(self, inputs, training=None):
        outputs = self.backbone({key: inputs[key] for key in INPUT_KEYS}, training=training)
        mlm_logits = self.masked_lm_head(
            outputs["sequence_output"], inputs["masked_lm_positions"], self.backbone.embedding_table
        )
        sop_logits = self.sentence_order_head(outputs["pooled_output"])
        return {"mlm_logits": mlm_logits, "sop_logits": sop_logits}

    @property
    def metrics(self):
        pretraining = [
            self.masked_lm_accuracy,
            self.masked_lm_loss,
            self.sentence_order_accuracy,
            self.sentence_order_loss,
        ]
        return [m for m in super().metrics if m not in pretraining] + pretraining

    # --- serving: the backbone's outputs, `mlm` and `sop` signatures, fill-mask for string inputs ---
    fills_masks = True

    def serving_outputs(self, features):
        return backbone_serving_outputs(self.backbone, features)

    def masked_lm_logits(self, sequence_output, positions):
        """MLM logits `[B, P, V]` at `positions` of a served `sequence_output` (in the head's compute dtype)."""
        sequence_output = ops.cast(sequence_output, self.masked_lm_head.compute_dtype)
        return self.masked_lm_head(sequence_output, positions, self.backbone.embedding_table)

    def serving_signatures(self):
        def mlm(features, extra):
            out = backbone_serving_outputs(self.backbone, features)
            return {**out, "mlm_logits": self.masked_lm_logits(out["sequence_output"], extra["mlm_positions"])}

        def sop(features, extra):
            out = backbone_serving_outputs(self.backbone, features)
            logits = ops.cast(self.sentence_order_head(out["pooled_output"]), "float32")
            return {**out, "sop_log_probs": ops.log_softmax(logits, axis=-1)}

        return {"mlm": (token_specs([None, None], ("mlm_positions",)), mlm), "sop": ({}, sop)}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        labels = select_inputs(
            y if y is not None else x,
            LABEL_KEYS,
            "AlbertPretrainer labels",
            integer_keys=("masked_lm_ids", "next_sentence_labels"),
        )
        mlm_logits, sop_logits = y_pred["mlm_logits"], y_pred["sop_logits"]
        weights = ops.cast(labels["masked_lm_weights"], "float32")
        ids = ops.cast(labels["masked_lm_ids"], "int32")
        mlm, mlm_nll = masked_lm_loss(mlm_logits, ids, weights)
        sop_labels = ops.reshape(ops.cast(labels["next_sentence_labels"], "int32"), (-1,))
        sop, sop_nll = sentence_order_loss(sop_logits, sop_labels)

        mlm_correct = ops.cast(ops.equal(ops.argmax(mlm_logits, axis=-1), ids), "float32")
        sop_correct = ops.cast(ops.equal(ops.argmax(sop_logits, axis=-1), sop_labels), "float32")
        self.masked_lm_accuracy.update_state(mlm_correct, sample_weight=weights)
        self.masked_lm_loss.update_state(mlm_nll, sample_weight=weights)
        self.sentence_order_accuracy.update_state(sop_correct)
        self.sentence_order_loss.update_state(sop_nll)

        # Both terms are already this replica's share of the global-batch loss (see `masked_lm_loss`), so
        # unlike Keras' compiled losses they need no 1/replicas scaling before gradients are summed.
        return add_regularization(self, mlm + sop)

    def get_config(self):
        return serialize_model(self)

    @classmethod
    def from_config(cls, config):
        return deserialize_model(cls, config)

