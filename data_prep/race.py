"""RACE multiple-choice features: the original ``race_utils.py`` (spec §7.9).

Reading: ``<data_dir>/RACE/<split>/{middle,high}/`` (or ``<data_dir>/<split>/...`` when ``data_dir`` is
the ``RACE`` folder itself), middle first. Each level folder is read from the
original's concatenated ``all.txt`` (one JSON article per line) when it has one, otherwise from the
official per-article files ``<n>.txt`` (one JSON article each) in name order. ``--high_only`` /
``--middle_only`` keep one level, as the original flags. Every question becomes one example whose
label is its answer letter minus "A"; for each of the four options the text is the question with
every "_" replaced by the option when the question has a blank, else question + " " + option
(article, question and options pre-processed first, as the original).

Features per option: the **last** ``max_qa_length`` pieces of the question+option; the article cut to
its **first** ``max_seq_length - 3 - len(qa)`` pieces when needed; ``[CLS] article [SEP] qa [SEP]``,
segments 0 then 1, zero padding. The four sequences are concatenated into ``4 * max_seq_length``
values per feature.

Bad input raises :class:`RaceDataError` naming the file and line: a question with other than four
options, an answer that is not a letter of an option, missing keys, an empty file.

Example:

>>> fill_blank("the sky is _ .", "blue"), fill_blank("what is it ?", "a cat")
('the sky is blue .', 'what is it ? a cat')
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Dict, List, Sequence, Tuple

import numpy as np

from albert_tf.errors import UserInputError
from albert_tf.text.tokenizer import preprocess_text

LEVELS = ("middle", "high")
NUM_CHOICES = 4


class RaceDataError(UserInputError):
    """A RACE file that cannot be read as the original expects; names the file and line."""


@dataclasses.dataclass
class RaceExample:
    """One question: the article, the four question+option texts, the label (0-3) and its level."""

    example_id: str
    context: str
    endings: Tuple[str, ...]
    label: int
    level: str
    source: str = ""
    line: int = 0


def fill_blank(question: str, option: str) -> str:
    """The original's question+option text: fill every "_" with the option, else append it."""
    return question.replace("_", option) if "_" in question else " ".join([question, option])


def level_files(data_dir: str, split: str, levels: Sequence[str] = LEVELS) -> List[str]:
    """The files of a split, middle before high: ``all.txt`` or the articles in name order."""
    split_dir = os.path.join(data_dir, "RACE", split)
    if not os.path.isdir(split_dir) and os.path.isdir(os.path.join(data_dir, split)):
        split_dir = os.path.join(data_dir, split)  # --data_dir is the RACE folder itself
    if not os.path.isdir(split_dir):
        raise FileNotFoundError(f"--data_dir={data_dir}: no folder RACE/{split} (expected RACE/{split}/middle, high)")
    files = []
    for level in levels:
        folder = os.path.join(split_dir, level)
        if not os.path.isdir(folder):
            continue
        concatenated = os.path.join(folder, "all.txt")
        if os.path.isfile(concatenated):
            files.append(concatenated)
            continue
        files.extend(os.path.join(folder, name) for name in sorted(os.listdir(folder)) if name.endswith(".txt"))
    if not files:
        raise RaceDataError(f"{split_dir} has no RACE files (expected {'/'.join(levels)}/all.txt or <n>.txt)")
    return files


def _parse_article(raw: str, path: str, line: int, lower: bool) -> List[RaceExample]:
    where = f"{path}, line {line}"
    try:
        article = json.loads(raw)
    except json.JSONDecodeError as err:
        raise RaceDataError(f"{where}: not valid JSON ({err.msg})") from None
    try:
        answers, options, questions = article["answers"], article["options"], article["questions"]
        context = preprocess_text(article["article"], lower=lower)
        example_id = article.get("id", os.path.basename(path))
    except (KeyError, TypeError):
        raise RaceDataError(f"{where}: expected an object with article, questions, options, answers") from None
    if not (len(answers) == len(options) == len(questions)):
        raise RaceDataError(
            f"{where}: {len(questions)} questions, {len(options)} option lists and {len(answers)} answers; "
            "expected as many of each"
        )
    level = os.path.basename(os.path.dirname(path))
    examples = []
    for q, (answer, choices, question) in enumerate(zip(answers, options, questions)):
        if len(choices) != NUM_CHOICES:
            raise RaceDataError(
                f"{where}: question {q} has {len(choices)} options; RACE questions have exactly {NUM_CHOICES}"
            )
        label = ord(answer) - ord("A") if isinstance(answer, str) and len(answer) == 1 else -1
        if not 0 <= label < NUM_CHOICES:
            raise RaceDataError(f"{where}: question {q} has answer {answer!r}; expected one of A, B, C, D")
        question = preprocess_text(question, lower=lower)
        endings = tuple(fill_blank(question, preprocess_text(option, lower=lower)) for option in choices)
        examples.append(RaceExample(str(example_id), context, endings, label, level, path, line))
    return examples


def read_examples(data_dir: str, split: str, do_lower_case: bool = True, high_only: bool = False,
                  middle_only: bool = False) -> List[RaceExample]:
    """The questions of a split in the original's order (middle, then high; file then line order)."""
    if high_only and middle_only:
        raise RaceDataError("--high_only and --middle_only exclude each other")
    levels = ("high",) if high_only else ("middle",) if middle_only else LEVELS
    examples = []
    for path in level_files(data_dir, split, levels):
        found = False
        with open(path, encoding="utf-8-sig") as f:
            for line, raw in enumerate(f, start=1):
                if not raw.strip():
                    continue
                found = True
                examples.extend(_parse_article(raw, path, line, do_lower_case))
        if not found:
            raise RaceDataError(f"{path} is empty; expected one JSON article per line")
    return examples


def convert_examples(examples: Sequence[RaceExample], tokenizer, max_seq_length: int,
                     max_qa_length: int) -> Tuple[Dict[str, np.ndarray], dict]:
    """Features as arrays ``[len(examples), 4 * max_seq_length]`` keyed by feature name, and counters."""
    if max_qa_length < 1:
        raise RaceDataError(f"--max_qa_length must be positive; got {max_qa_length}")
    contexts = tokenizer.tokenize_batch([e.context for e in examples], preprocess=False)
    endings = tokenizer.tokenize_batch([t for e in examples for t in e.endings], preprocess=False)
    length = NUM_CHOICES * max_seq_length
    ids = np.zeros((len(examples), length), dtype=np.int64)
    mask = np.zeros_like(ids)
    segments = np.zeros_like(ids)
    truncated = 0
    cls_id, sep_id = tokenizer.cls_id, tokenizer.sep_id
    for e, example in enumerate(examples):
        context_ids = tokenizer.convert_tokens_to_ids(contexts[e])
        cut = False
        for c in range(NUM_CHOICES):
            qa_ids = tokenizer.convert_tokens_to_ids(endings[e * NUM_CHOICES + c])
            if len(qa_ids) > max_qa_length:
                qa_ids, cut = qa_ids[-max_qa_length:], True
            if len(qa_ids) > max_seq_length - 3:  # the original's length assertion would fail
                raise RaceDataError(
                    f"{example.source}, line {example.line}: question+option {c} has {len(qa_ids)} pieces, "
                    f"more than --max_seq_length - 3 = {max_seq_length - 3}; lower --max_qa_length"
                )
            article = context_ids
            if len(article) + len(qa_ids) > max_seq_length - 3:
                article, cut = article[: max_seq_length - 3 - len(qa_ids)], True
            row = [cls_id] + article + [sep_id] + qa_ids + [sep_id]
            offset = c * max_seq_length
            ids[e, offset: offset + len(row)] = row
            mask[e, offset: offset + len(row)] = 1
            segments[e, offset + len(article) + 2: offset + len(row)] = 1
        truncated += cut
    features = {
        "input_ids": ids,
        "input_mask": mask,
        "segment_ids": segments,
        "label_ids": np.asarray([e.label for e in examples], dtype=np.int64).reshape(-1, 1),
        "is_real_example": np.ones((len(examples), 1), dtype=np.int64),
    }
    return features, {"examples": len(examples), "features": len(examples), "truncated": truncated}


def padding_features(count: int, max_seq_length: int) -> Dict[str, np.ndarray]:
    """``count`` all-zero padding examples (``is_real_example`` 0), as the original on TPU."""
    zeros = np.zeros((count, NUM_CHOICES * max_seq_length), dtype=np.int64)
    return {
        "input_ids": zeros, "input_mask": zeros, "segment_ids": zeros,
        "label_ids": np.zeros((count, 1), dtype=np.int64),
        "is_real_example": np.zeros((count, 1), dtype=np.int64),
    }
