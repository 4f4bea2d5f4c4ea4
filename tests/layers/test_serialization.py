"""Every layer: get_config/from_config and a `.keras` round trip with identical outputs."""

import keras
import numpy as np
import pytest

from albert_tf.layers import (
    FactorizedEmbedding,
    FeedForwardSublayer,
    MaskedLMHead,
    SelfAttentionSublayer,
    SentenceOrderHead,
    SharedEncoder,
)

rng = np.random.default_rng(0)
HIDDEN = rng.normal(size=(2, 5, 16)).astype("float32")
MASK = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], "int32")
IDS = rng.integers(0, 50, (2, 5)).astype("int32")
TABLE = rng.normal(size=(50, 8)).astype("float32")

CASES = {
    "embedding": (
        lambda: FactorizedEmbedding(vocab_size=50, embedding_size=8, hidden_size=16, max_position_embeddings=10),
        lambda: [keras.Input((5,), dtype="int32"), keras.Input((5,), dtype="int32")],
        (IDS, np.zeros_like(IDS)),
    ),
    "encoder": (
        lambda: SharedEncoder(num_hidden_layers=3, num_hidden_groups=2, inner_group_num=2, hidden_size=16,
                              num_attention_heads=2, intermediate_size=32, sharing="attention"),
        lambda: [keras.Input((5, 16)), keras.Input((5,), dtype="int32")],
        (HIDDEN, MASK),
    ),
    "attention": (
        lambda: SelfAttentionSublayer(hidden_size=16, num_attention_heads=4, attention_dropout=0.1, hidden_dropout=0.1),
        lambda: [keras.Input((5, 16)), keras.Input((5,), dtype="int32")],
        (HIDDEN, MASK),
    ),
    "ffn": (
        lambda: FeedForwardSublayer(hidden_size=16, intermediate_size=32, hidden_act="relu"),
        lambda: [keras.Input((5, 16))],
        (HIDDEN,),
    ),
    "mlm_head": (
        lambda: MaskedLMHead(vocab_size=50, embedding_size=8),
        lambda: [keras.Input((5, 16)), keras.Input((3,), dtype="int32"), keras.Input((8,), batch_size=50)],
        (HIDDEN, np.array([[0, 1, 2], [1, 2, 4]], "int32"), TABLE),
    ),
    "sop_head": (
        lambda: SentenceOrderHead(),
        lambda: [keras.Input((16,))],
        (HIDDEN[:, 0],),
    ),
}


def flat(outputs):
    return [np.asarray(t) for t in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_round_trips(name, tmp_path):
    make, symbolic_inputs, values = CASES[name]
    layer = make()
    expected = flat(layer(*values))

    clone = layer.__class__.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()

    inputs = symbolic_inputs()
    outputs = layer(*inputs)
    wrapper = keras.Model(inputs, outputs)
    path = str(tmp_path / f"{name}.keras")
    wrapper.save(path)
    loaded = keras.saving.load_model(path)
    got = flat(loaded(list(values)))
    assert len(got) == len(expected)
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)
