"""`AlbertTokenClassifier`: per-token tagging (NER, POS), beyond the original release."""

import keras
from keras import ops

from albert_tf.backend import argmax
from albert_tf.layers.heads import ClassificationHead
from albert_tf.models.losses import add_regularization, global_weighted_mean, sparse_cross_entropy
from albert_tf.models.serving import backbone_serving_outputs
from albert_tf.models.task_model import AlbertTaskModel

# The label id that marks a position without a label (HuggingFace's and PyTorch's convention).
IGNORE_LABEL = -100


@keras.saving.register_keras_serializable(package="albert_tf")
class AlbertTokenClassifier(AlbertTaskModel):
    """Token classification on the sequence output: dropout (`dropout`, 0.1 as HuggingFace's
    `classifier_dropout_prob`, training only) then a dense layer to `num_labels` logits per token.

    Outputs `logits` `[B, S, num_labels]` (float32) and `predictions` `[B, S]`. Training batches carry
    `label_ids` `[B, S]`; positions whose label is -100 (sub-word continuations, special tokens) or whose
    `input_mask` is 0 (padding) are left out of the loss and of the reported `accuracy`, and an optional
    `label_weights` `[B, S]` further weights positions. Loss: mean cross-entropy over the counted tokens of
    the global batch. The head is stored in original-style checkpoints as `output_weights`
    `[num_labels, H]` / `output_bias` like the classifier (the original has no tagging head).

    Example:

    >>> import numpy as np
    >>> from albert_tf import AlbertBackbone, AlbertConfig
    >>> config = AlbertConfig(vocab_size=100, embedding_size=8, hidden_size=16, num_hidden_layers=2,
    ...                       num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)
    >>> model = AlbertTokenClassifier(AlbertBackbone(config), num_labels=5)
    >>> batch = {"input_ids": np.full((2, 6), 7, "int32"), "input_mask": np.array([[1] * 6, [1] * 4 + [0] * 2], "int32"),
    ...          "segment_ids": np.zeros((2, 6), "int32"),
    ...          "label_ids": np.array([[-100, 1, 2, 0, 4, -100], [-100, 3, 3, -100, -100, -100]])}
    >>> tuple(model(batch)["logits"].shape)
    (2, 6, 5)
    >>> model.compile(optimizer="adam")
    >>> sorted(model.fit(batch, epochs=1, verbose=0).history)
    ['accuracy', 'loss']
    """

    def __init__(self, backbone=None, num_labels=2, dropout=0.1, config=None, dtype=None, **kwargs):
        super().__init__(backbone=backbone, config=config, dtype=dtype, **kwargs)
        if int(num_labels) < 1:
            raise ValueError(f"AlbertTokenClassifier needs num_labels >= 1, got {num_labels}.")
        self.num_labels = int(num_labels)
        self.dropout = float(dropout)
        self.tagging_head = ClassificationHead(
            num_classes=self.num_labels,
            dropout=self.dropout,
            initializer_range=self.config.initializer_range,
            dtype=self.dtype_policy,
            name="tagging_head",
        )
        self.tagging_head.build((None, None, self.config.hidden_size))
        self.accuracy = keras.metrics.Mean(name="accuracy")
        self.built = True

    def call(self, inputs, training=None):
        sequence = self.backbone(inputs, training=training)["sequence_output"]
        logits = self.tagging_head(sequence, training=training)
        return {"logits": logits, "predictions": argmax(logits)}

    @property
    def serving_classes(self):
        return self.num_labels

    def serving_outputs(self, features):
        result = backbone_serving_outputs(self.backbone, features)
        logits = self.tagging_head(result["sequence_output"], training=False)
        return {**result, "logits": logits, "predictions": argmax(logits)}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        source = y if y is not None else x
        labels = self.labels(x, y, ("label_ids",), integer_keys=("label_ids",))["label_ids"]
        labels = ops.cast(labels, "int32")
        weights = ops.cast(ops.not_equal(labels, IGNORE_LABEL), "float32")
        for key in ("input_mask", "label_weights"):
            for where in (source, x):
                if isinstance(where, dict) and key in where:
                    weights = weights * ops.cast(where[key], "float32")
                    break
        if sample_weight is not None:
            sample_weight = ops.cast(sample_weight, "float32")
            weights = weights * (sample_weight[:, None] if len(sample_weight.shape) == 1 else sample_weight)
        logits = y_pred["logits"]
        safe = ops.where(labels == IGNORE_LABEL, 0, labels)
        nll = sparse_cross_entropy(ops.reshape(safe, (-1,)), ops.reshape(logits, (-1, self.num_labels)))
        flat_weights = ops.reshape(weights, (-1,))
        correct = ops.cast(ops.equal(ops.reshape(argmax(logits), (-1,)), ops.reshape(safe, (-1,))), "float32")
        self.accuracy.update_state(correct, sample_weight=flat_weights)
        return add_regularization(self, global_weighted_mean(nll, flat_weights))

    def task_metrics(self):
        return [self.accuracy]

    def task_config(self):
        return {"num_labels": self.num_labels, "dropout": self.dropout}
