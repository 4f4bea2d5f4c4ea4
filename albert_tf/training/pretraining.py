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

import numpy as np
import tensorflow as tf

from albert_tf.checkpoints.initialisation import initialise_weights
from albert_tf.config import AlbertConfig
from albert_tf.errors import UserInputError
from albert_tf.models.pretrainer import AlbertPretrainer
from albert_tf.training.checkpointing import read_json, write_eval_results
from albert_tf.training.engine import PRECISIONS, RunSpec, TrainingEngine
from albert_tf.training.fitting import distributed_dataset
from albert_tf.training.interruption import kill_point
from albert_tf.training.optimizers import create_optimizer
from albert_tf.training.recipe import recipe_warnings
from albert_tf.training.strategy import select_strategy

logger = logging.getLogger(__name__)


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
    #: Stop after this many updates in a row skipped for a NaN/Inf loss or gradient (0: never stop).
    max_consecutive_bad_steps: int = 3
    #: Score the held-out data every this many steps during training (0: only at the end, with do_eval):
    #: a multiple of save_checkpoints_steps, since a checkpoint is what gets scored (a resume then redoes
    #: a lost evaluation exactly). Scores go to eval_history.json, TensorBoard and curves.png; the
    #: checkpoint with the best held-out MLM accuracy is kept in best/.
    eval_every_steps: int = 0
    #: Warn when the loss of an execution (`log_every_steps` steps at most) is this many times the median
    #: of the last 20, naming its steps (0: never); `results.json` keeps them as `loss_spikes`.
    loss_spike_factor: float = 3.0

    def validate(self):
        for name in ("train_batch_size", "eval_batch_size", "num_train_steps", "save_checkpoints_steps",
                     "keep_checkpoint_max", "iterations_per_loop", "max_eval_steps", "gradient_accumulation_steps",
                     "log_every_steps"):
            if getattr(self, name) <= 0:
                raise ValueError(f"--{name} must be positive, got {getattr(self, name)}.")
        for name in ("num_warmup_steps", "max_consecutive_bad_steps", "eval_every_steps", "loss_spike_factor"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}.")
        if self.eval_every_steps % self.save_checkpoints_steps:
            raise ValueError(
                f"--eval_every_steps {self.eval_every_steps} must be a multiple of --save_checkpoints_steps "
                f"{self.save_checkpoints_steps}: evaluations score saved checkpoints."
            )
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
    loss_spike_hint: Optional[Callable[[int, int], str]] = None,
):
    """Pretrains (and/or evaluates) an `AlbertPretrainer`; returns `(model, results)`.

    `train_dataset_fn(batch_size)` returns a deterministic, repeating `tf.data.Dataset` of feature dicts
    batched to `batch_size` examples (the global micro-batch) with `drop_remainder=True`; under a
    multi-replica strategy every input pipeline then keeps its replicas' rows of each global batch.
    A `train_dataset_fn(batch_size, input_context)` instead reads its pipeline's share of the files,
    batched per replica (see `albert_tf.training.fitting.distributed_dataset`). The runner skips the
    batches a resumed run already consumed. `eval_dataset_fn` likewise for evaluation.

    Outputs in `output_dir` (the chief's only, under a multi-worker strategy): `checkpoints/`,
    `run_config.json`, `train_metrics.csv`, `tensorboard/`, `model.keras`, `results.json` and, with
    `do_eval`, `eval_results.txt`. A SIGTERM or SIGINT saves a checkpoint at the next step boundary and
    returns with `results["preempted"]` (batch, checkpoint, signal, exit_code); the next call resumes there. `strategy` overrides `options.strategy`
    (a `MultiWorkerMirroredStrategy` must be created before any other TensorFlow op runs).
    `extra_results` are stored in `results.json` with the run's own (the caller's notes on its input), and
    so are the departures from the original recipe that are logged as warnings (`recipe_warnings`, see
    `albert_tf.training.recipe`). A loss spike (`options.loss_spike_factor`) is logged with its steps and
    `loss_spike_hint(first, last)`, how to find its batches (`albert-pretrain` names the
    `albert-locate-batches` command), and kept in `results["loss_spikes"]`.
    """
    options.validate()
    notes = recipe_warnings(config, options)
    for note in notes:
        logger.warning(note)
    if notes:
        extra_results = {**(extra_results or {}), "recipe_warnings": notes}
    if strategy is None:
        strategy = select_strategy(options.strategy, tpu=options.tpu, tpu_zone=options.tpu_zone,
                                   gcp_project=options.gcp_project)
    replicas = strategy.num_replicas_in_sync
    if options.micro_batch_size % replicas:
        raise UserInputError(
            f"--train_batch_size {options.train_batch_size} (per update micro-batch {options.micro_batch_size}) "
            f"must be divisible by the {replicas} replicas of the strategy."
        )
    if options.eval_every_steps and eval_dataset_fn is None:
        raise ValueError("--eval_every_steps needs held-out data (--eval_input_file).")
    spec = _spec(config, options, train_dataset_fn, eval_dataset_fn, callbacks, loss_spike_hint)
    with TrainingEngine(spec, strategy) as engine:
        return _run(engine, options, eval_dataset_fn, do_train, do_eval, extra_results or {})


def _evaluate(engine: TrainingEngine, options, eval_dataset_fn) -> dict:
    """The pretrainer's metrics on `options.max_eval_steps` held-out batches."""
    evaluated = engine.model.evaluate(
        distributed_dataset(engine.strategy, eval_dataset_fn, options.eval_batch_size),
        steps=options.max_eval_steps, return_dict=True, verbose=0,
    )
    return {k: float(np.asarray(v).reshape(-1)[0]) for k, v in evaluated.items()}


def _spec(config, options, train_dataset_fn, eval_dataset_fn, callbacks, loss_spike_hint=None) -> RunSpec:
    """Pretraining's declaration: an `AlbertPretrainer`, the original's optimizer, micro-batches, and
    with `eval_every_steps` a held-out evaluation of those checkpoints (the best MLM accuracy kept)."""
    accumulation = options.gradient_accumulation_steps
    periodic = {}
    if options.eval_every_steps:
        periodic = dict(best_key="masked_lm_accuracy", evaluate_every=options.eval_every_steps,
                        evaluate=lambda engine: _evaluate(engine, options, eval_dataset_fn))
    return RunSpec.from_options(
        options,
        settings=run_settings(config, options),
        build_model=lambda dtype: AlbertPretrainer(config, dtype=dtype),
        make_optimizer=lambda: create_optimizer(
            options.optimizer, options.learning_rate, options.num_train_steps, options.num_warmup_steps,
            poly_power=options.poly_power, start_warmup_step=options.start_warmup_step,
            gradient_accumulation_steps=accumulation if accumulation > 1 else None,
        ),
        initialise=(lambda model: initialise_weights(model, options.init_checkpoint, options.init_from_group0))
        if options.init_checkpoint else None,
        train_dataset_fn=train_dataset_fn,
        batch_size=options.micro_batch_size,
        total_steps=options.total_batches,
        keep_checkpoints=options.keep_checkpoint_max,
        callbacks=tuple(callbacks),
        loss_spike_factor=options.loss_spike_factor,
        loss_spike_hint=loss_spike_hint,
        **periodic,
    )


def _run(engine: TrainingEngine, options, eval_dataset_fn, do_train, do_eval, extra_results):
    engine.start()
    results = {**extra_results, **engine.results}
    previous = read_json(os.path.join(options.output_dir, "results.json")) if engine.resuming else None
    started = time.time()
    if do_train:
        outcome = engine.train()
        if outcome.already_done:
            note = (
                f"--num_train_steps {options.num_train_steps}: the checkpoint {results['resumed_from']} is already at "
                f"batch {engine.step}, nothing to train; raise --num_train_steps to train further."
            )
            logger.warning(note)
            results["note"] = note
            for key in ("train", "train_seconds"):
                if previous and key in previous:
                    results[key] = previous[key]
        else:
            results["train"] = outcome.metrics
            if outcome.nonfinite_steps_skipped is not None:
                results["nonfinite_steps_skipped"] = outcome.nonfinite_steps_skipped
            if outcome.nonfinite_restore is not None:
                results["nonfinite_restore"] = outcome.nonfinite_restore
            if outcome.loss_spikes:
                results["loss_spikes"] = outcome.loss_spikes
            if outcome.preempted:
                results["preempted"] = outcome.stop_record("batch", engine.step)
        results["train_batches"] = engine.step
        results["train_seconds"] = results.get("train_seconds", time.time() - started)
        if "preempted" not in results and not ("note" in results and os.path.exists(engine.path("model.keras"))):
            engine.save_model()

    if do_eval and "preempted" not in results:
        if eval_dataset_fn is None:
            raise ValueError("do_eval needs an eval_dataset_fn (--eval_input_file).")
        evaluated = _evaluate(engine, options, eval_dataset_fn)
        evaluated["global_step"] = engine.step
        kill_point("during_evaluation", engine.step)
        results["eval"] = evaluated
        # One block per evaluation, as the original's estimator appended them.
        write_eval_results(engine.path("eval_results.txt"), evaluated, append=True)

    if previous:
        results = {**{k: v for k, v in previous.items() if k not in ("preempted", "note", "nonfinite_stop")}, **results}
    engine.write_results(results)
    if "preempted" not in results:  # a preempted run has seconds to exit: no plotting then
        engine.write_curves(steps_per_row=engine.save_every)
    return engine.model, results
