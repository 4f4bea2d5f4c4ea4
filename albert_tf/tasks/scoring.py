"""Scores of a whole evaluation set, from the gathered model outputs, with the original's metric keys.

The original computed these as streaming TF1 metrics weighted by `is_real_example`; the same sums over
the gathered arrays give the same values. Keys are the original `eval_results.txt` keys
(`eval_accuracy`, `eval_loss`, `matthew_corr`, `pearson`, `MSE`) plus what it lacked: `f1` for MRPC and
QQP, `spearman` for STS-B.

Example:

>>> import numpy as np
>>> logits = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 3.0]])
>>> scores = classification_scores(logits, np.array([0, 1, 1, 1]), extra=("matthew_corr", "f1"))
>>> round(scores["eval_accuracy"], 4), round(scores["matthew_corr"], 4), round(scores["f1"], 4)
(0.75, 0.5774, 0.8)
"""

from __future__ import annotations

import numpy as np

from albert_tf import metrics

__all__ = ["classification_scores", "regression_scores", "tagging_scores"]


def _weights(weights, n):
    return np.ones(n, np.float64) if weights is None else np.asarray(weights, np.float64).reshape(-1)


def _log_softmax(logits):
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def classification_scores(logits, labels, weights=None, extra=()):
    """`eval_accuracy`, `eval_loss` (mean cross-entropy) and the `extra` keys among `matthew_corr`, `f1`."""
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    w = _weights(weights, len(labels))
    total = max(w.sum(), 1e-12)
    predictions = np.argmax(logits, axis=-1)
    nll = -_log_softmax(logits)[np.arange(len(labels)), labels]
    scores = {"eval_accuracy": metrics.accuracy(predictions, labels, w), "eval_loss": float(np.sum(w * nll) / total)}
    if "matthew_corr" in extra:
        scores["matthew_corr"] = float(metrics.matthews_corr(predictions, labels, w))
    if "f1" in extra:
        scores["f1"] = float(metrics.f1(predictions, labels, w))
    return scores


def regression_scores(predictions, labels, weights=None):
    """STS-B: `pearson`, `spearman`, `MSE` and `eval_loss` (= MSE, the training loss)."""
    mse = metrics.mean_squared_error(predictions, labels, weights)
    return {
        "pearson": metrics.pearson(predictions, labels, weights),
        "spearman": float(metrics.spearman(predictions, labels, weights)),
        "MSE": mse,
        "eval_loss": mse,
    }


def tagging_scores(logits, labels, mask, label_names):
    """Token tagging: seqeval entity `eval_f1`/`eval_precision`/`eval_recall` and token `eval_accuracy`.

    Padding (`mask` 0) is left out of every score.
    """
    from seqeval.metrics import f1_score, precision_score, recall_score

    predictions = np.argmax(logits, axis=-1)
    mask = np.asarray(mask) > 0
    labels = np.asarray(labels)
    gold = [[label_names[i] for i in row[m]] for row, m in zip(labels, mask)]
    guess = [[label_names[i] for i in row[m]] for row, m in zip(predictions, mask)]
    return {
        "eval_f1": float(f1_score(gold, guess)),
        "eval_precision": float(precision_score(gold, guess)),
        "eval_recall": float(recall_score(gold, guess)),
        "eval_accuracy": float(np.sum((predictions == labels) & mask) / max(mask.sum(), 1)),
    }
