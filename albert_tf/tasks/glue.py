"""The GLUE tasks of the original ``classifier_utils.py``: folders, files, label lists (spec §7.2).

Label lists are in the original's index order: the record's ``label_ids`` is the index of the
(pre-processed) label string in this list, and ``submit_results.tsv`` writes the string back.
STS-B is regression (``labels`` is None, one output, float labels).

Example:

>>> task = glue_task("SST-2")
>>> task.labels, task.files["dev"], task.num_classes
(('0', '1'), 'dev.tsv', 2)
>>> glue_task("sts-b").is_regression
True
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Tuple


@dataclasses.dataclass(frozen=True)
class GlueTask:
    """One GLUE task: its ``--task_name``, folder, files per split and labels."""

    name: str
    directory: str
    files: Dict[str, str]
    labels: Optional[Tuple[str, ...]]
    test_label: object

    @property
    def is_regression(self) -> bool:
        return self.labels is None

    @property
    def num_classes(self) -> int:
        """Outputs of the classifier head (1 for regression, as the original)."""
        return 1 if self.labels is None else len(self.labels)

    @property
    def schema_kind(self) -> str:
        """The :func:`albert_tf.data.schemas.finetuning_schema` kind of its records."""
        return "regression" if self.is_regression else "classification"


_MNLI_LABELS = ("contradiction", "entailment", "neutral")
_BINARY = ("0", "1")
_ENTAILMENT = ("entailment", "not_entailment")
_STANDARD = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}

GLUE_TASKS: Dict[str, GlueTask] = {
    task.name: task
    for task in (
        GlueTask("cola", "CoLA", _STANDARD, _BINARY, "0"),
        GlueTask("sst-2", "SST-2", _STANDARD, _BINARY, "0"),
        GlueTask("mrpc", "MRPC", _STANDARD, _BINARY, "0"),
        GlueTask("sts-b", "STS-B", _STANDARD, None, 0.0),
        GlueTask("qqp", "QQP", _STANDARD, _BINARY, "0"),
        GlueTask(
            "mnli", "MNLI",
            {"train": "train.tsv", "dev": "dev_matched.tsv", "test": "test_matched.tsv"},
            _MNLI_LABELS, "contradiction",
        ),
        GlueTask(
            "mismnli", "MNLI",
            {"train": "train.tsv", "dev": "dev_mismatched.tsv", "test": "test_mismatched.tsv"},
            _MNLI_LABELS, "contradiction",
        ),
        GlueTask("qnli", "QNLI", _STANDARD, _ENTAILMENT, "entailment"),
        GlueTask("rte", "RTE", _STANDARD, _ENTAILMENT, "entailment"),
        GlueTask("wnli", "WNLI", _STANDARD, _BINARY, "0"),
        # The original's AXProcessor (not registered in run_classifier): MNLI labels, test only.
        GlueTask("ax", "diagnostic", {"test": "diagnostic.tsv"}, _MNLI_LABELS, "contradiction"),
    )
}


def glue_task(name: str) -> GlueTask:
    """The task of a ``--task_name`` (case-insensitive)."""
    key = str(name).strip().lower()
    if key not in GLUE_TASKS:
        raise ValueError(f"unknown GLUE task {name!r}; expected one of {sorted(GLUE_TASKS)}")
    return GLUE_TASKS[key]
