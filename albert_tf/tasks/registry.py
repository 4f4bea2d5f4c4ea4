"""The fine-tuning task registry: one declarative `Task` per original task name.

A task says what its records hold (family and label list), which model wraps the backbone, how its
predictions are scored, which metric picks the best checkpoint, and the hyper-parameters the original
scripts use when a flag is not given (`run_glue.sh` for GLUE, the `run_squad_v*.py` and `run_race.py`
flag defaults for SQuAD and RACE). `albert-finetune` is one loop over this table; adding a task is one
`register_task(...)` call here plus its processor in `data_prep`.

Nothing here imports TensorFlow: `albert-finetune --help` and the flag defaults read this table, and the
model builders import the models only when called.

Example:

>>> task = get_task("SST-2")
>>> task.name, task.labels, task.best_key
('sst-2', ('0', '1'), 'eval_accuracy')
>>> task.defaults.learning_rate, task.defaults.train_step, task.defaults.warmup_step
(1e-05, 20935, 1256)
>>> get_task("sts-b").num_outputs, get_task("cola").best_key
(1, 'matthew_corr')
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Optional, Tuple

__all__ = [
    "FAMILIES",
    "TAGGING_BEST_KEY",
    "Task",
    "TaskDefaults",
    "get_task",
    "register_task",
    "tagging_task",
    "task_names",
]

#: Record layouts, one per model type: what the records hold and which model reads them.
FAMILIES = ("classification", "regression", "multiple_choice", "squad_v1", "squad_v2", "tagging")
#: The metric that picks the best checkpoint of every token-tagging task.
TAGGING_BEST_KEY = "eval_f1"


@dataclasses.dataclass(frozen=True)
class TaskDefaults:
    """Hyper-parameters applied when the corresponding `albert-finetune` flag is not given.

    `train_step`/`warmup_step` are absolute (GLUE, RACE); SQuAD instead derives them from
    `num_train_epochs` and `warmup_proportion` over the number of training examples, as its scripts do.
    """

    learning_rate: float
    train_batch_size: int
    max_seq_length: int
    save_checkpoints_steps: int
    train_step: Optional[int] = None
    warmup_step: Optional[int] = None
    num_train_epochs: Optional[float] = None
    warmup_proportion: Optional[float] = None
    eval_batch_size: int = 8
    predict_batch_size: int = 8
    optimizer: str = "adamw"
    doc_stride: int = 128
    max_query_length: int = 64
    max_qa_length: int = 128
    n_best_size: int = 20
    max_answer_length: int = 30

    @property
    def warmup_share(self) -> float:
        """The warm-up's share of training: `warmup_proportion`, or the original's `warmup_step / train_step`
        (SST-2: 1,256 of 20,935), applied when `--num_train_epochs` sets the length instead."""
        if self.warmup_proportion is not None:
            return self.warmup_proportion
        return (self.warmup_step or 0) / self.train_step if self.train_step else 0.1


@dataclasses.dataclass(frozen=True)
class Task:
    """One fine-tuning task: records, model, metrics, best-checkpoint key and default hyper-parameters.

    * `family`: one of `FAMILIES`; it fixes the record schema and the model class.
    * `labels`: the label strings in index order (the original processors' `get_labels()`); empty
      for regression and span tasks.
    * `data_dir`: the GLUE folder name (`SST-2`) or `RACE` for the processors.
    * `best_key`: the `eval_results.txt` key whose maximum picks the kept checkpoint.
    * `eval_task`: for prediction-only tasks (`ax`), the task whose trained model they use.
    * `extra_metrics`: classification scores beyond accuracy and loss (`matthew_corr`, `f1`).
    """

    name: str
    family: str
    defaults: TaskDefaults
    labels: Tuple[str, ...] = ()
    data_dir: Optional[str] = None
    best_key: str = "eval_accuracy"
    num_choices: int = 4
    has_train: bool = True
    has_dev: bool = True
    eval_task: Optional[str] = None
    extra_metrics: Tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"task {self.name!r}: family must be one of {FAMILIES}, got {self.family!r}.")
        if self.family in ("classification", "tagging") and not self.labels:
            raise ValueError(f"task {self.name!r}: a {self.family} task needs its label list.")

    @property
    def num_outputs(self) -> int:
        """Logits per example (per token for tagging): the label count, 1 for regression."""
        if self.family == "regression":
            return 1
        if self.family == "multiple_choice":
            return self.num_choices
        return len(self.labels)

    @property
    def is_squad(self) -> bool:
        return self.family in ("squad_v1", "squad_v2")

    def build_model(self, backbone, **kwargs):
        """The task's model around `backbone` (imports the models on use)."""
        from albert_tf import models

        if self.family in ("classification", "regression"):
            return models.AlbertClassifier(backbone, num_classes=self.num_outputs, **kwargs)
        if self.family == "multiple_choice":
            return models.AlbertMultipleChoice(backbone, num_choices=self.num_choices, **kwargs)
        if self.is_squad:
            return models.AlbertQuestionAnswering(backbone, version=2 if self.family == "squad_v2" else 1, **kwargs)
        return models.AlbertTokenClassifier(backbone, num_labels=len(self.labels), **kwargs)


_REGISTRY: Dict[str, Task] = {}


def _key(name: str) -> str:
    # "SST-2", "sst_2" and "sst2" are one task, as are "squad_v1" and "squad-v1".
    return str(name).strip().lower().replace("-", "").replace("_", "")


def register_task(task: Task, replace: bool = False) -> Task:
    """Adds `task` under its (case-insensitive) name; `replace=True` overrides an existing entry."""
    key = _key(task.name)
    if key in _REGISTRY and not replace:
        raise ValueError(f"task {task.name!r} is already registered; pass replace=True to override it.")
    _REGISTRY[key] = task
    return task


def get_task(name: str) -> Task:
    """The task registered as `name` (case-insensitive; `sst_2` and `SST-2` both find `sst-2`)."""
    key = _key(name)
    if key not in _REGISTRY:
        raise ValueError(f"--task {name!r} is unknown; expected one of {task_names()}.")
    return _REGISTRY[key]


def task_names() -> list:
    """The registered task names, as `--task` spells them."""
    return sorted(task.name for task in _REGISTRY.values())


def tagging_task(name: str, labels, **defaults) -> Task:
    """A token-tagging task (beyond the original): per-token labels, seqeval entity F1 as best key.

    `labels` are the tag strings in index order (e.g. `("O", "B-PER", "I-PER")`); the records carry one
    label id per token with `input_mask` 0 on padding, which the loss and the metrics ignore.

    Example:

    >>> ner = tagging_task("toy-ner", ["O", "B-PER", "I-PER"])
    >>> ner.family, ner.num_outputs, ner.best_key
    ('tagging', 3, 'eval_f1')
    """
    values = dict(learning_rate=5e-5, train_batch_size=32, max_seq_length=128, save_checkpoints_steps=1000, train_step=1000, warmup_step=100)
    values.update(defaults)
    return Task(name=name, family="tagging", labels=tuple(labels), best_key=TAGGING_BEST_KEY, defaults=TaskDefaults(**values))


def _glue(name, data_dir, labels, lr, steps, warmup, batch, save=100, family="classification", best_key="eval_accuracy", **kw):
    # run_glue.sh passes --max_seq_length=512 for every task.
    defaults = TaskDefaults(learning_rate=lr, train_step=steps, warmup_step=warmup, train_batch_size=batch,
                            max_seq_length=512, save_checkpoints_steps=save)
    return register_task(Task(name=name, family=family, labels=tuple(labels), data_dir=data_dir, best_key=best_key,
                              defaults=defaults, **kw))


_BINARY = ("0", "1")
_NLI = ("contradiction", "entailment", "neutral")
_ENTAILMENT = ("entailment", "not_entailment")

# run_glue.sh (spec 7.7); WNLI is not in the script and takes the paper's appendix values.
_glue("cola", "CoLA", _BINARY, 1e-5, 5336, 320, 16, best_key="matthew_corr", extra_metrics=("matthew_corr",))
_glue("sst-2", "SST-2", _BINARY, 1e-5, 20935, 1256, 32)
_glue("mrpc", "MRPC", _BINARY, 2e-5, 800, 200, 32, extra_metrics=("f1",))
_glue("sts-b", "STS-B", (), 2e-5, 3598, 214, 16, family="regression", best_key="pearson")
_glue("qqp", "QQP", _BINARY, 5e-5, 14000, 1000, 128, extra_metrics=("f1",))
_glue("mnli", "MNLI", _NLI, 3e-5, 10000, 1000, 128, description="dev_matched / test_matched")
_glue("mismnli", "MNLI", _NLI, 3e-5, 10000, 1000, 128, description="dev_mismatched / test_mismatched")
_glue("qnli", "QNLI", _ENTAILMENT, 1e-5, 33112, 1986, 32, save=200)
_glue("rte", "RTE", _ENTAILMENT, 3e-5, 800, 200, 32)
_glue("wnli", "WNLI", _BINARY, 2e-5, 2000, 250, 16)
# The diagnostic set: test data only, scored with an MNLI model (labels in MNLI's order).
_glue("ax", "diagnostic", _NLI, 3e-5, 10000, 1000, 128, has_train=False, has_dev=False, eval_task="mnli")

# run_squad_v1.py / run_squad_v2.py flag defaults (spec 7.8); steps come from epochs x examples.
_SQUAD = dict(learning_rate=5e-5, train_batch_size=32, max_seq_length=384, save_checkpoints_steps=1000,
              num_train_epochs=3.0, warmup_proportion=0.1)
register_task(Task(name="squad_v1", family="squad_v1", best_key="f1", defaults=TaskDefaults(**_SQUAD)))
register_task(Task(name="squad_v2", family="squad_v2", best_key="f1", defaults=TaskDefaults(**_SQUAD)))

# run_race.py flag defaults (spec 7.9).
register_task(Task(
    name="race", family="multiple_choice", labels=("A", "B", "C", "D"), data_dir="RACE", num_choices=4,
    defaults=TaskDefaults(learning_rate=1e-5, train_step=12000, warmup_step=1000, train_batch_size=32,
                          max_seq_length=512, save_checkpoints_steps=100, max_qa_length=128),
))
