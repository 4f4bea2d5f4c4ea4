"""`AlbertQuestionAnswering`: the original SQuAD heads (`run_squad_v1.py` span logits, `run_squad_v2.py`
start/end beam with answerability)."""

import keras
from keras import ops

from albert_tf.backend import argmax, batched_gather
from albert_tf.layers.heads import SpanHead, SquadV2Head
from albert_tf.models.losses import add_regularization, global_weighted_mean, sigmoid_cross_entropy, sparse_cross_entropy
from albert_tf.models.serving import backbone_serving_outputs
from albert_tf.models.task_model import AlbertTaskModel
from albert_tf.data.schemas import squad_p_mask

SQUAD_LABEL_KEYS = ("start_positions", "end_positions")


def _positions(value):
    return ops.reshape(ops.cast(value, "int32"), (-1,))


def _picked(log_probs, positions):
    """`log_probs[b, positions[b]]` for each row."""
    return batched_gather(log_probs, positions[:, None])[:, 0]


@keras.saving.register_keras_serializable(package="albert_tf")
class AlbertQuestionAnswering(AlbertTaskModel):
    """Extractive question answering on the sequence output, as the original SQuAD scripts.

    `version=1` (`run_squad_v1.py`): a dense layer to two logits per token. Outputs `start_logits` and
    `end_logits` `[B, S]`. Loss: mean of the start and end cross-entropies over all S positions (the
    original applies no `p_mask` in v1).

    `version=2` (`run_squad_v2.py`): needs `p_mask` in the inputs (1 where no answer may start or end).
    Start log-probs; in training the end distribution is conditioned on the *gold* start (teacher
    forcing); at inference a beam of `start_n_top` starts, each with its `end_n_top` best ends; and an
    answerability logit `cls_logits` from a classifier without output bias (dropout `dropout` in
    training). Outputs: `start_log_probs`, `cls_logits`, `end_log_probs` when the batch carries
    `start_positions`, and at inference the original's `start_top_log_probs`, `start_top_index`,
    `end_top_log_probs`, `end_top_index` (see `SquadV2Head`). Loss: ½ (start NLL + end NLL) + ½ sigmoid
    cross-entropy of `cls_logits` against `is_impossible`.

    Training batches are the original SQuAD records: `input_ids`, `input_mask`, `segment_ids`, (`p_mask`),
    `start_positions`, `end_positions`, and for v2 `is_impossible`. Reported metrics: `start_accuracy`,
    `end_accuracy`, and for v2 `is_impossible_accuracy` (a positive `cls_logits` predicts "impossible").

    Example:

    >>> import numpy as np
    >>> from albert_tf import AlbertBackbone, AlbertConfig
    >>> config = AlbertConfig(vocab_size=100, embedding_size=8, hidden_size=16, num_hidden_layers=2,
    ...                       num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)
    >>> features = {"input_ids": np.full((2, 10), 7, "int32"), "input_mask": np.ones((2, 10), "int32"),
    ...             "segment_ids": np.array([[0] * 4 + [1] * 6] * 2, "int32"),
    ...             "p_mask": np.array([[0, 1, 1, 1] + [0] * 5 + [1]] * 2, "int32")}
    >>> v1 = AlbertQuestionAnswering(AlbertBackbone(config), version=1)
    >>> tuple(v1(features)["start_logits"].shape)
    (2, 10)
    >>> v2 = AlbertQuestionAnswering(config=config, version=2, start_n_top=3, end_n_top=2)
    >>> outputs = v2(features)
    >>> tuple(outputs["end_top_index"].shape), tuple(outputs["cls_logits"].shape)
    ((2, 6), (2,))
    >>> labels = {"start_positions": np.array([4, 0]), "end_positions": np.array([6, 0]),
    ...           "is_impossible": np.array([0, 1])}
    >>> v2.compile(optimizer="adam")
    >>> sorted(v2.fit({**features, **labels}, epochs=1, verbose=0).history)
    ['end_accuracy', 'is_impossible_accuracy', 'loss', 'start_accuracy']
    """

    def __init__(
        self,
        backbone=None,
        version=1,
        start_n_top=5,
        end_n_top=5,
        dropout=0.1,
        config=None,
        dtype=None,
        **kwargs,
    ):
        super().__init__(backbone=backbone, config=config, dtype=dtype, **kwargs)
        if version not in (1, 2):
            raise ValueError(f"AlbertQuestionAnswering version must be 1 (SQuAD v1.1) or 2 (SQuAD v2.0), got {version!r}.")
        self.version = int(version)
        self.start_n_top = int(start_n_top)
        self.end_n_top = int(end_n_top)
        self.dropout = float(dropout)
        hidden = self.config.hidden_size
        if self.version == 1:
            self.span_head = SpanHead(
                initializer_range=self.config.initializer_range, dtype=self.dtype_policy, name="span_head"
            )
            self.span_head.build((None, None, hidden))
        else:
            self.input_keys = type(self).input_keys + ("p_mask",)
            self.optional_input_keys = ("start_positions",)
            self.squad_v2_head = SquadV2Head(
                hidden_size=hidden,
                start_n_top=self.start_n_top,
                end_n_top=self.end_n_top,
                dropout=self.dropout,
                initializer_range=self.config.initializer_range,
                dtype=self.dtype_policy,
                name="squad_v2_head",
            )
            self.squad_v2_head.build((None, None, hidden))
        self.start_accuracy = keras.metrics.Mean(name="start_accuracy")
        self.end_accuracy = keras.metrics.Mean(name="end_accuracy")
        self.is_impossible_accuracy = keras.metrics.Mean(name="is_impossible_accuracy") if self.version == 2 else None
        self.built = True

    def call(self, inputs, training=None):
        backbone_inputs = {key: inputs[key] for key in ("input_ids", "input_mask", "segment_ids")}
        sequence = self.backbone(backbone_inputs, training=training)["sequence_output"]
        if self.version == 1:
            start_logits, end_logits = self.span_head(sequence)
            return {"start_logits": start_logits, "end_logits": end_logits}
        return self.squad_v2_head(sequence, inputs["p_mask"], inputs.get("start_positions"), training=training)

    def serving_outputs(self, features):
        result = backbone_serving_outputs(self.backbone, features)
        if self.version == 1:
            result["start_logits"], result["end_logits"] = self.span_head(result["sequence_output"])
            return result
        # Served inputs carry no p_mask: it follows from the segments by the records' own rule. Serving
        # graphs are TensorFlow's (SavedModel export), so the rule runs on tf.experimental.numpy.
        from tensorflow.experimental import numpy as tnp

        p_mask = ops.cast(squad_p_mask(features["input_mask"], features["segment_ids"], xp=tnp), "int32")
        return {**result, **self.squad_v2_head(result["sequence_output"], p_mask, None, training=False)}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        keys = SQUAD_LABEL_KEYS + (("is_impossible",) if self.version == 2 else ())
        labels = self.labels(x, y, keys, integer_keys=keys)
        starts, ends = _positions(labels["start_positions"]), _positions(labels["end_positions"])
        if self.version == 1:
            start_logits, end_logits = y_pred["start_logits"], y_pred["end_logits"]
            start_nll, end_nll = sparse_cross_entropy(starts, start_logits), sparse_cross_entropy(ends, end_logits)
        else:
            if "end_log_probs" not in y_pred:
                raise KeyError(
                    "AlbertQuestionAnswering (version 2) computes its loss from the end log-probs given the gold "
                    "start: pass 'start_positions' in the model inputs, not only as labels."
                )
            start_logits, end_logits = y_pred["start_log_probs"], y_pred["end_log_probs"]
            start_nll, end_nll = -_picked(start_logits, starts), -_picked(end_logits, ends)
        weights = None if sample_weight is None else ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
        loss = 0.5 * global_weighted_mean(start_nll + end_nll, weights)

        def hits(scores, targets):
            return ops.cast(ops.equal(argmax(scores), targets), "float32")

        self.start_accuracy.update_state(hits(start_logits, starts), sample_weight=weights)
        self.end_accuracy.update_state(hits(end_logits, ends), sample_weight=weights)
        if self.version == 2:
            impossible = ops.reshape(ops.cast(labels["is_impossible"], "float32"), (-1,))
            cls_logits = y_pred["cls_logits"]
            cls_loss = sigmoid_cross_entropy(impossible, cls_logits)
            loss = loss + 0.5 * global_weighted_mean(cls_loss, weights)
            predicted = ops.cast(cls_logits > 0, "float32")
            self.is_impossible_accuracy.update_state(ops.cast(ops.equal(predicted, impossible), "float32"), sample_weight=weights)
        return add_regularization(self, loss)

    def task_metrics(self):
        own = [self.start_accuracy, self.end_accuracy]
        return own + ([self.is_impossible_accuracy] if self.version == 2 else [])

    def task_config(self):
        return {"version": self.version, "start_n_top": self.start_n_top, "end_n_top": self.end_n_top, "dropout": self.dropout}
