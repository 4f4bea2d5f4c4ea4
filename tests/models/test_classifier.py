import keras
import numpy as np
import pytest

from albert_tf import AlbertBackbone, AlbertClassifier
from tests.conftest import tiny_config
from tests.models.task_data import classification_batch


def log_softmax(x):
    x = x.astype("float64")
    return x - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True)) - x.max(-1, keepdims=True)


def test_outputs_for_classification_and_regression():
    config = tiny_config()
    batch = classification_batch(config)
    out = AlbertClassifier(AlbertBackbone(config), num_classes=3)(batch)
    assert tuple(out["logits"].shape) == (4, 3) and out["logits"].dtype == "float32"
    np.testing.assert_allclose(np.asarray(out["probabilities"]).sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(out["predictions"], np.argmax(out["logits"], -1))
    reg = AlbertClassifier(config=config, num_classes=1)(batch)
    assert tuple(reg["logits"].shape) == (4, 1) and tuple(reg["predictions"].shape) == (4,)
    assert "probabilities" not in reg


def test_cross_entropy_loss_is_weighted_by_is_real_example():
    config = tiny_config()
    model = AlbertClassifier(config, 3)
    batch = classification_batch(config, batch=6, seed=3)
    batch["is_real_example"][[1, 4]] = 0
    out = model(batch)
    nll = -np.take_along_axis(log_softmax(np.asarray(out["logits"])), batch["label_ids"], -1)[:, 0]
    real = batch["is_real_example"][:, 0] == 1
    np.testing.assert_allclose(float(model.compute_loss(x=batch, y_pred=out)), nll[real].mean(), rtol=1e-5)
    # Labels passed as y give the same loss.
    labels = {k: batch[k] for k in ("label_ids", "is_real_example")}
    np.testing.assert_allclose(float(model.compute_loss(x=batch, y=labels, y_pred=out)), nll[real].mean(), rtol=1e-5)


def test_regression_loss_is_mean_squared_error():
    config = tiny_config()
    model = AlbertClassifier(config, 1)
    batch = classification_batch(config, num_classes=1)
    out = model(batch)
    expected = ((np.asarray(out["logits"])[:, 0] - batch["label_ids"][:, 0]) ** 2).mean()
    np.testing.assert_allclose(float(model.compute_loss(x=batch, y_pred=out)), expected, rtol=1e-5)


def test_head_dropout_applies_in_training_even_when_the_config_has_none():
    config = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = AlbertClassifier(config, 4)
    assert model.classifier_head.dropout == 0.1
    batch = classification_batch(config)
    keras.utils.set_random_seed(0)
    a, b = model(batch, training=True)["logits"], model(batch, training=True)["logits"]
    assert np.abs(np.asarray(a) - np.asarray(b)).max() > 0
    np.testing.assert_array_equal(model(batch)["logits"], model(batch, training=False)["logits"])
    # Without head dropout, training and inference agree (the backbone has no dropout here).
    plain = AlbertClassifier(model.backbone, 4, dropout=0.0)
    np.testing.assert_allclose(plain(batch, training=True)["logits"], plain(batch)["logits"], atol=1e-6)


def test_fit_learns_and_reports_accuracy():
    config = tiny_config()
    keras.utils.set_random_seed(0)
    model = AlbertClassifier(config, 3)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=True)
    batch = classification_batch(config, batch=8, seed=1)
    history = model.fit(batch, batch_size=8, epochs=30, verbose=0)
    assert history.history["accuracy"][-1] == 1.0
    assert history.history["loss"][-1] < 0.2 * history.history["loss"][0]
    result = model.evaluate(batch, batch_size=8, verbose=0, return_dict=True)
    assert result["accuracy"] == 1.0


def test_bad_arguments_are_clear_errors():
    config = tiny_config()
    with pytest.raises(ValueError, match="num_classes"):
        AlbertClassifier(config, 0)
    with pytest.raises(ValueError, match="backbone"):
        AlbertClassifier(num_classes=2)
    with pytest.raises(ValueError, match="another config"):
        AlbertClassifier(AlbertBackbone(config), 2, config=tiny_config(hidden_size=64))
    model = AlbertClassifier(config, 2)
    batch = classification_batch(config, num_classes=2)
    with pytest.raises(KeyError, match="label_ids"):
        model.compute_loss(x={k: v for k, v in batch.items() if k != "label_ids"}, y_pred=model(batch))


def test_streaming_glue_metrics_equal_the_whole_set_scores():
    from sklearn import metrics as sk

    from albert_tf import metrics

    config = tiny_config()
    keras.utils.set_random_seed(4)
    binary = AlbertClassifier(config, 2)
    data = classification_batch(config, num_classes=2, batch=24, seed=7)
    data["is_real_example"][[3, 10, 17]] = 0
    binary.compile(optimizer="sgd")
    result = binary.evaluate(data, batch_size=8, verbose=0, return_dict=True)
    predictions = np.asarray(binary.predict(data, batch_size=8, verbose=0)["predictions"])
    labels, weights = data["label_ids"][:, 0], data["is_real_example"][:, 0]
    np.testing.assert_allclose(result["accuracy"], sk.accuracy_score(labels, predictions, sample_weight=weights), atol=1e-6)
    np.testing.assert_allclose(result["f1"], sk.f1_score(labels, predictions, sample_weight=weights), atol=1e-6)
    np.testing.assert_allclose(result["matthew_corr"], sk.matthews_corrcoef(labels, predictions, sample_weight=weights), atol=1e-6)

    regression = AlbertClassifier(config, 1)
    data = classification_batch(config, num_classes=1, batch=24, seed=8)
    regression.compile(optimizer="sgd")
    result = regression.evaluate(data, batch_size=8, verbose=0, return_dict=True)
    predictions = np.asarray(regression.predict(data, batch_size=8, verbose=0)["predictions"])
    np.testing.assert_allclose(result["pearson"], metrics.pearson(predictions, data["label_ids"][:, 0]), atol=1e-4)
    np.testing.assert_allclose(result["mean_squared_error"], metrics.mean_squared_error(predictions, data["label_ids"][:, 0]), rtol=1e-5)
