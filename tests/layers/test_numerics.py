"""The numeric conventions that break parity (anchors.md section 4, pitfalls.md 1-4), pinned by value."""

import keras
import numpy as np
import pytest

from albert_tf import AlbertBackbone, AlbertPretrainer
from albert_tf.layers import FactorizedEmbedding, gelu_tanh, get_activation
from tests.conftest import random_batch, tiny_config


def test_gelu_is_the_tanh_approximation():
    values = np.asarray(gelu_tanh(np.array([1.0, -3.0], "float32")))
    np.testing.assert_allclose(values, [0.8411920, -0.0036374], atol=1e-6)  # erf would be 0.8413447, -0.0040497
    assert get_activation("GELU") is gelu_tanh
    assert float(get_activation(None)(np.float32(-2.0))) == -2.0
    with pytest.raises(ValueError, match="swish"):
        get_activation("swish")


def test_every_layer_norm_uses_epsilon_1e12():
    model = AlbertPretrainer(tiny_config())
    norms = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.LayerNormalization)]
    # embeddings + (attention, ffn) per block + MLM transform
    assert len(norms) == 1 + 2 + 1
    x = np.array([[-1e-4, 1e-4]], "float32")
    for norm in norms:
        assert norm.epsilon == 1e-12
        layer = keras.layers.LayerNormalization(epsilon=norm.epsilon)
        np.testing.assert_allclose(layer(x), [[-0.99995, 0.99995]], atol=1e-5)


def test_embedding_output_has_width_e_and_no_projection_when_e_equals_h():
    config = tiny_config()
    batch = random_batch(config)
    outputs = AlbertBackbone(config)(batch)
    assert tuple(outputs["embedding_output"].shape) == (3, 12, config.embedding_size)
    same = tiny_config(embedding_size=32)
    backbone = AlbertBackbone(same)
    assert backbone.embeddings.projection is None
    assert not any("projection" in v.path for v in backbone.weights)
    assert backbone.count_params() == same.num_parameters()


def test_padding_masks_keys_with_minus_10000_and_keeps_padded_rows_defined():
    config = tiny_config()
    backbone = AlbertBackbone(config)
    batch = random_batch(config)
    first = backbone(batch)["sequence_output"].numpy()
    changed = dict(batch)
    ids = batch["input_ids"].copy()
    ids[batch["input_mask"] == 0] = (ids[batch["input_mask"] == 0] + 7) % config.vocab_size
    changed["input_ids"] = ids
    second = backbone(changed)["sequence_output"].numpy()
    real = batch["input_mask"].astype(bool)
    np.testing.assert_allclose(first[real], second[real], atol=1e-6)
    assert np.abs(first[~real]).min() > 0  # padded query rows are computed, not zeroed
    assert not np.allclose(first[~real], second[~real])

    # An all-padding row stays finite: -10000 shifts every score equally, unlike -inf.
    empty = dict(batch, input_mask=np.zeros_like(batch["input_mask"]))
    assert np.isfinite(backbone(empty)["sequence_output"].numpy()).all()


def test_embedding_layer_sums_lookups_then_normalises():
    layer = FactorizedEmbedding(vocab_size=20, embedding_size=4, hidden_size=4, max_position_embeddings=8)
    ids = np.array([[3, 5]], "int32")
    segments = np.array([[0, 1]], "int32")
    embedded, hidden = layer(ids, segments)
    raw = (
        layer.word_embeddings.embeddings.numpy()[ids[0]]
        + layer.token_type_embeddings.embeddings.numpy()[segments[0]]
        + layer.position_embeddings.numpy()[:2]
    )
    mean, var = raw.mean(-1, keepdims=True), raw.var(-1, keepdims=True)
    np.testing.assert_allclose(embedded[0], (raw - mean) / np.sqrt(var + 1e-12), atol=1e-5)
    np.testing.assert_array_equal(embedded, hidden)
