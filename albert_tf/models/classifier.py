"""`AlbertClassifier`: the original `run_classifier.py` head (GLUE classification, STS-B regression)."""

import keras
from keras import ops

from albert_tf.layers.heads import ClassificationHead
from albert_tf.models.losses import add_regularization, global_weighted_mean, sparse_cross_entropy
from albert_tf.models.serving import backbone_serving_outputs
from albert_tf.models.streaming_metrics import BinaryConfusionMetric, PearsonCorrelation
from albert_tf.models.task_model import AlbertTaskModel

CLASSIFIER_LABEL_KEYS = ("label_ids",)


def example_weights(labels_dict, batch_size_like):
    """`is_real_example` as float32 `[B]` when the batch carries it, else ones."""
    weights = labels_dict.get("is_real_example") if isinstance(labels_dict, dict) else None
    if weights is None:
        return ops.ones_like(ops.cast(batch_size_like, "float32"))
    return ops.reshape(ops.cast(weights, "float32"), (-1,))


@keras.saving.register_keras_serializable(package="albert_tf")
class AlbertClassifier(AlbertTaskModel):
    """Sequence classification (or regression) on the pooled output, as the original's GLUE head.

    `pooled_output` -> dropout (`dropout`, 0.1 as the original, applied in training whatever the
    config's dropout) -> dense to `num_classes` logits. Outputs a dict: `logits` `[B, num_classes]`
    (float32 under any dtype policy) and `predictions` `[B]`; for classification also `probabilities`
    (softmax). `num_classes=1` is regression (STS-B): `predictions` are the squeezed logits.

    Training batches are the original's record features: `input_ids`, `input_mask`, `segment_ids`,
    `label_ids` (`[B]` or `[B, 1]`; int class ids, or float targets for regression) and optionally
    `is_real_example`, which weights the loss and the metrics (the original's padding examples have 0).
    Loss: mean cross-entropy, or for regression the mean squared error, as the original. Reported
    metrics: `accuracy` (classification; with 2 classes also `f1` of class 1 and `matthew_corr`, the
    CoLA metric) or `mean_squared_error` and `pearson` (regression), accumulated over the whole epoch or
    evaluation (see `albert_tf.models.streaming_metrics`).

    Build it around a backbone (`AlbertClassifier(backbone, num_classes=3)`) or from a config
    (`AlbertClassifier(config=config, num_classes=3)`, also `AlbertClassifier(config, 3)`).

    Example:

    >>> import numpy as np
    >>> from albert_tf import AlbertBackbone, AlbertConfig
    >>> config = AlbertConfig(vocab_size=100, embedding_size=8, hidden_size=16, num_hidden_layers=2,
    ...                       num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)
    >>> model = AlbertClassifier(AlbertBackbone(config), num_classes=3)
    >>> batch = {"input_ids": np.full((4, 6), 7, "int32"), "input_mask": np.ones((4, 6), "int32"),
    ...          "segment_ids": np.zeros((4, 6), "int32"), "label_ids": np.array([[0], [1], [2], [1]]),
    ...          "is_real_example": np.array([[1], [1], [1], [0]])}
    >>> tuple(model(batch)["logits"].shape)
    (4, 3)
    >>> model.compile(optimizer="adam")
    >>> sorted(model.fit(batch, epochs=1, verbose=0).history)
    ['accuracy', 'loss']
    >>> sorted(AlbertClassifier(config=config, num_classes=2).metrics_names)
    ['accuracy', 'f1', 'matthew_corr']
    """

    def __init__(self, backbone=None, num_classes=2, dropout=0.1, config=None, dtype=None, **kwargs):
        super().__init__(backbone=backbone, config=config, dtype=dtype, **kwargs)
        if int(num_classes) < 1:
            raise ValueError(f"AlbertClassifier needs num_classes >= 1 (1 is regression), got {num_classes}.")
        self.num_classes = int(num_classes)
        self.dropout = float(dropout)
        self.classifier_head = ClassificationHead(
            num_classes=self.num_classes,
            dropout=self.dropout,
            initializer_range=self.config.initializer_range,
            dtype=self.dtype_policy,
            name="classifier_head",
        )
        self.classifier_head.build((None, self.config.hidden_size))
        if self.is_regression:
            self.task_metric = keras.metrics.Mean(name="mean_squared_error")
            self.streaming = [PearsonCorrelation(name="pearson")]
        else:
            self.task_metric = keras.metrics.Mean(name="accuracy")
            binary = self.num_classes == 2
            self.streaming = [BinaryConfusionMetric("f1"), BinaryConfusionMetric("matthew_corr")] if binary else []
        self.built = True

    @property
    def is_regression(self):
        return self.num_classes == 1

    def call(self, inputs, training=None):
        pooled = self.backbone(inputs, training=training)["pooled_output"]
        logits = self.classifier_head(pooled, training=training)
        if self.is_regression:
            return {"logits": logits, "predictions": ops.squeeze(logits, -1)}
        return self.class_outputs(logits)

    @property
    def serving_classes(self):
        return self.num_classes

    def serving_outputs(self, features):
        result = backbone_serving_outputs(self.backbone, features)
        logits = self.classifier_head(result["pooled_output"], training=False)
        if self.is_regression:
            return {**result, "logits": logits, "predictions": ops.squeeze(logits, -1)}
        return {**result, **self.class_outputs(ops.cast(logits, "float32"))}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        source = y if y is not None else x
        labels = self.labels(x, y, CLASSIFIER_LABEL_KEYS, integer_keys=() if self.is_regression else CLASSIFIER_LABEL_KEYS)
        label_ids = ops.reshape(labels["label_ids"], (-1,))
        logits = y_pred["logits"]
        weights = example_weights(source, logits[:, 0])
        if sample_weight is not None:
            weights = weights * ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
        if self.is_regression:
            predictions = ops.squeeze(logits, -1)
            per_example = ops.square(predictions - ops.cast(label_ids, "float32"))
            self.task_metric.update_state(per_example, sample_weight=weights)
        else:
            per_example = sparse_cross_entropy(label_ids, logits)
            correct = ops.cast(ops.equal(ops.cast(ops.argmax(logits, axis=-1), "int32"), ops.cast(label_ids, "int32")), "float32")
            self.task_metric.update_state(correct, sample_weight=weights)
            predictions = ops.argmax(logits, axis=-1)
        for metric in self.streaming:
            metric.update_state(label_ids, predictions, sample_weight=weights)
        return add_regularization(self, global_weighted_mean(per_example, weights))

    def task_metrics(self):
        return [self.task_metric] + list(self.streaming)

    def task_config(self):
        return {"num_classes": self.num_classes, "dropout": self.dropout}
