"""SQuAD: post-processing of the logits of evaluation features -> answer texts, n-best lists, null odds.

Pure Python / NumPy. ``squad_p_mask`` (where an answer may lie in a feature) is defined once beside the
record schema, :func:`albert_tf.data.schemas.squad_p_mask`, and re-exported here. Post-processing reproduces the original
``squad_utils`` prediction writers (spec §7.8):

* :func:`postprocess_v1` (``run_squad_v1``): per window the ``n_best_size`` best start and end
  positions by logit; spans must start on a context piece that has its maximum context in this
  window, end inside the context, not before the start, and be at most ``max_answer_length``
  pieces long. Candidates of all windows are ranked by start + end logit; the answer text is the
  *original* context from the start piece's first character to the end piece's last character,
  stripped (the SentencePiece variant has no ``get_final_text``: the pieces carry exact character
  offsets); duplicates are dropped; ``"empty"`` if nothing is valid. n-best probabilities are the
  softmax of the summed scores.
* :func:`postprocess_v2` (``run_squad_v2``): candidates from the model's start beam
  (``start_top_index``/``start_top_log_probs``) and, per start, its end beam; the same validity
  rules plus start not in the question; the null score of a question is the **minimum**
  ``cls_logits`` over its windows; n-best as v1 with ``""`` at -1e6 as fallback; the prediction is
  the first n-best text unless a threshold is given and the null score reaches it.

The feature metadata (pieces, character offsets, max-context flags, example index, question id,
context) is written by ``albert-create-finetuning-data`` next to evaluation records as
``<output_file>.meta.json``; :func:`load_squad_features` reads it.

Example:

>>> features = SquadFeatureSet(
...     contexts=["The cat sat."],
...     examples=[{"qas_id": "q1", "context_index": 0, "answers": ["cat"]}],
...     features=[{"unique_id": 1000000000, "example_index": 0,
...                "tokens": ["[CLS]", "▁who", "[SEP]", "▁the", "▁cat", "▁sat", ".", "[SEP]"],
...                "doc_offset": 3, "tok_start_to_orig_index": [0, 3, 7, 11],
...                "tok_end_to_orig_index": [2, 6, 10, 11], "token_is_max_context": [1, 1, 1, 1]}])
>>> start = np.zeros(8); end = np.zeros(8); start[4] = end[4] = 5.0
>>> predictions, nbest = postprocess_v1(features, {1000000000: (start, end)})
>>> predictions["q1"], nbest["q1"][0]["probability"] > 0.9
('cat', True)
"""

from __future__ import annotations

import collections
import dataclasses
import json
import math
import os
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from albert_tf.data.schemas import squad_p_mask  # noqa: F401  (the rule lives with the record schema)

META_FORMAT = "albert_tf.squad_features"


@dataclasses.dataclass
class SquadFeatureSet:
    """Evaluation examples and their features' metadata, as written beside the records.

    ``examples[i]``: ``qas_id``, ``context_index`` (into ``contexts``) and, where known, ``answers``.
    ``features[k]``: ``unique_id``, ``example_index``, ``tokens``, ``doc_offset`` (index of the
    first context piece), ``tok_start_to_orig_index``/``tok_end_to_orig_index`` (character offsets
    of each context piece in the original context) and ``token_is_max_context`` (0/1 per context
    piece).
    """

    contexts: List[str]
    examples: List[dict]
    features: List[dict]

    def context(self, example_index: int) -> str:
        return self.contexts[self.examples[example_index]["context_index"]]

    def features_by_example(self) -> Dict[int, List[dict]]:
        grouped: Dict[int, List[dict]] = collections.defaultdict(list)
        for feature in self.features:
            grouped[feature["example_index"]].append(feature)
        return grouped

    def unique_ids(self) -> List[int]:
        return [feature["unique_id"] for feature in self.features]


def load_squad_features(path: str) -> SquadFeatureSet:
    """Reads ``<output_file>.meta.json`` written with SQuAD evaluation records."""
    with open(path, encoding="utf-8") as f:
        content = json.load(f)
    if content.get("format") != META_FORMAT:
        raise ValueError(f"{path} is not SQuAD feature metadata (format {content.get('format')!r}, "
                         f"expected {META_FORMAT!r})")
    return SquadFeatureSet(content["contexts"], content["examples"], content["features"])


def _softmax(scores: Sequence[float]) -> List[float]:
    if not scores:
        return []
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


def best_indexes(logits, n_best_size: int) -> List[int]:
    """The original ``_get_best_indexes``: positions of the largest logits, ties in position order."""
    ranked = sorted(enumerate(np.asarray(logits, dtype=np.float64).tolist()), key=lambda x: x[1], reverse=True)
    return [index for index, _ in ranked[:n_best_size]]


def _valid(feature: dict, start_index: int, end_index: int, max_answer_length: int, v2: bool) -> bool:
    offset = feature["doc_offset"]
    context_length = len(feature["tok_start_to_orig_index"])
    if start_index - offset >= context_length or end_index - offset >= context_length:
        return False
    if v2 and start_index - offset < 0:
        return False
    k = start_index - offset
    if k < 0 or not feature["token_is_max_context"][k]:
        return False
    if end_index < start_index or end_index - start_index + 1 > max_answer_length:
        return False
    return True


def _answer_text(feature_set: SquadFeatureSet, feature: dict, start: int, end: int) -> str:
    context = feature_set.context(feature["example_index"])
    first = feature["tok_start_to_orig_index"][start]
    last = feature["tok_end_to_orig_index"][end]
    return context[first: last + 1].strip()


def _nbest(feature_set, features, prelim, n_best_size, score_names, fallback):
    prelim.sort(key=lambda p: p[3] + p[4], reverse=True)
    seen = set()
    nbest = []
    for feature_index, start, end, start_score, end_score in prelim:
        if len(nbest) >= n_best_size:
            break
        text = _answer_text(feature_set, features[feature_index], start, end)
        if text in seen:
            continue
        seen.add(text)
        nbest.append((text, start_score, end_score))
    if not nbest:
        nbest.append(fallback)
    probabilities = _softmax([s + e for _, s, e in nbest])
    return [
        collections.OrderedDict(
            [("text", text), ("probability", p), (score_names[0], float(s)), (score_names[1], float(e))]
        )
        for (text, s, e), p in zip(nbest, probabilities)
    ]


def postprocess_v1(feature_set: SquadFeatureSet, results: Mapping[int, Tuple[Sequence[float], Sequence[float]]],
                   n_best_size: int = 20, max_answer_length: int = 30):
    """``(predictions, nbest)`` of ``run_squad_v1``: question id -> text, and -> n-best list.

    ``results`` maps a feature's ``unique_id`` to its ``(start_logits, end_logits)`` over the
    whole sequence. Features without a result are skipped.
    """
    predictions = collections.OrderedDict()
    nbest_json = collections.OrderedDict()
    by_example = feature_set.features_by_example()
    for example_index, example in enumerate(feature_set.examples):
        features = by_example.get(example_index, [])
        prelim = []
        for feature_index, feature in enumerate(features):
            if feature["unique_id"] not in results:
                continue
            start_logits, end_logits = (np.asarray(x, dtype=np.float64) for x in results[feature["unique_id"]])
            offset = feature["doc_offset"]
            ends = best_indexes(end_logits, n_best_size)
            for start_index in best_indexes(start_logits, n_best_size):
                for end_index in ends:
                    if not _valid(feature, start_index, end_index, max_answer_length, v2=False):
                        continue
                    prelim.append((feature_index, start_index - offset, end_index - offset,
                                   float(start_logits[start_index]), float(end_logits[end_index])))
        entries = _nbest(feature_set, features, prelim, n_best_size, ("start_log_prob", "end_log_prob"),
                         ("empty", 0.0, 0.0))
        predictions[example["qas_id"]] = entries[0]["text"]
        nbest_json[example["qas_id"]] = entries
    return predictions, nbest_json


def postprocess_v2(feature_set: SquadFeatureSet, results: Mapping[int, Mapping[str, Sequence[float]]],
                   n_best_size: int = 20, max_answer_length: int = 30, start_n_top: int = 5,
                   end_n_top: int = 5, null_score_diff_threshold: Optional[float] = None):
    """``(predictions, nbest, null_odds)`` of ``run_squad_v2``.

    ``results[unique_id]`` holds the v2 head's outputs for one feature: ``start_top_log_probs``,
    ``start_top_index`` (``[start_n_top]``), ``end_top_log_probs``, ``end_top_index``
    (``[start_n_top * end_n_top]``, start-major) and ``cls_logits`` (a scalar). ``null_odds`` maps a
    question id to its null score (minimum ``cls_logits`` over its windows). With
    ``null_score_diff_threshold`` None every question is answered (the original's first pass).
    """
    predictions = collections.OrderedDict()
    nbest_json = collections.OrderedDict()
    null_odds = collections.OrderedDict()
    by_example = feature_set.features_by_example()
    for example_index, example in enumerate(feature_set.examples):
        features = by_example.get(example_index, [])
        prelim = []
        score_null = 1000000.0
        for feature_index, feature in enumerate(features):
            if feature["unique_id"] not in results:
                continue
            result = results[feature["unique_id"]]
            score_null = min(score_null, float(np.asarray(result["cls_logits"]).reshape(())))
            offset = feature["doc_offset"]
            start_log_probs = np.asarray(result["start_top_log_probs"], dtype=np.float64).reshape(-1)
            start_index = np.asarray(result["start_top_index"]).reshape(-1)
            end_log_probs = np.asarray(result["end_top_log_probs"], dtype=np.float64).reshape(-1)
            end_index = np.asarray(result["end_top_index"]).reshape(-1)
            for i in range(start_n_top):
                for j in range(end_n_top):
                    s, e = int(start_index[i]), int(end_index[i * end_n_top + j])
                    if not _valid(feature, s, e, max_answer_length, v2=True):
                        continue
                    prelim.append((feature_index, s - offset, e - offset, float(start_log_probs[i]),
                                   float(end_log_probs[i * end_n_top + j])))
        entries = _nbest(feature_set, features, prelim, n_best_size, ("start_log_prob", "end_log_prob"),
                         ("", -1e6, -1e6))
        null_odds[example["qas_id"]] = score_null
        answer = entries[0]["text"]
        if null_score_diff_threshold is not None and score_null >= null_score_diff_threshold:
            answer = ""
        predictions[example["qas_id"]] = answer
        nbest_json[example["qas_id"]] = entries
    return predictions, nbest_json, null_odds


def gold_position_logits(feature_set: SquadFeatureSet, feature: dict, answer_start: int, answer_text: str,
                         sequence_length: int, high: float = 10.0) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """Start/end logits that point at a gold answer's pieces in one window (None if it is not inside).

    The pieces are those covering the answer's first and last character; used to check that
    post-processing recovers gold answers from features (an end-to-end test of alignment and
    offsets, independent of any model).
    """
    first, last = answer_start, answer_start + len(answer_text) - 1
    starts, ends = feature["tok_start_to_orig_index"], feature["tok_end_to_orig_index"]
    start = next((k for k in range(len(starts)) if starts[k] <= first <= ends[k]), None)
    end = next((k for k in range(len(starts)) if starts[k] <= last <= ends[k]), None)
    if start is None or end is None:
        return None
    start_logits = np.zeros(sequence_length, dtype=np.float32)
    end_logits = np.zeros(sequence_length, dtype=np.float32)
    start_logits[feature["doc_offset"] + start] = high
    end_logits[feature["doc_offset"] + end] = high
    return start_logits, end_logits


def write_predictions(output_dir: str, predictions: Mapping, nbest: Mapping,
                      null_odds: Optional[Mapping] = None) -> List[str]:
    """Writes ``predictions.json``, ``nbest_predictions.json`` and (v2) ``null_odds.json`` atomically."""
    os.makedirs(output_dir, exist_ok=True)
    files = [("predictions.json", predictions), ("nbest_predictions.json", nbest)]
    if null_odds is not None:
        files.append(("null_odds.json", null_odds))
    paths = []
    for name, content in files:
        path = os.path.join(output_dir, name)
        with open(path + ".incomplete", "w", encoding="utf-8") as f:
            f.write(json.dumps(content, indent=4) + "\n")
        os.replace(path + ".incomplete", path)
        paths.append(path)
    return paths
