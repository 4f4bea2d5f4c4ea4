import numpy as np
import pytest
import tensorflow as tf
import keras

from albert_tf.training.schedules import WarmupPolynomialDecay


def original_learning_rate(init_lr, step, num_train_steps, num_warmup_steps, power=1.0,
                           start_warmup_step=0):
    """The original's `create_optimizer` schedule, transcribed with the same TF ops (eager)."""
    global_step = tf.constant(step, tf.int64)
    learning_rate = tf.compat.v1.train.polynomial_decay(
        tf.constant(init_lr, tf.float32), global_step, num_train_steps,
        end_learning_rate=0.0, power=power, cycle=False)()
    if num_warmup_steps:
        global_steps_int = tf.cast(global_step, tf.int32) - tf.constant(start_warmup_step, tf.int32)
        warmup_steps_int = tf.constant(num_warmup_steps, dtype=tf.int32)
        warmup_percent_done = (tf.cast(global_steps_int, tf.float32)
                               / tf.cast(warmup_steps_int, tf.float32))
        warmup_learning_rate = init_lr * warmup_percent_done
        is_warmup = tf.cast(global_steps_int < warmup_steps_int, tf.float32)
        learning_rate = (1.0 - is_warmup) * learning_rate + is_warmup * warmup_learning_rate
    return learning_rate.numpy()


def test_pitfall_11_golden_values():
    schedule = WarmupPolynomialDecay(1e-3, num_train_steps=100, num_warmup_steps=10)
    expected = {0: 0.0, 1: 1e-4, 9: 9e-4, 10: 9e-4, 11: 8.9e-4, 50: 5e-4, 100: 0.0}
    for step, value in expected.items():
        assert float(schedule(step)) == pytest.approx(value, abs=1e-9), step


def test_readme_run_never_reaches_the_peak():
    schedule = WarmupPolynomialDecay(0.00176, num_train_steps=125000, num_warmup_steps=3125)
    assert float(schedule(3124)) == pytest.approx(0.00176 * 3124 / 3125, rel=1e-6)
    assert float(schedule(3125)) == pytest.approx(0.001716, rel=1e-6)
    assert max(float(schedule(t)) for t in range(3100, 3200)) < 0.00176


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(init_lr=1e-3, num_train_steps=100, num_warmup_steps=10),
        dict(init_lr=0.00176, num_train_steps=125000, num_warmup_steps=3125),
        dict(init_lr=5e-4, num_train_steps=37, num_warmup_steps=0, power=2.0),
        dict(init_lr=1e-3, num_train_steps=50, num_warmup_steps=5, power=0.5, start_warmup_step=3),
    ],
)
def test_bitwise_equal_to_the_original_ops(kwargs):
    init_lr = kwargs.pop("init_lr")
    schedule = WarmupPolynomialDecay(init_lr, **kwargs)
    horizon = kwargs["num_train_steps"]
    steps = sorted({0, 1, 2, 3, 4, 5, 9, 10, 11, horizon // 2, horizon - 1, horizon, horizon + 7,
                    kwargs["num_warmup_steps"], kwargs["num_warmup_steps"] + 1})
    ours = np.array([float(schedule(tf.constant(t, tf.int64))) for t in steps], np.float32)
    original = np.array([original_learning_rate(init_lr, t, **kwargs) for t in steps], np.float32)
    np.testing.assert_array_equal(ours, original)


def test_warmup_before_its_start_is_negative_as_in_the_original():
    schedule = WarmupPolynomialDecay(1e-3, num_train_steps=100, num_warmup_steps=10,
                                     start_warmup_step=5)
    assert float(schedule(0)) == pytest.approx(-5e-4)
    assert float(schedule(14)) == pytest.approx(9e-4)
    assert float(schedule(15)) == pytest.approx(1e-3 * (1 - 15 / 100))


def test_accepts_the_optimizer_iteration_variable_and_works_in_a_graph():
    schedule = WarmupPolynomialDecay(1e-3, num_train_steps=100, num_warmup_steps=10)
    step = keras.Variable(11, dtype="int64", trainable=False)
    assert float(tf.function(schedule, jit_compile=True)(step)) == pytest.approx(8.9e-4)


def test_config_round_trip_and_keras_serialisation():
    schedule = WarmupPolynomialDecay(2e-3, num_train_steps=40, num_warmup_steps=4,
                                     end_learning_rate=1e-5, power=2.0, start_warmup_step=1,
                                     name="albert_lr")
    clone = WarmupPolynomialDecay.from_config(schedule.get_config())
    assert clone.get_config() == schedule.get_config()
    restored = keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(schedule))
    assert isinstance(restored, WarmupPolynomialDecay)
    for step in (0, 3, 4, 20, 40, 60):
        assert float(restored(step)) == float(schedule(step))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_train_steps=0), "num_train_steps"),
        (dict(num_train_steps=10.5), "num_train_steps"),
        (dict(num_train_steps=10, num_warmup_steps=-1), "num_warmup_steps"),
        (dict(num_train_steps=10, start_warmup_step=0.5), "start_warmup_step"),
    ],
)
def test_invalid_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WarmupPolynomialDecay(1e-3, **kwargs)
