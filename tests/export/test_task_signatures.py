"""Task-model exports: the heads' outputs next to the backbone's, label names, SQuAD logits, TFLite."""

import numpy as np
import pytest
import tensorflow as tf

from albert_tf import AlbertBackbone
from albert_tf.export import export_saved_model, export_tflite
from albert_tf.models import AlbertClassifier, AlbertMultipleChoice, AlbertQuestionAnswering, AlbertTokenClassifier

LABELS = ["contradiction", "entailment", "neutral"]


def features(config, batch=3, length=16, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, config.vocab_size, (batch, length)).astype(np.int32)
    ids[:, 0] = 2
    mask = np.ones_like(ids)
    mask[1, 11:] = 0
    segments = (np.arange(length) >= 6).astype(np.int32)[None].repeat(batch, 0) * mask
    return {"input_ids": ids, "input_mask": mask, "segment_ids": segments}


@pytest.fixture(scope="module")
def backbone(tiny_config):
    import keras

    keras.utils.set_random_seed(2)
    return AlbertBackbone(tiny_config)


@pytest.fixture(scope="module")
def classifier_export(backbone, tokenizer, tmp_path_factory):
    model = AlbertClassifier(backbone, num_classes=3)
    path = export_saved_model(model, str(tmp_path_factory.mktemp("cls") / "sm"), tokenizer=tokenizer,
                              max_seq_length=20, label_names=LABELS)
    return model, tf.saved_model.load(path).signatures


def test_classifier_strings_give_label_names(classifier_export, tokenizer):
    model, sig = classifier_export
    texts, texts_b = ["the city had 1,000 people.", "", "日本語"], ["was it?", "also first", ""]
    out = sig["serving_text_pair"](text=tf.constant(texts), text_b=tf.constant(texts_b))
    batch = [tokenizer.encode(a, b, max_seq_length=20) for a, b in zip(texts, texts_b)]
    inputs = {k: np.array([f[k] for f in batch], np.int32) for k in batch[0]}
    expected = model(inputs)
    np.testing.assert_allclose(out["logits"].numpy(), expected["logits"].numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(out["probabilities"].numpy(), expected["probabilities"].numpy(), atol=1e-5, rtol=0)
    np.testing.assert_array_equal(out["prediction_ids"].numpy(), expected["predictions"].numpy())
    assert [p.decode() for p in out["predictions"].numpy()] == [LABELS[i] for i in expected["predictions"].numpy()]
    np.testing.assert_allclose(out["pooled_output"].numpy(), model.backbone(inputs)["pooled_output"].numpy(), atol=1e-5)
    single = sig["serving_default"](text=tf.constant(texts))
    assert single["predictions"].dtype == tf.string and single["logits"].shape == (3, 3)


@pytest.mark.parametrize("make,keys", [
    (lambda b: AlbertQuestionAnswering(b, version=1), ("start_logits", "end_logits")),
    (lambda b: AlbertQuestionAnswering(b, version=2, start_n_top=3, end_n_top=2),
     ("start_top_log_probs", "start_top_index", "end_top_log_probs", "end_top_index", "cls_logits")),
    (lambda b: AlbertTokenClassifier(b, num_labels=5), ("logits", "predictions")),
    (lambda b: AlbertClassifier(b, num_classes=1), ("logits", "predictions")),
], ids=["squad_v1", "squad_v2", "token_classifier", "regression"])
def test_token_signature_equals_the_keras_task_model(make, keys, backbone, tiny_config, tmp_path):
    model = make(backbone)
    loaded = tf.saved_model.load(export_saved_model(model, str(tmp_path / "sm"), max_seq_length=16))
    inputs = features(tiny_config)
    out = loaded.signatures["tokens"](**{k: tf.constant(v) for k, v in inputs.items()})
    if isinstance(model, AlbertQuestionAnswering) and model.version == 2:
        # The records' p_mask: 0 on [CLS] and on segment-1 tokens but the closing [SEP].
        length = inputs["input_mask"].sum(1, keepdims=True)
        positions = np.arange(16)[None]
        context = (inputs["segment_ids"] == 1) & (positions < length - 1)
        inputs["p_mask"] = (~(context | (positions == 0))).astype(np.int32)
    expected = model(inputs)
    for key in keys:
        np.testing.assert_allclose(out[key].numpy(), np.asarray(expected[key]), atol=1e-5, rtol=0, err_msg=key)
    assert out["sequence_output"].shape == (3, 16, tiny_config.hidden_size)


def test_multiple_choice_tokens(backbone, tiny_config, tmp_path):
    model = AlbertMultipleChoice(backbone, num_choices=2)
    loaded = tf.saved_model.load(export_saved_model(model, str(tmp_path / "sm"), max_seq_length=16))
    assert set(loaded.signatures) == {"serving_default", "tokens"}
    flat = features(tiny_config, batch=4)
    inputs = {k: v.reshape(2, 2, 16) for k, v in flat.items()}
    out = loaded.signatures["tokens"](**{k: tf.constant(v) for k, v in inputs.items()})
    expected = model(inputs)
    np.testing.assert_allclose(out["logits"].numpy(), expected["logits"].numpy(), atol=1e-5, rtol=0)


@pytest.mark.parametrize("make,keys", [
    (lambda b: AlbertClassifier(b, num_classes=3), ("logits", "probabilities")),
    (lambda b: AlbertQuestionAnswering(b, version=1), ("start_logits", "end_logits")),
], ids=["classifier", "squad_v1"])
def test_tflite_equals_keras(make, keys, backbone, tiny_config, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    model = make(backbone)
    size = export_tflite(model, str(tmp_path / "albert_model.tflite"), max_seq_length=16)
    assert size == (tmp_path / "albert_model.tflite").stat().st_size
    runner = Interpreter(model_path=str(tmp_path / "albert_model.tflite")).get_signature_runner()
    inputs = features(tiny_config)
    expected = model(inputs)
    for row in range(3):
        got = runner(**{k: v[row:row + 1] for k, v in inputs.items()})
        for key in keys:
            np.testing.assert_allclose(got[key], np.asarray(expected[key])[row:row + 1], atol=1e-4, rtol=0, err_msg=key)
