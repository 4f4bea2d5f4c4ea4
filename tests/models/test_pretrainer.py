import keras
import numpy as np
import pytest

from albert_tf import AlbertPretrainer
from albert_tf.models.pretrainer import masked_lm_loss
from tests.conftest import random_batch, tiny_config


def test_output_shapes_and_dtypes():
    config = tiny_config()
    outputs = AlbertPretrainer(config)(random_batch(config))
    assert tuple(outputs["mlm_logits"].shape) == (3, 4, config.vocab_size)
    assert tuple(outputs["sop_logits"].shape) == (3, 2)


def test_decoder_is_tied_to_the_word_embedding():
    config = tiny_config()
    model = AlbertPretrainer(config)
    assert model.count_params() == config.num_parameters(with_pretraining_heads=True)
    assert not any(tuple(v.shape) == (config.embedding_size, config.vocab_size) for v in model.weights)
    batch = random_batch(config)
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(batch)["mlm_logits"])
    grad = tape.gradient(loss, model.backbone.embedding_table)
    # Rows of ids that are never input tokens still get gradient: only through the tied decoder.
    unused = np.setdiff1d(np.arange(config.vocab_size), batch["input_ids"])
    assert np.abs(tf.convert_to_tensor(grad).numpy()[unused]).sum() > 0


def test_masked_lm_loss_is_zero_when_no_weights():
    logits = np.random.rand(2, 3, 10).astype("float32")
    loss, _ = masked_lm_loss(logits, np.zeros((2, 3), "int32"), np.zeros((2, 3), "float32"))
    assert float(loss) == 0.0


def test_loss_is_weighted_mlm_plus_sop():
    config = tiny_config()
    model = AlbertPretrainer(config)
    batch = random_batch(config)
    batch["masked_lm_weights"][1, 2:] = 0.0
    outputs = model(batch)
    logits = outputs["mlm_logits"].numpy().astype("float64")
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(log_probs, batch["masked_lm_ids"][..., None], -1)[..., 0]
    w = batch["masked_lm_weights"]
    sop = outputs["sop_logits"].numpy().astype("float64")
    sop_lp = sop - np.log(np.exp(sop).sum(-1, keepdims=True))
    expected = (w * nll).sum() / (w.sum() + 1e-5) - sop_lp[np.arange(3), batch["next_sentence_labels"][:, 0]].mean()
    got = model.compute_loss(x=batch, y_pred=outputs)
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)
    # Labels given as y instead of inside x give the same loss.
    labels = {k: batch[k] for k in ("masked_lm_ids", "masked_lm_weights", "next_sentence_labels")}
    np.testing.assert_allclose(float(model.compute_loss(x=batch, y=labels, y_pred=outputs)), expected, rtol=1e-5)


def test_fit_compiles_with_xla_and_reports_metrics():
    config = tiny_config()
    keras.utils.set_random_seed(0)
    model = AlbertPretrainer(config)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=True)
    batch = random_batch(config, batch=8, seed=1, pad=(0, 4, 7, 0, 1, 2, 3, 5))
    history = model.fit(batch, batch_size=8, epochs=25, verbose=0)
    assert set(history.history) >= {"loss", "masked_lm_accuracy", "masked_lm_loss", "sentence_order_accuracy", "sentence_order_loss"}
    losses = history.history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < 0.5 * losses[0]
    evaluated = model.evaluate(batch, batch_size=8, verbose=0, return_dict=True)
    assert 0.0 <= evaluated["masked_lm_accuracy"] <= 1.0


def test_mixed_bfloat16_training_step_compiles():
    config = tiny_config()
    model = AlbertPretrainer(config, dtype="mixed_bfloat16")
    outputs = model(random_batch(config))
    assert outputs["mlm_logits"].dtype == "float32" and outputs["sop_logits"].dtype == "float32"
    model.compile(optimizer="adam", jit_compile=True)
    history = model.fit(random_batch(config), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_keras_save_and_load_gives_identical_outputs(tmp_path):
    config = tiny_config(num_hidden_groups=2)
    model = AlbertPretrainer(config)
    batch = random_batch(config)
    path = str(tmp_path / "pretrainer.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, AlbertPretrainer)
    for key in ("mlm_logits", "sop_logits"):
        np.testing.assert_array_equal(model(batch)[key], loaded(batch)[key])


def test_missing_labels_and_positions_are_clear_errors():
    config = tiny_config()
    model = AlbertPretrainer(config)
    batch = random_batch(config)
    with pytest.raises(KeyError, match="masked_lm_positions"):
        model({k: v for k, v in batch.items() if k != "masked_lm_positions"})
    outputs = model(batch)
    with pytest.raises(KeyError, match="masked_lm_weights"):
        model.compute_loss(x={k: v for k, v in batch.items() if k != "masked_lm_weights"}, y_pred=outputs)
    with pytest.raises(ValueError, match="config"):
        AlbertPretrainer()
