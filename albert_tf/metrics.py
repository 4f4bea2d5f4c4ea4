"""Fine-tuning evaluation metrics: GLUE, SQuAD v1.1/v2.0 (the official scripts), RACE, token tagging.

Pure Python and NumPy (SciPy for ranks, seqeval for entities): importing this module never imports
TensorFlow, so evaluation scripts and tests run without it.

* GLUE: `accuracy`, `f1` (MRPC/QQP, positive class 1; the original computes none), `matthews_corr`
  (CoLA), `pearson` / `spearman` (STS-B; the original has no Spearman), `mean_squared_error`; each
  weighted by `is_real_example` as the original's streaming metrics (weight 0 = padding example).
* `glue_scores(task, predictions, labels, weights=None)`: the metric dict for one task under the
  original's names (`eval_accuracy`, `matthew_corr`, `pearson`, `MSE`) plus our additions (`f1`,
  `spearman`), without `eval_loss` (which comes from the model).
* `squad_v1_scores(dataset, predictions)` and `squad_v2_scores(dataset, predictions, na_probs=None)`:
  the official evaluation scripts' numbers (0-100).
* `race_scores(predictions, labels, levels, weights=None)`: accuracy overall and per level.
* `token_tagging_scores(true_tags, pred_tags)` / `tags_from_ids(...)`: seqeval entity F1 for tagging.
* For the fine-tuning runner: `best_checkpoint_key(task)` is the key of the metric dict by which the
  original keeps its best checkpoint, read from the task registry (`pearson` for STS-B, `matthew_corr`
  for CoLA, `f1` for SQuAD, `eval_accuracy` otherwise; `eval_f1` for token tagging), and
  `task_scores(task, ...)` dispatches on the task name (`cola`, `sst-2`, ..., `squad_v1`, `squad_v2`,
  `race`, `ner`/`tagging`). Which GLUE task adds which score is the registry's `extra_metrics`.

Example:

>>> accuracy([1, 0, 1, 1], [1, 1, 1, 0], weights=[1, 1, 1, 0])
0.6666666666666666
>>> round(matthews_corr([1, 0, 1, 0], [1, 0, 0, 0]), 4)
0.5774
>>> scores = squad_v1_scores([{"paragraphs": [{"qas": [{"id": "q1", "answers": [{"text": "the Eiffel Tower"}]}]}]}],
...                          {"q1": "Eiffel tower"})
>>> scores["exact_match"], scores["f1"]
(100.0, 100.0)
>>> best_checkpoint_key("CoLA"), best_checkpoint_key("sts-b"), best_checkpoint_key("squad_v2")
('matthew_corr', 'pearson', 'f1')
"""

from __future__ import annotations

import collections
import logging
import math
import re
import string

import numpy as np

from albert_tf.tasks import glue, registry

logger = logging.getLogger(__name__)

GLUE_TASKS = tuple(glue.GLUE_TASKS)
#: Generic names of token-tagging tasks, which are registered per label set (`tagging_task`).
TAGGING_TASKS = ("ner", "pos", "chunk", "tagging")


def _task(name):
    return str(name).strip().lower()


def _registered(task):
    try:
        return registry.get_task(task)
    except ValueError:
        raise ValueError(f"Unknown task {task!r}; expected one of {registry.task_names() + list(TAGGING_TASKS)}.") from None


def best_checkpoint_key(task):
    """The metric by which the original keeps its best checkpoint for `task` (higher is better): the
    registry's `best_key`, a key of the `task_scores` dict."""
    if _task(task) in TAGGING_TASKS:
        return registry.TAGGING_BEST_KEY
    return _registered(task).best_key


# --------------------------------------------------------------------------- GLUE
def _arrays(predictions, labels, weights, dtype=np.int64):
    predictions = np.asarray(predictions).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    if predictions.shape != labels.shape:
        raise ValueError(f"{predictions.size} predictions but {labels.size} labels.")
    weights = np.ones(labels.shape, np.float64) if weights is None else np.asarray(weights, np.float64).reshape(-1)
    if weights.shape != labels.shape:
        raise ValueError(f"{weights.size} weights for {labels.size} labels.")
    return predictions.astype(dtype), labels.astype(dtype), weights


def accuracy(predictions, labels, weights=None):
    """Weighted share of `predictions == labels` (0.0 when every weight is 0)."""
    predictions, labels, weights = _arrays(predictions, labels, weights)
    total = weights.sum()
    return float((weights * (predictions == labels)).sum() / total) if total > 0 else 0.0


def _confusion(predictions, labels, weights, positive=1):
    predictions, labels, weights = _arrays(predictions, labels, weights)
    p, t = predictions == positive, labels == positive
    return (
        float(weights[p & t].sum()),
        float(weights[~p & ~t].sum()),
        float(weights[p & ~t].sum()),
        float(weights[~p & t].sum()),
    )


def f1(predictions, labels, weights=None, positive=1):
    """Binary F1 of the `positive` class (GLUE's MRPC/QQP metric); 0.0 without any positive."""
    tp, _, fp, fn = _confusion(predictions, labels, weights, positive)
    return 2 * tp / (2 * tp + fp + fn) if tp > 0 else 0.0


def matthews_corr(predictions, labels, weights=None):
    """The original's `matthew_corr` for CoLA: (TP·TN − FP·FN)/√((TP+FP)(TP+FN)(TN+FP)(TN+FN)) from
    weighted counts, 0 when the denominator is 0."""
    tp, tn, fp, fn = _confusion(predictions, labels, weights)
    denominator = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return (tp * tn - fp * fn) / denominator if denominator > 0 else 0.0


def pearson(predictions, labels, weights=None):
    """Weighted Pearson r (the original's streaming Pearson for STS-B); 0.0 if either side is constant."""
    x, y, w = _arrays(predictions, labels, weights, dtype=np.float64)
    if w.sum() <= 0:
        return 0.0
    w = w / w.sum()
    dx, dy = x - (w * x).sum(), y - (w * y).sum()
    denominator = math.sqrt((w * dx * dx).sum() * (w * dy * dy).sum())
    return float((w * dx * dy).sum() / denominator) if denominator > 0 else 0.0


def spearman(predictions, labels, weights=None):
    """Spearman rank correlation over the examples with a positive weight (ties get average ranks)."""
    from scipy.stats import rankdata

    x, y, w = _arrays(predictions, labels, weights, dtype=np.float64)
    keep = w > 0
    if keep.sum() < 2:
        return 0.0
    return pearson(rankdata(x[keep]), rankdata(y[keep]), w[keep])


def mean_squared_error(predictions, labels, weights=None):
    x, y, w = _arrays(predictions, labels, weights, dtype=np.float64)
    return float((w * (x - y) ** 2).sum() / w.sum()) if w.sum() > 0 else 0.0


def glue_scores(task, predictions, labels, weights=None):
    """The evaluation metrics of one GLUE task, named as the original's `eval_results.txt`.

    `predictions` are class ids (or floats for STS-B), `labels` the record's `label_ids`, `weights` its
    `is_real_example`. STS-B: `pearson`, `spearman`, `MSE`; CoLA: `matthew_corr`, `eval_accuracy`;
    MRPC/QQP: `eval_accuracy`, `f1`; the rest: `eval_accuracy`.
    """
    task = _task(task)
    if task not in GLUE_TASKS:
        raise ValueError(f"Unknown GLUE task {task!r}; expected one of {GLUE_TASKS}.")
    facts = registry.get_task(task)
    if facts.family == "regression":
        return {
            "pearson": pearson(predictions, labels, weights),
            "spearman": spearman(predictions, labels, weights),
            "MSE": mean_squared_error(predictions, labels, weights),
        }
    scores = {"eval_accuracy": accuracy(predictions, labels, weights)}
    for key, metric in (("matthew_corr", matthews_corr), ("f1", f1)):
        if key in facts.extra_metrics:
            scores[key] = metric(predictions, labels, weights)
    return scores


# --------------------------------------------------------------------------- RACE
def race_scores(predictions, labels, levels, weights=None):
    """RACE accuracy overall (`eval_accuracy`, the original's key) and per level (`middle_accuracy`,
    `high_accuracy`); `levels` names each question's level ("middle"/"high", from its file's folder)."""
    levels = np.asarray([str(level).lower() for level in levels])
    predictions, labels, weights = _arrays(predictions, labels, weights)
    if levels.shape != labels.shape:
        raise ValueError(f"{levels.size} levels for {labels.size} labels.")
    unknown = sorted(set(levels) - {"middle", "high"})
    if unknown:
        raise ValueError(f"RACE levels must be 'middle' or 'high', got {unknown}.")
    scores = {"eval_accuracy": accuracy(predictions, labels, weights)}
    for level in ("middle", "high"):
        keep = levels == level
        scores[f"{level}_accuracy"] = accuracy(predictions[keep], labels[keep], weights[keep])
        scores[f"{level}_total"] = int((weights[keep] > 0).sum())
    return scores


# --------------------------------------------------------------------------- token tagging
def tags_from_ids(label_ids, predicted_ids, label_list, ignore_id=-100):
    """Per-sentence tag lists from `[N, S]` id arrays, dropping positions whose gold id is `ignore_id`
    (padding, special tokens, sub-word continuations). Returns `(true_tags, pred_tags)`."""
    label_ids, predicted_ids = np.asarray(label_ids), np.asarray(predicted_ids)
    if label_ids.shape != predicted_ids.shape:
        raise ValueError(f"label ids {label_ids.shape} and predicted ids {predicted_ids.shape} differ in shape.")
    true_tags, pred_tags = [], []
    for gold_row, pred_row in zip(label_ids, predicted_ids):
        keep = gold_row != ignore_id
        true_tags.append([label_list[i] for i in gold_row[keep]])
        pred_tags.append([label_list[i] for i in pred_row[keep]])
    return true_tags, pred_tags


def token_tagging_scores(true_tags, pred_tags, scheme=None):
    """seqeval's entity-level `precision`, `recall`, `f1` (micro) and token `accuracy` for IOB-style tag
    lists (one list per sentence). `scheme` (e.g. "IOB2") switches seqeval to strict mode."""
    from seqeval import metrics as seqeval_metrics

    kwargs = {}
    if scheme is not None:
        from seqeval import scheme as schemes

        kwargs = {"mode": "strict", "scheme": getattr(schemes, scheme)}
    return {
        "precision": float(seqeval_metrics.precision_score(true_tags, pred_tags, zero_division=0, **kwargs)),
        "recall": float(seqeval_metrics.recall_score(true_tags, pred_tags, zero_division=0, **kwargs)),
        "f1": float(seqeval_metrics.f1_score(true_tags, pred_tags, zero_division=0, **kwargs)),
        "accuracy": float(seqeval_metrics.accuracy_score(true_tags, pred_tags)),
    }


# --------------------------------------------------------------------------- SQuAD (official scripts)
# Hand-written from the official evaluation scripts' definitions (no library ships them outside
# tf-models-official's test-only copies, which rescale and rename the results).
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text):
    """Lower-case, drop punctuation, drop the articles a/an/the, collapse white space (official)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _answer_f1(prediction, gold):
    pred_tokens, gold_tokens = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = collections.Counter(pred_tokens) & collections.Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _squad_articles(dataset):
    if isinstance(dataset, dict):
        if "data" not in dataset:
            raise ValueError("A SQuAD dataset is the parsed JSON file (with a 'data' list) or that list.")
        dataset = dataset["data"]
    return dataset


def _questions(dataset):
    for article in _squad_articles(dataset):
        for paragraph in article["paragraphs"]:
            yield from paragraph["qas"]


def squad_v1_scores(dataset, predictions):
    """The official SQuAD 1.1 `exact_match` and `f1` (0-100), max over the gold answers; a question
    without a prediction scores 0 and is logged, as the official script does.

    `dataset` is the parsed JSON file (or its `data` list), `predictions` maps question id -> text.
    """
    exact = f1_total = 0.0
    total = missing = 0
    for qa in _questions(dataset):
        total += 1
        if qa["id"] not in predictions:
            missing += 1
            continue
        golds = [answer["text"] for answer in qa["answers"]]
        prediction = predictions[qa["id"]]
        exact += max(float(normalize_answer(prediction) == normalize_answer(g)) for g in golds)
        f1_total += max(_answer_f1(prediction, g) for g in golds)
    if missing:
        logger.warning("%d of %d questions have no prediction and score 0.", missing, total)
    if total == 0:
        raise ValueError("The SQuAD dataset has no questions.")
    return {"exact_match": 100.0 * exact / total, "f1": 100.0 * f1_total / total}


def _v2_exact(gold, prediction):
    return float(normalize_answer(gold) == normalize_answer(prediction))


def _v2_f1(gold, prediction):
    gold_tokens, pred_tokens = normalize_answer(gold).split(), normalize_answer(prediction).split()
    if not gold_tokens or not pred_tokens:
        # An unanswerable question scores 1 only for the empty answer.
        return float(gold_tokens == pred_tokens)
    return _answer_f1(prediction, gold)


def _best_threshold(predictions, scores, na_probs, has_answer):
    # Official: start from answering nothing, then let questions answer in order of rising no-answer
    # probability and keep the best running score.
    score = best = sum(1 for qid in scores if not has_answer[qid])
    threshold = 0.0
    for qid in sorted(na_probs, key=lambda k: na_probs[k]):
        if qid not in scores:
            continue
        if has_answer[qid]:
            score += scores[qid]
        elif predictions[qid]:
            score -= 1
        if score > best:
            best, threshold = score, na_probs[qid]
    return 100.0 * best / len(scores), threshold


def squad_v2_scores(dataset, predictions, na_probs=None, na_prob_thresh=1.0):
    """The official SQuAD 2.0 evaluation: `exact`, `f1`, `total`, `HasAns_exact/f1/total`,
    `NoAns_exact/f1/total`, `best_exact`, `best_exact_thresh`, `best_f1`, `best_f1_thresh`.

    `na_probs` maps question id -> no-answer probability (default 0 for every question); a question whose
    probability exceeds `na_prob_thresh` counts as answered with "". Questions without a prediction are
    left out (and logged), as tf-models-official's copy does; the official script would fail on them.
    The best-threshold keys are always computed (the official script does so when given `na_probs`).
    """
    questions = [qa for qa in _questions(dataset) if qa["id"] in predictions]
    missing = sum(1 for _ in _questions(dataset)) - len(questions)
    if missing:
        logger.warning("%d questions have no prediction and are left out.", missing)
    if not questions:
        raise ValueError("No question of the SQuAD dataset has a prediction.")
    na_probs = {qa["id"]: 0.0 for qa in questions} if na_probs is None else na_probs
    has_answer = {qa["id"]: bool(qa["answers"]) for qa in questions}
    exact_raw, f1_raw = {}, {}
    for qa in questions:
        golds = [a["text"] for a in qa["answers"] if normalize_answer(a["text"])] or [""]
        prediction = predictions[qa["id"]]
        exact_raw[qa["id"]] = max(_v2_exact(g, prediction) for g in golds)
        f1_raw[qa["id"]] = max(_v2_f1(g, prediction) for g in golds)

    def thresholded(raw):
        return {
            qid: (float(not has_answer[qid]) if na_probs[qid] > na_prob_thresh else score) for qid, score in raw.items()
        }

    exact, f1_scores = thresholded(exact_raw), thresholded(f1_raw)

    def block(ids):
        return {
            "exact": 100.0 * sum(exact[q] for q in ids) / len(ids),
            "f1": 100.0 * sum(f1_scores[q] for q in ids) / len(ids),
            "total": len(ids),
        }

    scores = block(list(exact))
    for prefix, wanted in (("HasAns", True), ("NoAns", False)):
        ids = [q for q in exact if has_answer[q] == wanted]
        if ids:
            scores.update({f"{prefix}_{key}": value for key, value in block(ids).items()})
    scores["best_exact"], scores["best_exact_thresh"] = _best_threshold(predictions, exact_raw, na_probs, has_answer)
    scores["best_f1"], scores["best_f1_thresh"] = _best_threshold(predictions, f1_raw, na_probs, has_answer)
    return scores


def task_scores(task, **kwargs):
    """Dispatch on the task name: GLUE -> `glue_scores(task, predictions, labels, weights)`; `race` ->
    `race_scores(...)`; `squad_v1`/`squad_v2` -> `squad_v1_scores`/`squad_v2_scores(dataset,
    predictions[, na_probs])`; tagging tasks -> `token_tagging_scores(true_tags, pred_tags)` with the
    `eval_` prefix of the fine-tuning results (`eval_f1`, the best-checkpoint key)."""
    task = _task(task)
    if task in GLUE_TASKS:
        return glue_scores(task, **kwargs)
    if task == "race":
        return race_scores(**kwargs)
    if task == "squad_v1":
        return squad_v1_scores(**kwargs)
    if task == "squad_v2":
        return squad_v2_scores(**kwargs)
    if task in TAGGING_TASKS:
        return {f"eval_{key}": value for key, value in token_tagging_scores(**kwargs).items()}
    raise ValueError(f"Unknown task {task!r}.")
