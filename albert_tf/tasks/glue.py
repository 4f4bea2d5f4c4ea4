"""The GLUE tasks of the original ``classifier_utils.py``: folders, files, label lists (spec §7.2).

The files per split are the processors' own fact and live here; the folder and the label list are
task facts and come from the registry (:mod:`albert_tf.tasks.registry`), the one place that defines them.
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

from albert_tf.tasks.registry import Task, get_task


@dataclasses.dataclass(frozen=True)
class GlueTask:
    """One GLUE task: its ``--task_name`` and files per split; folder and labels from its registry entry."""

    name: str
    files: Dict[str, str]

    @property
    def task(self) -> Task:
        return get_task(self.name)

    @property
    def directory(self) -> str:
        return self.task.data_dir

    @property
    def labels(self) -> Optional[Tuple[str, ...]]:
        return self.task.labels or None

    @property
    def test_label(self) -> object:
        """The label the original's processors give unlabelled test examples: the first one (0.0 for STS-B)."""
        return 0.0 if self.labels is None else self.labels[0]

    @property
    def is_regression(self) -> bool:
        return self.labels is None

    @property
    def num_classes(self) -> int:
        """Outputs of the classifier head (1 for regression, as the original)."""
        return self.task.num_outputs

    @property
    def schema_kind(self) -> str:
        """The :func:`albert_tf.data.schemas.finetuning_schema` kind of its records."""
        return self.task.family


_STANDARD = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}

GLUE_TASKS: Dict[str, GlueTask] = {
    task.name: task
    for task in (
        GlueTask("cola", _STANDARD),
        GlueTask("sst-2", _STANDARD),
        GlueTask("mrpc", _STANDARD),
        GlueTask("sts-b", _STANDARD),
        GlueTask("qqp", _STANDARD),
        GlueTask("mnli", {"train": "train.tsv", "dev": "dev_matched.tsv", "test": "test_matched.tsv"}),
        GlueTask("mismnli", {"train": "train.tsv", "dev": "dev_mismatched.tsv", "test": "test_mismatched.tsv"}),
        GlueTask("qnli", _STANDARD),
        GlueTask("rte", _STANDARD),
        GlueTask("wnli", _STANDARD),
        # The original's AXProcessor (not registered in run_classifier): MNLI labels, test only.
        GlueTask("ax", {"test": "diagnostic.tsv"}),
    )
}


def glue_task(name: str) -> GlueTask:
    """The task of a ``--task_name`` (case-insensitive)."""
    key = str(name).strip().lower()
    if key not in GLUE_TASKS:
        raise ValueError(f"unknown GLUE task {name!r}; expected one of {sorted(GLUE_TASKS)}")
    return GLUE_TASKS[key]
