"""Evaluation at each checkpoint and keeping the best, as the original's evaluation loop (which walked
every checkpoint of a fine-tuning run).

The scores of every evaluated checkpoint live in `eval_history.json` (a list of score dicts with
`global_step`), so a resumed run neither repeats an evaluation nor forgets one; the best checkpoint by
`best_key` is copied to `best/` (`model.ckpt-best-<step>`). The copy is made before the scores are
recorded: a kill between the two leaves the checkpoint unrecorded, and the resumed run evaluates it
again (`TrainingEngine.start`), which only overwrites the same copy.

Example:

>>> import tempfile
>>> history = EvaluationHistory(tempfile.mkdtemp() + "/eval_history.json", "eval_accuracy")
>>> history.entries = [{"global_step": 2, "eval_accuracy": 0.5}, {"global_step": 4, "eval_accuracy": 0.7},
...                    {"global_step": 6, "eval_accuracy": 0.7}]
>>> history.best()["global_step"]
4
>>> history.truncate_after(4)
>>> [entry["global_step"] for entry in history.entries]
[2, 4]
"""

from __future__ import annotations

import logging
from typing import Callable, List, Optional

import tensorflow as tf

from albert_tf.training.callbacks import write_scalars
from albert_tf.training.checkpointing import read_json, write_json
from albert_tf.training.interruption import kill_point

logger = logging.getLogger(__name__)


class EvaluationHistory:
    """The scores of each evaluated checkpoint (`path`, JSON) and which one is best by `best_key`
    (higher is better; the earliest wins a tie)."""

    def __init__(self, path: str, best_key: str):
        self.path = path
        self.best_key = best_key
        self.entries: List[dict] = []

    def load(self):
        self.entries = read_json(self.path) or []

    def truncate_after(self, step: int):
        """Drops evaluations of checkpoints lost with a kill (past the one a resume restored)."""
        self.entries = [entry for entry in self.entries if entry["global_step"] <= step]

    def has(self, step: int) -> bool:
        return any(entry["global_step"] == step for entry in self.entries)

    def best(self) -> Optional[dict]:
        scored = [entry for entry in self.entries if self.best_key in entry]
        return max(scored, key=lambda e: (e[self.best_key], -e["global_step"])) if scored else None

    def beats_best(self, scores: dict) -> bool:
        """True when `scores` beat every entry (of an earlier step; the earliest wins a tie)."""
        previous = self.best()
        return previous is None or scores[self.best_key] > previous[self.best_key]

    def add(self, scores: dict, write: bool) -> bool:
        """Records `scores` (with `global_step`); True when they beat every earlier entry."""
        better = self.beats_best(scores)
        self.entries.append(scores)
        if write:
            write_json(self.path, self.entries)
        return better


class CheckpointEvaluation:
    """Evaluates the model after each checkpoint with `evaluate()` (None: no evaluation), records the
    scores in `history` and saves the best checkpoint with `best_manager` (a `tf.train.CheckpointManager`
    over the run's checkpoint). With `every`, only checkpoints at multiples of `every` steps are
    evaluated; with `log_dir`, each evaluation's scores also go to TensorBoard there."""

    def __init__(self, history: EvaluationHistory, best_manager, evaluate: Optional[Callable[[], dict]],
                 is_chief: bool, every: int = 0, log_dir: Optional[str] = None):
        self.history = history
        self.best_manager = best_manager
        self.evaluate = evaluate
        self.is_chief = is_chief
        self.every = every
        self.log_dir = log_dir
        self._writer = None

    def pending(self, step: int) -> bool:
        """True when the checkpoint of `step` is one to evaluate and still needs its evaluation."""
        due = not self.every or step % self.every == 0
        return self.evaluate is not None and due and not self.history.has(step)

    def after_checkpoint(self, step: int):
        """Evaluates the model, which holds the checkpoint of `step`, unless that is recorded already."""
        if not self.pending(step):
            return
        scores = dict(self.evaluate(), global_step=step)
        kill_point("during_evaluation", step)
        if self.history.beats_best(scores):
            self.best_manager.save(checkpoint_number=step)
            key = self.history.best_key
            logger.info("step %d: %s = %.4f (best so far)", step, key, scores[key])
        self.history.add(scores, write=self.is_chief)
        if self.log_dir and self.is_chief:
            self._log(scores, step)

    def _log(self, scores: dict, step: int):
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        write_scalars(self._writer, {key: float(value) for key, value in scores.items()
                                     if key != "global_step" and isinstance(value, (int, float))}, step)

    @property
    def best_checkpoint(self) -> Optional[str]:
        return self.best_manager.latest_checkpoint
