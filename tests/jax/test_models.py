"""Every albert_tf model under JAX: builds, predicts, trains two steps with `fit`, evaluates, and saves and
loads a `.keras` file with equal outputs (the Keras backend is JAX: tests/jax/conftest.py)."""

import keras
import numpy as np
import pytest

from albert_tf import (
    AlbertClassifier,
    AlbertMultipleChoice,
    AlbertPretrainer,
    AlbertQuestionAnswering,
    AlbertTokenClassifier,
)
from tests.conftest import random_batch, tiny_config
from tests.models.task_data import inputs, squad_batch


def pretraining_batch(config):
    return random_batch(config, batch=4)


def labelled(config, **labels):
    return {**inputs(config), **labels}


def choices(config):
    flat = inputs(config, batch=12)
    return {**{key: value.reshape(4, 3, -1) for key, value in flat.items()}, "label_ids": np.array([0, 2, 1, 0])}


CASES = {
    "pretrainer": (lambda c: AlbertPretrainer(c), pretraining_batch,
                   ["masked_lm_accuracy", "masked_lm_loss", "sentence_order_accuracy", "sentence_order_loss"]),
    "classifier": (lambda c: AlbertClassifier(config=c, num_classes=2),
                   lambda c: labelled(c, label_ids=np.array([0, 1, 1, 0]), is_real_example=np.array([1, 1, 1, 0])),
                   ["accuracy", "f1", "matthew_corr"]),
    "regression": (lambda c: AlbertClassifier(config=c, num_classes=1),
                   lambda c: labelled(c, label_ids=np.array([0.5, 1.0, 4.0, 2.5], "float32")),
                   ["mean_squared_error", "pearson"]),
    "multiple_choice": (lambda c: AlbertMultipleChoice(config=c, num_choices=3), choices, ["accuracy"]),
    "squad_v1": (lambda c: AlbertQuestionAnswering(config=c, version=1), squad_batch,
                 ["start_accuracy", "end_accuracy"]),
    "squad_v2": (lambda c: AlbertQuestionAnswering(config=c, version=2, start_n_top=3, end_n_top=2), squad_batch,
                 ["start_accuracy", "end_accuracy", "is_impossible_accuracy"]),
    "token_classifier": (lambda c: AlbertTokenClassifier(config=c, num_labels=3),
                         lambda c: labelled(c, label_ids=np.tile(np.arange(12) % 3, (4, 1)).astype("int32")),
                         ["accuracy"]),
}


def test_the_backend_is_jax():
    assert keras.backend.backend() == "jax"


@pytest.mark.parametrize("name", sorted(CASES))
def test_model_trains_and_round_trips_a_keras_file(name, tmp_path):
    make, make_batch, metrics = CASES[name]
    config = tiny_config()
    keras.utils.set_random_seed(0)
    model = make(config)
    batch = make_batch(config)
    before = [np.array(w) for w in model.trainable_weights]

    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(batch, batch_size=2, epochs=1, verbose=0)  # 4 examples: 2 steps
    assert int(model.optimizer.iterations) == 2
    assert np.isfinite(history.history["loss"][0])
    assert set(metrics) <= set(history.history), sorted(history.history)
    moved = [not np.array_equal(b, np.array(a)) for b, a in zip(before, model.trainable_weights)]
    assert sum(moved) > len(moved) // 2, "training moved too few weights"
    evaluated = model.evaluate(batch, batch_size=2, verbose=0, return_dict=True)
    assert set(metrics) <= set(evaluated) and np.isfinite(evaluated["loss"])

    predicted = model.predict(batch, batch_size=2, verbose=0)
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model)
    again = loaded.predict(batch, batch_size=2, verbose=0)
    assert sorted(again) == sorted(predicted)
    for key in predicted:
        np.testing.assert_allclose(again[key], predicted[key], atol=1e-6, rtol=0, err_msg=key)
