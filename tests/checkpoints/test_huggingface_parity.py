"""Parity with HuggingFace `AlbertForPreTraining` through golden files made by tools/make_hf_golden.py.

The fixtures hold perturbed random weights (so convention differences show), padded inputs, and HF's
outputs, including every applied block's output captured with hooks. Tolerance: 1e-5 absolute, fp32.
"""

import json
import os

import numpy as np
import pytest

from albert_tf.checkpoints import load_huggingface, save_huggingface
from albert_tf.checkpoints.huggingface import config_from_huggingface

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "hf_albert")
CASES = ["g1_k1", "g2_k1_l3", "g2_k2"]
TOLERANCE = 1e-5


def load_case(case):
    directory = os.path.join(FIXTURES, case)
    inputs = dict(np.load(os.path.join(directory, "inputs.npz")))
    expected = dict(np.load(os.path.join(directory, "outputs.npz")))
    return directory, inputs, expected


@pytest.mark.parametrize("case", CASES)
def test_matches_huggingface_outputs(case):
    directory, inputs, expected = load_case(case)
    model = load_huggingface(directory)
    config = model.config
    assert config.embedding_size != config.hidden_size
    assert inputs["input_mask"].min() == 0, "fixtures must contain padding"

    backbone_out = model.backbone({k: inputs[k] for k in ("input_ids", "input_mask", "segment_ids")})
    encoder_outputs = [np.asarray(t) for t in backbone_out["encoder_outputs"]]
    assert len(encoder_outputs) == config.num_hidden_layers * config.inner_group_num == len(expected["encoder_outputs"])
    for index, (ours, theirs) in enumerate(zip(encoder_outputs, expected["encoder_outputs"])):
        np.testing.assert_allclose(ours, theirs, atol=TOLERANCE, rtol=0, err_msg=f"encoder_outputs[{index}]")
    np.testing.assert_allclose(backbone_out["sequence_output"], expected["sequence_output"], atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(backbone_out["pooled_output"], expected["pooled_output"], atol=TOLERANCE, rtol=0)

    heads_out = model(inputs)
    np.testing.assert_allclose(heads_out["mlm_logits"], expected["mlm_logits"], atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(heads_out["sop_logits"], expected["sop_logits"], atol=TOLERANCE, rtol=0)


def test_routing_of_fixture_with_layers_not_multiple_of_groups():
    directory, _, _ = load_case("g2_k1_l3")
    with open(os.path.join(directory, "config.json")) as f:
        config = config_from_huggingface(json.load(f))
    assert (config.num_hidden_layers, config.num_hidden_groups) == (3, 2)
    assert config.layer_to_group() == [0, 0, 1]


def test_save_then_load_round_trips_every_weight(tmp_path):
    directory, inputs, expected = load_case("g2_k2")
    model = load_huggingface(directory)
    save_huggingface(model, tmp_path)
    reloaded = load_huggingface(tmp_path)
    for a, b in zip(model.weights, reloaded.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    # The written file has the same keys and shapes as HF's own file.
    from safetensors.numpy import load_file

    theirs = load_file(os.path.join(directory, "model.safetensors"))
    ours = load_file(os.path.join(tmp_path, "model.safetensors"))
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}
    for key in theirs:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)


def test_missing_weights_file_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "albert", "vocab_size": 10}))
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_huggingface(str(tmp_path))
