"""LoRA on tiny models: what trains, sharing kept, step-0 outputs unchanged, merging, the adapters file, bad input."""

import numpy as np
import pytest

from albert_tf import AlbertClassifier
from albert_tf.errors import UserInputError
from albert_tf.models.lora import (adapters_path, enable_lora, load_lora_weights, lora_state, merge_lora,
                                   save_lora_weights)
from tests.conftest import tiny_config

# 4 layers over 2 groups of 2 inner blocks: 4 shared blocks, each applied at 2 layers.
CONFIG = dict(num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2)
H, N, I, C, R = 32, 4, 64, 3, 2


def features(seed=0):
    rng = np.random.default_rng(seed)
    mask = (np.arange(12) < rng.integers(3, 13, (3, 1))).astype("int32")
    return {"input_ids": rng.integers(5, 300, (3, 12)).astype("int32") * mask, "input_mask": mask,
            "segment_ids": np.zeros((3, 12), "int32")}


def classifier():
    return AlbertClassifier(config=tiny_config(**CONFIG), num_classes=C)


def perturb(model, seed=1):
    """Nonzero adapters (B starts at zero, so an untrained adapter changes nothing)."""
    rng = np.random.default_rng(seed)
    for variable in model.trainable_variables:
        if "lora_kernel" in variable.path:
            variable.assign(rng.normal(0, 0.5, variable.shape).astype("float32"))


def test_only_adapters_and_head_train_and_sharing_survives():
    model = classifier()
    before = model(features())["logits"].numpy()
    targets = ("query", "value", "ffn_output")
    count = enable_lora(model, rank=R, targets=targets)
    adapters = [v for v in model.trainable_variables if "lora_kernel" in v.path]
    backbone = {id(v) for v in model.backbone.weights}
    head = [v for v in model.weights if id(v) not in backbone and v.trainable]
    # One adapter pair per shared weight: groups x inner blocks x targets x 2, not layers x ...
    assert len(adapters) == 2 * 2 * len(targets) * 2
    assert {id(v) for v in model.trainable_variables} == {id(v) for v in adapters + head}
    per_block = 2 * (H * N * R + R * (H // N)) + (I * R + R * H)  # query and value [H, N, D]; ffn_output [I, H]
    assert count == 4 * per_block + (H * C + C)
    assert len(lora_state(model)) == 4 * len(targets)
    assert all(not np.any(v.numpy()) for v in adapters if v.path.endswith("lora_kernel_b"))
    np.testing.assert_array_equal(model(features())["logits"].numpy(), before)  # B = 0: the base model's outputs


def test_layernorms_train_when_asked():
    model = classifier()
    count = enable_lora(model, rank=R, alpha=4, train_layernorm=True)
    layernorms = [v for v in model.trainable_variables if "layer_norm" in v.path]
    assert len(layernorms) == 8 * 2 and count == 4 * 2 * (H * N * R + R * (H // N)) + 8 * 2 * H + H * C + C
    assert all(s == {"rank": R, "alpha": 4.0} for s in lora_state(model).values())


def test_merge_equals_the_adapted_model():
    model = classifier()
    enable_lora(model, rank=R, alpha=3, targets=("key", "attention_output", "ffn_intermediate"))
    perturb(model)
    merged = merge_lora(model)
    assert lora_state(merged) == {} and not any("lora" in v.path for v in merged.weights)
    np.testing.assert_allclose(merged(features())["logits"].numpy(), model(features())["logits"].numpy(), atol=1e-5)
    sublayer = model.backbone.encoder.attention_sublayers[1]
    key = sublayer.key
    base = next(v for v in key.weights if v.name == "kernel").numpy()
    reference = base + 1.5 * np.einsum("hnr,rd->hnd", key.lora_kernel_a.numpy(), key.lora_kernel_b.numpy())
    merged_key = merged.backbone.encoder.attention_sublayers[1].key
    np.testing.assert_allclose(merged_key.kernel.numpy(), reference, atol=1e-6)


def test_model_file_and_adapters_file_round_trip(tmp_path):
    from albert_tf.checkpoints.loading import load_model

    model = classifier()
    enable_lora(model, rank=R, targets=("value", "ffn_output"), train_layernorm=True)
    perturb(model)
    model_file = str(tmp_path / "model.keras")
    model.save(model_file)
    path = save_lora_weights(model, adapters_path(model_file))
    assert path == str(tmp_path / "model.lora.npz")
    expected = model(features())["logits"].numpy()
    loaded = load_model(model_file)
    # Keras' format holds the merged kernels: the plain model already gives the adapted outputs.
    assert lora_state(loaded) == {}
    np.testing.assert_allclose(loaded(features())["logits"].numpy(), expected, atol=1e-5)
    settings = load_lora_weights(loaded, path)
    assert settings == {"rank": R, "alpha": float(R), "targets": ["value", "ffn_output"], "train_layernorm": True}
    assert lora_state(loaded) == lora_state(model)
    np.testing.assert_allclose(loaded(features())["logits"].numpy(), expected, atol=1e-5)
    for ours, theirs in zip(model.weights, loaded.weights):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-6, err_msg=ours.path)


@pytest.mark.parametrize("kwargs,message", [
    (dict(rank=0), "--lora_rank must be a positive integer, got 0"),
    (dict(rank=-2), "--lora_rank must be a positive integer, got -2"),
    (dict(rank=2, alpha=0), "--lora_alpha must be positive"),
    (dict(rank=2, targets=("query", "gate")), "--lora_targets 'query,gate'"),
    (dict(rank=33), "--lora_rank 33 is not low rank"),
])
def test_bad_settings_are_one_line_errors(kwargs, message):
    with pytest.raises(UserInputError, match=message) as error:
        enable_lora(classifier(), **kwargs)
    assert "\n" not in str(error.value)


def test_twice_and_without_adapters_are_errors(tmp_path):
    model = classifier()
    with pytest.raises(UserInputError, match="no LoRA adapters"):
        save_lora_weights(model, str(tmp_path / "a.lora.npz"))
    enable_lora(model, rank=1)
    with pytest.raises(UserInputError, match="already enabled"):
        enable_lora(model, rank=1)
