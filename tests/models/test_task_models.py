"""The Keras contract for every task model: config round trip, `.keras` round trip, mixed_bfloat16,
XLA-compiled `fit`, and MirroredStrategy over two logical CPUs following the one-device trajectory."""

import textwrap

import keras
import numpy as np
import pytest

import albert_tf
from tests.conftest import tiny_config
from tests.fresh_process import run_for_result
from tests.models import task_data

# name -> (constructor source over `config`, batch source over `config`); strings so the subprocess
# test can rebuild the same cases.
CASES = {
    "classifier": ("albert_tf.AlbertClassifier(config, 3)", "task_data.classification_batch(config, 3, batch=8)"),
    "regression": ("albert_tf.AlbertClassifier(config, 1)", "task_data.classification_batch(config, 1, batch=8)"),
    "squad_v1": ("albert_tf.AlbertQuestionAnswering(config, version=1)", "task_data.squad_batch(config, batch=8)"),
    "squad_v2": (
        "albert_tf.AlbertQuestionAnswering(config, version=2, start_n_top=3, end_n_top=2)",
        "task_data.squad_batch(config, batch=8)",
    ),
    "multiple_choice": ("albert_tf.AlbertMultipleChoice(config, 4)", "task_data.race_batch(config, batch=8)"),
    "token_classifier": ("albert_tf.AlbertTokenClassifier(config, 5)", "task_data.tagging_batch(config, 5, batch=8)"),
}
# Every distinct loss reduction once (regression and v1 reduce as the classifier and v2 do).
MIRRORED_CASES = ["classifier", "multiple_choice", "squad_v2", "token_classifier"]


def build(name, config, **overrides):
    model_src, batch_src = CASES[name]
    env = {"albert_tf": albert_tf, "task_data": task_data, "config": config}
    model = eval(model_src, env)
    if overrides:
        model = type(model).from_config({**model.get_config(), **overrides})
    return model, eval(batch_src, env)


def inference_outputs(model, batch):
    return {k: np.asarray(v) for k, v in model(batch, training=False).items()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_config_and_keras_file_round_trip(name, tmp_path):
    config = tiny_config(num_hidden_groups=2)
    model, batch = build(name, config)
    task_data.perturb(model, scale=0.05)
    again = type(model).from_config(model.get_config())
    assert again.get_config() == model.get_config()
    assert len(again.weights) == len(model.weights)
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model) and loaded.get_config() == model.get_config()
    expected, got = inference_outputs(model, batch), inference_outputs(loaded, batch)
    assert sorted(expected) == sorted(got)
    for key in expected:
        np.testing.assert_array_equal(expected[key], got[key], err_msg=key)


@pytest.mark.parametrize("name", sorted(CASES))
def test_mixed_bfloat16_float32_logits_and_xla_fit(name):
    config = tiny_config(num_hidden_layers=1)
    keras.utils.set_random_seed(0)
    model, batch = build(name, config, dtype="mixed_bfloat16")
    assert model.backbone.embeddings.compute_dtype == "bfloat16"
    for key, value in model(batch).items():
        if "index" not in key and key != "predictions":
            assert value.dtype == "float32", key
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=True)
    history = model.fit(batch, epochs=2, batch_size=len(batch["input_ids"]), verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert len(history.history) >= 2, "a task metric is reported beside the loss"


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from albert_tf.training import create_optimizer, select_strategy
    from tests.conftest import tiny_config
    from tests.models.test_task_models import CASES, build

    results = {}
    # One strategy object for every case: a second MirroredStrategy in the process reuses collective
    # instance keys and its all-reduces meet the first one's.
    one_device = select_strategy("one_device")
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    for name in sys.argv[1].split(","):
        def trajectory(strategy):
            keras.utils.set_random_seed(7)
            with strategy.scope():
                # No dropout: the replicas' random streams differ from one device's.
                model, data = build(name, tiny_config(), dropout=0.0)
                model.compile(optimizer=create_optimizer("adamw", 1e-2, 20, 0))
            dataset = tf.data.Dataset.from_tensor_slices(data).batch(8, drop_remainder=True).repeat()
            history = model.fit(dataset, steps_per_epoch=1, epochs=4, verbose=0, shuffle=False)
            return history.history, model.get_weights()
        one, one_weights = trajectory(one_device)
        two, two_weights = trajectory(mirrored)
        results[name] = {"one": one, "two": two,
                         "max_weight_diff": float(max(np.abs(a - b).max() for a, b in zip(one_weights, two_weights)))}
    print("RESULT " + json.dumps(results))
    """
)


def test_mirrored_two_cpus_follow_one_device():
    names = sorted(MIRRORED_CASES)
    results = run_for_result(MIRRORED_SCRIPT, ",".join(names), timeout=900)
    assert sorted(results) == names
    for name, result in results.items():
        assert sorted(result["one"]) == sorted(result["two"]), name
        for key in result["one"]:
            np.testing.assert_allclose(result["one"][key], result["two"][key], atol=1e-5, err_msg=f"{name} {key}")
        assert len(set(result["one"]["loss"])) > 1, (name, "the optimizer moved nothing")
        assert result["max_weight_diff"] <= 1e-4, (name, result["max_weight_diff"])


# What each model serves (albert_tf.models.serving): the exporter builds its signatures from these alone.
SERVED = {
    "classifier": (("logits", "predictions", "probabilities"), 3, True),
    "regression": (("logits", "predictions"), 1, True),
    "squad_v1": (("end_logits", "start_logits"), None, True),
    "squad_v2": (("cls_logits", "end_top_index", "end_top_log_probs", "start_log_probs", "start_top_index",
                  "start_top_log_probs"), None, True),
    "multiple_choice": (("logits", "predictions", "probabilities"), 4, False),
    "token_classifier": (("logits", "predictions"), 5, True),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_task_models_say_what_they_serve(name):
    from albert_tf.tasks.squad import squad_p_mask

    keys, classes, serves_text = SERVED[name]
    model, batch = build(name, tiny_config(num_hidden_layers=1))
    specs = model.serving_inputs(seq_length=12)
    assert list(specs) == ["input_ids", "input_mask", "segment_ids"]
    assert all(spec.shape[-1] == 12 and spec.dtype == "int32" and spec.name == key for key, spec in specs.items())
    assert (model.serving_classes, model.serves_text, model.fills_masks) == (classes, serves_text, False)
    features = {key: batch[key] for key in specs}
    served = model.serving_outputs(features)
    backbone_keys = () if name == "multiple_choice" else ("pooled_output", "sequence_output")
    assert sorted(served) == sorted(keys + backbone_keys)
    # Served models get no p_mask: theirs follows from the segments, by the records' rule.
    expected = model({**features, "p_mask": squad_p_mask(batch["input_mask"], batch["segment_ids"]).astype("int32")},
                     training=False)
    for key in keys:
        np.testing.assert_allclose(np.asarray(served[key]), np.asarray(expected[key]), atol=1e-6, rtol=0, err_msg=key)


def test_backbone_and_pretrainer_say_what_they_serve():
    config = tiny_config(num_hidden_layers=1)
    pretrainer = albert_tf.AlbertPretrainer(config)
    features = task_data.inputs(config)
    for model in (pretrainer.backbone, pretrainer):
        assert sorted(model.serving_outputs(features)) == ["pooled_output", "sequence_output"]
        assert model.serving_classes is None and model.serves_text
    assert pretrainer.fills_masks and not pretrainer.backbone.fills_masks
    extra = pretrainer.serving_signatures()
    assert sorted(extra) == ["mlm", "sop"] and list(extra["mlm"][0]) == ["mlm_positions"] and extra["sop"][0] == {}
    positions = np.array([[1, 2]] * len(features["input_ids"]), "int32")
    mlm = extra["mlm"][1](features, {"mlm_positions": positions})
    expected = pretrainer({**features, "masked_lm_positions": positions}, training=False)
    np.testing.assert_allclose(np.asarray(mlm["mlm_logits"]), np.asarray(expected["mlm_logits"]), atol=1e-5, rtol=0)
    sop = extra["sop"][1](features, {})
    np.testing.assert_allclose(np.exp(np.asarray(sop["sop_log_probs"])).sum(-1), 1.0, atol=1e-5)
