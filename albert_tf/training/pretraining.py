"""The pretraining run: the original `run_pretraining.py` on Keras `fit` inside any tf.distribute strategy.

Durable by construction: a checkpoint (model, optimizer, step) every `save_checkpoints_steps` batches,
the newest `keep_checkpoint_max` kept, and automatic resume from the latest one. A resumed run replays
the deterministic input stream from the step it stopped at, and the dropout generators are part of the
checkpoint, so a run killed and resumed ends with the weights of an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from typing import Callable, Optional

import keras
import tensorflow as tf

from albert_tf.config import AlbertConfig
from albert_tf.models.pretrainer import AlbertPretrainer
from albert_tf.training.optimizers import create_optimizer
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
    seed: int = 12345
    verbose: int = 1

    def validate(self):
        for name in ("train_batch_size", "eval_batch_size", "num_train_steps", "save_checkpoints_steps",
                     "keep_checkpoint_max", "iterations_per_loop", "max_eval_steps", "gradient_accumulation_steps"):
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


class _Checkpointer(keras.callbacks.Callback):
    """Saves at the end of every fit "epoch" (= `save_checkpoints_steps` batches)."""

    def __init__(self, manager, batches):
        super().__init__()
        self.manager = manager
        self.batches = batches

    def on_epoch_end(self, epoch, logs=None):
        path = self.manager.save(checkpoint_number=int(self.batches.numpy()))
        logger.info("saved checkpoint %s", path)


class _BatchCounter(keras.callbacks.Callback):
    """Counts consumed batches in a variable that the checkpoint carries (optimizer iterations count
    updates, which differ from batches under gradient accumulation and loss-scale skips)."""

    def __init__(self, batches, steps_per_execution):
        super().__init__()
        self.batches = batches
        self.steps_per_execution = steps_per_execution

    def on_train_batch_end(self, batch, logs=None):
        self.batches.assign_add(self.steps_per_execution)


def _dtype_policy(options, strategy):
    # Given to the model rather than set globally, so a run leaves Keras' global policy as it found it.
    return PRECISIONS[options.precision] or recommended_mixed_precision_policy(strategy)


def _initialise(model, options, config):
    """Applies `--init_checkpoint`: an original TF1 checkpoint, a `.keras`/`.weights.h5` file, or one of ours."""
    path = options.init_checkpoint
    if os.path.isdir(path):
        path = tf.train.latest_checkpoint(path) or tf.train.latest_checkpoint(os.path.join(path, "checkpoints")) or path
    if path.endswith(".keras") or path.endswith(".weights.h5"):
        model.load_weights(path)
        return f"weights from {path}"
    try:
        names = dict(tf.train.list_variables(path))
    except (tf.errors.NotFoundError, ValueError) as e:
        raise FileNotFoundError(f"--init_checkpoint {options.init_checkpoint}: not a readable checkpoint ({e}).") from None
    if any(n.startswith(("bert/", "module/bert/")) for n in names):
        from albert_tf.checkpoints.original import assign_from_original

        reader = tf.train.load_checkpoint(path)
        report = assign_from_original(model, names, reader.get_tensor, path, init_from_group0=options.init_from_group0)
        return f"original checkpoint {path}: {report.summary()}"
    # Optimizer slots are never restored from an init checkpoint, as in the original.
    tf.train.Checkpoint(model=model).restore(path).expect_partial()
    return f"albert_tf checkpoint {path}"


def run_pretraining(
    config: AlbertConfig,
    options: PretrainingOptions,
    train_dataset_fn: Callable[[int], tf.data.Dataset],
    eval_dataset_fn: Optional[Callable[[int], tf.data.Dataset]] = None,
    do_train: bool = True,
    do_eval: bool = False,
    callbacks=(),
):
    """Pretrains (and/or evaluates) an `AlbertPretrainer`; returns `(model, results)`.

    `train_dataset_fn(batch_size)` returns a deterministic, repeating `tf.data.Dataset` of feature dicts
    batched to `batch_size` examples (the global micro-batch) with `drop_remainder=True`; the runner
    skips the batches a resumed run already consumed. `eval_dataset_fn(batch_size)` likewise for
    evaluation. Results (eval metrics, steps, seconds) are also written to `output_dir`.
    """
    options.validate()
    os.makedirs(options.output_dir, exist_ok=True)
    keras.utils.set_random_seed(options.seed)
    strategy = select_strategy(options.strategy, tpu=options.tpu, tpu_zone=options.tpu_zone, gcp_project=options.gcp_project)
    policy = _dtype_policy(options, strategy)
    replicas = strategy.num_replicas_in_sync
    jit_compile = options.jit_compile
    if jit_compile and replicas > 1 and not isinstance(strategy, tf.distribute.TPUStrategy):
        # Keras compiles the whole multi-device step as one XLA function, which fails across devices.
        logger.warning("--jit_compile is ignored with %d replicas outside TPUs", replicas)
        jit_compile = False

    save_every = min(options.save_checkpoints_steps, options.total_batches)
    steps_per_execution = math.gcd(options.iterations_per_loop, save_every)
    with strategy.scope():
        model = AlbertPretrainer(config, dtype=policy)
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
        batches = tf.Variable(0, dtype=tf.int64, trainable=False, name="consumed_batches")
        # Dropout generator states are Keras variables that tf.train.Checkpoint does not reach through
        # the model; without them a resumed run would draw different dropout masks.
        seed_states = [v for v in model.variables if v.path.endswith("seed_generator_state")]
        checkpoint = tf.train.Checkpoint(
            model=model, optimizer=optimizer, consumed_batches=batches, dropout_seeds=seed_states
        )
    manager = tf.train.CheckpointManager(
        checkpoint, os.path.join(options.output_dir, "checkpoints"), max_to_keep=options.keep_checkpoint_max
    )
    results = {"precision": policy, "replicas": replicas, "jit_compile": jit_compile}
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        results["resumed_from"] = manager.latest_checkpoint
        logger.info("resumed from %s at batch %d", manager.latest_checkpoint, int(batches.numpy()))
    elif options.init_checkpoint:
        results["initialised_from"] = _initialise(model, options, config)

    started = time.time()
    if do_train:
        done = int(batches.numpy())
        remaining = options.total_batches - done
        if remaining > 0:
            dataset = train_dataset_fn(options.micro_batch_size).skip(done)
            log_dir = os.path.join(options.output_dir, "tensorboard")
            all_callbacks = [
                _BatchCounter(batches, steps_per_execution),
                _Checkpointer(manager, batches),
                keras.callbacks.TensorBoard(log_dir=log_dir, update_freq=steps_per_execution),
                keras.callbacks.CSVLogger(os.path.join(options.output_dir, "train_metrics.csv"), append=done > 0),
                *callbacks,
            ]
            full_epochs, last = divmod(remaining, save_every)
            first_epoch = done // save_every
            history = {}
            if full_epochs:
                fitted = model.fit(
                    dataset,
                    initial_epoch=first_epoch,
                    epochs=first_epoch + full_epochs,
                    steps_per_epoch=save_every,
                    callbacks=all_callbacks,
                    shuffle=False,
                    verbose=options.verbose,
                )
                history = fitted.history
            if last and not model.stop_training:
                # The final stretch shorter than a checkpoint interval; it still ends with a checkpoint.
                # steps_per_execution must divide it, so it runs one step at a time.
                model.compile(optimizer=optimizer, jit_compile=jit_compile, steps_per_execution=1)
                all_callbacks[0].steps_per_execution = 1
                fitted = model.fit(dataset.skip(full_epochs * save_every), steps_per_epoch=last, epochs=1,
                                   callbacks=all_callbacks, shuffle=False, verbose=options.verbose)
                history = {k: history.get(k, []) + v for k, v in fitted.history.items()}
            results["train"] = {k: float(v[-1]) for k, v in history.items() if v}
        results["train_batches"] = int(batches.numpy())
        results["train_seconds"] = time.time() - started
        model.save(os.path.join(options.output_dir, "model.keras"))

    if do_eval:
        if eval_dataset_fn is None:
            raise ValueError("do_eval needs an eval_dataset_fn (--eval_input_file).")
        evaluated = model.evaluate(
            eval_dataset_fn(options.eval_batch_size), steps=options.max_eval_steps, return_dict=True, verbose=options.verbose
        )
        evaluated["global_step"] = int(batches.numpy())
        results["eval"] = evaluated
        # The original's eval_results.txt format: "key = value" lines.
        with open(os.path.join(options.output_dir, "eval_results.txt"), "a", encoding="utf-8") as f:
            for key in sorted(evaluated):
                f.write(f"{key} = {evaluated[key]}\n")

    _write_json(os.path.join(options.output_dir, "results.json"), results)
    # curves.png beside train_metrics.csv; a no-op without matplotlib (the `plot` extra).
    from albert_tf.training.curves import write_curves

    write_curves(options.output_dir, steps_per_row=min(options.save_checkpoints_steps, options.total_batches))
    return model, results


def _write_json(path, value):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, sort_keys=True, default=str)
        f.write("\n")
    os.replace(tmp, path)
