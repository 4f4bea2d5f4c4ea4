"""GLUE processors and feature conversion: the original ``classifier_utils.py`` (spec §7.2, §7.3).

Reading follows the original exactly: tab-separated files read with the ``csv`` module and **no
quote character** (quotes stay in the text), the header row skipped where the original skips it
(CoLA has one only in its test file), the original's columns per task and split, the test set's
placeholder label, QQP train/dev rows with missing columns skipped, and every field (guid, texts,
label) passed through ``preprocess_text(lower=do_lower_case)``. A UTF-8 byte-order mark at the start
of a file is dropped (MRPC's files carry one; the original kept it in the header it skipped).

Beyond the original: a missing column, a label outside the task's label list, an unparsable STS-B
score or a file without examples raise :class:`GlueDataError` naming the file and line (the
original crashed with an ``IndexError``/``KeyError`` or wrote an empty file). ``--data_dir`` may be
the task's folder (``glue_data/SST-2``) or, as the original, the folder holding it (``glue_data``).

Feature conversion (:func:`convert_examples`): pieces of ``text_a`` and, when ``text_b`` is a
non-empty string, of ``text_b``; a pair is cut with ``_truncate_seq_pair`` to ``max_seq_length - 3``
(the longer side loses its last piece, ``b`` on ties), a single text to its first
``max_seq_length - 2`` pieces; ``[CLS] a [SEP] b [SEP]`` with segment ids 0 then 1; zero padding;
``label_ids`` the label's index (the float score for STS-B); ``is_real_example`` 1, or 0 for the
all-zero padding examples the original appended on TPU (:func:`padding_features`).

Example:

>>> import os, tempfile
>>> folder = os.path.join(tempfile.mkdtemp(), "SST-2")
>>> os.makedirs(folder)
>>> with open(os.path.join(folder, "dev.tsv"), "w") as f:
...     _ = f.write("sentence\\tlabel\\nIt 's  a \\"Charming\\" film .\\t1\\n")
>>> [(e.guid, e.text_a, e.label) for e in read_examples("sst-2", folder, "dev")]
[('dev-1', 'it \\'s a "charming" film .', '1')]
"""

from __future__ import annotations

import csv
import dataclasses
import os
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from albert_tf.data.schemas import finetuning_schema
from albert_tf.errors import UserInputError
from albert_tf.tasks.glue import GLUE_TASKS, GlueTask, glue_task
from albert_tf.text.tokenizer import preprocess_text, truncate_seq_pair

SPLITS = ("train", "dev", "test")


class GlueDataError(UserInputError):
    """A GLUE file that cannot be read as the task expects; the message names the file and line."""


@dataclasses.dataclass
class InputExample:
    """One GLUE example, pre-processed as the original's processors did; ``line`` is 1-based."""

    guid: str
    text_a: str
    text_b: Optional[str]
    label: object
    source: str = ""
    line: int = 0


class _Row:
    """A TSV row whose missing columns raise an error naming the file and line."""

    def __init__(self, fields: List[str], path: str, line: int, lower: bool):
        self.fields, self.path, self.line, self.lower = fields, path, line, lower

    def raw(self, index: int) -> str:
        try:
            return self.fields[index]
        except IndexError:
            raise GlueDataError(
                f"{self.path}, line {self.line}: expected a column {index if index >= 0 else 'at the end'} "
                f"(0-based) but the row has {len(self.fields)} tab-separated field(s)"
            ) from None

    def text(self, index: int) -> str:
        return preprocess_text(self.raw(index), lower=self.lower)


# Per task: (row, set_type, i) -> (guid, text_a, text_b, label); i is the row index in the file.
_Parse = Callable[[_Row, str, int], Tuple[str, str, Optional[str], object]]


def _mnli(row, set_type, i):
    label = "contradiction" if set_type == "test" else row.text(-1)
    return row.text(0), row.text(8), row.text(9), label


def _mrpc(row, set_type, i):
    if set_type == "test":
        return row.text(0), row.text(3), row.text(4), "0"
    return f"{set_type}-{i}", row.text(3), row.text(4), row.text(0)


def _cola(row, set_type, i):
    if set_type == "test":
        return row.text(0), row.text(1), None, "0"
    return f"{set_type}-{i}", row.text(3), None, row.text(1)


def _sst(row, set_type, i):
    if set_type == "test":
        return row.text(0), row.text(1), None, "0"
    return f"{set_type}-{i}", row.text(0), None, row.text(1)


def _stsb(row, set_type, i):
    if set_type == "test":
        return row.text(0), row.text(7), row.text(8), 0.0
    score = row.raw(-1)
    try:
        label = float(score)
    except ValueError:
        raise GlueDataError(
            f"{row.path}, line {row.line}: the STS-B score (last column) must be a number; got {score!r}"
        ) from None
    return row.text(0), row.text(7), row.text(8), label


def _qqp(row, set_type, i):
    if set_type == "test":
        return row.raw(0), row.text(1), row.text(2), "0"
    return row.raw(0), row.text(3), row.text(4), row.text(5)


def _sentence_pair(test_label):
    def parse(row, set_type, i):
        label = test_label if set_type == "test" else row.text(-1)
        return row.text(0), row.text(1), row.text(2), label

    return parse


def _ax(row, set_type, i):
    return row.text(0), row.text(1), row.text(2), "contradiction"


_PARSERS: Dict[str, _Parse] = {
    "mnli": _mnli,
    "mismnli": _mnli,
    "mrpc": _mrpc,
    "cola": _cola,
    "sst-2": _sst,
    "sts-b": _stsb,
    "qqp": _qqp,
    "qnli": _sentence_pair("entailment"),
    "rte": _sentence_pair("entailment"),
    "wnli": _sentence_pair("0"),
    "ax": _ax,
}


#: Tasks whose examples are one text (``text_b`` is None in their parsers above); every other is a pair.
SINGLE_TEXT_TASKS = frozenset({"cola", "sst-2"})


def task_file(task: GlueTask, data_dir: str, split: str) -> str:
    """The file of a split: ``<data_dir>/<file>`` or, as the original, ``<data_dir>/<TASK>/<file>``."""
    if split not in task.files:
        raise GlueDataError(
            f"--split={split}: task {task.name} has only the split(s) {sorted(task.files)}"
        )
    name = task.files[split]
    candidates = [os.path.join(data_dir, name), os.path.join(data_dir, task.directory, name)]
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"--data_dir={data_dir}: no {name} for task {task.name} (looked for {' and '.join(candidates)})"
    )


def read_tsv(path: str) -> Iterable[Tuple[int, List[str]]]:
    """``(line number, fields)`` of a TSV as the original read it: tabs, no quote character.

    A file that is not UTF-8 text raises `GlueDataError` naming the file, the line and the byte.
    """
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f, delimiter="\t", quotechar=None)
            for fields in reader:
                yield reader.line_num, fields
    except UnicodeDecodeError:
        raise GlueDataError(_not_utf8(path)) from None


def _not_utf8(path: str) -> str:
    # The decoder reads ahead in blocks, so the line is found again in the bytes.
    with open(path, "rb") as f:
        data = f.read()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        return (f"{path}, line {line}: not UTF-8 text (byte 0x{data[error.start]:02x} at column {column}); "
                "expected a UTF-8 TSV file (is it a binary file, or text in another encoding?)")
    return f"{path}: not UTF-8 text; expected a UTF-8 TSV file"


def _skips_header(task: GlueTask, split: str) -> bool:
    return task.name != "cola" or split == "test"


def read_examples(task_name: str, data_dir: str, split: str, do_lower_case: bool = True,
                  path: Optional[str] = None) -> List[InputExample]:
    """The examples of one split, in file order, exactly as the original processor made them.

    ``path`` overrides the file (its rows are still read as ``split`` rows).
    """
    task = glue_task(task_name)
    if split not in SPLITS:
        raise GlueDataError(f"--split must be one of {SPLITS}; got {split!r}")
    path = path or task_file(task, data_dir, split)
    parse = _PARSERS[task.name]
    label_index = None if task.is_regression else {label: i for i, label in enumerate(task.labels)}
    examples = []
    rows = 0
    for i, (line, fields) in enumerate(read_tsv(path)):
        rows += 1
        if i == 0 and _skips_header(task, split):
            continue
        row = _Row(fields, path, line, do_lower_case)
        if task.name == "qqp" and split != "test" and len(fields) < 6:
            continue  # the original's `except IndexError: continue`
        guid, text_a, text_b, label = parse(row, split, i)
        if label_index is not None and label not in label_index:
            raise GlueDataError(
                f"{path}, line {line}: label {label!r} is not one of the {task.name} labels "
                f"{list(task.labels)}"
            )
        examples.append(InputExample(guid, text_a, text_b, label, path, line))
    if not examples:
        what = "is empty" if rows == 0 else f"has {rows} line(s) but no example"
        raise GlueDataError(f"{path} {what}; expected a {task.name} {split} file in the GLUE layout")
    return examples


def label_id(task: GlueTask, label) -> object:
    """``label_ids`` of a label: its index in the label list, or the score itself (STS-B)."""
    if task.is_regression:
        return float(label)
    return task.labels.index(label)


def pack(tokens_a: List[int], tokens_b: Optional[List[int]], max_seq_length: int, cls_id: int,
         sep_id: int) -> Tuple[List[int], List[int], bool]:
    """``(input_ids, segment_ids, truncated)`` of one example, unpadded, as ``convert_single_example``."""
    before = len(tokens_a) + len(tokens_b or ())
    if tokens_b:
        truncate_seq_pair(tokens_a, tokens_b, max_seq_length - 3)
    else:
        tokens_a = tokens_a[: max_seq_length - 2]
    input_ids = [cls_id] + tokens_a + [sep_id]
    segment_ids = [0] * len(input_ids)
    if tokens_b:
        input_ids += tokens_b + [sep_id]
        segment_ids += [1] * (len(tokens_b) + 1)
    return input_ids, segment_ids, len(tokens_a) + len(tokens_b or ()) < before


def pad_rows(rows: Sequence[Sequence[int]], length: int) -> np.ndarray:
    """Rows zero-padded on the right into one ``[len(rows), length]`` int64 array."""
    out = np.zeros((len(rows), length), dtype=np.int64)
    for r, row in enumerate(rows):
        out[r, : len(row)] = row
    return out


def convert_examples(examples: Sequence[InputExample], task_name: str, tokenizer,
                     max_seq_length: int) -> Tuple[Dict[str, np.ndarray], dict]:
    """Features of ``examples`` as arrays keyed by record feature name, and counters.

    ``tokenizer`` is an :class:`~albert_tf.text.AlbertTokenizer`; the examples are already
    pre-processed, so it only segments (as the original ``FullTokenizer.tokenize``).
    """
    task = glue_task(task_name)
    if max_seq_length < 3:
        raise GlueDataError(f"--max_seq_length must be at least 3; got {max_seq_length}")
    pieces_a = tokenizer.tokenize_batch([e.text_a for e in examples], preprocess=False)
    with_b = [i for i, e in enumerate(examples) if e.text_b]
    pieces_b = dict(zip(with_b, tokenizer.tokenize_batch([examples[i].text_b for i in with_b], preprocess=False)))
    ids, segments, labels = [], [], []
    truncated = 0
    for i, example in enumerate(examples):
        tokens_a = tokenizer.convert_tokens_to_ids(pieces_a[i])
        tokens_b = tokenizer.convert_tokens_to_ids(pieces_b[i]) if i in pieces_b else None
        input_ids, segment_ids, cut = pack(tokens_a, tokens_b, max_seq_length, tokenizer.cls_id, tokenizer.sep_id)
        truncated += cut
        ids.append(input_ids)
        segments.append(segment_ids)
        labels.append(label_id(task, example.label))
    input_ids = pad_rows(ids, max_seq_length)
    features = {
        "input_ids": input_ids,
        "input_mask": pad_rows([[1] * len(row) for row in ids], max_seq_length),
        "segment_ids": pad_rows(segments, max_seq_length),
        "label_ids": np.asarray(labels, dtype=np.float32 if task.is_regression else np.int64).reshape(-1, 1),
        "is_real_example": np.ones((len(examples), 1), dtype=np.int64),
    }
    return features, {"examples": len(examples), "features": len(examples), "truncated": truncated}


def padding_features(task_name: str, count: int, max_seq_length: int) -> Dict[str, np.ndarray]:
    """``count`` all-zero ``PaddingInputExample`` features (``is_real_example`` 0), as on TPU."""
    task = glue_task(task_name)
    zeros = np.zeros((count, max_seq_length), dtype=np.int64)
    return {
        "input_ids": zeros,
        "input_mask": zeros,
        "segment_ids": zeros,
        "label_ids": np.zeros((count, 1), dtype=np.float32 if task.is_regression else np.int64),
        "is_real_example": np.zeros((count, 1), dtype=np.int64),
    }


def schema(task_name: str):
    """The record schema of a GLUE task (float ``label_ids`` for STS-B)."""
    return finetuning_schema(glue_task(task_name).schema_kind)


__all__ = [
    "GLUE_TASKS",
    "GlueDataError",
    "InputExample",
    "convert_examples",
    "padding_features",
    "read_examples",
    "schema",
]
