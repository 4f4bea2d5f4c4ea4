"""Task facts live in the registry alone: GLUE labels and folders, best-checkpoint keys, extra metrics."""

import pathlib
import re

import pytest

from albert_tf import metrics
from albert_tf.tasks import glue, registry

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(glue.GLUE_TASKS))
def test_glue_labels_and_folders_come_from_the_registry(name):
    task, facts = glue.glue_task(name), registry.get_task(name)
    assert task.labels == (facts.labels or None)
    assert task.directory == facts.data_dir
    assert task.num_classes == facts.num_outputs
    assert task.schema_kind == facts.family


def test_metrics_best_keys_are_the_registry_keys():
    for name in registry.task_names():
        assert metrics.best_checkpoint_key(name) == registry.get_task(name).best_key, name
    ner = registry.tagging_task("toy-ner", ["O", "B-PER", "I-PER"])
    for name in metrics.TAGGING_TASKS:
        assert metrics.best_checkpoint_key(name) == ner.best_key
    # The tagging key is one that the tagging scores report.
    scores = metrics.task_scores("ner", true_tags=[["B-PER", "O"]], pred_tags=[["B-PER", "O"]])
    assert scores[metrics.best_checkpoint_key("ner")] == 1.0


def test_glue_scores_report_the_registry_extra_metrics():
    for name in glue.GLUE_TASKS:
        facts = registry.get_task(name)
        scores = metrics.glue_scores(name, [0, 1, 1, 0], [0, 1, 0, 0])
        assert facts.best_key in scores, name
        assert set(facts.extra_metrics) <= set(scores), name


# The modules that export, score and describe tasks; their examples run where only albert_tf is installed.
TASK_MODULES = ["export.py", "metrics.py", "tasks", "models"]


def test_task_doctests_import_nothing_from_data_prep_or_tools():
    example = re.compile(r"^\s*(>>>|\.\.\.)\s.*\b(from|import)\s+(data_prep|tools)\b", re.MULTILINE)
    files = [path for name in TASK_MODULES
             for path in ([ROOT / "albert_tf" / name] if name.endswith(".py") else sorted((ROOT / "albert_tf" / name).rglob("*.py")))]
    offenders = [str(path.relative_to(ROOT)) for path in files if example.search(path.read_text(encoding="utf-8"))]
    assert offenders == []
