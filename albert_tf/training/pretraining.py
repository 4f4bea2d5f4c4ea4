"""The pretraining run: the original `run_pretraining.py` on Keras `fit` inside any tf.distribute strategy.

Durable by construction: a checkpoint (model, optimizer, step) every `save_checkpoints_steps` batches,
the newest `keep_checkpoint_max` kept, and automatic resume from the latest one. A resumed run replays
the deterministic input stream from the step it stopped at, and the dropout generators are part of the
checkpoint, so a run killed and resumed ends with the weights of an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Callable, Optional

import keras
import numpy as np
import tensorflow as tf

from albert_tf.config import AlbertConfig
from albert_tf.models.pretrainer import AlbertPretrainer
from albert_tf.training.optimizers import create_optimizer
from albert_tf.errors import UserInputError
from albert_tf.training.runner import (
    CheckpointSaver,
    MetricsCSV,
    PreemptionWatcher,
    RunRecord,
    ScalarLogger,
    StepCounter,
    TrainingCheckpoint,
    WorkerRole,
    distributed_dataset,
    initialise_weights,
    plan_fit_calls,
    prepare_model_for_fit,
    steps_per_execution_for,
    read_json,
    write_json,
)
from albert_tf.training.strategy import recommended_mixed_precision_policy, select_strategy

logger = logging.getLogger(__name__)

PRECISIONS = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16", "auto": None}


@dataclasses.dataclass
class PretrainingOptions:
    """The original `run_pretraining.py` flags (same names and defaults), plus what goes beyond it."""

    output_dir: str
    train_batch_size: int = 4096
    eval_batch_size: int = 64
    max_seq_length: int = 512
    max_predictions_per_seq: int = 20
    optimizer: str = "lamb"
    learning_rate: float = 0.00176
    poly_power: float = 1.0
    num_train_steps: int = 125000
    num_warmup_steps: int = 3125
    start_warmup_step: int = 0
    save_checkpoints_steps: int = 5000
    keep_checkpoint_max: int = 5
    iterations_per_loop: int = 1000
    max_eval_steps: int = 100
    init_checkpoint: Optional[str] = None
    init_from_group0: bool = False
    # Beyond the original.
    strategy: str = "auto"
    tpu: Optional[str] = None
    tpu_zone: Optional[str] = None
    gcp_project: Optional[str] = None
    precision: str = "auto"
    jit_compile: bool = False
    gradient_accumulation_steps: int = 1
    log_every_steps: int = 100
    seed: int = 12345
    verbose: int = 1

    def validate(self):
        for name in ("train_batch_size", "eval_batch_size", "num_train_steps", "save_checkpoints_steps",
                     "keep_checkpoint_max", "iterations_per_loop", "max_eval_steps", "gradient_accumulation_steps",
                     "log_every_steps"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be positive, got {getattr(self, name)}.")
        if self.num_warmup_steps < 0:
            raise ValueError(f"--num_warmup_steps must be >= 0, got {self.num_warmup_steps}.")
        if self.precision not in PRECISIONS:
            raise ValueError(f"--precision must be one of {sorted(PRECISIONS)}, got {self.precision!r}.")
        if self.train_batch_size % self.gradient_accumulation_steps:
            raise ValueError(
                f"--train_batch_size ({self.train_batch_size}) must be divisible by "
                f"--gradient_accumulation_steps ({self.gradient_accumulation_steps})."
            )

    @property
    def micro_batch_size(self) -> int:
        """Examples per forward pass: with accumulation, one update spans several micro-batches."""
        return self.train_batch_size // self.gradient_accumulation_steps

    @property
    def total_batches(self) -> int:
        return self.num_train_steps * self.gradient_accumulation_steps


def _dtype_policy(options, strategy):
    # Given to the model rather than set globally, so a run leaves Keras' global policy as it found it.
    return PRECISIONS[options.precision] or recommended_mixed_precision_policy(strategy)


def run_settings(config: AlbertConfig, options: PretrainingOptions) -> dict:
    """What a resume must keep: the model's config and the flags that shape the model, its optimizer
    state or the meaning of the step counter (stored in `run_config.json`)."""
    return {
        "albert_config": config.to_dict(),
        "max_seq_length": options.max_seq_length,
        "max_predictions_per_seq": options.max_predictions_per_seq,
        "optimizer": options.optimizer,
        "train_batch_size": options.train_batch_size,
        "gradient_accumulation_steps": options.gradient_accumulation_steps,
    }


def run_pretraining(
    config: AlbertConfig,
    options: PretrainingOptions,
    train_dataset_fn: Callable[..., tf.data.Dataset],
    eval_dataset_fn: Optional[Callable[..., tf.data.Dataset]] = None,
    do_train: bool = True,
    do_eval: bool = False,
    callbacks=(),
    strategy: Optional[tf.distribute.Strategy] = None,
    extra_results: Optional[dict] = None,
):
    """Pretrains (and/or evaluates) an `AlbertPretrainer`; returns `(model, results)`.

    `train_dataset_fn(batch_size)` returns a deterministic, repeating `tf.data.Dataset` of feature dicts
    batched to `batch_size` examples (the global micro-batch) with `drop_remainder=True`; under a
    multi-replica strategy every input pipeline then keeps its replicas' rows of each global batch.
    A `train_dataset_fn(batch_size, input_context)` instead reads its pipeline's share of the files,
    batched per replica (see `albert_tf.training.runner.distributed_dataset`). The runner skips the
    batches a resumed run already consumed. `eval_dataset_fn` likewise for evaluation.

    Outputs in `output_dir` (the chief's only, under a multi-worker strategy): `checkpoints/`,
    `run_config.json`, `train_metrics.csv`, `tensorboard/`, `model.keras`, `results.json` and, with
    `do_eval`, `eval_results.txt`. A SIGTERM saves a checkpoint at the next step boundary and returns
    with `results["preempted"]`; the next call resumes there. `strategy` overrides `options.strategy`
    (a `MultiWorkerMirroredStrategy` must be created before any other TensorFlow op runs).
    `extra_results` are stored in `results.json` with the run's own (the caller's notes on its input).
    """
    options.validate()
    if strategy is None:
        strategy = select_strategy(options.strategy, tpu=options.tpu, tpu_zone=options.tpu_zone,
                                   gcp_project=options.gcp_project)
    role = WorkerRole(strategy, options.output_dir)
    try:
        return _run(config, options, strategy, role, train_dataset_fn, eval_dataset_fn, do_train, do_eval, callbacks,
                    extra_results or {})
    finally:
        role.cleanup()


def _run(config, options, strategy, role, train_dataset_fn, eval_dataset_fn, do_train, do_eval, callbacks,
         extra_results):
    if role.is_chief:
        os.makedirs(options.output_dir, exist_ok=True)
    keras.utils.set_random_seed(options.seed)
    policy = _dtype_policy(options, strategy)
    replicas = strategy.num_replicas_in_sync
    jit_compile = options.jit_compile
    if jit_compile and replicas > 1 and not isinstance(strategy, tf.distribute.TPUStrategy):
        # Keras compiles the whole multi-device step as one XLA function, which fails across devices.
        logger.warning("--jit_compile is ignored with %d replicas outside TPUs", replicas)
        jit_compile = False
    if options.micro_batch_size % replicas:
        raise UserInputError(
            f"--train_batch_size {options.train_batch_size} (per update micro-batch {options.micro_batch_size}) "
            f"must be divisible by the {replicas} replicas of the strategy."
        )

    checkpoint_dir = os.path.join(options.output_dir, "checkpoints")
    record = RunRecord(options.output_dir)
    settings = run_settings(config, options)
    resuming = tf.train.latest_checkpoint(checkpoint_dir) is not None
    if resuming:
        record.check(settings)

    save_every = min(options.save_checkpoints_steps, options.total_batches)
    steps_per_execution = steps_per_execution_for(role, options.iterations_per_loop, save_every, options.log_every_steps)
    results = {**extra_results, "precision": policy, "replicas": replicas, "jit_compile": jit_compile}
    with strategy.scope():
        model = AlbertPretrainer(config, dtype=policy)
        if options.init_checkpoint and not resuming:
            # Before compile: an uncompiled model cannot take over the source's optimizer state or step.
            results["initialised_from"] = initialise_weights(model, options.init_checkpoint, options.init_from_group0)
        optimizer = create_optimizer(
            options.optimizer,
            options.learning_rate,
            options.num_train_steps,
            options.num_warmup_steps,
            poly_power=options.poly_power,
            start_warmup_step=options.start_warmup_step,
            gradient_accumulation_steps=options.gradient_accumulation_steps if options.gradient_accumulation_steps > 1 else None,
        )
        if policy == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        model.compile(optimizer=optimizer, jit_compile=jit_compile, steps_per_execution=steps_per_execution)
        optimizer.build(model.trainable_variables)
        checkpoint = TrainingCheckpoint(model, optimizer, read_dir=checkpoint_dir, write_dir=role.path("checkpoints"),
                                        max_to_keep=options.keep_checkpoint_max)
    prepare_model_for_fit(model, strategy)
    if resuming:
        results["resumed_from"] = checkpoint.restore_latest()
        logger.info("resumed from %s at batch %d", results["resumed_from"], int(checkpoint.step.numpy()))
    if role.is_chief:
        record.write(settings)
    previous = read_json(os.path.join(options.output_dir, "results.json")) if resuming else None
    verbose = options.verbose if role.is_chief else 0

    started = time.time()
    if do_train:
        done = int(checkpoint.step.numpy())
        if done >= options.total_batches:
            note = (
                f"--num_train_steps {options.num_train_steps}: the checkpoint {results['resumed_from']} is already at "
                f"batch {done}, nothing to train; raise --num_train_steps to train further."
            )
            logger.warning(note)
            results["note"] = note
            for key in ("train", "train_seconds"):
                if previous and key in previous:
                    results[key] = previous[key]
        else:
            metrics_csv = MetricsCSV(role.path("train_metrics.csv"), checkpoint.step)
            if resuming:
                metrics_csv.truncate_after(done)
            counter = StepCounter(checkpoint.step)
            saver = CheckpointSaver(checkpoint)
            watcher = PreemptionWatcher(strategy, multi_worker=role.multi_worker)
            all_callbacks = [
                counter,
                watcher,
                saver,
                ScalarLogger(role.path("tensorboard", "train"), checkpoint.step, options.log_every_steps),
                metrics_csv,
                *callbacks,
            ]
            history = {}
            compiled_for = steps_per_execution
            with watcher:
                for call in plan_fit_calls(done, options.total_batches, save_every, steps_per_execution):
                    if watcher.requested:
                        break
                    if call.steps_per_execution != compiled_for:
                        with strategy.scope():
                            model.compile(optimizer=optimizer, jit_compile=jit_compile,
                                          steps_per_execution=call.steps_per_execution)
                        compiled_for = call.steps_per_execution
                    counter.steps_per_execution = call.steps_per_execution
                    dataset = distributed_dataset(strategy, train_dataset_fn, options.micro_batch_size, call.start)
                    fitted = model.fit(dataset, epochs=call.epochs, steps_per_epoch=call.steps_per_epoch,
                                       callbacks=all_callbacks, shuffle=False, verbose=verbose)
                    history = {k: history.get(k, []) + list(v) for k, v in fitted.history.items()}
            results["train"] = {k: float(np.asarray(v[-1]).reshape(-1)[0]) for k, v in history.items() if v}
            if watcher.requested:
                results["preempted"] = {"batch": int(checkpoint.step.numpy()), "checkpoint": saver.last_path}
        results["train_batches"] = int(checkpoint.step.numpy())
        results["train_seconds"] = results.get("train_seconds", time.time() - started)
        if "preempted" not in results and not ("note" in results and os.path.exists(role.path("model.keras"))):
            model.save(role.path("model.keras"))

    if do_eval and "preempted" not in results:
        if eval_dataset_fn is None:
            raise ValueError("do_eval needs an eval_dataset_fn (--eval_input_file).")
        evaluated = model.evaluate(
            distributed_dataset(strategy, eval_dataset_fn, options.eval_batch_size),
            steps=options.max_eval_steps, return_dict=True, verbose=verbose,
        )
        evaluated = {k: float(np.asarray(v).reshape(-1)[0]) for k, v in evaluated.items()}
        evaluated["global_step"] = int(checkpoint.step.numpy())
        results["eval"] = evaluated
        # The original's eval_results.txt format: "key = value" lines.
        with open(role.path("eval_results.txt"), "a", encoding="utf-8") as f:
            for key in sorted(evaluated):
                f.write(f"{key} = {evaluated[key]}\n")

    if previous:
        results = {**{k: v for k, v in previous.items() if k not in ("preempted", "note")}, **results}
    write_json(role.path("results.json"), results)
    if "preempted" not in results:  # a preempted run has seconds to exit: no plotting then
        # curves.png beside train_metrics.csv; a no-op without matplotlib (the `plot` extra).
        from albert_tf.training.curves import write_curves

        write_curves(os.path.dirname(role.path("results.json")), steps_per_row=save_every)
    return model, results
