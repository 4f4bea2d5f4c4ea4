"""The one training engine: every run (pretraining, each fine-tuning task) goes through `TrainingEngine`.

A run declares what differs in a `RunSpec` (its record, model, optimizer, input, length, checkpoint
interval, and optionally an evaluation of each checkpoint with the key that picks the best); the
engine does what they share: strategy scope and precision, model build, weights-only init, compile,
checkpoint with run-record check and resume, the callbacks (step counter, preemption, saver,
evaluation, scalar logger, CSV), `fit` in stretches that end on every checkpoint, and the files at the
end (`model.keras`, `results.json`, `curves.png`). The run then writes its own outputs (evaluation
files, predictions, export) with the engine's model.

A resume restores everything an uninterrupted run would have by then, whenever the kill came: the
newest checkpoint, the evaluation of every checkpoint that has none yet (a kill between a checkpoint
and its evaluation, or during it), the `train_metrics.csv` row of every checkpoint (written before the
checkpoint itself), and `model.keras` only ever appears whole. SIGTERM and SIGINT stop at the next
step boundary with a checkpoint (`TrainOutcome.signal_name`, `exit_code`; see
`albert_tf.training.interruption`, which also holds the test-only kill points).

Example (a two-step run of a tiny regression model):

>>> import tempfile
>>> def build(dtype):
...     inputs = keras.Input((2,), name="x")
...     model = keras.Model(inputs, keras.layers.Dense(1, dtype=dtype)(inputs))
...     model.compile(loss="mse")  # the engine compiles again with its optimizer; this sets the loss
...     return model
>>> def data(batch_size):
...     return tf.data.Dataset.from_tensors((tf.ones([2]), tf.ones([1]))).repeat().batch(batch_size)
>>> spec = RunSpec(output_dir=tempfile.mkdtemp(), settings={"kind": "example"}, build_model=build,
...                make_optimizer=lambda: keras.optimizers.SGD(0.1), train_dataset_fn=data, batch_size=4,
...                total_steps=2, save_every=2, keep_checkpoints=1, precision="fp32", verbose=0)
>>> engine = TrainingEngine(spec, tf.distribute.OneDeviceStrategy("/cpu:0"))
>>> engine.start()
>>> outcome = engine.train()
>>> engine.step, outcome.preempted, sorted(outcome.metrics)
(2, False, ['loss'])
>>> engine.close()
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Callable, Dict, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from albert_tf.training.callbacks import (
    CheckpointSaver,
    EvaluateAtCheckpoint,
    LossSpikeLogger,
    MetricsCSV,
    NonFiniteGuard,
    NonFiniteTrainingError,
    PreemptionWatcher,
    ScalarLogger,
    StepCounter,
    nonfinite_counters,
)
from albert_tf.training.checkpointing import RunRecord, TrainingCheckpoint, read_json, write_json
from albert_tf.training.cluster import WorkerRole
from albert_tf.training.curves import write_curves
from albert_tf.training.evaluation import CheckpointEvaluation, EvaluationHistory
from albert_tf.training.fitting import (
    distributed_dataset,
    plan_fit_calls,
    prepare_model_for_fit,
    steps_per_execution_for,
)
from albert_tf.training.interruption import exit_code, kill_point
from albert_tf.training.strategy import recommended_mixed_precision_policy

logger = logging.getLogger(__name__)

#: `--precision` values and the Keras dtype policy each names (None: the strategy's recommendation).
PRECISIONS = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16", "auto": None}


def dtype_policy(precision: str, strategy) -> str:
    # Given to the model rather than set globally, so a run leaves Keras' global policy as it found it.
    return PRECISIONS[precision] or recommended_mixed_precision_policy(strategy)


@dataclasses.dataclass
class RunSpec:
    """What a run declares; `TrainingEngine` does the rest.

    `settings`: the values a resume must keep (`run_config.json`). `build_model(dtype_policy)` is called
    inside the strategy scope; `initialise(model)` (optional) loads weights only, before compile, and
    returns a description. `adapt_model(model)` (optional) changes what trains (LoRA adapters, frozen
    weights) once the initial weights are in, on a new run and on a resume alike (before compile and the
    checkpoint restore, so the checkpoint's variables exist), and returns entries for `results`.
    `train_dataset_fn(batch_size[, input_context])` as
    `fitting.distributed_dataset` takes it, `batch_size` global examples per step, `total_steps` steps
    in all, a checkpoint every `save_every` (the newest `keep_checkpoints` kept). With `best_key`, the
    run keeps an evaluation history and a best checkpoint; `evaluate(engine)` (optional) scores the
    model after each checkpoint (with `evaluate_every`, after those at multiples of it), and the scores
    also go to `tensorboard/eval`.
    """

    output_dir: str
    settings: dict
    build_model: Callable[[str], keras.Model]
    make_optimizer: Callable[[], keras.optimizers.Optimizer]
    train_dataset_fn: Optional[Callable] = None
    batch_size: int = 1
    total_steps: int = 0
    save_every: int = 1
    keep_checkpoints: int = 5
    initialise: Optional[Callable[[keras.Model], str]] = None
    adapt_model: Optional[Callable[[keras.Model], dict]] = None
    precision: str = "auto"
    jit_compile: bool = False
    iterations_per_loop: int = 1000
    log_every_steps: int = 100
    seed: int = 12345
    verbose: int = 1
    max_consecutive_bad_steps: int = 3
    best_key: Optional[str] = None
    evaluate: Optional[Callable[["TrainingEngine"], dict]] = None
    evaluate_every: int = 0
    #: Warn when an execution's loss exceeds this many times the recent median (0: never); the warning
    #: ends with `loss_spike_hint(first_step, last_step)` (how to find those batches).
    loss_spike_factor: float = 0.0
    loss_spike_hint: Optional[Callable[[int, int], str]] = None
    callbacks: Sequence[keras.callbacks.Callback] = ()

    @classmethod
    def from_options(cls, options, **declared) -> "RunSpec":
        """A spec taking the flags every run shares (`SHARED_OPTIONS`, `save_checkpoints_steps`) from
        `options` (`PretrainingOptions`, `FinetuningOptions`) and the rest from `declared`."""
        shared = {name: getattr(options, name) for name in SHARED_OPTIONS}
        return cls(save_every=options.save_checkpoints_steps, **shared, **declared)


#: The flags of every run, with the same names in `PretrainingOptions` and `FinetuningOptions`.
SHARED_OPTIONS = ("output_dir", "precision", "jit_compile", "iterations_per_loop", "log_every_steps", "seed", "verbose",
                  "max_consecutive_bad_steps")


@dataclasses.dataclass
class TrainOutcome:
    """What `TrainingEngine.train` did: `already_done` (the checkpoint was at `total_steps`, nothing
    ran), the last logged value of each metric, and whether a SIGTERM or SIGINT (`signal_name`)
    stopped it (after saving `last_checkpoint`)."""

    already_done: bool = False
    metrics: Dict[str, float] = dataclasses.field(default_factory=dict)
    preempted: bool = False
    last_checkpoint: Optional[str] = None
    signal_name: Optional[str] = None
    #: Updates skipped for a NaN/Inf loss or gradient over the whole run (None: the optimizer never skips).
    nonfinite_steps_skipped: Optional[int] = None
    #: The streak of skipped updates that made the run go back to its last checkpoint and continue once:
    #: `{"step": where it tripped, "restored": the checkpoint}` (None: never).
    nonfinite_restore: Optional[dict] = None
    #: The loss spikes warned about (see `LossSpikeLogger`).
    loss_spikes: list = dataclasses.field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """The process's exit status: 0, or 128 + the signal that stopped it (143, 130)."""
        return exit_code(self.signal_name or "SIGTERM") if self.preempted else 0

    def stop_record(self, unit: str, step: int) -> dict:
        """`results.json`'s `preempted` entry: where it stopped, the checkpoint, the signal and exit status."""
        return {unit: step, "checkpoint": self.last_checkpoint, "signal": self.signal_name or "SIGTERM",
                "exit_code": self.exit_code}


class TrainingEngine:
    """Runs a `RunSpec` under `strategy`: `start()` (build, initialise or resume), `train()`, then the
    run's own outputs with `model`, and `close()` (a non-chief worker's temporary folder goes)."""

    def __init__(self, spec: RunSpec, strategy):
        self.spec = spec
        self.strategy = strategy
        self.role = WorkerRole(strategy, spec.output_dir)
        self.checkpoint_dir = os.path.join(spec.output_dir, "checkpoints")
        self.results: dict = {}
        self.evaluation: Optional[CheckpointEvaluation] = None

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        # A console script turns SIGTERM into an exception with `signal_name` (tools.flags.Terminated);
        # SIGINT arrives as KeyboardInterrupt.
        signal_name = "SIGINT" if kind is not None and issubclass(kind, KeyboardInterrupt) else getattr(kind, "signal_name", None)
        try:
            if signal_name in ("SIGTERM", "SIGINT") and self.role.is_chief:
                self._record_interruption(signal_name)
        finally:
            self.close()
        return False

    def _record_interruption(self, signal_name: str):
        # A signal outside `fit` (evaluating a resumed checkpoint, the final evaluation, the export) stops
        # the run at once; results.json still says where, as a stop at a step boundary does.
        path = self.path("results.json")
        results = read_json(path) or {}
        results["preempted"] = {"signal": signal_name, "exit_code": exit_code(signal_name),
                                "step": self.step if hasattr(self, "checkpoint") else None,
                                "outside_training": True}
        write_json(path, results)

    def close(self):
        self.role.cleanup()

    @property
    def step(self) -> int:
        """Batches consumed so far (the checkpointed counter)."""
        return int(self.checkpoint.step.numpy())

    @property
    def verbose(self) -> int:
        return self.spec.verbose if self.role.is_chief else 0

    def path(self, *parts) -> str:
        """Where this worker writes `parts` (the run's `output_dir` on the chief)."""
        return self.role.path(*parts)

    # ----------------------------------------------------------------------------------------------- start
    def start(self):
        """Builds the model and optimizer inside the strategy, then initialises (a new run) or
        restores the newest checkpoint (a resumed one, after checking its run record)."""
        spec, strategy = self.spec, self.strategy
        if self.role.is_chief:
            os.makedirs(spec.output_dir, exist_ok=True)
        keras.utils.set_random_seed(spec.seed)
        self.policy = dtype_policy(spec.precision, strategy)
        replicas = strategy.num_replicas_in_sync
        self.jit_compile = spec.jit_compile
        if self.jit_compile and replicas > 1 and not isinstance(strategy, tf.distribute.TPUStrategy):
            # Keras compiles the whole multi-device step as one XLA function, which fails across devices.
            logger.warning("--jit_compile is ignored with %d replicas outside TPUs", replicas)
            self.jit_compile = False
        record = RunRecord(spec.output_dir)
        self.resuming = tf.train.latest_checkpoint(self.checkpoint_dir) is not None
        if self.resuming:
            record.check(spec.settings)
        self.save_every = min(spec.save_every, spec.total_steps) if spec.total_steps else spec.save_every
        self.steps_per_execution = steps_per_execution_for(self.role, spec.iterations_per_loop, self.save_every,
                                                           spec.log_every_steps)
        self.results = {"precision": self.policy, "replicas": replicas, "jit_compile": self.jit_compile}
        with strategy.scope():
            self.model = spec.build_model(self.policy)
            if spec.initialise is not None and not self.resuming:
                # Before compile: an uncompiled model cannot take over the source's optimizer state or step.
                self.results["initialised_from"] = spec.initialise(self.model)
                logger.info("initialised from %s", self.results["initialised_from"])
            if spec.adapt_model is not None:
                self.results.update(spec.adapt_model(self.model))
            optimizer = spec.make_optimizer()
            if self.policy == "mixed_float16":
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            self.optimizer = optimizer
            self._compile(self.steps_per_execution)
            optimizer.build(self.model.trainable_variables)
            self.checkpoint = TrainingCheckpoint(self.model, optimizer, read_dir=self.checkpoint_dir,
                                                 write_dir=self.path("checkpoints"), max_to_keep=spec.keep_checkpoints)
        prepare_model_for_fit(self.model, strategy)
        if spec.best_key:
            self._start_evaluation()
        if self.resuming:
            self.results["resumed_from"] = self.checkpoint.restore_latest()
            logger.info("resumed from %s at step %d", self.results["resumed_from"], self.step)
            if self.evaluation is not None:
                self.evaluation.history.truncate_after(self.step)
                self._evaluate_pending()
        if self.role.is_chief:
            record.write(spec.settings)

    def _compile(self, steps_per_execution: int):
        self.model.compile(optimizer=self.optimizer, jit_compile=self.jit_compile,
                           steps_per_execution=steps_per_execution)
        self._compiled_for = steps_per_execution

    def _start_evaluation(self):
        history = EvaluationHistory(self.path("eval_history.json"), self.spec.best_key)
        if self.resuming:
            history.load()
        best_manager = tf.train.CheckpointManager(self.checkpoint.checkpoint, self.path("best"), max_to_keep=1,
                                                  checkpoint_name="model.ckpt-best")
        evaluate = (lambda: self.spec.evaluate(self)) if self.spec.evaluate else None
        self.evaluation = CheckpointEvaluation(history, best_manager, evaluate, self.role.is_chief,
                                               every=self.spec.evaluate_every, log_dir=self.path("tensorboard", "eval"))

    def _evaluate_pending(self):
        """Evaluates every kept checkpoint up to the restored one that has no evaluation yet (a kill came
        between its save and its recorded scores), oldest first, then restores the newest again."""
        restored = self.results["resumed_from"]
        state = tf.train.get_checkpoint_state(self.checkpoint_dir)
        paths = [p for p in (state.all_model_checkpoint_paths if state else []) if tf.io.gfile.exists(p + ".index")]
        steps = sorted((_checkpoint_step(p), p) for p in paths if _checkpoint_step(p) is not None)
        pending = [(step, path) for step, path in steps if step <= self.step and self.evaluation.pending(step)]
        for step, path in pending:
            if path != restored:
                self.checkpoint.checkpoint.restore(path).assert_existing_objects_matched()
            logger.info("evaluating %s, saved before the previous run stopped", path)
            self.evaluation.after_checkpoint(step)
        if pending and pending[-1][1] != restored:
            self.checkpoint.checkpoint.restore(restored).assert_existing_objects_matched()

    # ----------------------------------------------------------------------------------------------- train
    def train(self) -> TrainOutcome:
        """`fit` from the restored step to `total_steps`, in stretches that end on every checkpoint;
        a SIGTERM saves a checkpoint at the next step boundary and returns with `preempted`."""
        spec = self.spec
        done = self.step
        if done >= spec.total_steps:
            return TrainOutcome(already_done=True)
        metrics_csv = MetricsCSV(self.path("train_metrics.csv"), self.checkpoint.step)
        # Also on a fresh start: a run killed while writing its first checkpoint (the files written, the
        # state file not yet) leaves that interval's row and no checkpoint to resume from.
        metrics_csv.truncate_after(done)
        counter = StepCounter(self.checkpoint.step)
        saver = CheckpointSaver(self.checkpoint)
        watcher = PreemptionWatcher(self.strategy, multi_worker=self.role.multi_worker)
        # The order matters: count, warn of a loss spike, stop on a streak of skipped updates (before
        # anything of that step is written), then maybe stop, the CSV row (before its checkpoint, so no
        # kill separates them), save, evaluate the saved checkpoint, then log.
        callbacks = [counter, watcher, metrics_csv, saver]
        counters = nonfinite_counters(self.optimizer)
        guard = None
        if counters is not None:
            guard = NonFiniteGuard(*counters, self.checkpoint.step, spec.max_consecutive_bad_steps,
                                   last_checkpoint=lambda: tf.train.latest_checkpoint(self.checkpoint_dir))
            callbacks.insert(1, guard)
        spikes = None
        if spec.loss_spike_factor > 0:
            spikes = LossSpikeLogger(self.checkpoint.step, spec.loss_spike_factor, hint=spec.loss_spike_hint)
            callbacks.insert(1, spikes)
        if self.evaluation is not None:
            callbacks.append(EvaluateAtCheckpoint(self.evaluation.after_checkpoint, self.checkpoint.step))
        callbacks += [ScalarLogger(self.path("tensorboard", "train"), self.checkpoint.step, spec.log_every_steps),
                      *spec.callbacks]
        history = {}
        restore = None
        while True:
            try:
                self._fit(self.step, callbacks, counter, watcher, history)
                break
            except NonFiniteTrainingError as error:
                last = tf.train.latest_checkpoint(self.checkpoint_dir)
                if restore is None and last is not None:
                    # Once: a transient fault (a flipped bit, a nondeterministic kernel) passes on a replay
                    # of the same batches; a fault of the data or the settings comes back, and stops the run.
                    restore = {"step": self.step, "restored": last}
                    logger.warning("%s Restoring %s and continuing once, every setting unchanged.", error, last)
                    self._restore_for_replay(last, metrics_csv, guard)
                    continue
                if restore is not None:
                    error = NonFiniteTrainingError(
                        f"{error} (It came back after going back to {restore['restored']} once, at step "
                        f"{restore['step']}: nothing was lowered.)")
                if self.role.is_chief:
                    self._record_nonfinite_stop(error, counters[0], restore)
                raise error from None
        metrics = {k: float(np.asarray(v[-1]).reshape(-1)[0]) for k, v in history.items() if v}
        return TrainOutcome(metrics=metrics, preempted=watcher.requested, last_checkpoint=saver.last_path,
                            signal_name=watcher.signal_name,
                            nonfinite_steps_skipped=None if counters is None else int(counters[0].numpy()),
                            nonfinite_restore=restore, loss_spikes=spikes.spikes if spikes else [])

    def _restore_for_replay(self, path, metrics_csv, guard):
        """Back to checkpoint `path` in this process: weights, optimizer, step and dropout seeds, and the
        rows and evaluations recorded after it, as a resume from it would find them."""
        self.checkpoint.checkpoint.restore(path).assert_existing_objects_matched()
        metrics_csv.truncate_after(self.step)
        if self.evaluation is not None:
            self.evaluation.history.truncate_after(self.step)
        guard.resync()

    def _fit(self, done, callbacks, counter, watcher, history):
        spec = self.spec
        with watcher:
            for call in plan_fit_calls(done, spec.total_steps, self.save_every, self.steps_per_execution):
                if watcher.requested:
                    break
                if call.steps_per_execution != self._compiled_for:
                    with self.strategy.scope():
                        self._compile(call.steps_per_execution)
                counter.steps_per_execution = call.steps_per_execution
                dataset = distributed_dataset(self.strategy, spec.train_dataset_fn, spec.batch_size, call.start)
                fitted = self.model.fit(dataset, epochs=call.epochs, steps_per_epoch=call.steps_per_epoch,
                                        callbacks=callbacks, shuffle=False, verbose=self.verbose)
                history.update({k: history.get(k, []) + list(v) for k, v in fitted.history.items()})

    def _record_nonfinite_stop(self, error, skipped, restore=None):
        # The run ends with an error, not through the run's own results: results.json still says why.
        path = self.path("results.json")
        results = read_json(path) or {}
        results.update(self.results, nonfinite_steps_skipped=int(skipped.numpy()),
                       nonfinite_stop={"step": self.step, "reason": str(error)})
        if restore is not None:
            results["nonfinite_restore"] = restore
        write_json(path, results)

    # ----------------------------------------------------------------------------------------------- end
    def restore_best(self) -> bool:
        """Restores the best evaluated checkpoint, if there is one; True when it did."""
        best = self.evaluation.best_checkpoint if self.evaluation is not None else None
        if best:
            self.checkpoint.checkpoint.restore(best).assert_existing_objects_matched()
        return bool(best)

    def save_model(self) -> str:
        """`model.keras` in this worker's folder (every worker saves: collective reads stay in step),
        written under a temporary name and renamed, so a half-written file never looks finished."""
        path = self.path("model.keras")
        partial = self.path(".model.partial.keras")
        self.model.save(partial)
        kill_point("during_export")
        os.replace(partial, path)
        return path

    def write_results(self, results: dict):
        write_json(self.path("results.json"), results)

    def write_curves(self, steps_per_row: int = 1):
        """`curves.png` beside `train_metrics.csv` (a no-op without matplotlib, the `plot` extra)."""
        write_curves(os.path.dirname(self.path("results.json")), steps_per_row=steps_per_row)


def _checkpoint_step(path: str) -> Optional[int]:
    # The manager names checkpoints `ckpt-<step>` (`TrainingCheckpoint.save`).
    suffix = path.rsplit("-", 1)[-1]
    return int(suffix) if suffix.isdigit() else None
