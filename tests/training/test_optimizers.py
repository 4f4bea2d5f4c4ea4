import doctest
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from albert_tf.training import optimizers as optimizers_module
from albert_tf.training import schedules as schedules_module
from albert_tf.training import strategy as strategy_module
from albert_tf.training.optimizers import (
    AdamWeightDecayOptimizer,
    LAMBOptimizer,
    create_optimizer,
)
from albert_tf.training.schedules import WarmupPolynomialDecay

from tests.fresh_process import run_for_result
from tests.training.optimizer_reference import (
    EXCLUSION_SHAPES,
    ReferenceOptimizer,
    make_variable,
    reference_learning_rate,
    tiny_data,
    tiny_model,
    train,
)

# ---------------------------------------------------------------------------------------------------
# Numerics against the specification.


@pytest.mark.parametrize("kind", ["adamw", "lamb"])
def test_several_steps_match_the_numpy_transcription(kind):
    rng = np.random.default_rng(7)
    shapes = EXCLUSION_SHAPES
    values = {n: rng.normal(size=s) for n, s in shapes.items()}
    values["zero_init/kernel"] = np.zeros((2, 2))
    variables = [make_variable(n, v) for n, v in values.items()]
    optimizer = create_optimizer(kind, 0.05, num_train_steps=8, num_warmup_steps=2)
    reference = ReferenceOptimizer(kind, list(shapes), clip_norm=1.0)
    params = [np.asarray(v, np.float32) for v in values.values()]
    for step in range(6):
        # Alternate large and small gradients so that clipping is active on some steps only.
        scale = 3.0 if step % 2 == 0 else 0.05
        grads = [scale * rng.normal(size=s).astype(np.float32) for s in shapes.values()]
        optimizer.apply([tf.constant(g) for g in grads], variables)
        params = reference.step(params, grads, reference_learning_rate(step, 0.05, 8, 2))
        for variable, expected in zip(variables, params):
            np.testing.assert_allclose(np.asarray(variable), expected, rtol=0, atol=1e-6,
                                       err_msg=f"{variable.path} at step {step}")
    for variable, m, v in zip(variables, reference.m, reference.v):
        index = optimizer._get_variable_index(variable)
        np.testing.assert_allclose(np.asarray(optimizer._momentums[index]), m, atol=1e-6)
        np.testing.assert_allclose(np.asarray(optimizer._velocities[index]), v, atol=1e-6)


def test_pitfall_9_adamw_golden_step():
    kernel = make_variable("layer/kernel", [1.0])
    bias = make_variable("layer/output_bias", [1.0])
    optimizer = AdamWeightDecayOptimizer(learning_rate=0.1, weight_decay_rate=0.01)
    optimizer.apply([tf.constant([0.5]), tf.constant([0.5])], [kernel, bias])
    index = optimizer._get_variable_index(kernel)
    np.testing.assert_allclose(np.asarray(optimizer._momentums[index]), [0.05], atol=1e-8)
    np.testing.assert_allclose(np.asarray(optimizer._velocities[index]), [0.00025], atol=1e-10)
    # u = 0.05 / (sqrt(0.00025) + 1e-6) + 0.01 = 3.172078; a bias-corrected Adam would move ≈ 0.1.
    np.testing.assert_allclose(np.asarray(kernel), [0.682792], atol=1e-6)
    # The bias is excluded from decay: u = 3.162078.
    np.testing.assert_allclose(np.asarray(bias), [1.0 - 0.1 * 3.162078], atol=1e-6)


def test_pitfall_9_lamb_trust_ratio_on_a_2x2_tensor():
    theta = np.array([[1.0, -2.0], [3.0, 0.5]])
    grad = np.array([[0.5, -1.0], [0.25, 2.0]])
    kernel = make_variable("block/kernel", theta)
    bias_like = make_variable("block/LayerNorm/gamma", theta)
    optimizer = LAMBOptimizer(learning_rate=0.1, weight_decay_rate=0.01)
    optimizer.apply([tf.constant(grad, tf.float32)] * 2, [kernel, bias_like])
    m, v = 0.1 * grad, 0.001 * grad ** 2
    update = m / (np.sqrt(v) + 1e-6) + 0.01 * theta
    ratio = np.linalg.norm(theta) / np.linalg.norm(update)
    assert ratio == pytest.approx(0.5938478, rel=1e-6)  # far from 1: the ratio matters here
    np.testing.assert_allclose(np.asarray(kernel), theta - ratio * 0.1 * update, atol=1e-6)
    # LayerNorm variables: no decay and ratio 1.
    np.testing.assert_allclose(
        np.asarray(bias_like), theta - 0.1 * m / (np.sqrt(v) + 1e-6), atol=1e-6)


@pytest.mark.parametrize("kind", ["adamw", "lamb"])
def test_public_update_step_alone_is_the_original_update(kind):
    # The original's math lives in the public `update_step`: called directly, bypassing every private
    # hook of albert_tf._compat (clipping, accumulation, schedule), it gives one reference step.
    theta = np.array([[1.0, -2.0], [3.0, 0.5]])
    grad = np.array([[0.5, -1.0], [0.25, 2.0]])
    kernel = make_variable("block/kernel", theta)
    gamma = make_variable("block/LayerNorm/gamma", theta)
    optimizer = (LAMBOptimizer if kind == "lamb" else AdamWeightDecayOptimizer)(0.1, weight_decay_rate=0.01)
    optimizer.build([kernel, gamma])
    for variable in (kernel, gamma):
        optimizer.update_step(tf.constant(grad, tf.float32), variable.value, tf.constant(0.1))
    expected = ReferenceOptimizer(kind, [kernel.path, gamma.path]).step([theta, theta], [grad, grad], 0.1)
    np.testing.assert_allclose(np.asarray(kernel), expected[0], atol=1e-6)
    np.testing.assert_allclose(np.asarray(gamma), expected[1], atol=1e-6)


def test_lamb_zero_norms_give_ratio_one():
    zero_weight = make_variable("a/kernel", np.zeros((2, 2)))
    zero_update = make_variable("b/kernel", np.ones((2, 2)))
    optimizer = LAMBOptimizer(learning_rate=0.1)  # no decay, so a zero gradient gives u = 0
    optimizer.apply([tf.ones((2, 2)), tf.zeros((2, 2))], [zero_weight, zero_update])
    np.testing.assert_allclose(np.asarray(zero_weight), -0.1 / (np.sqrt(0.001) + 1e-6) * 0.1,
                               atol=1e-6)
    np.testing.assert_array_equal(np.asarray(zero_update), np.ones((2, 2)))


def test_pitfall_10_clipping_loss_scaled_by_100_gives_the_clipped_first_moments():
    model = tiny_model()
    x, y = tiny_data(8)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.mean_squared_error(y, model(x)))
    grads = [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]
    global_norm = np.sqrt(sum(np.sum(g ** 2) for g in grads))
    assert 100 * global_norm > 1.0

    optimizer = create_optimizer("adamw", 1e-3, num_train_steps=10, num_warmup_steps=1)
    model.compile(optimizer=optimizer, loss=lambda t, p: 100.0 * keras.losses.mean_squared_error(t, p))
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for variable, g in zip(model.trainable_variables, grads):
        m = optimizer._momentums[optimizer._get_variable_index(variable)]
        np.testing.assert_allclose(np.asarray(m), 0.1 * g / global_norm, rtol=1e-5, atol=1e-7)


def test_global_clipnorm_is_exactly_tf_clip_by_global_norm():
    rng = np.random.default_rng(3)
    grads = [rng.normal(size=s).astype(np.float32) * 10 for s in [(7, 5), (5,), (3, 3, 2)]]
    variables = [make_variable(f"clip/v{i}/kernel", np.zeros_like(g)) for i, g in enumerate(grads)]
    # With β1 = 0 the first moment equals the clipped gradient exactly.
    optimizer = AdamWeightDecayOptimizer(learning_rate=0.0, beta_1=0.0, global_clipnorm=1.0)
    optimizer.apply([tf.constant(g) for g in grads], variables)
    expected, _ = tf.clip_by_global_norm([tf.constant(g) for g in grads], 1.0)
    for variable, e in zip(variables, expected):
        np.testing.assert_array_equal(
            np.asarray(optimizer._momentums[optimizer._get_variable_index(variable)]), e.numpy())


# ---------------------------------------------------------------------------------------------------
# Exclusions.


def test_exclusions_search_the_keras_path():
    model = keras.Sequential(
        [
            keras.Input((4,), dtype="int32"),
            keras.layers.Embedding(10, 3, name="word_embeddings"),
            keras.layers.LayerNormalization(name="embeddings_LayerNorm"),
            keras.layers.LayerNormalization(),  # auto-named "layer_normalization": matches layer_norm
            keras.layers.Dense(2, name="pooler"),
        ],
        name="backbone",
    )
    optimizer = LAMBOptimizer(weight_decay_rate=0.01)
    optimizer.build(model.trainable_variables)
    # The auto-generated name gets a counter suffix that depends on what the process built before.
    auto = model.layers[2].name
    assert auto.startswith("layer_normalization")
    flags = {v.path.replace(auto, "layer_normalization"): (optimizer.uses_weight_decay(v), optimizer.uses_layer_adaptation(v))
             for v in model.trainable_variables}
    assert flags == {
        "backbone/word_embeddings/embeddings": (True, True),
        "backbone/embeddings_LayerNorm/gamma": (False, False),
        "backbone/embeddings_LayerNorm/beta": (False, False),
        "backbone/layer_normalization/gamma": (False, False),
        "backbone/layer_normalization/beta": (False, False),
        "backbone/pooler/kernel": (True, True),
        "backbone/pooler/bias": (False, False),
    }

    custom = LAMBOptimizer(weight_decay_rate=0.01, exclude_from_weight_decay=["embeddings"],
                           exclude_from_layer_adaptation=["pooler"])
    custom.build(model.trainable_variables)
    embeddings, pooler_kernel = model.trainable_variables[0], model.trainable_variables[-2]
    assert not custom.uses_weight_decay(embeddings) and custom.uses_layer_adaptation(embeddings)
    assert custom.uses_weight_decay(pooler_kernel) and not custom.uses_layer_adaptation(pooler_kernel)

    no_decay = AdamWeightDecayOptimizer(weight_decay_rate=0.0)
    no_decay.build(model.trainable_variables)
    assert not any(no_decay.uses_weight_decay(v) for v in model.trainable_variables)


def test_embedding_gradients_as_indexed_slices_are_applied_densely():
    model = keras.Sequential([keras.Input((3,), dtype="int32"), keras.layers.Embedding(5, 2)])
    optimizer = LAMBOptimizer(learning_rate=0.1, weight_decay_rate=0.01, global_clipnorm=1.0)
    before = model.trainable_variables[0].numpy()
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(tf.constant([[0, 1, 1]])))
    grads = tape.gradient(loss, model.trainable_variables)
    assert isinstance(grads[0], tf.IndexedSlices)
    optimizer.apply(grads, model.trainable_variables)
    after = model.trainable_variables[0].numpy()
    assert not np.allclose(after[:2], before[:2])
    # Rows without gradient still decay (the original's dense update), so they move too.
    assert not np.allclose(after[2:], before[2:])


# ---------------------------------------------------------------------------------------------------
# Keras integration.


@pytest.mark.parametrize("kind", ["adamw", "lamb"])
def test_fit_with_jit_compile_matches_graph_mode(kind):
    make = lambda: create_optimizer(kind, 1e-2, num_train_steps=20, num_warmup_steps=2)
    graph_model, graph_losses = train(make(), jit_compile=False)
    xla_model, xla_losses = train(make(), jit_compile=True)
    np.testing.assert_allclose(xla_losses, graph_losses, rtol=0, atol=1e-6)
    for a, b in zip(xla_model.get_weights(), graph_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    assert graph_losses[-1] < graph_losses[0]


@pytest.mark.parametrize("kind", ["adamw", "lamb"])
def test_gradient_accumulation_equals_the_large_batch(kind):
    # 2 micro-batches of 4 then an update == one batch of 8: same averaged gradient, clipped after
    # accumulation, and the schedule sees optimizer updates (lr(0) = 0 for the first update in both).
    make = lambda **kw: create_optimizer(kind, 5e-2, num_train_steps=10, num_warmup_steps=2, **kw)
    accumulating = make(gradient_accumulation_steps=2)
    model_accumulated, _ = train(accumulating, batch_size=4, epochs=3)
    model_large, _ = train(make(), batch_size=8, epochs=3)
    assert int(accumulating.iterations) == 6
    for a, b in zip(model_accumulated.get_weights(), model_large.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    assert not np.allclose(model_large.get_weights()[0], tiny_model().get_weights()[0])


def embedding_model():
    """Token ids → embedding (gradient: IndexedSlices with repeated rows) → mean over tokens → dense."""
    keras.utils.set_random_seed(0)
    ids = keras.Input((6,), dtype="int32")
    x = keras.layers.Embedding(5, 4, name="word_embeddings")(ids)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(ids, keras.layers.Dense(1, name="logits")(x))


def embedding_data():
    rng = np.random.default_rng(4)
    ids = rng.integers(0, 5, size=(8, 6)).astype(np.int32)  # 48 lookups of 5 ids: many repeats
    targets = (10.0 * np.cos(ids.sum(axis=1, keepdims=True))).astype(np.float32)  # large: clip active
    return ids, targets


def train_embedding_model(kind, accumulation=None, strategy=None, updates=3):
    """`updates` optimizer updates at global batch 8, as 8 // accumulation-sized micro-batches."""
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = embedding_model()
        optimizer = create_optimizer(kind, 5e-2, num_train_steps=10, num_warmup_steps=0,
                                     gradient_accumulation_steps=accumulation)
        model.compile(optimizer=optimizer, loss="mse")
    ids, targets = embedding_data()
    micro_batch = 8 // (accumulation or 1)
    data = tf.data.Dataset.from_tensor_slices((ids, targets)).batch(micro_batch).repeat()
    model.fit(data, steps_per_epoch=updates * (accumulation or 1), epochs=1, shuffle=False, verbose=0)
    assert int(optimizer.iterations) == updates  # Keras counts updates, not micro-steps
    return [np.asarray(w) for w in model.get_weights()]


@pytest.mark.parametrize("kind", ["adamw", "lamb"])
def test_accumulation_with_active_clipping_and_sparse_embedding_gradients_equals_the_large_batch(kind):
    # The embedding gradient arrives as IndexedSlices with repeated rows. Accumulation sums it into a
    # dense buffer; the clip must measure that same (dense) gradient without accumulation too, not the
    # norm of the un-summed rows, or the clipped update depends on the micro-batching.
    ids, targets = embedding_data()
    probe = embedding_model()
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(probe(ids) - targets))
    grads = tape.gradient(loss, probe.trainable_variables)
    assert isinstance(grads[0], tf.IndexedSlices)
    dense = [tf.convert_to_tensor(g) for g in grads]
    true_norm = float(tf.linalg.global_norm(dense))
    rows_norm = float(tf.linalg.global_norm(grads))  # what clip_by_global_norm sees on the slices
    assert true_norm > 1.0  # clipping is active
    assert abs(rows_norm - true_norm) > 3e-2 * true_norm  # repeated rows make the two norms differ

    accumulated = train_embedding_model(kind, accumulation=2)
    large = train_embedding_model(kind)
    for a, b in zip(accumulated, large):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    assert not np.allclose(large[0], embedding_model().get_weights()[0])


MIRRORED_EMBEDDING_SCRIPT = textwrap.dedent(
    """
    import json
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from tests.training.test_optimizers import train_embedding_model

    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    diffs = {}
    for kind in ("adamw", "lamb"):
        large = train_embedding_model(kind)
        accumulated = train_embedding_model(kind, accumulation=2, strategy=mirrored)
        diffs[kind] = float(max(np.abs(a - b).max() for a, b in zip(accumulated, large)))
    print("RESULT " + json.dumps({"replicas": mirrored.num_replicas_in_sync, "diffs": diffs}))
    """
)


def test_mirrored_accumulation_with_active_clipping_equals_the_large_batch_on_one_device():
    # Two logical CPUs (a fresh process: logical devices must be set before TensorFlow starts), each
    # replica seeing micro-batches of 2, accumulated over 2 steps: the one-device batch of 8.
    result = run_for_result(MIRRORED_EMBEDDING_SCRIPT, CUDA_VISIBLE_DEVICES="")
    assert result["replicas"] == 2
    assert all(diff <= 1e-6 for diff in result["diffs"].values()), result


@pytest.mark.parametrize("kind", ["adamw", "lamb"])
def test_mixed_bfloat16_trains_float32_variables(kind):
    optimizer = create_optimizer(kind, 1e-2, num_train_steps=20, num_warmup_steps=1)
    model, losses = train(optimizer, dtype="mixed_bfloat16", epochs=3)
    assert all(v.dtype == "float32" for v in model.trainable_variables)
    assert all(v.dtype == "float32" for v in optimizer._momentums + optimizer._velocities)
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    _, float32_losses = train(create_optimizer(kind, 1e-2, num_train_steps=20, num_warmup_steps=1))
    np.testing.assert_allclose(losses, float32_losses, rtol=5e-2)


def test_get_config_from_config_and_keras_serialisation():
    optimizer = create_optimizer("lamb", 1e-3, num_train_steps=100, num_warmup_steps=10,
                                 exclude_from_weight_decay=["LayerNorm", "bias"],
                                 gradient_accumulation_steps=4)
    config = optimizer.get_config()
    assert "weight_decay" not in config
    assert config["weight_decay_rate"] == 0.01 and config["global_clipnorm"] == 1.0
    assert config["exclude_from_layer_adaptation"] is None
    clone = LAMBOptimizer.from_config(config)
    assert clone.get_config() == config
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(restored, LAMBOptimizer)
    assert isinstance(restored._learning_rate, WarmupPolynomialDecay)
    assert restored.get_config() == config

    adamw = AdamWeightDecayOptimizer(2e-5, weight_decay_rate=0.01, epsilon=1e-8, name="ft")
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(adamw))
    assert isinstance(restored, AdamWeightDecayOptimizer)
    assert restored.get_config() == adamw.get_config()


def test_model_with_optimizer_round_trips_through_a_keras_file(tmp_path):
    optimizer = create_optimizer("lamb", 1e-2, num_train_steps=20, num_warmup_steps=2)
    model, _ = train(optimizer, epochs=1)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.optimizer, LAMBOptimizer)
    assert loaded.optimizer.get_config() == optimizer.get_config()
    assert int(loaded.optimizer.iterations) == int(optimizer.iterations) == 2
    for a, b in zip(loaded.optimizer.variables, optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_create_optimizer_defaults_follow_the_original():
    for name, cls in (("lamb", LAMBOptimizer), ("AdamW", AdamWeightDecayOptimizer)):
        optimizer = create_optimizer(name, 0.00176, num_train_steps=125000, num_warmup_steps=3125)
        assert type(optimizer) is cls
        assert (optimizer.beta_1, optimizer.beta_2, optimizer.epsilon) == (0.9, 0.999, 1e-6)
        assert optimizer.weight_decay_rate == 0.01 and optimizer.global_clipnorm == 1.0
        assert optimizer.exclude_from_weight_decay == ("LayerNorm", "layer_norm", "bias")
        schedule = optimizer._learning_rate
        assert schedule.get_config() == {
            "initial_learning_rate": 0.00176, "num_train_steps": 125000, "num_warmup_steps": 3125,
            "end_learning_rate": 0.0, "power": 1.0, "start_warmup_step": 0, "name": None,
        }
    assert create_optimizer("adamw", 1e-3, 10, 0, clip_norm=None).global_clipnorm is None


def test_clear_errors():
    with pytest.raises(ValueError, match="lamb, adamw"):
        create_optimizer("sgd", 1e-3, 10, 1)
    with pytest.raises(ValueError, match="weight_decay_rate"):
        LAMBOptimizer(weight_decay=0.01)
    with pytest.raises(TypeError, match=r"\['bias'\]"):
        AdamWeightDecayOptimizer(exclude_from_weight_decay="bias")
    with pytest.raises(ValueError, match="invalid regular expression"):
        AdamWeightDecayOptimizer(exclude_from_weight_decay=["("])
    with pytest.raises(ValueError, match="beta_1"):
        LAMBOptimizer(beta_1=1.0)


def test_docstring_examples_run():
    for module in (optimizers_module, schedules_module, strategy_module):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, module.__name__
        assert result.attempted > 0, module.__name__
