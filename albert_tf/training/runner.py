"""Reusable parts of a training run a user can trust, shared by pretraining and fine-tuning.

* `WorkerRole`: which task of a (multi-worker or TPU) cluster this is; only the chief writes into
  `output_dir`, the others write to temporary directories removed at the end (TensorFlow's
  multi-worker saving rules: every worker saves, so collective reads stay in step).
* `RunRecord`: the config and the model-shaping flags stored with a run (`run_config.json`); a resume
  with other values is refused with a message naming both.
* `TrainingCheckpoint`: `tf.train.Checkpoint` + `CheckpointManager` whose object graph reaches every
  model weight directly (`model_weights`, keyed by variable path), so a checkpoint restores into a new
  model, compiled or not; falls back to the previous checkpoint when the newest is truncated.
* `initialise_weights`: `--init_checkpoint` from any format (original TF1, albert_tf checkpoint,
  `.keras`, `.weights.h5`), weights only, never optimizer state or step.
* `StepCounter`, `ScalarLogger` (TensorBoard every `log_every_steps` and at every checkpoint),
  `MetricsCSV` (a `step` column, appended across every `fit` call and resume), `PreemptionWatcher`
  (SIGTERM -> checkpoint at the next step boundary).
* `distributed_dataset`: input through `strategy.distribute_datasets_from_function` for every strategy
  (the path TPUs and multi-worker need); `prepare_model_for_fit` works around two Keras 3 defects that
  make `fit` fail under `MultiWorkerMirroredStrategy`.
* `plan_fit_calls`: splits a run into `fit` calls whose executions end exactly on every checkpoint and
  logging step.

Example:

>>> plan_fit_calls(done=5, total=23, save_every=4, steps_per_execution=4)
[FitCall(start=5, steps_per_epoch=3, epochs=1, steps_per_execution=1), FitCall(start=8, steps_per_epoch=4, epochs=3, steps_per_execution=4), FitCall(start=20, steps_per_epoch=3, epochs=1, steps_per_execution=1)]
"""

from __future__ import annotations

import csv
import dataclasses
import inspect
import json
import logging
import math
import os
import shutil
import signal
import tempfile
import types
from typing import Callable, Dict, List, Optional

import keras
import numpy as np
import tensorflow as tf

from albert_tf.errors import UserInputError

logger = logging.getLogger(__name__)

#: Exit status of a run stopped by SIGTERM after saving (128 + SIGTERM, what supervisors expect).
PREEMPTED_EXIT_CODE = 143


# ---------------------------------------------------------------------------------------------------
# Cluster roles and where each worker writes.


def in_multi_worker_mode(strategy) -> bool:
    """True under a `MultiWorkerMirroredStrategy` that spans more than this process."""
    return bool(
        isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        and strategy.extended._in_multi_worker_mode()  # noqa: SLF001 (no public equivalent)
    )


class WorkerRole:
    """This task's place in the cluster of `strategy`, and the directory it may write to.

    The chief (task 0 of a multi-worker cluster, or the only process otherwise) writes into
    `output_dir`; every other worker gets a private temporary directory, removed by `cleanup()`.

    Example:

    >>> role = WorkerRole(tf.distribute.OneDeviceStrategy("/cpu:0"), "/tmp/run")
    >>> role.is_chief, role.write_dir
    (True, '/tmp/run')
    """

    def __init__(self, strategy, output_dir: str):
        self.output_dir = output_dir
        self.multi_worker = in_multi_worker_mode(strategy)
        resolver = getattr(strategy, "cluster_resolver", None) if self.multi_worker else None
        self.task = f"{resolver.task_type}-{resolver.task_id}" if resolver is not None else "chief"
        # The chief of TensorFlow's rules: the "chief" task, else worker 0 (also True off-cluster).
        self.is_chief = bool(strategy.extended.should_checkpoint)
        self._temp = None
        if self.is_chief:
            self.write_dir = output_dir
        else:
            self._temp = tempfile.mkdtemp(prefix=f"albert_tf-{self.task}-")
            self.write_dir = self._temp

    def path(self, *parts) -> str:
        """Where this worker writes `parts` (inside `output_dir` only on the chief)."""
        return os.path.join(self.write_dir, *parts)

    def cleanup(self):
        if self._temp:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None


# ---------------------------------------------------------------------------------------------------
# The configuration stored with a run.


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
        _write_json(self.path, values)


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


# ---------------------------------------------------------------------------------------------------
# Checkpoints.


def model_weights(model) -> Dict[str, tf.Variable]:
    """Every weight of `model` keyed by its unique Keras path, for a checkpoint graph that reaches all.

    Keras 3 models reach `tf.train.Checkpoint` only through attributes TensorFlow tracks, which leaves
    out layers held in Keras' own containers (an `AlbertPretrainer`'s shared encoder among them); a
    flat `{path: variable}` mapping makes the graph independent of how a model stores its layers.
    """
    weights = {}
    for variable in model.weights:
        if variable.path in weights:
            raise ValueError(f"{model.name}: two weights share the path {variable.path!r}")
        weights[variable.path] = variable
    return weights


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
                logger.warning("checkpoint %s is unreadable (%s); trying the previous one", path, _first_line(error))
                continue
            except (ValueError, AssertionError, tf.errors.InvalidArgumentError) as error:
                raise UserInputError(
                    f"checkpoint {path} does not fit this model ({_first_line(error)}); resume with the "
                    "settings it was written with or start in a new --output_dir."
                ) from None
            return path
        if candidates:
            raise UserInputError(f"no readable checkpoint in {self.read_dir} (tried {', '.join(candidates)}).")
        return None

    def save(self) -> str:
        return self.manager.save(checkpoint_number=int(self.step.numpy()))


def _first_line(error) -> str:
    text = str(getattr(error, "message", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def initialise_weights(model, path: str, init_from_group0: bool = False) -> str:
    """Loads `model`'s weights (never optimizer state or step) from `path`; returns what was loaded.

    `path`: an original-release TF1 checkpoint, an albert_tf checkpoint (or a run's `output_dir` or
    its `checkpoints/`), a `.keras` file or a `.weights.h5` file. Call it before `compile`: a model
    without an optimizer cannot take one over from the file.

    Raises:
        FileNotFoundError: nothing readable at `path`.
        UserInputError: the file does not hold every weight of `model`.
    """
    if getattr(model, "optimizer", None) is not None:
        raise ValueError("initialise_weights needs an uncompiled model (it would load the file's optimizer state).")
    source = path
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "model.keras")) and not tf.train.latest_checkpoint(path):
            source = os.path.join(path, "model.keras")
        else:
            source = tf.train.latest_checkpoint(path) or tf.train.latest_checkpoint(os.path.join(path, "checkpoints")) or path
    if source.endswith(".keras") or source.endswith(".weights.h5"):
        if not os.path.exists(source):
            raise FileNotFoundError(f"--init_checkpoint {path}: no such file.")
        try:
            model.load_weights(source)
        except ValueError as error:
            raise UserInputError(f"--init_checkpoint {source} does not fit this model: {_first_line(error)}") from None
        return f"weights from {source}"
    try:
        names = dict(tf.train.list_variables(source))
    except (tf.errors.NotFoundError, tf.errors.DataLossError, ValueError) as error:
        raise FileNotFoundError(f"--init_checkpoint {path}: not a readable checkpoint ({_first_line(error)}).") from None
    if any(n.startswith(("bert/", "module/bert/")) for n in names):
        from albert_tf.checkpoints.original import assign_from_original

        reader = tf.train.load_checkpoint(source)
        report = assign_from_original(model, names, reader.get_tensor, source, init_from_group0=init_from_group0)
        return f"original checkpoint {source}: {report.summary()}"
    if not any(n.startswith("model_weights/") for n in names):
        raise UserInputError(
            f"--init_checkpoint {source} has no model_weights entry (written by an older albert_tf, whose "
            "checkpoints miss the encoder); initialise from that run's model.keras instead."
        )
    try:
        tf.train.Checkpoint(model_weights=model_weights(model)).restore(source).expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.InvalidArgumentError) as error:
        raise UserInputError(f"--init_checkpoint {source} does not fit this model: {_first_line(error)}") from None
    return f"albert_tf checkpoint {source} (weights only)"


# ---------------------------------------------------------------------------------------------------
# Callbacks.


class StepCounter(keras.callbacks.Callback):
    """Adds each execution's batches to the checkpointed step variable (optimizer iterations count
    updates, which differ from batches under gradient accumulation and loss-scale skips)."""

    def __init__(self, step, steps_per_execution=1):
        super().__init__()
        self.step = step
        self.steps_per_execution = steps_per_execution

    def on_train_batch_end(self, batch, logs=None):
        self.step.assign_add(self.steps_per_execution)


class CheckpointSaver(keras.callbacks.Callback):
    """Saves at the end of every fit "epoch" (one checkpoint interval, or the stretch a SIGTERM cut)."""

    def __init__(self, checkpoint: TrainingCheckpoint):
        super().__init__()
        self.checkpoint = checkpoint
        self.last_path = None

    def on_epoch_end(self, epoch, logs=None):
        self.last_path = self.checkpoint.save()
        logger.info("saved checkpoint %s", self.last_path)


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
        with self._writer.as_default():
            for key, value in values.items():
                tf.summary.scalar(key, value, step=step)
        self._writer.flush()
        self._last = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.step.numpy()) % self.every == 0:
            self._write(logs)

    def on_epoch_end(self, epoch, logs=None):
        self._write(logs)


def _current_learning_rate(optimizer):
    # Keras 3 optimizers evaluate their schedule at `iterations` when asked for `learning_rate`.
    return optimizer.learning_rate


class MetricsCSV(keras.callbacks.Callback):
    """`train_metrics.csv`: one row per checkpoint, with the step first; appended across every `fit`
    call and resume, never rewritten (a resumed run first drops rows past its checkpoint).

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
    """Turns SIGTERM (what Cloud TPU VMs, GKE and preemptible instances send) into a stop at the next
    step boundary; the run then saves a checkpoint and exits, and the next start resumes there.

    Under a multi-worker strategy the flag is all-reduced after every execution so every worker stops
    at the same step (a worker leaving alone would hang the others in their next all-reduce).
    Use as a context manager around `fit`: the previous handler comes back on exit.
    """

    def __init__(self, strategy=None, multi_worker=False, signals=(signal.SIGTERM,)):
        super().__init__()
        self.signals = signals
        self.requested = False
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
        self.requested = True
        logger.warning("received signal %d: saving a checkpoint at the next step boundary", signum)

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
            self.model.stop_training = True


# ---------------------------------------------------------------------------------------------------
# Input under a strategy.


def accepts_input_context(dataset_fn) -> bool:
    try:
        return "input_context" in inspect.signature(dataset_fn).parameters
    except (TypeError, ValueError):
        return False


def distributed_dataset(strategy, dataset_fn: Callable, global_batch_size: int, skip_steps: int = 0):
    """The input of `fit` under `strategy`, built with `distribute_datasets_from_function`.

    `dataset_fn(global_batch_size, input_context=ctx)` builds this input pipeline's share (a disjoint
    set of files) batched per replica, as `albert_tf.data.pretraining_dataset` does. A `dataset_fn`
    without `input_context` returns global batches; every pipeline then reads the whole stream and
    keeps its replicas' rows of each global batch, which gives every strategy the batches a single
    device sees. `skip_steps` global batches are skipped first (a resumed run).
    """
    sharded = accepts_input_context(dataset_fn)

    def per_pipeline(context: tf.distribute.InputContext):
        per_replica = context.get_per_replica_batch_size(global_batch_size)
        local = context.num_replicas_in_sync // context.num_input_pipelines
        if sharded:
            dataset = dataset_fn(global_batch_size, input_context=context)
            return dataset.skip(skip_steps * local)
        dataset = dataset_fn(global_batch_size).skip(skip_steps)
        if context.num_replicas_in_sync == 1:
            return dataset
        begin = context.input_pipeline_id * local * per_replica
        rows = local * per_replica

        def share(batch):
            return tf.nest.map_structure(lambda t: t[begin:begin + rows], batch)

        dataset = dataset.map(share)
        if local > 1:
            dataset = dataset.unbatch().batch(per_replica, drop_remainder=True)
        return dataset.prefetch(tf.data.AUTOTUNE)

    return strategy.distribute_datasets_from_function(per_pipeline)


def prepare_model_for_fit(model, strategy):
    """Makes `model.fit` work under `strategy` with Keras 3's TensorFlow trainer (idempotent).

    Two Keras defects break `fit` under `MultiWorkerMirroredStrategy` (and its symbolic build under
    TPUStrategy): before training it all-reduces a whole data batch with `strategy.reduce("MEAN",
    dict_of_PerReplica)`, which only `MirroredStrategy` accepts for nested values ("Attempt to convert
    a value ({'input_ids': PerReplica...}) with an unsupported type dict"); and after every step it
    averages the scalar metrics with `reduce("MEAN", v, axis=0)`, which fails on scalars. The first
    only builds what a built model already has, so it is skipped for built models; for the second, the
    step's metrics get a leading axis of one so the cross-worker mean is well defined.
    """
    if getattr(model, "_albert_tf_fit_ready", False):
        return model
    if not model.built:
        raise ValueError(f"{model.name}: build the model (call it once) before training it under a strategy.")
    keras_build = model._maybe_symbolic_build  # noqa: SLF001

    def symbolic_build(self, iterator=None, data_batch=None):
        unbuilt = (
            (self.optimizer is not None and not self.optimizer.built)
            or not all(layer.built for layer in self._flatten_layers())  # noqa: SLF001
        )
        if unbuilt:
            keras_build(iterator=iterator, data_batch=data_batch)

    model._maybe_symbolic_build = types.MethodType(symbolic_build, model)  # noqa: SLF001
    if in_multi_worker_mode(strategy):
        for name in ("train_step", "test_step"):
            step = getattr(model, name)

            def with_axis(data, step=step):
                return tf.nest.map_structure(lambda v: tf.reshape(v, [1]) if v.shape.rank == 0 else v, step(data))

            setattr(model, name, with_axis)
    model._albert_tf_fit_ready = True  # noqa: SLF001
    return model


# ---------------------------------------------------------------------------------------------------
# Splitting a run into fit calls.


@dataclasses.dataclass(frozen=True)
class FitCall:
    """One `fit` call: `epochs` checkpoint intervals of `steps_per_epoch` steps from step `start`."""

    start: int
    steps_per_epoch: int
    epochs: int
    steps_per_execution: int

    @property
    def end(self) -> int:
        return self.start + self.steps_per_epoch * self.epochs


def steps_per_execution_for(role: WorkerRole, iterations_per_loop: int, save_every: int, log_every: int) -> int:
    """Steps per `fit` execution: the largest that divides `--iterations_per_loop`, the checkpoint and
    the logging intervals (so no checkpoint or log step falls inside an execution); 1 under
    MultiWorkerMirroredStrategy, where Keras 3's multi-step loop (a while loop over
    `get_next_as_optional` inside `tf.cond`) fails with collective ops in the step ("You must feed a
    value for placeholder tensor ...while/cond/Placeholder")."""
    steps = math.gcd(iterations_per_loop, save_every, log_every)
    if role.multi_worker and steps > 1:
        logger.warning("--iterations_per_loop: one step per execution under MultiWorkerMirroredStrategy "
                       "(Keras 3's multi-step loop fails with collective ops)")
        steps = 1
    return steps


def plan_fit_calls(done: int, total: int, save_every: int, steps_per_execution: int) -> List[FitCall]:
    """The `fit` calls from step `done` to `total`, a checkpoint every `save_every` steps and at the end.

    Every execution starts and ends on a multiple of its `steps_per_execution`, a divisor of the one
    asked for, so logging and checkpoint steps (multiples of it) are never inside an execution: a stretch
    cut by a SIGTERM first runs up to the next checkpoint, then whole intervals, then the short rest.
    """
    calls = []
    position = done
    if position % save_every and position < total:
        end = min(total, position - position % save_every + save_every)
        calls.append(FitCall(position, end - position, 1, math.gcd(steps_per_execution, position, end)))
        position = end
    full = (total - position) // save_every
    if full:
        calls.append(FitCall(position, save_every, full, math.gcd(steps_per_execution, save_every)))
        position += full * save_every
    if position < total:
        calls.append(FitCall(position, total - position, 1, math.gcd(steps_per_execution, position, total)))
    return calls


def _write_json(path, value):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, sort_keys=True, default=str)
        f.write("\n")
    os.replace(tmp, path)


def read_json(path) -> Optional[dict]:
    """A JSON file written by `write_json`, or None when absent or unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return None


write_json = _write_json
