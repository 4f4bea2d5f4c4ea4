"""The original release's learning-rate schedule as a Keras `LearningRateSchedule`.

`optimization.create_optimizer` in google-research/albert builds the rate from the global step `t`
(the number of optimizer updates already applied) as

    decayed(t) = (init_lr - end_lr) * (1 - min(t, T) / T) ** power + end_lr
    lr(t)      = init_lr * (t - s) / W   if t - s < W   else decayed(t)

with T = `num_train_steps`, W = `num_warmup_steps`, s = `start_warmup_step`. The decay is measured from
step 0, not from the end of the warm-up, so the peak `init_lr` is never reached and the rate jumps at
t = W. keras-hub/Keras have no schedule with exactly this shape (`PolynomialDecay` has no warm-up, and
HuggingFace's variant decays over T - W), hence this class.
"""

import keras
from keras import ops

__all__ = ["WarmupPolynomialDecay"]


@keras.saving.register_keras_serializable(package="albert_tf")
class WarmupPolynomialDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up overriding a polynomial decay that starts at step 0 (ALBERT's schedule).

    Reproduces `optimization.create_optimizer` of the original release, float32 arithmetic included, so
    its values match the original bit for bit. `step` is the optimizer-update count read before the
    update, as the original's `global_step`: the very first update therefore uses rate 0.

    Args:
        initial_learning_rate: peak rate of the schedule (`--learning_rate`).
        num_train_steps: steps over which the rate decays to `end_learning_rate` (`--num_train_steps`);
            afterwards it stays there.
        num_warmup_steps: length of the linear warm-up (`--num_warmup_steps`); 0 disables it.
        end_learning_rate: rate reached at `num_train_steps`; the original hard-codes 0.
        power: polynomial power (`--poly_power`).
        start_warmup_step: step at which the warm-up starts (`--start_warmup_step`). As in the original, a
            step before it yields a *negative* rate; no shipped script sets it.
        name: optional name, kept for serialisation.

    Example:

    >>> schedule = WarmupPolynomialDecay(1e-3, num_train_steps=100, num_warmup_steps=10)
    >>> [round(float(schedule(t)), 8) for t in (0, 1, 9, 10, 11, 50, 100)]
    [0.0, 0.0001, 0.0009, 0.0009, 0.00089, 0.0005, 0.0]
    """

    def __init__(
        self,
        initial_learning_rate,
        num_train_steps,
        num_warmup_steps=0,
        end_learning_rate=0.0,
        power=1.0,
        start_warmup_step=0,
        name=None,
    ):
        super().__init__()
        if int(num_train_steps) != num_train_steps or num_train_steps <= 0:
            raise ValueError(
                f"`num_train_steps` must be a positive integer; got {num_train_steps!r}."
            )
        if int(num_warmup_steps) != num_warmup_steps or num_warmup_steps < 0:
            raise ValueError(
                f"`num_warmup_steps` must be a non-negative integer; got {num_warmup_steps!r}."
            )
        if int(start_warmup_step) != start_warmup_step:
            raise ValueError(f"`start_warmup_step` must be an integer; got {start_warmup_step!r}.")
        self.initial_learning_rate = float(initial_learning_rate)
        self.num_train_steps = int(num_train_steps)
        self.num_warmup_steps = int(num_warmup_steps)
        self.end_learning_rate = float(end_learning_rate)
        self.power = float(power)
        self.start_warmup_step = int(start_warmup_step)
        self.name = name

    def __call__(self, step):
        # Same operations in the same order as tf.compat.v1.train.polynomial_decay and the original's
        # warm-up blend, all in float32, so the values agree with the original to the last bit.
        step_float = ops.cast(step, "float32")
        decay_steps = ops.cast(self.num_train_steps, "float32")
        initial = ops.cast(self.initial_learning_rate, "float32")
        end = ops.cast(self.end_learning_rate, "float32")
        progress = ops.minimum(step_float, decay_steps) / decay_steps
        decayed = (initial - end) * ops.power(1.0 - progress, self.power) + end
        if not self.num_warmup_steps:
            return decayed
        # The original subtracts in int32 before converting, which is exact for any realistic step.
        warmup_step = ops.cast(step, "int32") - self.start_warmup_step
        warmup_rate = initial * (
            ops.cast(warmup_step, "float32") / ops.cast(self.num_warmup_steps, "float32")
        )
        return ops.where(warmup_step < self.num_warmup_steps, warmup_rate, decayed)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "num_train_steps": self.num_train_steps,
            "num_warmup_steps": self.num_warmup_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "start_warmup_step": self.start_warmup_step,
            "name": self.name,
        }
