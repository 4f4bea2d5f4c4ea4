"""Keras-native int8 (`model.quantize("int8")`) on every albert_tf model, against the float model.

Each model is quantized after its float outputs are taken; its outputs must stay close to them (relative
error of each float output, and the arg-max of every scored head agreeing), so a quantization that drops
a scale (as the tied decoder would reading the int8 table raw: errors ~1000x the logits) fails here. The
quantized model then round-trips through `.keras` bit for bit, and exports to a SavedModel that serves
raw strings with the quantized model's outputs.
"""

import numpy as np
import pytest
import tensorflow as tf

from albert_tf import AlbertBackbone, AlbertPretrainer
from albert_tf.export import export_saved_model
from albert_tf.models import (
    AlbertClassifier,
    AlbertMultipleChoice,
    AlbertQuestionAnswering,
    AlbertTokenClassifier,
)
from albert_tf.models.quantization import quantized_layers

#: int8 weights and per-token int8 activations on a random tiny model: ~1-3% relative error measured;
#: a broken scale or a missed dequantization is off by orders of magnitude.
MAX_RELATIVE_ERROR = 0.08


def _features(config, batch=4, length=16, seed=0, choices=None):
    rng = np.random.default_rng(seed)
    shape = (batch, length) if choices is None else (batch, choices, length)
    ids = rng.integers(5, config.vocab_size, shape).astype(np.int32)
    mask = np.ones_like(ids)
    mask[1, ..., 11:] = 0
    segments = (np.arange(length) >= 6).astype(np.int32) * mask
    features = {"input_ids": ids, "input_mask": mask, "segment_ids": segments}
    features["masked_lm_positions"] = rng.integers(1, 10, (batch, 3)).astype(np.int32)
    features["p_mask"] = (1 - mask) if choices is None else None
    return {k: v for k, v in features.items() if v is not None}


MODELS = {
    "backbone": (lambda c: AlbertBackbone(c), None),
    "pretrainer": (lambda c: AlbertPretrainer(c), None),
    "classifier": (lambda c: AlbertClassifier(config=c, num_classes=3), None),
    "squad_v1": (lambda c: AlbertQuestionAnswering(config=c, version=1), None),
    "squad_v2": (lambda c: AlbertQuestionAnswering(config=c, version=2, start_n_top=2, end_n_top=2), None),
    "multiple_choice": (lambda c: AlbertMultipleChoice(config=c, num_choices=3), 3),
    "token_classifier": (lambda c: AlbertTokenClassifier(config=c, num_labels=5), None),
}

#: Outputs whose arg-max over the last axis is a prediction.
SCORED = ("mlm_logits", "sop_logits", "logits", "start_logits", "end_logits")


def _float_outputs(outputs):
    flat = outputs if isinstance(outputs, dict) else {"output": outputs}
    result = {}
    for key, value in flat.items():
        if isinstance(value, (list, tuple)):
            continue  # encoder_outputs: every layer; the last is sequence_output
        value = np.asarray(value)
        if value.dtype.kind == "f":
            result[key] = value
    return result


def _relative_error(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-12))


def compare_to_float(quantized, reference, label, max_relative_error=MAX_RELATIVE_ERROR):
    """Asserts every float output of the quantized model is close to the float model's; returns the errors."""
    errors = {}
    for key, want in reference.items():
        got = quantized[key]
        assert np.isfinite(got).all(), f"{label}: {key} has NaN/inf after quantization"
        if key.endswith("_index") or key.endswith("top_log_probs"):
            continue  # beam outputs: ranks may swap between near-equal candidates
        errors[key] = _relative_error(got, want)
        assert errors[key] < max_relative_error, f"{label}: {key} relative error {errors[key]:.3g}"
        if key in SCORED:
            agree = float(np.mean(np.argmax(got, -1) == np.argmax(want, -1)))
            assert agree >= 0.75, f"{label}: {key} arg-max agrees on only {agree:.0%}"
    return errors


@pytest.mark.parametrize("name", sorted(MODELS))
def test_int8_model_is_close_to_float_and_round_trips_keras_file(name, tiny_config, tmp_path):
    import keras

    make, choices = MODELS[name]
    keras.utils.set_random_seed(11)
    model = make(tiny_config)
    features = _features(tiny_config, choices=choices)
    reference = _float_outputs(model(features))
    model.quantize("int8")
    quantized = _float_outputs(model(features))
    compare_to_float(quantized, reference, name)
    record = quantized_layers(model)
    assert record and set(record.values()) == {"int8"}
    assert "embeddings/word_embeddings" in record  # the lookup itself is int8, the tie reads it dequantized

    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert quantized_layers(loaded) == record
    for key, value in _float_outputs(loaded(features)).items():
        np.testing.assert_array_equal(value, quantized[key], err_msg=f"{name}: {key} after .keras load")


def test_int8_decoder_reads_the_table_the_lookup_serves(tiny_config):
    import keras

    keras.utils.set_random_seed(3)
    model = AlbertPretrainer(tiny_config)
    model.quantize("int8")
    embeddings = model.backbone.embeddings
    ids = np.arange(tiny_config.vocab_size, dtype=np.int32)
    np.testing.assert_array_equal(np.asarray(model.backbone.embedding_table), np.asarray(embeddings.word_embeddings(ids)))
    raw = np.asarray(embeddings.word_embeddings.embeddings, np.float32)  # the int8 values without their scale
    assert np.abs(raw).max() > 50 * np.abs(np.asarray(model.backbone.embedding_table)).max()


def test_int8_classifier_exports_and_serves_raw_strings(tiny_config, tokenizer, tmp_path):
    import keras

    keras.utils.set_random_seed(5)
    model = AlbertClassifier(config=tiny_config, num_classes=3)
    texts = ["the city had 1,000 people.", "was it the year 1999?", ""]
    batch = [tokenizer.encode(t, max_seq_length=16) for t in texts]
    inputs = {k: np.array([f[k] for f in batch], np.int32) for k in ("input_ids", "input_mask", "segment_ids")}
    reference = _float_outputs(model.serving_outputs(inputs))
    model.quantize("int8")
    keras_file = str(tmp_path / "model.keras")
    model.save(keras_file)
    model = keras.saving.load_model(keras_file)
    served = tf.saved_model.load(export_saved_model(model, str(tmp_path / "sm"), tokenizer=tokenizer,
                                                    max_seq_length=16))
    out = served.signatures["serving_default"](text=tf.constant(texts))
    np.testing.assert_array_equal(out["input_ids"].numpy(), inputs["input_ids"])
    expected = model.serving_outputs(inputs)
    for key in ("pooled_output", "logits", "probabilities"):
        np.testing.assert_allclose(out[key].numpy(), expected[key].numpy(), atol=1e-5, err_msg=key)
    compare_to_float({k: out[k].numpy() for k in reference}, reference, "served int8 classifier")


def test_int8_pretrainer_exports_the_tied_decoder(tiny_config, tmp_path):
    import keras

    keras.utils.set_random_seed(6)
    model = AlbertPretrainer(tiny_config)
    features = _features(tiny_config, batch=2)
    tokens = {k: features[k] for k in ("input_ids", "input_mask", "segment_ids")}
    reference = _float_outputs(model(features))
    model.quantize("int8")
    served = tf.saved_model.load(export_saved_model(model, str(tmp_path / "sm")))
    out = served.signatures["mlm"](mlm_positions=tf.constant(features["masked_lm_positions"]), **tokens)
    np.testing.assert_allclose(out["mlm_logits"].numpy(), model(features)["mlm_logits"].numpy(), atol=1e-5)
    compare_to_float({"mlm_logits": out["mlm_logits"].numpy()}, {"mlm_logits": reference["mlm_logits"]},
                     "served int8 pretrainer")


def test_quantize_scans_the_whole_heap_once(tiny_config):
    """Keras collects garbage for every variable `quantize` drops; each of those collections but our last
    one must run over a frozen heap (a full scan costs ~0.4 s in a test worker, once per layer)."""
    import gc

    model = AlbertClassifier(config=tiny_config, num_classes=2)
    full_scans = []

    def count(phase, info):
        if phase == "start" and info["generation"] == 2 and gc.get_freeze_count() == 0:
            full_scans.append(info)

    gc.callbacks.append(count)
    try:
        model.quantize("int8")
    finally:
        gc.callbacks.remove(count)
    assert quantized_layers(model), "nothing was quantized"
    assert len(full_scans) == 1, f"{len(full_scans)} collections scanned the whole heap"
