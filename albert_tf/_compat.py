"""The one seam between albert_tf and private Keras / TensorFlow names.

Every use of an underscore attribute of Keras or TensorFlow, or of `tf.__internal__`, lives in this
module and nowhere else (`tests/test_compat.py` scans the tree). Each patch below names:

* the upstream defect it works around, with a minimal reproduction;
* the versions it was checked on;
* a test in `tests/test_compat.py` that fails *by the patch's name* when the private API moves.

Checked on: keras 3.10 to 3.x (see setup.cfg), tensorflow 2.20 and 2.21.
"""

from __future__ import annotations


# ---------------------------------------------------------------------------------------------------
# Section: fitting a model under a tf.distribute strategy (used by albert_tf.training).
# Checked on keras 3.15.1, tensorflow 2.20.0 (printed from keras.__version__ / tf.__version__).

import types  # noqa: E402 (each section keeps its own imports, so parallel edits merge cleanly)

import tensorflow as tf  # noqa: E402


def in_multi_worker_mode(strategy) -> bool:
    """Patch `in_multi_worker_mode`: True under a `MultiWorkerMirroredStrategy` spanning more than this process.

    Defect: TensorFlow has no public way to ask whether a `MultiWorkerMirroredStrategy` really spans
    several workers (one created without `TF_CONFIG` is a local mirrored strategy, where the
    multi-worker workarounds below must not run); only `strategy.extended._in_multi_worker_mode()`.
    Reproduction: `tf.distribute.MultiWorkerMirroredStrategy().extended._in_multi_worker_mode()` is
    False without `TF_CONFIG`, True with a two-worker `TF_CONFIG`; no public attribute differs.
    Checked on keras 3.15.1 / tensorflow 2.20.0.
    """
    return bool(
        isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        and strategy.extended._in_multi_worker_mode()  # noqa: SLF001 (no public equivalent)
    )


def skip_symbolic_build_when_built(model):
    """Patch `fit_ready_symbolic_build`: `model.fit` skips Keras' symbolic build for a built model.

    Defect: before training, Keras 3's TensorFlow trainer (`Model._maybe_symbolic_build`) all-reduces
    a whole data batch with `strategy.reduce("MEAN", dict_of_PerReplica)`, which only
    `MirroredStrategy` accepts for nested values; under `MultiWorkerMirroredStrategy` (and TPUStrategy)
    it fails with "Attempt to convert a value ({'input_ids': PerReplica...}) with an unsupported type
    dict", and the batch it drew is lost to training. The build only creates what a built model
    with a built optimizer already has, so it is skipped then.
    Reproduction: under a two-worker `MultiWorkerMirroredStrategy`, build and compile any model taking
    a dict input, then `model.fit(strategy.distribute_datasets_from_function(fn), steps_per_epoch=1)`.
    Checked on keras 3.15.1 / tensorflow 2.20.0.
    """
    keras_build = model._maybe_symbolic_build  # noqa: SLF001

    def symbolic_build(self, iterator=None, data_batch=None):
        unbuilt = (
            (self.optimizer is not None and not self.optimizer.built)
            or not all(layer.built for layer in self._flatten_layers())  # noqa: SLF001
        )
        if unbuilt:
            keras_build(iterator=iterator, data_batch=data_batch)

    model._maybe_symbolic_build = types.MethodType(symbolic_build, model)  # noqa: SLF001
    return model


def scalar_metrics_with_axis(model):
    """Patch `fit_ready_scalar_metrics`: the step's scalar metrics get a leading axis of one.

    Defect: after every step under `MultiWorkerMirroredStrategy`, Keras 3 averages the step's logs
    with `strategy.reduce("MEAN", value, axis=0)`, which fails on the scalar metrics every model
    returns ("axis 0 out of range for a scalar"); a shape `[1]` value has a well-defined mean.
    Overrides the instance's `train_step` / `test_step` (Keras looks them up on the instance).
    Reproduction: `model.fit` of any compiled model with a loss under a two-worker
    `MultiWorkerMirroredStrategy`.
    Checked on keras 3.15.1 / tensorflow 2.20.0.
    """
    for name in ("train_step", "test_step"):
        step = getattr(model, name)

        def with_axis(data, step=step):
            return tf.nest.map_structure(lambda v: tf.reshape(v, [1]) if v.shape.rank == 0 else v, step(data))

        setattr(model, name, with_axis)
    return model


def mark_fit_ready(model, strategy):
    """Applies this section's patches to `model` once (idempotent: the mark is a private attribute of
    the Keras model, set only here)."""
    if getattr(model, "_albert_tf_fit_ready", False):
        return model
    skip_symbolic_build_when_built(model)
    if in_multi_worker_mode(strategy):
        scalar_metrics_with_axis(model)
    model._albert_tf_fit_ready = True  # noqa: SLF001
    return model


# ---------------------------------------------------------------------------------------------------
# Section: optimizers (used by albert_tf.training.optimizers).
# (optimizer patches go here)




# ---------------------------------------------------------------------------------------------------
# Section: Keras object tracking (used by albert_tf.text).
# (tracking patches go here)




# ---------------------------------------------------------------------------------------------------
# Section: walking a model's layers (used by albert_tf.checkpoints).
# (checkpoint patches go here)
