"""AdamW and LAMB exactly as the original release's `optimization.py` and `lamb_optimizer.py`.

Written by hand because `keras.optimizers.AdamW` / `keras.optimizers.Lamb` bias-correct the moments, put
epsilon elsewhere, decay the weights outside the update and have no name-based exclusions, so they cannot
reproduce the original's training trajectories.

Per variable θ with gradient g (no bias correction, ε outside the square root):

    m ← β1·m + (1−β1)·g          v ← β2·v + (1−β2)·g²
    u = m / (√v + ε)  [+ weight_decay_rate·θ unless the variable is excluded from decay]
    AdamW: θ ← θ − lr·u
    LAMB:  θ ← θ − r·lr·u,  r = ‖θ‖/‖u‖ (1 if either is 0, or if the variable is excluded from adaptation)

Exclusions are regular expressions searched (`re.search`) in the variable's Keras path, e.g.
`encoder/layer_norm/gamma` or `mlm_head/output_bias`, as the original searched the TF1 variable name.

All of that is the public `build` / `update_step` API, in `keras.ops`, so the same update runs on every
backend. What differs by backend is the step around it. On TensorFlow, what Keras exposes no public hook
for (clipping after the cross-replica sum, the schedule at the update count under accumulation,
accumulation under several replicas, the slot index of a per-replica variable, counting skipped updates)
is inherited from `albert_tf._compat.OriginalUpdateOptimizer`, which says why for each. On JAX (no
`tf.distribute`), `albert_tf.training.portable_update.PortableUpdateOptimizer` gives the same step
through public API, without TensorFlow.
"""

import re

import keras
from keras import ops

from albert_tf._compat import OriginalUpdateOptimizer
from albert_tf.backend import dense_gradient, on_tensorflow
from albert_tf.training.portable_update import PortableUpdateOptimizer
from albert_tf.training.schedules import WarmupPolynomialDecay

__all__ = [
    "DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY",
    "AdamWeightDecayOptimizer",
    "LAMBOptimizer",
    "OPTIMIZER_NAMES",
    "create_optimizer",
]

#: The original's hard-coded exclusion patterns: every LayerNorm γ/β and every variable whose name
#: contains "bias" is neither decayed nor (for LAMB) layer-adapted.
DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY = ("LayerNorm", "layer_norm", "bias")

#: Names accepted by `create_optimizer` (the original's `--optimizer` enum).
OPTIMIZER_NAMES = ("lamb", "adamw")


def _variable_name(variable):
    """The name the exclusion patterns are matched against: the Keras path, else the TF name."""
    path = getattr(variable, "path", None)
    if path is not None:
        return path
    # A bare tf.Variable: strip the ":0" output suffix as the original's `_get_variable_name` did.
    return re.sub(r":\d+$", "", variable.name)


def _matches_any(name, patterns):
    return any(re.search(pattern, name) is not None for pattern in patterns)


# Keras' backend is fixed when it is imported, so the step is chosen once, here.
_StepBase = OriginalUpdateOptimizer if on_tensorflow() else PortableUpdateOptimizer


class _OriginalAdamBase(_StepBase):
    """Adam moments without bias correction, decoupled decay with name exclusions, faithful clipping.

    The update itself is `update_step` (public API). Sparse (`IndexedSlices`) gradients are densified in
    `apply`, before anything else, so the clip measures the norm of the gradient itself, not of its
    un-summed embedding rows (see `albert_tf.backend.dense_gradient`); otherwise the clip, and so the
    update, would change with gradient accumulation or the number of replicas. Clipping, the schedule and
    accumulation follow the original's one-device step as `OriginalUpdateOptimizer` (TensorFlow) or
    `PortableUpdateOptimizer` (other backends) describes.
    """

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay_rate=0.0,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-6,
        exclude_from_weight_decay=DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY,
        name=None,
        **kwargs,
    ):
        if kwargs.get("weight_decay") is not None:
            raise ValueError(
                f"{type(self).__name__} applies the original's decay inside the update; pass "
                f"`weight_decay_rate={kwargs['weight_decay']!r}` instead of Keras' `weight_decay`, "
                "which would decay the weights a second time."
            )
        kwargs.pop("weight_decay", None)
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not 0.0 <= beta_1 < 1.0 or not 0.0 <= beta_2 < 1.0:
            raise ValueError(
                f"`beta_1` and `beta_2` must lie in [0, 1); got beta_1={beta_1!r}, beta_2={beta_2!r}."
            )
        if weight_decay_rate < 0:
            raise ValueError(f"`weight_decay_rate` must be >= 0; got {weight_decay_rate!r}.")
        self.weight_decay_rate = float(weight_decay_rate)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.exclude_from_weight_decay = _pattern_list(
            exclude_from_weight_decay, "exclude_from_weight_decay"
        )

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        # Slot names mirror the original's `<variable>/adam_m` and `<variable>/adam_v`.
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["adam_m", "adam_v"]
        )
        # Decided here, from the Keras variables, because under the TF backend `update_step` receives
        # the underlying (per-replica) tf.Variable, whose name has no Keras path.
        self._decay_flags = [
            bool(self.weight_decay_rate)
            and not _matches_any(_variable_name(v), self.exclude_from_weight_decay)
            for v in var_list
        ]

    def uses_weight_decay(self, variable):
        """Whether `variable` (one the optimizer was built with) gets the decay term."""
        return self._decay_flags[self._variable_index(variable)]

    def _adam_direction(self, gradient, variable):
        """Updates the moments and returns u = m / (√v + ε) (+ decay·θ), the original's `update`."""
        index = self._variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        dtype = variable.dtype
        # The original's update is dense (it decays and moves rows that had no gradient): `apply` has
        # densified embedding gradients already, this is for a direct call of `update_step`.
        gradient = ops.cast(dense_gradient(gradient), dtype)
        self._watch_gradient(gradient)
        # (1 − β) is taken in Python double precision before the cast, as TF1 did with Python floats.
        next_m = self.beta_1 * m + ops.cast(1.0 - self.beta_1, dtype) * gradient
        next_v = self.beta_2 * v + ops.cast(1.0 - self.beta_2, dtype) * ops.square(gradient)
        self._commit(m, next_m)
        self._commit(v, next_v)
        update = next_m / (ops.sqrt(next_v) + ops.cast(self.epsilon, dtype))
        if self._decay_flags[index]:
            update += ops.cast(self.weight_decay_rate, dtype) * variable
        return update

    def apply(self, grads, trainable_variables=None):
        # Every path clips, and every update is dense, so densify sparse gradients first.
        return super().apply([dense_gradient(g) for g in grads], trainable_variables)

    def get_config(self):
        config = super().get_config()
        # Keras' own decoupled decay is rejected by __init__; dropping it keeps from_config working.
        config.pop("weight_decay", None)
        config.update(
            {
                "weight_decay_rate": self.weight_decay_rate,
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "exclude_from_weight_decay": list(self.exclude_from_weight_decay),
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        # Keras deserialises the schedule in place; copy so the caller's config stays reusable.
        return super().from_config(dict(config), custom_objects=custom_objects)


def _pattern_list(patterns, argument):
    if patterns is None:
        return ()
    if isinstance(patterns, str):
        raise TypeError(
            f"`{argument}` must be a list of regular expressions, not the string {patterns!r}; "
            f"write [{patterns!r}]."
        )
    patterns = tuple(patterns)
    for pattern in patterns:
        try:
            re.compile(pattern)
        except (re.error, TypeError) as error:
            raise ValueError(f"`{argument}` has an invalid regular expression {pattern!r}: {error}")
    return patterns


@keras.saving.register_keras_serializable(package="albert_tf")
class AdamWeightDecayOptimizer(_OriginalAdamBase):
    """Adam with decoupled weight decay, as the original release's `AdamWeightDecayOptimizer`.

    No bias correction, epsilon added after the square root, `weight_decay_rate·θ` added to the update
    before the learning rate multiplies it, and variables whose path matches any pattern in
    `exclude_from_weight_decay` (regex search; default `LayerNorm`, `layer_norm`, `bias`) not decayed.
    `keras.optimizers.AdamW` bias-corrects and decays outside the update, so it cannot stand in.

    Args:
        learning_rate: float, or a `LearningRateSchedule` such as `WarmupPolynomialDecay`.
        weight_decay_rate: decay coefficient added to the update (the original uses 0.01).
        beta_1, beta_2, epsilon: Adam constants (original: 0.9, 0.999, 1e-6).
        exclude_from_weight_decay: regular expressions searched in each variable's Keras `path`.
        **kwargs: Keras optimizer arguments (`global_clipnorm`, `gradient_accumulation_steps`, `name`,
            ...). `global_clipnorm` is applied to the cross-replica gradient, like the original's
            `tf.clip_by_global_norm` on one device. Keras' `weight_decay` is rejected.

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> optimizer = AdamWeightDecayOptimizer(1e-3, weight_decay_rate=0.01, global_clipnorm=1.0)
    >>> model.compile(optimizer=optimizer, loss="mse")
    >>> history = model.fit(np.ones((8, 3)), np.zeros((8, 1)), epochs=2, verbose=0)
    >>> optimizer.uses_weight_decay(model.layers[0].kernel), optimizer.uses_weight_decay(model.layers[0].bias)
    (True, False)
    """

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay_rate=0.0,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-6,
        exclude_from_weight_decay=DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY,
        name="AdamWeightDecayOptimizer",
        **kwargs,
    ):
        super().__init__(
            learning_rate=learning_rate,
            weight_decay_rate=weight_decay_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            exclude_from_weight_decay=exclude_from_weight_decay,
            name=name,
            **kwargs,
        )

    def update_step(self, gradient, variable, learning_rate):
        update = self._adam_direction(gradient, variable)
        self._commit(variable, variable - ops.cast(learning_rate, variable.dtype) * update)


@keras.saving.register_keras_serializable(package="albert_tf")
class LAMBOptimizer(_OriginalAdamBase):
    """LAMB as the original release's `lamb_optimizer.LAMBOptimizer` (no bias correction).

    The Adam direction `u` of `AdamWeightDecayOptimizer` (decay term included) is scaled per variable by
    the trust ratio r = ‖θ‖₂ / ‖u‖₂ over the whole tensor, with r = 1 when either norm is 0 or the
    variable matches `exclude_from_layer_adaptation`. `keras.optimizers.Lamb` bias-corrects the moments,
    uses ε = 1e-7 and has no exclusions, so it cannot reproduce the original.

    Args:
        learning_rate: float, or a `LearningRateSchedule` such as `WarmupPolynomialDecay`.
        weight_decay_rate: decay coefficient added to the update before the trust ratio (original 0.01).
        beta_1, beta_2, epsilon: Adam constants (original: 0.9, 0.999, 1e-6).
        exclude_from_weight_decay: regular expressions searched in each variable's Keras `path`.
        exclude_from_layer_adaptation: patterns for r = 1; `None` (the default) reuses
            `exclude_from_weight_decay`, as the original does.
        **kwargs: Keras optimizer arguments, as for `AdamWeightDecayOptimizer`.

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> optimizer = LAMBOptimizer(1e-3, weight_decay_rate=0.01, global_clipnorm=1.0)
    >>> model.compile(optimizer=optimizer, loss="mse")
    >>> history = model.fit(np.ones((8, 3)), np.zeros((8, 1)), epochs=2, verbose=0)
    >>> optimizer.uses_layer_adaptation(model.layers[0].kernel)
    True
    """

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay_rate=0.0,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-6,
        exclude_from_weight_decay=DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY,
        exclude_from_layer_adaptation=None,
        name="LAMBOptimizer",
        **kwargs,
    ):
        super().__init__(
            learning_rate=learning_rate,
            weight_decay_rate=weight_decay_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            exclude_from_weight_decay=exclude_from_weight_decay,
            name=name,
            **kwargs,
        )
        self._layer_adaptation_patterns_given = exclude_from_layer_adaptation is not None
        if exclude_from_layer_adaptation is None:
            self.exclude_from_layer_adaptation = self.exclude_from_weight_decay
        else:
            self.exclude_from_layer_adaptation = _pattern_list(
                exclude_from_layer_adaptation, "exclude_from_layer_adaptation"
            )

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._adaptation_flags = [
            not _matches_any(_variable_name(v), self.exclude_from_layer_adaptation)
            for v in var_list
        ]

    def uses_layer_adaptation(self, variable):
        """Whether `variable` (one the optimizer was built with) gets the trust ratio."""
        return self._adaptation_flags[self._variable_index(variable)]

    def update_step(self, gradient, variable, learning_rate):
        update = self._adam_direction(gradient, variable)
        learning_rate = ops.cast(learning_rate, variable.dtype)
        if self._adaptation_flags[self._variable_index(variable)]:
            # ‖x‖₂ over the whole tensor, the same sum of squares as `tf.norm(x, ord=2)`.
            w_norm = ops.sqrt(ops.sum(ops.square(variable)))
            u_norm = ops.sqrt(ops.sum(ops.square(update)))
            one = ops.ones([], variable.dtype)
            # Nested where as in the original, so a zero norm yields 1 without a 0/0 in the taken branch.
            ratio = ops.where(w_norm > 0, ops.where(u_norm > 0, w_norm / u_norm, one), one)
            learning_rate = ratio * learning_rate
        self._commit(variable, variable - learning_rate * update)

    def get_config(self):
        config = super().get_config()
        config["exclude_from_layer_adaptation"] = (
            list(self.exclude_from_layer_adaptation)
            if self._layer_adaptation_patterns_given
            else None
        )
        return config


def create_optimizer(
    name,
    learning_rate,
    num_train_steps,
    num_warmup_steps,
    weight_decay_rate=0.01,
    beta_1=0.9,
    beta_2=0.999,
    epsilon=1e-6,
    poly_power=1.0,
    end_learning_rate=0.0,
    start_warmup_step=0,
    clip_norm=1.0,
    exclude_from_weight_decay=DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY,
    **optimizer_kwargs,
):
    """The optimizer the original's `optimization.create_optimizer` builds, as a Keras optimizer.

    `WarmupPolynomialDecay(learning_rate, num_train_steps, num_warmup_steps, ...)` drives an
    `AdamWeightDecayOptimizer` (`"adamw"`) or `LAMBOptimizer` (`"lamb"`) with the original's constants,
    and gradients are clipped to global norm `clip_norm` (1.0 in the original; `None` disables it).
    Create it inside the `tf.distribute` strategy's scope, like the model.

    Args:
        name: `"lamb"` or `"adamw"` (case-insensitive), the original's `--optimizer`.
        learning_rate: peak rate (`--learning_rate`).
        num_train_steps, num_warmup_steps: schedule lengths in optimizer updates.
        weight_decay_rate, beta_1, beta_2, epsilon: the original hard-codes 0.01, 0.9, 0.999, 1e-6.
        poly_power, end_learning_rate, start_warmup_step: schedule shape (`--poly_power`; the original
            hard-codes the end rate 0; `--start_warmup_step`).
        clip_norm: global-norm clipping threshold, applied to the cross-replica gradient.
        exclude_from_weight_decay: regex patterns searched in variable paths.
        **optimizer_kwargs: further Keras optimizer arguments, e.g. `gradient_accumulation_steps`.

    Example:

    >>> optimizer = create_optimizer("lamb", 0.00176, num_train_steps=125000, num_warmup_steps=3125)
    >>> type(optimizer).__name__, optimizer.global_clipnorm, optimizer.epsilon
    ('LAMBOptimizer', 1.0, 1e-06)
    >>> round(float(optimizer.learning_rate), 6)
    0.0
    """
    key = str(name).lower()
    if key not in OPTIMIZER_NAMES:
        raise ValueError(
            f"Unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZER_NAMES)}."
        )
    schedule = WarmupPolynomialDecay(
        initial_learning_rate=learning_rate,
        num_train_steps=num_train_steps,
        num_warmup_steps=num_warmup_steps,
        end_learning_rate=end_learning_rate,
        power=poly_power,
        start_warmup_step=start_warmup_step,
    )
    optimizer_class = LAMBOptimizer if key == "lamb" else AdamWeightDecayOptimizer
    return optimizer_class(
        learning_rate=schedule,
        weight_decay_rate=weight_decay_rate,
        beta_1=beta_1,
        beta_2=beta_2,
        epsilon=epsilon,
        exclude_from_weight_decay=exclude_from_weight_decay,
        global_clipnorm=clip_norm,
        **optimizer_kwargs,
    )
