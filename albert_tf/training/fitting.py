"""Feeding `fit` under a strategy and splitting a run into `fit` calls that end on every checkpoint.

Example:

>>> plan_fit_calls(done=5, total=23, save_every=4, steps_per_execution=4)
[FitCall(start=5, steps_per_epoch=3, epochs=1, steps_per_execution=1), FitCall(start=8, steps_per_epoch=4, epochs=3, steps_per_execution=4), FitCall(start=20, steps_per_epoch=3, epochs=1, steps_per_execution=1)]
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import math
from typing import Callable, List

import tensorflow as tf

from albert_tf._compat import mark_fit_ready
from albert_tf.training.cluster import WorkerRole

logger = logging.getLogger(__name__)


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
    if not model.built:
        raise ValueError(f"{model.name}: build the model (call it once) before training it under a strategy.")
    # The patches themselves (and the mark that makes this idempotent) live in albert_tf._compat.
    return mark_fit_ready(model, strategy)


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


