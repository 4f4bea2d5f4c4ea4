"""The original's one-device step on any Keras backend but TensorFlow, in public optimizer API and `keras.ops`.

`albert_tf.training.optimizers` builds `AdamWeightDecayOptimizer` and `LAMBOptimizer` on this base
wherever Keras does not run on TensorFlow (JAX; PyTorch is untested). On TensorFlow they keep
`albert_tf._compat.OriginalUpdateOptimizer`, whose private hooks exist because of `tf.distribute`: a
replica sees part of the batch, so the clip must wait for the cross-replica sum, and accumulation must
avoid a `merge_call` inside a `cond`. A JAX step is one jitted function over the global batch (also under
`keras.distribution.DataParallel`), so Keras' own order there — average over the accumulation window,
`global_clipnorm`, then `update_step` per variable — is already the original's. What this base adds:

* the schedule sees the update count: the public `learning_rate` property evaluates a
  `LearningRateSchedule` at `iterations` (updates), not at Keras' micro-step counter, which runs
  `gradient_accumulation_steps` times faster;
* an update whose gradient holds a NaN or Inf changes no variable and no slot (the public `apply`
  decides, `update_step` assigns through `_commit`), and a non-finite loss makes every gradient NaN
  (`scale_loss`), as on TensorFlow. Without accumulation the verdict is global: the gradient's
  elements and, with `global_clipnorm`, its global norm (whose overflow Keras' clip turns into NaN).
  With accumulation only `update_step` sees the averaged gradient, so the verdict is taken there per
  variable; with `global_clipnorm` (`create_optimizer`'s default) a NaN anywhere makes every clipped
  gradient NaN, so it is global again. The skips are not counted: the counters would be optimizer
  variables, and an extra variable would stop the optimizer state of a `.keras` file written on
  TensorFlow from loading here (Keras matches optimizer variables by position).

Subclasses implement the public `build` / `update_step` as on TensorFlow: `self._variable_index(v)` for
slots, `self._watch_gradient(g)` on the gradient, and `self._commit(v, value)` for every assignment.

Example (a clipped SGD: the clip sees the whole gradient [3, 4]):

>>> import keras
>>> class ClippedSGD(PortableUpdateOptimizer):
...     def update_step(self, gradient, variable, learning_rate):
...         self._watch_gradient(gradient)
...         self._commit(variable, variable - learning_rate * gradient)
>>> variable = keras.Variable([0.0, 0.0])
>>> ClippedSGD(1.0, global_clipnorm=1.0).apply([keras.ops.array([3.0, 4.0])], [variable])
>>> [round(float(x), 4) for x in keras.ops.convert_to_numpy(variable)]
[-0.6, -0.8]
"""

import keras
from keras import ops

__all__ = ["PortableUpdateOptimizer"]

_Schedule = keras.optimizers.schedules.LearningRateSchedule


class PortableUpdateOptimizer(keras.optimizers.Optimizer):
    """A Keras optimizer that schedules at the update count and skips non-finite updates (module docstring)."""

    def __init__(self, learning_rate=0.001, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self._update_count_schedule = learning_rate if isinstance(learning_rate, _Schedule) else None
        self._update_finite = None
        self._gradient_finite = None

    @property
    def learning_rate(self):
        if self._update_count_schedule is not None:
            # `iterations` counts updates (micro-steps // gradient_accumulation_steps), as the original's
            # `num_train_steps` / `num_warmup_steps` do.
            return self._update_count_schedule(self.iterations)
        return keras.optimizers.Optimizer.learning_rate.fget(self)

    @learning_rate.setter
    def learning_rate(self, value):
        keras.optimizers.Optimizer.learning_rate.fset(self, value)
        self._update_count_schedule = value if isinstance(value, _Schedule) else None

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        # By identity: off TensorFlow `update_step` receives the very Keras variables built here.
        self._slot_positions = {id(variable): index for index, variable in enumerate(var_list)}

    def _variable_index(self, variable):
        """The position of `variable` in the list `build` received (its slots' index)."""
        return self._slot_positions[id(variable)]

    def apply(self, grads, trainable_variables=None):
        grads = list(grads)
        # With accumulation the summed gradient exists only inside Keras' step: `_watch_gradient` decides.
        self._update_finite = None if self.gradient_accumulation_steps else self._all_finite(grads)
        try:
            return super().apply(grads, trainable_variables)
        finally:
            self._update_finite = None
            self._gradient_finite = None

    def _all_finite(self, grads):
        grads = [g for g in grads if g is not None]
        if not grads:
            return None
        finite = ops.all(ops.stack([ops.all(ops.isfinite(g)) for g in grads]))
        if self.global_clipnorm:
            # Keras' clip, whose scale is NaN exactly when this norm is not finite.
            norm = ops.sqrt(ops.sum(ops.stack([ops.sum(ops.square(g)) for g in grads])))
            finite = ops.logical_and(finite, ops.isfinite(norm))
        return finite

    def _watch_gradient(self, gradient):
        """Records whether the gradient `update_step` is about to apply is finite (for `_commit`)."""
        self._gradient_finite = ops.all(ops.isfinite(gradient))

    def _commit(self, variable, value):
        """Assigns `value`, or keeps `variable` when this update's gradient is not finite."""
        keep = [flag for flag in (self._update_finite, self._gradient_finite) if flag is not None]
        for flag in keep:
            value = ops.where(flag, value, ops.convert_to_tensor(variable))
        self.assign(variable, value)

    def scale_loss(self, loss):
        # A non-finite loss whose gradients are finite skips the update too: multiplying by NaN makes every
        # gradient NaN, multiplying by 1 changes no bit.
        loss = super().scale_loss(loss)
        return loss * ops.stop_gradient(
            ops.where(ops.isfinite(loss), ops.ones_like(loss), ops.full_like(loss, float("nan")))
        )
