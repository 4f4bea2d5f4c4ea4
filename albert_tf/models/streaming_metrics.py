"""Keras metrics that accumulate over an evaluation as the original's streaming TF1 metrics do, so
`fit`/`evaluate` report the GLUE keys directly: `matthew_corr` (CoLA), `f1` (MRPC/QQP), `pearson` (STS-B).

Their values equal `albert_tf.metrics` on the whole set (the TF-free reference used after prediction);
the states are sums, so they aggregate across replicas and batches exactly.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="albert_tf")
class BinaryConfusionMetric(keras.metrics.Metric):
    """Weighted true/false positive/negative counts of class 1, reported as `kind`: `"f1"` or
    `"matthew_corr"` ((TP·TN − FP·FN)/√((TP+FP)(TP+FN)(TN+FP)(TN+FN)), 0 if the denominator is 0).

    Example:

    >>> metric = BinaryConfusionMetric("matthew_corr")
    >>> metric.update_state([1, 0, 1, 0], [1, 0, 0, 0])
    >>> round(float(metric.result()), 4)
    0.5774
    """

    def __init__(self, kind="f1", name=None, **kwargs):
        if kind not in ("f1", "matthew_corr"):
            raise ValueError(f"BinaryConfusionMetric kind must be 'f1' or 'matthew_corr', got {kind!r}.")
        super().__init__(name=name or kind, **kwargs)
        self.kind = kind
        self.counts = {key: self.add_variable(shape=(), initializer="zeros", name=key) for key in ("tp", "tn", "fp", "fn")}

    def update_state(self, labels, predictions, sample_weight=None):
        labels = ops.reshape(ops.cast(labels, "int32"), (-1,)) == 1
        predictions = ops.reshape(ops.cast(predictions, "int32"), (-1,)) == 1
        weights = ops.ones_like(ops.cast(labels, "float32")) if sample_weight is None else ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
        cells = {
            "tp": labels & predictions,
            "tn": ~labels & ~predictions,
            "fp": ~labels & predictions,
            "fn": labels & ~predictions,
        }
        for key, cell in cells.items():
            self.counts[key].assign_add(ops.sum(weights * ops.cast(cell, "float32")))

    def result(self):
        tp, tn, fp, fn = (self.counts[key] for key in ("tp", "tn", "fp", "fn"))
        if self.kind == "f1":
            denominator = 2 * tp + fp + fn
            return ops.where(tp > 0, 2 * tp / ops.maximum(denominator, 1e-12), 0.0)
        denominator = ops.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        return ops.where(denominator > 0, (tp * tn - fp * fn) / ops.maximum(denominator, 1e-12), 0.0)

    def reset_state(self):
        for variable in self.counts.values():
            variable.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind}


@keras.saving.register_keras_serializable(package="albert_tf")
class PearsonCorrelation(keras.metrics.Metric):
    """Weighted Pearson r between predictions and targets over everything seen (the original's STS-B
    `pearson`), from running sums; 0 when either side is constant.

    Example:

    >>> metric = PearsonCorrelation()
    >>> metric.update_state([1.0, 2.0, 3.0], [2.0, 4.0, 7.0])
    >>> round(float(metric.result()), 4)
    0.9934
    """

    def __init__(self, name="pearson", **kwargs):
        super().__init__(name=name, **kwargs)
        self.sums = {key: self.add_variable(shape=(), initializer="zeros", name=key) for key in ("w", "x", "y", "xx", "yy", "xy")}

    def update_state(self, labels, predictions, sample_weight=None):
        y = ops.reshape(ops.cast(labels, "float32"), (-1,))
        x = ops.reshape(ops.cast(predictions, "float32"), (-1,))
        w = ops.ones_like(x) if sample_weight is None else ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
        for key, value in (("w", w), ("x", w * x), ("y", w * y), ("xx", w * x * x), ("yy", w * y * y), ("xy", w * x * y)):
            self.sums[key].assign_add(ops.sum(value))

    def result(self):
        s = self.sums
        n = ops.maximum(s["w"], 1e-12)
        cov = s["xy"] - s["x"] * s["y"] / n
        var_x = s["xx"] - s["x"] * s["x"] / n
        var_y = s["yy"] - s["y"] * s["y"] / n
        denominator = ops.sqrt(ops.maximum(var_x, 0.0) * ops.maximum(var_y, 0.0))
        return ops.where(denominator > 0, cov / ops.maximum(denominator, 1e-30), 0.0)

    def reset_state(self):
        for variable in self.sums.values():
            variable.assign(0.0)
