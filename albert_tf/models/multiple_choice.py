"""`AlbertMultipleChoice`: the original `run_race.py` model (one score per option, softmax over options)."""

import keras
from keras import ops

from albert_tf.backend import argmax
from albert_tf.layers.heads import ClassificationHead
from albert_tf.models.classifier import CLASSIFIER_LABEL_KEYS, example_weights
from albert_tf.models.inputs import INPUT_KEYS
from albert_tf.models.losses import add_regularization, global_weighted_mean, sparse_cross_entropy
from albert_tf.models.serving import token_specs
from albert_tf.models.task_model import AlbertTaskModel


@keras.saving.register_keras_serializable(package="albert_tf")
class AlbertMultipleChoice(AlbertTaskModel):
    """Multiple choice (RACE): each option is encoded as its own sequence, scored from the pooled output.

    Inputs `input_ids`, `input_mask`, `segment_ids` of shape `[B, num_choices, S]`, or the original RACE
    records' flat `[B, num_choices * S]` (the options concatenated), which is split into the options.
    Each option's `pooled_output` -> dropout (`dropout`, 0.1 as the original's `dropout_prob`, training
    only) -> dense to one score (the original's `output_weights` `[1, H]`, `output_bias` `[1]`).
    Outputs `logits` `[B, num_choices]`, `probabilities` (softmax over options) and `predictions` `[B]`.
    Loss: mean softmax cross-entropy against `label_ids` (the answer's index), weighted by
    `is_real_example` when present; reported metric `accuracy`.

    Example:

    >>> import numpy as np
    >>> from albert_tf import AlbertBackbone, AlbertConfig
    >>> config = AlbertConfig(vocab_size=100, embedding_size=8, hidden_size=16, num_hidden_layers=2,
    ...                       num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)
    >>> model = AlbertMultipleChoice(AlbertBackbone(config), num_choices=4)
    >>> features = {"input_ids": np.full((2, 4, 6), 7, "int32"), "input_mask": np.ones((2, 4, 6), "int32"),
    ...             "segment_ids": np.zeros((2, 4, 6), "int32"), "label_ids": np.array([[3], [0]])}
    >>> tuple(model(features)["logits"].shape)
    (2, 4)
    >>> flat = {key: value.reshape(2, 24) for key, value in features.items() if key != "label_ids"}
    >>> bool(np.allclose(model(flat)["logits"], model(features)["logits"]))
    True
    """

    def __init__(self, backbone=None, num_choices=4, dropout=0.1, config=None, dtype=None, **kwargs):
        super().__init__(backbone=backbone, config=config, dtype=dtype, **kwargs)
        if int(num_choices) < 2:
            raise ValueError(f"AlbertMultipleChoice needs num_choices >= 2, got {num_choices}.")
        self.num_choices = int(num_choices)
        self.dropout = float(dropout)
        self.choice_head = ClassificationHead(
            num_classes=1,
            dropout=self.dropout,
            initializer_range=self.config.initializer_range,
            dtype=self.dtype_policy,
            name="choice_head",
        )
        self.choice_head.build((None, self.config.hidden_size))
        self.accuracy = keras.metrics.Mean(name="accuracy")
        self.built = True

    def _per_option(self, value, key):
        rank = len(value.shape)
        if rank == 3:
            if value.shape[1] is not None and value.shape[1] != self.num_choices:
                raise ValueError(
                    f"AlbertMultipleChoice input '{key}' has {value.shape[1]} options, expected num_choices={self.num_choices}."
                )
            return ops.reshape(value, (-1, value.shape[-1] if value.shape[-1] is not None else ops.shape(value)[-1]))
        if rank == 2:
            total = value.shape[-1]
            if total is not None and total % self.num_choices:
                raise ValueError(
                    f"AlbertMultipleChoice input '{key}' has length {total}, not a multiple of num_choices={self.num_choices}."
                )
            return ops.reshape(value, (-1, total // self.num_choices))
        raise ValueError(f"AlbertMultipleChoice input '{key}' must be [B, num_choices, S] or [B, num_choices * S], got rank {rank}.")

    def call(self, inputs, training=None):
        flat = {key: self._per_option(inputs[key], key) for key in INPUT_KEYS}
        pooled = self.backbone(flat, training=training)["pooled_output"]
        logits = ops.reshape(self.choice_head(pooled, training=training), (-1, self.num_choices))
        return self.class_outputs(logits)

    # Served from token inputs only: a string signature would need the text paired with each option.
    serves_text = False

    @property
    def serving_classes(self):
        return self.num_choices

    def serving_inputs(self, seq_length=None, batch_size=None):
        return token_specs([batch_size, None, seq_length])

    def serving_outputs(self, features):
        # Per-option backbone outputs are not served: only the choice scores.
        return self(features, training=False)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        source = y if y is not None else x
        labels = self.labels(x, y, CLASSIFIER_LABEL_KEYS, integer_keys=CLASSIFIER_LABEL_KEYS)
        label_ids = ops.cast(ops.reshape(labels["label_ids"], (-1,)), "int32")
        logits = y_pred["logits"]
        weights = example_weights(source, logits[:, 0])
        if sample_weight is not None:
            weights = weights * ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
        correct = ops.cast(ops.equal(argmax(logits), label_ids), "float32")
        self.accuracy.update_state(correct, sample_weight=weights)
        return add_regularization(self, global_weighted_mean(sparse_cross_entropy(label_ids, logits), weights))

    def task_metrics(self):
        return [self.accuracy]

    def task_config(self):
        return {"num_choices": self.num_choices, "dropout": self.dropout}
