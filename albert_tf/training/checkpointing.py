"""What a run keeps on disk between starts: its record (`run_config.json`), its checkpoints, and the
JSON and `eval_results.txt` files it writes (all atomically: temp file + `os.replace`)."""

from __future__ import annotations

import json
import logging
import os
from typing import List, Optional

import tensorflow as tf

from albert_tf.checkpoints.initialisation import first_line, model_weights
from albert_tf.errors import UserInputError

logger = logging.getLogger(__name__)


class RunRecord:
    """`run_config.json` in a run's `output_dir`: the values that must not change across a resume.

    `check(values)` raises `UserInputError` naming every value that differs from the stored one;
    `write(values)` stores them (atomically, chief only).

    Example:

    >>> import tempfile
    >>> record = RunRecord(tempfile.mkdtemp())
    >>> record.write({"max_seq_length": 128})
    >>> record.check({"max_seq_length": 64})
    Traceback (most recent call last):
    ...
    albert_tf.errors.UserInputError: ...max_seq_length=128 ... this run has max_seq_length=64...
    """

    FILENAME = "run_config.json"

    def __init__(self, output_dir: str):
        self.path = os.path.join(output_dir, self.FILENAME)

    def read(self) -> Optional[dict]:
        if not os.path.exists(self.path):
            return None
        try:
            with open(self.path, encoding="utf-8") as f:
                return json.load(f)
        except json.JSONDecodeError as error:
            raise UserInputError(f"{self.path} is not valid JSON ({error}); restore it or use a new --output_dir.") from None

    def check(self, values: dict):
        stored = self.read()
        if stored is None:
            return
        stored_flat = _flatten(stored)
        differences = [
            (key, stored_flat[key], value) for key, value in _flatten(values).items()
            if key in stored_flat and _normalise(stored_flat[key]) != _normalise(value)
        ]
        if differences:
            theirs = ", ".join(f"{key}={old!r}" for key, old, _ in differences)
            ours = ", ".join(f"{key}={new!r}" for key, _, new in differences)
            raise UserInputError(
                f"{os.path.dirname(self.path) or '.'} holds a run with {theirs} (see {self.path}); this run has "
                f"{ours}. Resume with the stored values or start in a new --output_dir."
            )

    def write(self, values: dict):
        write_json(self.path, values)


def _flatten(values, prefix=""):
    out = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _normalise(value):
    return json.loads(json.dumps(value, default=str))


def dropout_seed_states(model) -> List:
    """The dropout generators' states: Keras variables outside `model.weights` that a resumed run needs
    to draw the masks an uninterrupted run draws."""
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


class TrainingCheckpoint:
    """Model weights, optimizer, dropout seeds and a step counter, saved every checkpoint interval.

    `read_dir` is where the run's checkpoints live (the chief's); `write_dir` where this worker saves
    (the same on the chief, a temporary directory on other workers). `restore_latest()` resumes from
    the newest complete checkpoint: a truncated one (a crash while writing, a full disk) is reported
    and the previous one used.
    """

    def __init__(self, model, optimizer, read_dir: str, write_dir: str, max_to_keep: int, **extra):
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="consumed_batches")
        self.checkpoint = tf.train.Checkpoint(
            model_weights=model_weights(model),
            optimizer=optimizer,
            consumed_batches=self.step,
            dropout_seeds=dropout_seed_states(model),
            **extra,
        )
        self.read_dir = read_dir
        self.manager = tf.train.CheckpointManager(self.checkpoint, write_dir, max_to_keep=max_to_keep)

    def restore_latest(self) -> Optional[str]:
        """Restores the newest readable checkpoint of `read_dir`; returns its path (None: nothing there)."""
        state = tf.train.get_checkpoint_state(self.read_dir)
        candidates = list(state.all_model_checkpoint_paths) if state else []
        if state and state.model_checkpoint_path and state.model_checkpoint_path not in candidates:
            candidates.append(state.model_checkpoint_path)
        for path in reversed(candidates):
            if not tf.io.gfile.exists(path + ".index"):
                logger.warning("checkpoint %s is incomplete (no .index file); trying the previous one", path)
                continue
            try:
                self.checkpoint.restore(path).assert_existing_objects_matched()
            except (tf.errors.DataLossError, tf.errors.OutOfRangeError, tf.errors.NotFoundError, IndexError) as error:
                # A crash while writing or a full disk leaves a truncated file: the previous one is whole.
                logger.warning("checkpoint %s is unreadable (%s); trying the previous one", path, first_line(error))
                continue
            except (ValueError, AssertionError, tf.errors.InvalidArgumentError) as error:
                raise UserInputError(
                    f"checkpoint {path} does not fit this model ({first_line(error)}); resume with the "
                    "settings it was written with or start in a new --output_dir."
                ) from None
            return path
        if candidates:
            raise UserInputError(f"no readable checkpoint in {self.read_dir} (tried {', '.join(candidates)}).")
        return None

    def save(self) -> str:
        return self.manager.save(checkpoint_number=int(self.step.numpy()))


def write_text(path, text: str):
    """`text` at `path`, atomically (a temp file beside it, then `os.replace`)."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def write_json(path, value):
    """`value` as sorted, indented JSON at `path`, atomically."""
    write_text(path, json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path) -> Optional[dict]:
    """A JSON file written by `write_json`, or None when absent or unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return None


def write_eval_results(path, scores, append=False):
    """The original's `eval_results.txt`: one `key = value` line per score, sorted by key.

    `append` keeps the lines already there (pretraining adds one block per evaluation, as the
    original's estimator did); either way the file is replaced whole, never left half-written.
    """
    kept = ""
    if append and os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            kept = f.read()
    write_text(path, kept + "".join(f"{key} = {scores[key]}\n" for key in sorted(scores)))
