import keras
import numpy as np
import pytest
import tensorflow as tf

from albert_tf import AlbertBackbone, AlbertConfig
from tests.conftest import random_batch, tiny_config


@pytest.mark.parametrize("preset, expected", [("albert-base-v2", 11_683_584), ("albert-large-v2", 17_683_968)])
def test_built_parameter_counts_equal_the_original(preset, expected):
    assert AlbertBackbone(AlbertConfig.from_preset(preset)).count_params() == expected


@pytest.mark.parametrize("sharing", ["all", "ffn", "attention", "none"])
@pytest.mark.parametrize(
    "layout",
    [
        dict(num_hidden_layers=2),
        dict(num_hidden_layers=3, num_hidden_groups=2),
        dict(num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2),
        dict(num_hidden_layers=5, num_hidden_groups=3, inner_group_num=2, embedding_size=32),
    ],
)
def test_counting_function_matches_built_models(sharing, layout):
    # The counting function is what the xlarge/xxlarge figures rest on; check it on built models.
    config = tiny_config(sharing=sharing, **layout)
    backbone = AlbertBackbone(config)
    assert backbone.count_params() == config.num_parameters()


def test_sharing_modes_own_the_expected_sublayers():
    def owners(sharing):
        encoder = AlbertBackbone(tiny_config(num_hidden_layers=4, num_hidden_groups=2, sharing=sharing)).encoder
        return [layer.name for layer in encoder.attention_sublayers], [layer.name for layer in encoder.ffn_sublayers]

    groups = ["group_0_inner_0", "group_1_inner_0"]
    layers = [f"layer_{i}_inner_0" for i in range(4)]
    assert owners("all") == ([f"{g}_attention" for g in groups], [f"{g}_ffn" for g in groups])
    assert owners("ffn") == ([f"{g}_attention" for g in layers], [f"{g}_ffn" for g in groups])
    assert owners("attention") == ([f"{g}_attention" for g in groups], [f"{g}_ffn" for g in layers])
    assert owners("none") == ([f"{g}_attention" for g in layers], [f"{g}_ffn" for g in layers])


def test_outputs_and_encoder_outputs_length():
    config = tiny_config(num_hidden_layers=5, num_hidden_groups=2, inner_group_num=2)
    outputs = AlbertBackbone(config)(random_batch(config))
    assert len(outputs["encoder_outputs"]) == 10
    np.testing.assert_array_equal(outputs["encoder_outputs"][-1], outputs["sequence_output"])
    assert tuple(outputs["pooled_output"].shape) == (3, config.hidden_size)


def test_keras_save_and_load_gives_identical_outputs(tmp_path):
    config = tiny_config(num_hidden_layers=3, num_hidden_groups=2, inner_group_num=2, sharing="ffn", hidden_dropout_prob=0.1)
    backbone = AlbertBackbone(config)
    batch = random_batch(config)
    path = str(tmp_path / "backbone.keras")
    backbone.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, AlbertBackbone) and loaded.config == config
    for key in ("sequence_output", "pooled_output", "embedding_output"):
        np.testing.assert_array_equal(backbone(batch)[key], loaded(batch)[key])
    clone = AlbertBackbone.from_config(backbone.get_config())
    assert clone.count_params() == backbone.count_params()


def test_dropout_only_in_training():
    config = tiny_config(hidden_dropout_prob=0.3, attention_probs_dropout_prob=0.3)
    backbone = AlbertBackbone(config)
    batch = random_batch(config)
    np.testing.assert_array_equal(backbone(batch)["sequence_output"], backbone(batch)["sequence_output"])
    a = backbone(batch, training=True)["sequence_output"]
    b = backbone(batch, training=True)["sequence_output"]
    assert not np.allclose(a, b)


def test_missing_or_misnamed_keys_are_clear_errors():
    config = tiny_config()
    backbone = AlbertBackbone(config)
    batch = random_batch(config)
    keras_hub_style = {"token_ids": batch["input_ids"], "padding_mask": batch["input_mask"], "segment_ids": batch["segment_ids"]}
    with pytest.raises(KeyError, match=r"missing \['input_ids', 'input_mask'\].*'token_ids' -> 'input_ids'"):
        backbone(keras_hub_style)
    with pytest.raises(TypeError, match="expects a dict"):
        backbone(batch["input_ids"])
    with pytest.raises(TypeError, match="'input_ids' must be an integer"):
        backbone(dict(batch, input_ids=batch["input_ids"].astype("float32")))


def test_too_long_sequence_names_both_lengths():
    config = tiny_config(max_position_embeddings=16)
    backbone = AlbertBackbone(config)
    batch = random_batch(config, length=20)
    with pytest.raises(ValueError, match="Sequence length 20 is longer than max_position_embeddings 16"):
        backbone(batch)

    # Inside a graph with an unknown length the check happens at run time.
    spec = tf.TensorSpec((None, None), tf.int32)

    @tf.function(input_signature=[{"input_ids": spec, "input_mask": spec, "segment_ids": spec}])
    def run(inputs):
        return backbone(inputs)["sequence_output"]

    with pytest.raises(tf.errors.InvalidArgumentError, match="max_position_embeddings 16"):
        run({k: batch[k] for k in ("input_ids", "input_mask", "segment_ids")})


def test_mixed_bfloat16_keeps_norms_softmax_and_logits_in_float32():
    config = tiny_config()
    keras.utils.set_random_seed(0)
    reference = AlbertBackbone(config)
    batch = random_batch(config)
    expected = reference(batch)["sequence_output"].numpy()
    mixed = AlbertBackbone(config, dtype="mixed_bfloat16")
    mixed.set_weights(reference.get_weights())
    assert all(v.dtype == "float32" for v in mixed.weights)
    outputs = mixed(batch)
    assert outputs["sequence_output"].dtype == "bfloat16"
    got = np.asarray(keras.ops.cast(outputs["sequence_output"], "float32"))
    assert np.isfinite(got).all()
    # bf16 has 8 bits of mantissa; after LayerNorm values are O(1).
    assert np.abs(got - expected).max() < 0.1
    assert np.abs(got - expected).mean() < 0.02


def test_every_weight_matrix_starts_with_numbers_of_its_own():
    """The original draws each variable from its own truncated normal; a Keras initializer instance holds
    its seed, so one instance shared by query, key and value gave the three the same numbers."""
    model = AlbertBackbone(tiny_config())  # E=16 < H=32: with the projection
    drawn = {w.path: np.asarray(w.numpy()).ravel()[:64] for w in model.weights
             if len(w.shape) >= 2 and not w.path.endswith("bias")}
    assert len(drawn) == 11, sorted(drawn)  # 3 embedding tables, projection, q/k/v/o, 2 FFN kernels, pooler
    firsts = {path: tuple(np.round(values[:8], 7)) for path, values in drawn.items()}
    same = [(a, b) for a in firsts for b in firsts if a < b and firsts[a] == firsts[b]]
    assert not same, f"weights that start with the same numbers: {same}"
    for path, values in drawn.items():
        assert 0.01 < values.std() < 0.02 and abs(values).max() <= 0.04 + 1e-6, path  # 0.02, cut at 2 stddev
