"""The callbacks every run's `fit` gets: step counter, preemption watcher, checkpoint saver, evaluation
at each checkpoint, TensorBoard scalars and the metrics CSV (`TrainingEngine` orders them)."""

from __future__ import annotations

import csv
import logging
import os
import signal
from typing import Dict, Optional

import keras
import numpy as np
import tensorflow as tf

from albert_tf.errors import UserInputError
from albert_tf.training.checkpointing import TrainingCheckpoint
from albert_tf.training.interruption import EXIT_CODES, kill_point

logger = logging.getLogger(__name__)

#: Exit status of a run stopped by SIGTERM after saving (128 + SIGTERM, what supervisors expect);
#: SIGINT gives 130 (`albert_tf.training.interruption.EXIT_CODES`).
PREEMPTED_EXIT_CODE = EXIT_CODES["SIGTERM"]


class StepCounter(keras.callbacks.Callback):
    """Adds each execution's batches to the checkpointed step variable (optimizer iterations count
    updates, which differ from batches under gradient accumulation and loss-scale skips)."""

    def __init__(self, step, steps_per_execution=1):
        super().__init__()
        self.step = step
        self.steps_per_execution = steps_per_execution

    def on_train_batch_end(self, batch, logs=None):
        self.step.assign_add(self.steps_per_execution)
        kill_point("after_step", self.step, span=self.steps_per_execution)


class NonFiniteTrainingError(UserInputError):
    """The run stopped after `--max_consecutive_bad_steps` updates in a row were skipped for a NaN/Inf
    loss or gradient (a console script exits with status 2, as for any bad input)."""


class NonFiniteGuard(keras.callbacks.Callback):
    """Warns at every step whose update the optimizer skipped for a NaN/Inf loss or gradient, and stops
    the run after `max_consecutive` skipped updates in a row (0: never stops).

    The stop raises `NonFiniteTrainingError` from the step, before the metrics row and the checkpoint,
    so the newest checkpoint stays the last one saved before the streak and the next run resumes there.
    Put it right after `StepCounter`. `skipped` and `streak` are the optimizer's counters
    (`OriginalUpdateOptimizer.nonfinite_updates_skipped` / `consecutive_nonfinite_updates`).
    """

    def __init__(self, skipped, streak, step, max_consecutive: int, last_checkpoint=lambda: None):
        super().__init__()
        self.skipped = skipped
        self.streak = streak
        self.step = step
        self.max_consecutive = max_consecutive
        self.last_checkpoint = last_checkpoint
        self.resync()

    def resync(self):
        """Reads the counters again (after the run went back to a checkpoint)."""
        self._reported = int(self.skipped.numpy())
        self._previous_step = int(self.step.numpy())

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.step.numpy())
        skipped = int(self.skipped.numpy())
        previous, self._previous_step = self._previous_step, step
        if skipped == self._reported:  # the streak only grows with a skip: nothing more to read
            return
        # With several steps per execution only the span is known.
        where = f"step {step}" if step - previous == 1 else f"steps {previous + 1}-{step}"
        logger.warning("%s: %d update(s) skipped for a NaN/Inf loss or gradient (%d in this run)",
                       where, skipped - self._reported, skipped)
        self._reported = skipped
        streak = int(self.streak.numpy())
        if self.max_consecutive and streak >= self.max_consecutive:
            checkpoint = self.last_checkpoint()
            then = (f"the last checkpoint {checkpoint} is kept: rerun with a lower --learning_rate to resume from it"
                    if checkpoint else "no checkpoint was saved yet: rerun with a lower --learning_rate")
            raise NonFiniteTrainingError(
                f"step {step}: {streak} updates in a row skipped for a NaN/Inf loss or gradient "
                f"(--max_consecutive_bad_steps {self.max_consecutive}); {then}."
            )


class LossSpikeLogger(keras.callbacks.Callback):
    """Warns when the loss of an execution is `factor` times the median of the last `window` ones (a
    spike), naming its steps, so that its batches can be found (`hint(first, last)`, e.g. the
    `albert-locate-batches` command) and looked at; `spikes` keeps them for `results.json`.

    Keras reports running means since the start of each fit "epoch" (a checkpoint interval): an
    execution's own mean loss is their difference, weighted by steps.

    Example:

    >>> logger = LossSpikeLogger(tf.Variable(0, dtype=tf.int64), factor=3.0)
    >>> for step, loss in enumerate([2.0, 2.1, 1.9, 2.0, 2.0, 9.0, 2.0], start=1):
    ...     logger.observe(step, loss)
    >>> logger.spikes
    [{'steps': [6, 6], 'loss': 9.0, 'median': 2.0}]
    """

    def __init__(self, step, factor: float, window: int = 20, hint=None):
        super().__init__()
        self.step = step
        self.factor = factor
        self.window = window
        self.hint = hint
        self.spikes = []
        self._recent = []
        self._start = None  # the step the current fit "epoch" began at
        self._last = None  # (step, running mean) at the previous execution's end

    def on_epoch_begin(self, epoch, logs=None):
        self._start = int(self.step.numpy())
        self._last = (self._start, 0.0)

    def on_train_batch_end(self, batch, logs=None):
        value = (logs or {}).get("loss")
        if value is None or self._start is None:
            return
        step, mean = int(self.step.numpy()), float(np.asarray(value).reshape(-1)[0])
        start = self._start
        last_step, last_mean = self._last
        self._last = (step, mean)
        if step == last_step:
            return
        # The running mean over the epoch's steps, less what the previous executions contributed.
        loss = (mean * (step - start) - last_mean * (last_step - start)) / (step - last_step)
        self.observe(step, loss, first=last_step + 1)

    def observe(self, step: int, loss: float, first: Optional[int] = None):
        """Compares one execution's mean `loss` (steps `first`..`step`) with the recent ones."""
        first = step if first is None else first
        if len(self._recent) >= 5 and np.isfinite(loss):
            median = float(np.median(self._recent))
            if median > 0 and loss > self.factor * median:
                self.spikes.append({"steps": [first, step], "loss": round(loss, 6), "median": round(median, 6)})
                where = f"step {step}" if first == step else f"steps {first}-{step}"
                hint = f"; its batches: {self.hint(first, step)}" if self.hint else ""
                logger.warning("loss spike at %s: %.4g, %.1fx the median %.4g of the last %d%s",
                               where, loss, loss / median, median, len(self._recent), hint)
        if np.isfinite(loss):
            self._recent = (self._recent + [loss])[-self.window:]


class CheckpointSaver(keras.callbacks.Callback):
    """Saves at the end of every fit "epoch" (one checkpoint interval, or the stretch a SIGTERM cut)."""

    def __init__(self, checkpoint: TrainingCheckpoint):
        super().__init__()
        self.checkpoint = checkpoint
        self.last_path = None

    def on_epoch_end(self, epoch, logs=None):
        self.last_path = self.checkpoint.save()
        logger.info("saved checkpoint %s", self.last_path)
        kill_point("after_checkpoint", self.checkpoint.step)


def _scalars(logs) -> Dict[str, float]:
    out = {}
    for key, value in (logs or {}).items():
        array = np.asarray(value)
        if array.size == 1 and np.issubdtype(array.dtype, np.number):
            out[key] = float(array.reshape(()))
    return out


class ScalarLogger(keras.callbacks.Callback):
    """TensorBoard scalars every `every` steps and at every checkpoint, at the run's true step.

    Keras' `TensorBoard(update_freq=n)` counts executions, so with `steps_per_execution=1000` it
    writes once per million steps; this logger reads the step counter instead. Values are Keras'
    running means since the last checkpoint, plus the learning rate.
    """

    def __init__(self, log_dir: str, step, every: int):
        super().__init__()
        self.log_dir = log_dir
        self.step = step
        self.every = every
        self._writer = None
        self._last = None

    def _write(self, logs):
        step = int(self.step.numpy())
        if step == self._last:
            return
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        values = _scalars(logs)
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            values["learning_rate"] = float(np.asarray(_current_learning_rate(optimizer)))
            skipped = nonfinite_counters(optimizer)
            if skipped is not None:
                values["nonfinite_steps_skipped"] = float(skipped[0].numpy())
        write_scalars(self._writer, values, step)
        self._last = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.step.numpy()) % self.every == 0:
            self._write(logs)

    def on_epoch_end(self, epoch, logs=None):
        self._write(logs)


def write_scalars(writer, values: Dict[str, float], step: int):
    """Each of `values` as a TensorBoard scalar at `step`, flushed (a killed run keeps what it logged)."""
    with writer.as_default():
        for key, value in values.items():
            tf.summary.scalar(key, value, step=step)
    writer.flush()


def nonfinite_counters(optimizer):
    """`(skipped, streak)`, the optimizer's counters of updates skipped for a NaN/Inf gradient, or None
    for an optimizer that does not skip them (anything but `OriginalUpdateOptimizer`)."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)  # under a LossScaleOptimizer
    skipped = getattr(inner, "nonfinite_updates_skipped", None)
    return None if skipped is None else (skipped, inner.consecutive_nonfinite_updates)


def _current_learning_rate(optimizer):
    # Keras 3 optimizers evaluate their schedule at `iterations` when asked for `learning_rate`.
    return optimizer.learning_rate


class MetricsCSV(keras.callbacks.Callback):
    """`train_metrics.csv`: one row per checkpoint, with the step first; appended across every `fit`
    call and resume, never rewritten (a resumed run first drops rows past its checkpoint).

    Put it before `CheckpointSaver`: a row written before its checkpoint is dropped on resume if the
    checkpoint never came, while a row after it would be lost with a kill between the two.

    Example:

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "m.csv")
    >>> logger = MetricsCSV(path, tf.Variable(4, dtype=tf.int64))
    >>> logger.on_epoch_end(0, {"loss": 1.5})
    >>> open(path).read().splitlines()
    ['step,loss', '4,1.5']
    """

    def __init__(self, path: str, step):
        super().__init__()
        self.path = path
        self.step = step

    def _header(self):
        if not os.path.exists(self.path) or os.path.getsize(self.path) == 0:
            return None
        with open(self.path, newline="", encoding="utf-8") as f:
            return next(csv.reader(f), None)

    def truncate_after(self, step: int):
        """Drops rows past `step` (a stretch whose checkpoint was lost), atomically."""
        header = self._header()
        if header is None or header[0] != "step":
            return
        with open(self.path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        kept = [rows[0]] + [r for r in rows[1:] if r and int(float(r[0])) <= step]
        if len(kept) != len(rows):
            tmp = self.path + ".tmp"
            with open(tmp, "w", newline="", encoding="utf-8") as f:
                csv.writer(f).writerows(kept)
            os.replace(tmp, self.path)

    def on_epoch_end(self, epoch, logs=None):
        values = _scalars(logs)
        header = self._header()
        new = header is None
        if new:
            header = ["step"] + sorted(values)
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(header)
            row = {"step": int(self.step.numpy()), **{k: repr(v) if isinstance(v, float) else v for k, v in values.items()}}
            writer.writerow([row.get(name, "") for name in header])


class PreemptionWatcher(keras.callbacks.Callback):
    """Turns SIGTERM (what Cloud TPU VMs, GKE and preemptible instances send) and SIGINT (Ctrl-C) into
    a stop at the next step boundary; the run then saves a checkpoint and exits with 128 + the signal
    (`signal_name` says which came first), and the next start resumes there. A second SIGINT stops at
    once (KeyboardInterrupt), for a user who does not want to wait for the step.

    Under a multi-worker strategy the flag is all-reduced after every execution so every worker stops
    at the same step (a worker leaving alone would hang the others in their next all-reduce).
    Use as a context manager around `fit`: the previous handler comes back on exit.
    """

    def __init__(self, strategy=None, multi_worker=False, signals=(signal.SIGTERM, signal.SIGINT)):
        super().__init__()
        self.signals = signals
        self.requested = False
        self.signal_name = None
        self.stopped_at = None
        self._previous = {}
        self._sync = None
        if multi_worker:
            @tf.function
            def any_worker(flag):
                total = strategy.run(lambda: tf.identity(flag))
                return strategy.reduce(tf.distribute.ReduceOp.SUM, total, axis=None)

            self._sync = any_worker

    def _handle(self, signum, frame):
        name = signal.Signals(signum).name
        if self.requested and name == "SIGINT":
            raise KeyboardInterrupt
        self.requested = True
        self.signal_name = self.signal_name or name
        logger.warning("received %s: saving a checkpoint at the next step boundary", name)

    def __enter__(self):
        for sig in self.signals:
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: signals cannot be caught here
                pass
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
        return False

    def on_train_batch_end(self, batch, logs=None):
        requested = self.requested
        if self._sync is not None:
            requested = int(self._sync(tf.constant(int(requested), tf.int32)).numpy()) > 0
        if requested:
            self.requested = True
            # Another worker's signal: the scheduler preempted the job, which SIGTERM stands for.
            self.signal_name = self.signal_name or "SIGTERM"
            self.model.stop_training = True



class EvaluateAtCheckpoint(keras.callbacks.Callback):
    """Calls `on_checkpoint(step)` at the end of every fit "epoch", after `CheckpointSaver` (put it
    later in the callback list), so an evaluation always scores a saved checkpoint."""

    def __init__(self, on_checkpoint, step):
        super().__init__()
        self.on_checkpoint = on_checkpoint
        self.step = step

    def on_epoch_end(self, epoch, logs=None):
        self.on_checkpoint(int(self.step.numpy()))
