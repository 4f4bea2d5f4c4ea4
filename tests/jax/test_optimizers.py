"""The original's AdamW and LAMB under JAX, against the NumPy transcription that tests/training/test_optimizers.py
checks TensorFlow with: exclusions, global clipping, the schedule at the update count, gradient accumulation,
the non-finite skip, and `model.fit` (which applies the optimizer through `stateless_apply`, jitted)."""

import jax
import keras
import numpy as np
import pytest

from albert_tf.training.optimizers import AdamWeightDecayOptimizer, LAMBOptimizer, create_optimizer
from albert_tf.training.portable_update import PortableUpdateOptimizer
from tests.fresh_process import run_for_result
from tests.training.optimizer_reference import EXCLUSION_SHAPES, ReferenceOptimizer, make_variable
from tests.training.optimizer_reference import reference_learning_rate, tiny_data, tiny_model, train

SHAPES = EXCLUSION_SHAPES


def variables_and_values(rng):
    values = {name: rng.normal(size=shape) for name, shape in SHAPES.items()}
    values["zero_init/kernel"] = np.zeros((2, 2))
    variables = [make_variable(name, value) for name, value in values.items()]
    return variables, [np.asarray(v, np.float32) for v in values.values()]


def gradients(rng, scale):
    return [scale * rng.normal(size=shape).astype(np.float32) for shape in SHAPES.values()]


def jitted(optimizer, variables):
    """`apply` as `model.fit` runs it on JAX: `stateless_apply` in one jitted function, compiled once."""
    optimizer.build(variables)
    step = jax.jit(optimizer.stateless_apply)

    def apply(grads):
        new_variables, new_slots = step([v.value for v in optimizer.variables], grads, [v.value for v in variables])
        for variable, value in zip(list(variables) + optimizer.variables, new_variables + new_slots):
            variable.assign(value)

    return apply


def assert_matches(optimizer, variables, reference, params, context):
    for variable, expected in zip(variables, params):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), expected, rtol=0, atol=1e-6,
                                   err_msg=f"{variable.path} {context}")
    for variable, m, v in zip(variables, reference.m, reference.v):
        index = optimizer._variable_index(variable)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(optimizer._momentums[index]), m, atol=1e-6)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(optimizer._velocities[index]), v, atol=1e-6)


@pytest.mark.parametrize("kind", ["adamw", "lamb"])
def test_several_steps_match_the_numpy_transcription(kind):
    rng = np.random.default_rng(7)
    variables, params = variables_and_values(rng)
    optimizer = create_optimizer(kind, 0.05, num_train_steps=8, num_warmup_steps=2)
    reference = ReferenceOptimizer(kind, list(SHAPES), clip_norm=1.0)
    apply = jitted(optimizer, variables)
    for step in range(5):
        # Large and small gradients in turn, so that clipping is active on some steps only.
        grads = gradients(rng, 3.0 if step % 2 == 0 else 0.05)
        apply(grads)
        params = reference.step(params, grads, reference_learning_rate(step, 0.05, 8, 2))
        assert_matches(optimizer, variables, reference, params, f"at step {step}")
    # Off TensorFlow the step around the update is the public-API one.
    assert isinstance(optimizer, PortableUpdateOptimizer)


@pytest.mark.parametrize("kind", ["adamw", "lamb"])
def test_accumulation_averages_clips_after_the_window_and_schedules_at_the_update_count(kind):
    rng = np.random.default_rng(3)
    variables, params = variables_and_values(rng)
    optimizer = create_optimizer(kind, 0.05, num_train_steps=6, num_warmup_steps=2, gradient_accumulation_steps=3)
    reference = ReferenceOptimizer(kind, list(SHAPES), clip_norm=1.0)
    apply = jitted(optimizer, variables)
    for update in range(3):
        window = [gradients(rng, 2.0 if update % 2 == 0 else 0.02) for _ in range(3)]
        for micro_step, grads in enumerate(window):
            before = [keras.ops.convert_to_numpy(v).copy() for v in variables]
            apply(grads)
            if micro_step < 2:  # only accumulates
                for variable, value in zip(variables, before):
                    np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)
        average = [sum(g[i] for g in window) / 3 for i in range(len(SHAPES))]
        params = reference.step(params, average, reference_learning_rate(update, 0.05, 6, 2))
        assert_matches(optimizer, variables, reference, params, f"after update {update}")
        assert int(optimizer.iterations) == update + 1
        assert float(optimizer.learning_rate) == pytest.approx(reference_learning_rate(update + 1, 0.05, 6, 2))


@pytest.mark.parametrize("kind, accumulation", [("adamw", None), ("lamb", 2)])
def test_a_nonfinite_gradient_changes_no_variable_and_no_slot(kind, accumulation):
    # One NaN element in one variable's gradient: with the global clip every variable and slot keeps its
    # value, the update count still advances (the schedule follows the batches), later updates are exact.
    rng = np.random.default_rng(5)
    variables, params = variables_and_values(rng)
    steps = accumulation or 1
    optimizer = create_optimizer(kind, 0.05, num_train_steps=8, num_warmup_steps=1,
                                 gradient_accumulation_steps=accumulation)
    reference = ReferenceOptimizer(kind, list(SHAPES), clip_norm=1.0)
    apply = jitted(optimizer, variables)
    for update in range(3):
        window = [gradients(rng, 2.0) for _ in range(steps)]
        if update == 1:
            window[0][1][0] = np.nan
        slots = [keras.ops.convert_to_numpy(v).copy() for v in optimizer.variables[1:]]
        for grads in window:
            apply(grads)
        if update == 1:
            assert all(np.isfinite(keras.ops.convert_to_numpy(v)).all() for v in variables)
            # Keras' accumulators restart at the window's end; every other slot keeps its value.
            kept = [s for s, v in zip(slots, optimizer.variables[1:]) if "accumulator" not in v.path]
            now = [keras.ops.convert_to_numpy(v) for v in optimizer.variables[1:] if "accumulator" not in v.path]
            for before, after in zip(kept, now):
                np.testing.assert_array_equal(after, before)
        else:
            average = [sum(g[i] for g in window) / steps for i in range(len(SHAPES))]
            params = reference.step(params, average, reference_learning_rate(update, 0.05, 8, 1))
        assert_matches(optimizer, variables, reference, params, f"after update {update}")
        assert int(optimizer.iterations) == update + 1


def test_without_clipping_a_nonfinite_gradient_still_skips_the_whole_update():
    # No clip to spread the NaN: `apply` decides for every variable at once (eagerly, here).
    kernel, bias = make_variable("dense/kernel", [1.0, 2.0]), make_variable("dense/bias", [3.0])
    optimizer = AdamWeightDecayOptimizer(0.1, weight_decay_rate=0.01)
    optimizer.apply([np.array([0.5, 0.5], np.float32), np.array([np.inf], np.float32)], [kernel, bias])
    assert keras.ops.convert_to_numpy(kernel).tolist() == [1.0, 2.0]
    assert keras.ops.convert_to_numpy(bias).tolist() == [3.0]
    slots = [v for v in optimizer.variables if "adam_" in v.path]
    assert len(slots) == 4 and all(not np.any(keras.ops.convert_to_numpy(v)) for v in slots)


def test_lamb_trust_ratio_and_exclusions_match_the_pitfall_example():
    theta = np.array([[1.0, -2.0], [3.0, 0.5]])
    grad = np.array([[0.5, -1.0], [0.25, 2.0]], np.float32)
    kernel, gamma = make_variable("block/kernel", theta), make_variable("block/LayerNorm/gamma", theta)
    optimizer = LAMBOptimizer(learning_rate=0.1, weight_decay_rate=0.01)
    optimizer.apply([grad, grad], [kernel, gamma])
    expected = ReferenceOptimizer("lamb", [kernel.path, gamma.path]).step([theta, theta], [grad, grad], 0.1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(kernel), expected[0], atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(gamma), expected[1], atol=1e-6)
    assert optimizer.uses_layer_adaptation(kernel) and not optimizer.uses_layer_adaptation(gamma)


@pytest.fixture(scope="module")
def accumulated_and_large_batch():
    # `fit` on JAX goes through `stateless_apply` in a jitted step: 2 micro-batches of 4 then an update
    # must equal one batch of 8 (same averaged gradient, clipped after the window, schedule per update).
    make = lambda **kw: create_optimizer("lamb", 5e-2, num_train_steps=10, num_warmup_steps=2, **kw)
    model_accumulated, _ = train(make(gradient_accumulation_steps=2), batch_size=4, epochs=2)
    model_large, losses = train(make(), batch_size=8, epochs=2)
    return model_accumulated, model_large, losses


def test_fit_with_accumulation_equals_the_large_batch_and_reduces_the_loss(accumulated_and_large_batch):
    model_accumulated, model_large, losses = accumulated_and_large_batch
    assert int(model_accumulated.optimizer.iterations) == 4
    for a, b in zip(model_accumulated.get_weights(), model_large.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    assert losses[-1] < losses[0]


def test_fit_skips_a_nan_batch_as_if_it_were_not_there():
    # A NaN input makes the loss NaN (and `scale_loss` every gradient): at a constant rate the run with the
    # poisoned batch ends where the run without it does.
    x, y = tiny_data(24)
    poisoned = x.copy()
    poisoned[8:16] = np.nan

    def fit(inputs, targets):
        model = tiny_model()
        model.compile(optimizer=LAMBOptimizer(1e-2, weight_decay_rate=0.01, global_clipnorm=1.0), loss="mse")
        model.fit(inputs, targets, batch_size=8, epochs=1, shuffle=False, verbose=0)
        return model

    clean = fit(np.concatenate([x[:8], x[16:]]), np.concatenate([y[:8], y[16:]]))
    skipped = fit(poisoned, y)
    assert int(skipped.optimizer.iterations) == 3
    for a, b in zip(skipped.get_weights(), clean.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_a_model_with_the_optimizer_round_trips_through_a_keras_file(tmp_path, accumulated_and_large_batch):
    model = accumulated_and_large_batch[0]
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert type(loaded.optimizer) is LAMBOptimizer
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    assert float(loaded.optimizer.learning_rate) == pytest.approx(float(model.optimizer.learning_rate))


DATA_PARALLEL = r"""
import os
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
import json, sys
import jax, keras, numpy as np
import albert_tf  # the Keras registration of albert_tf's objects runs here, backend-aware
from albert_tf.training.optimizers import create_optimizer
from tests.training.optimizer_reference import tiny_data, tiny_model

def fit(distribution):
    keras.distribution.set_distribution(distribution)
    model = tiny_model()
    model.compile(optimizer=create_optimizer("lamb", 5e-2, 10, 2, gradient_accumulation_steps=2), loss="mse")
    model.fit(*tiny_data(32), batch_size=8, epochs=2, shuffle=False, verbose=0)
    return model.get_weights()

one, two = fit(None), fit(keras.distribution.DataParallel(devices=jax.devices()))
print("RESULT " + json.dumps({"devices": len(jax.devices()),
                              "same": all(np.allclose(a, b, rtol=0, atol=1e-6) for a, b in zip(one, two)),
                              "tensorflow": sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow")}))
"""


def test_data_parallel_training_equals_one_device_and_imports_no_tensorflow():
    # A fresh interpreter: two host devices must be set before JAX starts. The TensorFlow-free environment
    # of `make test-jax` fails on any import; the module list catches one elsewhere too.
    result = run_for_result(DATA_PARALLEL, KERAS_BACKEND="jax")
    assert result == {"devices": 2, "same": True, "tensorflow": []}
