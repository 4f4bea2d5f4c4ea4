"""SQuAD v1.1 / v2.0 features: the original ``squad_utils.py`` (spec §7.8), SentencePiece-aware.

Per question, as the original ``convert_examples_to_features``:

1. query ids = ``encode_ids(preprocess_text(question))`` cut to ``max_query_length``;
   paragraph pieces = ``encode_pieces(preprocess_text(context))``;
2. the pieces' text (``▁`` read as a space) is aligned to the *original* context, character by
   character, with the original's banded longest-common-subsequence (a character matches when its
   ``preprocess_text(..., remove_space=False)`` equals the piece character; band ``|n - m| + 5``,
   doubled once if the score stays at or below ``0.8 n``); an example whose alignment fails is
   dropped, as the original's "MISMATCH DETECTED";
3. each piece gets the original character offsets of its first and last character (nearest aligned
   neighbour rules of ``_convert_index``), which is what post-processing needs to cut answers from
   the original text;
4. windows of at most ``max_seq_length - len(query) - 3`` pieces every ``doc_stride`` pieces;
   ``[CLS] query [SEP] window [SEP]``, segment 0 then 1; ``p_mask`` 0 only on ``[CLS]`` and the
   window's pieces (1 on the query, the separators and padding: ``albert_tf.data.schemas.squad_p_mask``,
   the rule the served model uses too); the "max context" flag per piece;
5. training targets: the answer's pieces inside the window give ``start/end = index - window start +
   len(query) + 2``; windows without the whole answer, and impossible (v2) questions, get 0/0 and
   ``is_impossible`` 1 and are *kept* (unlike BERT);
6. ``unique_ids`` count from 1,000,000,000 over every window in order (the job assigns them).

The alignment of a paragraph does not depend on the question, so it is computed once per paragraph
(the original redid it for every question; the features are the same). Training examples are
shuffled before conversion with ``random.Random(12345)``, as the original runner did.

Bad input raises :class:`SquadDataError` naming the file and the question (``data[i].paragraphs[j]
.qas[k]``, id): a training question without exactly one answer, an answer whose offsets fall outside
its context, a file without questions.

Example (the alignment of a context whose pieces lost its accents and extra spaces):

>>> orig_to_chartok, chartok_to_orig = lcs_align("Café  au lait", " cafe au lait", lower=True)
>>> orig_to_chartok[:7], chartok_to_orig[:7]
([1, 2, 3, 4, 5, None, 6], [None, 0, 1, 2, 3, 4, 6])
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from albert_tf.errors import UserInputError
from albert_tf.data.schemas import squad_p_mask
from albert_tf.text.tokenizer import SPIECE_UNDERLINE, preprocess_text

UNIQUE_ID_BASE = 1000000000
TRAIN_SHUFFLE_SEED = 12345


class SquadDataError(UserInputError):
    """A SQuAD file that cannot be converted; the message names the file and the question."""


@dataclasses.dataclass
class SquadExample:
    """One question; ``start_position`` is a character offset into ``paragraph_text`` (training)."""

    qas_id: str
    question_text: str
    paragraph_text: str
    orig_answer_text: Optional[str] = None
    start_position: Optional[int] = None
    is_impossible: bool = False
    answers: Tuple[str, ...] = ()
    answer_starts: Tuple[int, ...] = ()
    where: str = ""


def _load_json(path: str):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--input_file={path}: no such SQuAD JSON file")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if not text.strip():
        raise SquadDataError(f"{path} is empty; expected SQuAD JSON with a 'data' list")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise SquadDataError(f"{path}, line {err.lineno}: not valid JSON ({err.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise SquadDataError(f"{path}: expected a JSON object with a 'data' list (the SQuAD layout)")
    return data["data"]


def read_squad_examples(path: str, is_training: bool) -> List[SquadExample]:
    """Questions in file order, as the original ``read_squad_examples``.

    Training questions must have exactly one answer unless ``is_impossible`` (v2); impossible
    questions get start -1 and empty text. Evaluation examples keep every gold answer (for scoring)
    but carry no position.
    """
    examples = []
    for i, entry in enumerate(_load_json(path)):
        for j, paragraph in enumerate(entry.get("paragraphs", ())):
            try:
                context = paragraph["context"]
                qas = paragraph["qas"]
            except (KeyError, TypeError):
                raise SquadDataError(
                    f"{path}: data[{i}].paragraphs[{j}] needs 'context' and 'qas'"
                ) from None
            for k, qa in enumerate(qas):
                where = f"{path}: data[{i}].paragraphs[{j}].qas[{k}]"
                try:
                    qas_id, question = qa["id"], qa["question"]
                except (KeyError, TypeError):
                    raise SquadDataError(f"{where} needs 'id' and 'question'") from None
                where += f" (id {qas_id})"
                answers = qa.get("answers") or []
                texts, starts = [], []
                for answer in answers:
                    text, start = answer.get("text"), answer.get("answer_start")
                    if not isinstance(text, str) or not isinstance(start, int):
                        raise SquadDataError(f"{where}: each answer needs a 'text' and an integer 'answer_start'")
                    if start < 0 or start + len(text) > len(context):
                        raise SquadDataError(
                            f"{where}: answer {text!r} at offset {start} falls outside its context "
                            f"({len(context)} characters)"
                        )
                    texts.append(text)
                    starts.append(start)
                is_impossible = bool(qa.get("is_impossible", False))
                example = SquadExample(
                    qas_id=qas_id, question_text=question, paragraph_text=context,
                    is_impossible=is_impossible, answers=tuple(texts), answer_starts=tuple(starts), where=where,
                )
                if is_training:
                    if len(texts) != 1 and not is_impossible:
                        raise SquadDataError(
                            f"{where}: a training question needs exactly 1 answer (it has {len(texts)}); "
                            "mark unanswerable v2 questions with \"is_impossible\": true"
                        )
                    if is_impossible:
                        example.start_position, example.orig_answer_text = -1, ""
                    else:
                        example.start_position, example.orig_answer_text = starts[0], texts[0]
                examples.append(example)
    if not examples:
        raise SquadDataError(f"{path} has no questions; expected data[].paragraphs[].qas[]")
    return examples


def shuffle_training_examples(examples: List[SquadExample], seed: int = TRAIN_SHUFFLE_SEED) -> List[SquadExample]:
    """The original runner's pre-shuffle: ``random.Random(12345).shuffle(train_examples)``."""
    examples = list(examples)
    random.Random(seed).shuffle(examples)
    return examples


# ----------------------------------------------------------------------------------------------
# Character alignment


def lcs_align(orig_text: str, tok_cat_text: str, lower: bool) -> Tuple[List[Optional[int]], List[Optional[int]]]:
    """``(orig_to_chartok, chartok_to_orig)``: the original's banded LCS between the context and
    the pieces' concatenated text, and its back-tracking. Unaligned positions are None."""
    return _align(orig_text, tok_cat_text, lower)[:2]


def _lcs(orig_chars: Sequence[str], tok: str, max_dist: int):
    # Rows hold only the band j in [i - max_dist, i + max_dist); cells outside read as 0, like
    # the original's zero-filled matrix. Pointers: -1 none, 0 up, 1 left, 2 match.
    n, m = len(orig_chars), len(tok)
    scores: List[List[float]] = []
    pointers: List[List[int]] = []
    lows: List[int] = []
    prev, prev_low = None, 0
    for i in range(n):
        low = max(0, i - max_dist)
        high = min(m, i + max_dist)
        row = [0] * max(0, high - low)
        ptr = [-1] * len(row)
        char = orig_chars[i]
        for j in range(low, high):
            k = j - low
            value = 0
            pointer = -1
            if i > 0:
                pj = j - prev_low
                value = prev[pj] if 0 <= pj < len(prev) else 0
                pointer = 0
            if j > 0:
                left = row[k - 1] if k > 0 else 0
                if left > value:
                    value, pointer = left, 1
            if char == tok[j]:
                diag = 0
                if i > 0 and j > 0:
                    pj = j - 1 - prev_low
                    diag = prev[pj] if 0 <= pj < len(prev) else 0
                if diag + 1 > value:
                    value, pointer = diag + 1, 2
            row[k] = value
            ptr[k] = pointer
        scores.append(row)
        pointers.append(ptr)
        lows.append(low)
        prev, prev_low = row, low
    return scores, pointers, lows


def _cell(table, lows, i, j):
    k = j - lows[i]
    row = table[i]
    return row[k] if 0 <= k < len(row) else None


def _align(orig_text: str, tok_cat_text: str, lower: bool):
    n, m = len(orig_text), len(tok_cat_text)
    orig_chars = [preprocess_text(c, lower=lower, remove_space=False) for c in orig_text]
    max_dist = abs(n - m) + 5
    score = 0
    for _ in range(2):
        scores, pointers, lows = _lcs(orig_chars, tok_cat_text, max_dist)
        score = (_cell(scores, lows, n - 1, m - 1) or 0) if n and m else 0
        if score > 0.8 * n:
            break
        max_dist *= 2
    orig_to_chartok: List[Optional[int]] = [None] * n
    chartok_to_orig: List[Optional[int]] = [None] * m
    i, j = n - 1, m - 1
    while i >= 0 and j >= 0:
        pointer = _cell(pointers, lows, i, j)
        if pointer is None or pointer < 0:
            break
        if pointer == 2:
            orig_to_chartok[i] = j
            chartok_to_orig[j] = i
            i, j = i - 1, j - 1
        elif pointer == 1:
            j -= 1
        else:
            i -= 1
    return orig_to_chartok, chartok_to_orig, score


def convert_index(index: Sequence[Optional[int]], pos: int, m: Optional[int] = None, is_start: bool = True) -> int:
    """The original ``_convert_index``: ``index[pos]``, or a nearest aligned neighbour's value."""
    if index[pos] is not None:
        return index[pos]
    n = len(index)
    rear = pos
    while rear < n - 1 and index[rear] is None:
        rear += 1
    front = pos
    while front > 0 and index[front] is None:
        front -= 1
    if index[front] is None:
        if index[rear] >= 1:
            return 0 if is_start else index[rear] - 1
        return index[rear]
    if index[rear] is None:
        if m is not None and index[front] < m - 1:
            return index[front] + 1 if is_start else m - 1
        return index[front]
    if is_start:
        return index[front] + 1 if index[rear] > index[front] + 1 else index[rear]
    return index[rear] - 1 if index[rear] > index[front] + 1 else index[front]


@dataclasses.dataclass
class ParagraphAlignment:
    """A paragraph's pieces, their ids and their original character spans."""

    pieces: List[str]
    ids: List[int]
    tok_start_to_orig_index: List[int]
    tok_end_to_orig_index: List[int]
    orig_to_chartok_index: List[Optional[int]]
    chartok_to_tok_index: List[int]


def align_paragraph(paragraph_text: str, tokenizer) -> Optional[ParagraphAlignment]:
    """Pieces of a context and their character offsets in it, or None when the alignment fails."""
    pieces = tokenizer.tokenize(paragraph_text)
    chartok_to_tok_index: List[int] = []
    tok_start_to_chartok_index, tok_end_to_chartok_index = [], []
    char_count = 0
    for i, piece in enumerate(pieces):
        text = piece.replace(SPIECE_UNDERLINE, " ")
        chartok_to_tok_index.extend([i] * len(text))
        tok_start_to_chartok_index.append(char_count)
        char_count += len(text)
        tok_end_to_chartok_index.append(char_count - 1)
    tok_cat_text = "".join(pieces).replace(SPIECE_UNDERLINE, " ")
    n = len(paragraph_text)
    orig_to_chartok, chartok_to_orig, score = _align(paragraph_text, tok_cat_text, tokenizer.do_lower_case)
    if all(v is None for v in orig_to_chartok) or score < 0.8 * n:
        return None
    starts = [convert_index(chartok_to_orig, p, n, is_start=True) for p in tok_start_to_chartok_index]
    ends = [convert_index(chartok_to_orig, p, n, is_start=False) for p in tok_end_to_chartok_index]
    return ParagraphAlignment(
        pieces=pieces,
        ids=tokenizer.convert_tokens_to_ids(pieces),
        tok_start_to_orig_index=starts,
        tok_end_to_orig_index=ends,
        orig_to_chartok_index=orig_to_chartok,
        chartok_to_tok_index=chartok_to_tok_index,
    )


def answer_token_span(alignment: ParagraphAlignment, start_position: int, answer_text: str) -> Tuple[int, int]:
    """Piece indices of an answer given by its character offset (the original's training targets)."""
    end_position = start_position + len(answer_text) - 1
    start_chartok = convert_index(alignment.orig_to_chartok_index, start_position, is_start=True)
    end_chartok = convert_index(alignment.orig_to_chartok_index, end_position, is_start=False)
    return alignment.chartok_to_tok_index[start_chartok], alignment.chartok_to_tok_index[end_chartok]


# ----------------------------------------------------------------------------------------------
# Windows and features


def doc_spans(num_tokens: int, max_tokens_for_doc: int, doc_stride: int) -> List[Tuple[int, int]]:
    """``(start, length)`` windows: at most ``max_tokens_for_doc`` pieces, advancing by
    ``min(length, doc_stride)``, ending with the first window that reaches the end.

    Example:

    >>> doc_spans(10, 4, 3)
    [(0, 4), (3, 4), (6, 4)]
    """
    spans = []
    start = 0
    while start < num_tokens:
        length = min(num_tokens - start, max_tokens_for_doc)
        spans.append((start, length))
        if start + length == num_tokens:
            break
        start += min(length, doc_stride)
    return spans


def is_max_context(spans: Sequence[Tuple[int, int]], span_index: int, position: int) -> bool:
    """Whether window ``span_index`` gives piece ``position`` the most context (the original's
    ``_check_is_max_context``: min(left, right) + 0.01 * window length, first window on ties)."""
    best_score, best_index = None, None
    for index, (start, length) in enumerate(spans):
        end = start + length - 1
        if position < start or position > end:
            continue
        score = min(position - start, end - position) + 0.01 * length
        if best_score is None or score > best_score:
            best_score, best_index = score, index
    return span_index == best_index


def max_context_windows(spans: Sequence[Tuple[int, int]], num_tokens: int) -> np.ndarray:
    """For every piece, the window :func:`is_max_context` picks (-1 for pieces in none)."""
    best_score = np.full(num_tokens, -np.inf)
    best_index = np.full(num_tokens, -1, dtype=np.int64)
    positions = np.arange(num_tokens)
    for index, (start, length) in enumerate(spans):
        end = start + length - 1
        inside = (positions >= start) & (positions <= end)
        score = np.minimum(positions - start, end - positions) + 0.01 * length
        better = inside & (score > best_score)  # strictly greater: the first window wins ties
        best_score[better] = score[better]
        best_index[better] = index
    return best_index


@dataclasses.dataclass
class SquadFeature:
    """One window of one question: the record's values and the post-processing metadata."""

    example_index: int
    doc_span_index: int
    input_ids: List[int]
    input_mask: List[int]
    segment_ids: List[int]
    p_mask: List[int]
    tokens: List[str]
    doc_offset: int
    tok_start_to_orig_index: List[int]
    tok_end_to_orig_index: List[int]
    token_is_max_context: List[int]
    start_position: int = 0
    end_position: int = 0
    is_impossible: int = 0
    unique_id: int = -1


def convert_example(example: SquadExample, example_index: int, alignment: ParagraphAlignment, tokenizer,
                    max_seq_length: int, doc_stride: int, max_query_length: int,
                    is_training: bool) -> List[SquadFeature]:
    """The windows of one question (``alignment`` is its paragraph's, from :func:`align_paragraph`)."""
    query_ids = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(example.question_text))[:max_query_length]
    tok_start = tok_end = None
    if is_training:
        if example.is_impossible:
            tok_start = tok_end = 0
        else:
            tok_start, tok_end = answer_token_span(alignment, example.start_position, example.orig_answer_text)
            if tok_start > tok_end:  # the original asserted this
                raise SquadDataError(
                    f"{example.where}: the answer {example.orig_answer_text!r} maps to pieces {tok_start}..{tok_end} "
                    "(start after end); is its answer_start right?"
                )
    max_tokens_for_doc = max_seq_length - len(query_ids) - 3
    spans = doc_spans(len(alignment.ids), max_tokens_for_doc, doc_stride)
    cls_id, sep_id = tokenizer.cls_id, tokenizer.sep_id
    best_window = max_context_windows(spans, len(alignment.ids))
    pieces = tokenizer.inv_vocab
    features = []
    for span_index, (start, length) in enumerate(spans):
        ids = [cls_id] + query_ids + [sep_id]
        segment_ids = [0] * len(ids)
        doc_offset = len(ids)
        window = range(start, start + length)
        ids += [alignment.ids[t] for t in window] + [sep_id]
        segment_ids += [1] * (length + 1)
        input_mask = [1] * len(ids)
        padding = max_seq_length - len(ids)
        tokens = [pieces[i] for i in ids]
        ids += [0] * padding
        input_mask += [0] * padding
        segment_ids += [0] * padding
        feature = SquadFeature(
            example_index=example_index,
            doc_span_index=span_index,
            input_ids=ids,
            input_mask=input_mask,
            segment_ids=segment_ids,
            p_mask=squad_p_mask(input_mask, segment_ids).astype(int).tolist(),
            tokens=tokens,
            doc_offset=doc_offset,
            tok_start_to_orig_index=[alignment.tok_start_to_orig_index[t] for t in window],
            tok_end_to_orig_index=[alignment.tok_end_to_orig_index[t] for t in window],
            token_is_max_context=(best_window[start: start + length] == span_index).astype(int).tolist(),
        )
        if is_training:
            impossible = bool(example.is_impossible)
            if not impossible and start <= tok_start and tok_end <= start + length - 1:
                feature.start_position = tok_start - start + len(query_ids) + 2
                feature.end_position = tok_end - start + len(query_ids) + 2
            else:
                impossible = True
            feature.is_impossible = int(impossible)
        features.append(feature)
    return features


class ParagraphCache:
    """Alignments of recently seen paragraphs (questions of one paragraph are usually adjacent)."""

    def __init__(self, tokenizer, size: int = 64):
        self.tokenizer, self.size = tokenizer, size
        self._items: Dict[str, Optional[ParagraphAlignment]] = {}

    def get(self, paragraph_text: str) -> Optional[ParagraphAlignment]:
        if paragraph_text in self._items:
            value = self._items.pop(paragraph_text)
        else:
            value = align_paragraph(paragraph_text, self.tokenizer)
        self._items[paragraph_text] = value
        if len(self._items) > self.size:
            self._items.pop(next(iter(self._items)))
        return value


def convert_examples(examples: Sequence[SquadExample], first_index: int, tokenizer, max_seq_length: int,
                     doc_stride: int, max_query_length: int, is_training: bool,
                     cache: Optional[ParagraphCache] = None) -> Tuple[List[SquadFeature], dict]:
    """Features of consecutive examples (``first_index`` is the first one's example index)."""
    cache = cache or ParagraphCache(tokenizer)
    features: List[SquadFeature] = []
    stats = {"examples": len(examples), "features": 0, "truncated": 0, "alignment_failures": 0,
             "impossible_features": 0, "dropped_qas_ids": []}
    for offset, example in enumerate(examples):
        alignment = cache.get(example.paragraph_text)
        if alignment is None:
            stats["alignment_failures"] += 1
            stats["dropped_qas_ids"].append(example.qas_id)
            continue
        windows = convert_example(
            example, first_index + offset, alignment, tokenizer, max_seq_length, doc_stride,
            max_query_length, is_training,
        )
        stats["truncated"] += len(windows) > 1
        stats["impossible_features"] += sum(f.is_impossible for f in windows)
        features.extend(windows)
    stats["features"] = len(features)
    return features, stats


def feature_arrays(features: Sequence[SquadFeature], is_training: bool) -> Dict[str, np.ndarray]:
    """Record values keyed by feature name (``unique_ids`` must have been assigned)."""
    arrays = {
        "unique_ids": np.asarray([f.unique_id for f in features], dtype=np.int64).reshape(-1, 1),
        "input_ids": np.asarray([f.input_ids for f in features], dtype=np.int64),
        "input_mask": np.asarray([f.input_mask for f in features], dtype=np.int64),
        "segment_ids": np.asarray([f.segment_ids for f in features], dtype=np.int64),
        "p_mask": np.asarray([f.p_mask for f in features], dtype=np.int64),
    }
    if is_training:
        for name, attr in (("start_positions", "start_position"), ("end_positions", "end_position"),
                           ("is_impossible", "is_impossible")):
            arrays[name] = np.asarray([getattr(f, attr) for f in features], dtype=np.int64).reshape(-1, 1)
    return arrays


def feature_metadata(feature: SquadFeature) -> dict:
    """What post-processing needs of a feature (see :mod:`albert_tf.tasks.squad`)."""
    return {
        "unique_id": feature.unique_id,
        "example_index": feature.example_index,
        "doc_span_index": feature.doc_span_index,
        "tokens": feature.tokens,
        "doc_offset": feature.doc_offset,
        "tok_start_to_orig_index": feature.tok_start_to_orig_index,
        "tok_end_to_orig_index": feature.tok_end_to_orig_index,
        "token_is_max_context": feature.token_is_max_context,
    }
