"""The one seam between albert_tf and private Keras / TensorFlow names.

Every use of an underscore attribute of Keras or TensorFlow, or of `tf.__internal__`, lives in this
module and nowhere else (`tests/test_compat.py` scans the tree). Each patch below names:

* the upstream defect it works around, with a minimal reproduction;
* the versions it was checked on;
* a test in `tests/test_compat.py` that fails *by the patch's name* when the private API moves.

Checked on: the ends of the declared range, keras 3.13.0 with tensorflow 2.20.0 (`make test-low`) and keras
3.15.1 with tensorflow 2.21.0 (`make test`); tests/test_compat.py runs in both.
"""

from __future__ import annotations

import importlib


class _TensorFlowOnFirstUse:
    """`tf` of this module: TensorFlow, imported when a patch first reads one of its names.

    Why: the models import this module (`direct_sublayers`, for `.keras` quantization records), and
    under `KERAS_BACKEND=jax` they must build, train and save in an environment without TensorFlow;
    every patch below reads `tf` only when it runs, and only TensorFlow-backend code runs those.
    """

    def __getattr__(self, name):
        return getattr(importlib.import_module("tensorflow"), name)


tf = _TensorFlowOnFirstUse()


# ---------------------------------------------------------------------------------------------------
# Section: fitting a model under a tf.distribute strategy (used by albert_tf.training).
# Checked on keras 3.13.0 and 3.15.1, tensorflow 2.20.0 and 2.21.0.

import types  # noqa: E402 (each section keeps its own imports, so parallel edits merge cleanly)


def in_multi_worker_mode(strategy) -> bool:
    """Patch `in_multi_worker_mode`: True under a `MultiWorkerMirroredStrategy` spanning more than this process.

    Defect: TensorFlow has no public way to ask whether a `MultiWorkerMirroredStrategy` really spans
    several workers (one created without `TF_CONFIG` is a local mirrored strategy, where the
    multi-worker workarounds below must not run); only `strategy.extended._in_multi_worker_mode()`.
    Reproduction: `tf.distribute.MultiWorkerMirroredStrategy().extended._in_multi_worker_mode()` is
    False without `TF_CONFIG`, True with a two-worker `TF_CONFIG`; no public attribute differs.
    Checked on keras 3.13.0 and 3.15.1 / tensorflow 2.20.0 and 2.21.0.
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
    Checked on keras 3.13.0 and 3.15.1 / tensorflow 2.20.0 and 2.21.0.
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
    Checked on keras 3.13.0 and 3.15.1 / tensorflow 2.20.0 and 2.21.0.
    """
    for name in ("train_step", "test_step"):
        step = getattr(model, name)

        def with_axis(data, step=step):
            # Keras before 3.15 returns Python floats from an eager step: make every value a tensor first.
            def one_axis(value):
                value = tf.convert_to_tensor(value)
                return tf.reshape(value, [1]) if value.shape.rank == 0 else value

            return tf.nest.map_structure(one_axis, step(data))

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

# Each private hook below is overridden by `OriginalUpdateOptimizer`, the base class of
# `albert_tf.training.optimizers.AdamWeightDecayOptimizer` / `LAMBOptimizer`. Their math (moments without
# bias correction, epsilon outside the square root, decoupled decay with name exclusions, the LAMB trust
# ratio) lives in the public `build` / `update_step` there; only what the public API cannot express is
# here. Each method's docstring gives the one-line reason, the upstream defect, a minimal reproduction and
# the versions checked; `tests/test_compat.py` fails by the patch's name when a private name moves.
#
# Checked on keras 3.13.0 and 3.15.1, tensorflow 2.20.0 and 2.21.0.

import keras  # noqa: E402 (each section keeps its own imports, so parallel edits merge cleanly)


class OriginalUpdateOptimizer(keras.optimizers.Optimizer):
    """A Keras optimizer that clips, schedules and accumulates as the original's one-device step did.

    Subclasses implement the public `build` / `update_step` and call `self._variable_index(variable)`
    for their slots, `self._watch_gradient(gradient)` (used off TensorFlow, by
    `albert_tf.training.portable_update`) and `self._commit(variable, value)` for every assignment in
    `update_step`.
    Differences from a stock Keras optimizer, the first three so that training matches the original (one
    device, one batch) at the same global batch:

    * `global_clipnorm` clips the gradient *after* it has been summed over replicas, with
      `tf.clip_by_global_norm` (the original's op), instead of each replica's partial gradient.
    * With `gradient_accumulation_steps`, a `LearningRateSchedule` is evaluated at the number of
      optimizer *updates*, because the original's `num_train_steps` / `num_warmup_steps` count updates.
    * With `gradient_accumulation_steps` under a multi-replica strategy (where Keras' accumulation
      fails), every micro-step all-reduces and computes the update, and `_commit` keeps it only on every
      `gradient_accumulation_steps`-th step: the memory saving remains, the communication saving does not.
    * Beyond the original: an update whose summed (and clipped) gradient holds a NaN or Inf changes no
      variable and no slot, and is counted in `nonfinite_updates_skipped` /
      `consecutive_nonfinite_updates` (the original and Keras turn every weight into NaN for the rest
      of the run).

    Example (a plain SGD on this base: the clip sees the whole gradient [3, 4], as the original's did):

    >>> import keras
    >>> class ClippedSGD(OriginalUpdateOptimizer):
    ...     def update_step(self, gradient, variable, learning_rate):
    ...         self._commit(variable, variable - learning_rate * gradient)
    >>> variable = keras.Variable([0.0, 0.0])
    >>> ClippedSGD(1.0, global_clipnorm=1.0).apply([keras.ops.array([3.0, 4.0])], [variable])
    >>> [round(float(x), 4) for x in variable.numpy()]
    [-0.6, -0.8]
    """

    def _variable_index(self, variable):
        """Patch optimizer_variable_index: the position of `variable` in the list `build` received.

        Why not public: `update_step` receives the backend (per-replica) `tf.Variable`, which only Keras'
        private `_var_key` (via TF's `_distributed_container`) maps back to the built Keras variable.
        Upstream defect: Keras 3 has no public variable -> optimizer-slot lookup; its own Adam, Lamb, ...
        call `self._get_variable_index` in `update_step` too.
        Reproduction:
            v = keras.Variable([1.0]); opt = keras.optimizers.SGD(); opt.build([v])
            opt._get_variable_index(v.value)  # 0, with no public equivalent
        Checked on keras 3.13.0 and 3.15.1 / tensorflow 2.20.0 and 2.21.0.
        """
        return self._get_variable_index(variable)

    def _clip_gradients(self, grads):
        """Patch optimizer_clip_after_cross_replica_sum (with `_backend_update_step` below).

        Why not public: Keras clips in `_backend_apply_gradients` before the TF backend's
        `_backend_update_step` all-reduces, and no public hook sits between the sum and `update_step`.
        Upstream defect: under `tf.distribute.MirroredStrategy` Keras clips each replica's partial
        gradient, so `global_clipnorm` is not the one-device `tf.clip_by_global_norm` of the sum.
        Reproduction (two logical CPUs, `global_clipnorm=1`, SGD lr 1, variable [0, 0]): replica
        gradients [3, 0] and [0, 4] give Keras' update [-1, -1]; one device clips the sum [3, 4] to
        [0.6, 0.8].
        Checked on keras 3.13.0 and 3.15.1 / tensorflow 2.20.0 and 2.21.0.
        """
        # Global clipping is deferred to `_backend_update_step`, after the cross-replica sum.
        if self.global_clipnorm:
            return grads
        return super()._clip_gradients(grads)

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        """Patch optimizer_clip_after_cross_replica_sum and optimizer_skip_nonfinite_updates: all-reduce,
        then `tf.clip_by_global_norm`, then the per-replica `update_step`, kept only where every summed
        gradient is finite (see `_clip_gradients` for the clipping defect, `_update_if_finite` for the
        skip)."""
        variables = [v.value if isinstance(v, keras.Variable) else v for v in trainable_variables]
        if self.global_clipnorm:
            replica_context = tf.distribute.get_replica_context()
            if replica_context is not None and replica_context.num_replicas_in_sync > 1:
                grads = replica_context.all_reduce(tf.distribute.ReduceOp.SUM, list(grads))
            grads, _ = tf.clip_by_global_norm(list(grads), self.global_clipnorm)
            grads_and_vars = list(zip(grads, variables))
        else:
            grads_and_vars = self._all_reduce_sum_gradients(list(zip(grads, variables)))
        # Checked after the sum (every replica sees the same verdict) and after the clip (a finite
        # gradient whose global norm overflows is clipped to NaN).
        finite = self._count_nonfinite_update([g for g, _ in grads_and_vars])
        # The gradients are already summed, so go straight to the per-replica variable update rather
        # than through the base class, which would all-reduce them a second time.
        tf.__internal__.distribute.interim.maybe_merge_call(
            self._distributed_guarded_update,
            self._distribution_strategy,
            grads_and_vars,
            learning_rate,
            finite,
        )

    def _distributed_guarded_update(self, distribution, grads_and_vars, learning_rate, finite):
        for grad, var in grads_and_vars:
            distribution.extended.update(
                var, self._update_if_finite, args=(grad, learning_rate, finite), group=False
            )

    def _update_if_finite(self, variable, gradient, learning_rate, finite):
        """Patch optimizer_skip_nonfinite_updates: an update with a NaN/Inf gradient changes nothing.

        Why not public: the update must be skipped after the cross-replica sum and clip, which only
        happen in the private `_backend_update_step` (see `_clip_gradients`), and without a `tf.cond`
        around the update, which does a `merge_call` (refused inside a cond under `MirroredStrategy`,
        see `_backend_apply_gradients`); so `_commit` selects the old value instead.
        Upstream defect: Keras optimizers apply a non-finite gradient, so one bad batch turns every
        weight and Adam moment into NaN for the rest of the run; only `LossScaleOptimizer` skips such
        steps, and only under float16.
        Reproduction:
            v = keras.Variable([1.0]); keras.optimizers.SGD(0.1).apply([keras.ops.array([float("nan")])], [v])
            v.numpy()  # [nan]
        Checked on keras 3.13.0 and 3.15.1 / tensorflow 2.20.0 and 2.21.0.
        """
        # `extended.update` calls this once per device in turn, so the flag is never shared.
        self._update_finite = finite
        try:
            return self.update_step(gradient, variable, learning_rate)
        finally:
            self._update_finite = None

    def _get_current_learning_rate(self):
        """Patch optimizer_schedule_at_update_count: a schedule sees the update count, not micro-steps.

        Why not public: `optimizer.learning_rate` evaluates the schedule in this private method at the
        private micro-step counter; wrapping the schedule publicly would change `get_config` and what
        `optimizer.learning_rate` serialises.
        Upstream defect: with `gradient_accumulation_steps=k` Keras calls the schedule with `_iterations`
        (micro-batches), so warm-up and decay run k times too fast against the public `iterations`.
        Reproduction:
            opt = keras.optimizers.SGD(keras.optimizers.schedules.PolynomialDecay(1.0, 100, 0.0),
                                       gradient_accumulation_steps=4)
            opt.build([keras.Variable([0.0])]); opt._iterations.assign(40)  # 40 micro-steps, 10 updates
            float(opt.learning_rate)  # 0.6, the rate of update 40; the original's is 0.9
        Checked on keras 3.13.0 and 3.15.1 / tensorflow 2.20.0 and 2.21.0.
        """
        if isinstance(self._learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            # `self.iterations` is the update count; it equals the raw counter without accumulation.
            return self._learning_rate(self.iterations)
        return super()._get_current_learning_rate()

    def _backend_apply_gradients(self, grads, trainable_variables):
        """Patch optimizer_accumulation_across_replicas: gradient accumulation under several replicas.

        Why not public: accumulation is implemented inside this private method, with the private
        accumulators `_accumulated_gradients` and micro-step counter `_iterations`.
        Upstream defect: Keras runs the update inside `ops.cond(is_update_step, ...)`, and the TF
        backend's update does a cross-replica `merge_call`, which TensorFlow refuses inside a `cond`
        under `MirroredStrategy` ("merge_call called while defining a new graph or a tf.function").
        Reproduction:
            with tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]).scope():
                model.compile(keras.optimizers.SGD(gradient_accumulation_steps=2), "mse")
            model.fit(x, y)  # fails in the first step
        Checked on keras 3.13.0 and 3.15.1 / tensorflow 2.20.0 and 2.21.0.
        """
        if not self._accumulates_across_replicas():
            return super()._backend_apply_gradients(grads, trainable_variables)
        if self.use_ema:
            raise ValueError(
                "`use_ema` cannot be combined with `gradient_accumulation_steps` under a "
                f"multi-replica strategy in {type(self).__name__}."
            )
        steps = self.gradient_accumulation_steps
        accumulators = [
            self._accumulated_gradients[self._get_variable_index(v)] for v in trainable_variables
        ]
        totals = [
            tf.convert_to_tensor(g) + tf.convert_to_tensor(a) for g, a in zip(grads, accumulators)
        ]
        boundary = self._is_accumulation_boundary()
        self._assign_per_replica(
            accumulators, [tf.where(boundary, tf.zeros_like(t), t) for t in totals]
        )
        # Unconditional, so no merge_call sits inside a cond; `_commit` discards the result off-boundary.
        averaged = self._clip_gradients([t / steps for t in totals])
        self._backend_update_step(averaged, trainable_variables, self.learning_rate)

    def _watch_gradient(self, gradient):
        """Nothing here: on TensorFlow the non-finite verdict is taken once for the whole gradient, after
        the cross-replica sum and the clip (`_backend_update_step`), not per variable as on JAX
        (`albert_tf.training.portable_update`)."""

    def _commit(self, variable, value):
        """Assigns `value`, or keeps `variable` on a micro-step that only accumulates (patch
        optimizer_accumulation_across_replicas) and on an update with a non-finite gradient (patch
        optimizer_skip_nonfinite_updates)."""
        keep = getattr(self, "_update_finite", None)
        if self._accumulates_across_replicas():
            boundary = self._is_accumulation_boundary()
            keep = boundary if keep is None else tf.logical_and(boundary, keep)
        if keep is not None:
            value = tf.where(keep, value, tf.convert_to_tensor(variable))
        self.assign(variable, value)

    def build(self, variables):
        super().build(variables)
        # Plain tf.Variables held by name: Keras checkpoints its own `_variables` list by position, so a
        # Keras variable here would shift the slots of every checkpoint written before these counters.
        with tf.init_scope():
            self._nonfinite_skipped = _update_counter("nonfinite_updates_skipped")
            self._nonfinite_streak = _update_counter("consecutive_nonfinite_updates")

    @property
    def nonfinite_updates_skipped(self):
        """Updates skipped so far because a summed gradient was NaN or Inf (an int64 variable,
        checkpointed with the optimizer)."""
        return self._nonfinite_skipped

    @property
    def consecutive_nonfinite_updates(self):
        """The skipped updates since the last applied one (an int64 variable)."""
        return self._nonfinite_streak

    def scale_loss(self, loss):
        # A non-finite loss whose gradients are finite (a NaN or Inf in a term no weight feeds) skips the
        # update too: multiplying by NaN makes every gradient NaN, multiplying by 1 changes no bit.
        loss = super().scale_loss(loss)
        finite = tf.math.is_finite(loss)
        return loss * tf.stop_gradient(tf.where(finite, tf.ones_like(loss), tf.fill(tf.shape(loss), float("nan"))))

    def _count_nonfinite_update(self, grads):
        """Whether every gradient is finite; counts the update as skipped when not. A skipped update
        still advances `iterations`: the schedule stays a function of the batches consumed, so a resume
        and a run without skips reach the same rate at the same batch."""
        checks = [
            tf.reduce_all(tf.math.is_finite(g.values if isinstance(g, tf.IndexedSlices) else g))
            for g in grads
            if g is not None
        ]
        finite = tf.reduce_all(tf.stack(checks)) if checks else tf.constant(True)
        decided = tf.constant(True)
        if self._accumulates_across_replicas():
            # A micro-step that only accumulates applies nothing, so it neither skips nor succeeds.
            decided = self._is_accumulation_boundary()
        skipped = tf.logical_and(decided, tf.logical_not(finite))
        self._nonfinite_skipped.assign_add(tf.cast(skipped, tf.int64))
        streak = self._nonfinite_streak
        self._nonfinite_streak.assign(
            tf.where(skipped, streak + 1, tf.where(decided, tf.zeros_like(streak), streak))
        )
        return finite

    def _accumulates_across_replicas(self):
        return (
            bool(self.gradient_accumulation_steps)
            and tf.distribute.has_strategy()
            and tf.distribute.get_strategy().num_replicas_in_sync > 1
        )

    def _is_accumulation_boundary(self):
        # The same test as Keras' accumulation: this micro-step completes an accumulation window.
        return tf.equal((self._iterations + 1) % self.gradient_accumulation_steps, 0)

    def _assign_per_replica(self, variables, values):
        def assign_all(distribution, values):
            for variable, value in zip(variables, values):
                distribution.extended.update(
                    variable.value, lambda var, val: var.assign(val), args=(value,), group=False
                )

        tf.__internal__.distribute.interim.maybe_merge_call(
            assign_all, self._distribution_strategy, values
        )





def _update_counter(name):
    return tf.Variable(0, dtype=tf.int64, trainable=False, name=name,
                       aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)


# ---------------------------------------------------------------------------------------------------
# Section: Keras object tracking (used by albert_tf.text).
# (tracking patches go here)


def accept_string_inputs(layer) -> None:
    """Patch accept_string_inputs: lets a text layer take strings positionally, unconverted.

    Upstream defect: ``keras.layers.Layer.__call__`` maps every positional argument through the
    layer's dtype policy, then refuses any leaf that is not a tensor ("Only input tensors may be
    passed as positional arguments"), so ``tokenizer(["a b", "c"])`` or ``tokenizer("a b")`` fails
    although ``call`` converts strings itself; Keras offers no public switch for layers whose
    inputs are raw text (keras-hub's own ``PreprocessingLayer`` sets the same two attributes).

    Minimal reproduction::

        class Echo(keras.layers.Layer):
            def call(self, x):
                return tf.strings.length(x)
        Echo()(["a b"])  # ValueError: Only input tensors may be passed as positional arguments

    Checked on keras 3.13.0 and 3.15.1 / tensorflow 2.20.0 and 2.21.0.
    """
    layer._convert_input_args = False
    layer._allow_non_tensor_positional_args = True




# ---------------------------------------------------------------------------------------------------
# Section: walking a model's layers (used by albert_tf.checkpoints).
# (checkpoint patches go here)


def direct_sublayers(layer):
    """Patch walk_sublayers: the layers `layer` tracks directly (its attributes and lists of layers).

    Why not public: Keras 3 lists a layer's children publicly only for models (`Model.layers`, and for
    functional models only the graph's nodes); a plain `Layer` holding sublayers (a task head) keeps them
    only in its private tracked list `_layers`.
    Upstream defect: no public `Layer.layers` / `Layer.submodules` in Keras 3 (tf.keras had
    `Module.submodules`), so a converter cannot find the Dense inside a custom head without it.
    Reproduction:
        class Head(keras.layers.Layer):
            def __init__(self): super().__init__(); self.dense = keras.layers.Dense(1)
        Head()._layers  # [<Dense ...>]; hasattr(Head(), "layers") is False
    Checked on keras 3.13.0 and 3.15.1 / tensorflow 2.20.0 and 2.21.0.
    """
    return list(getattr(layer, "_layers", None) or [])
