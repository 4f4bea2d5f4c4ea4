"""Original-release TF1 checkpoints.

The reference is independent of albert_tf: the HuggingFace golden fixtures are rewritten under the
original variable names with the HF->TF1 rules of anchors.md section 2 (the rules HF's own
`load_tf_weights_in_albert` applied), saved with `tf.compat.v1` variables, loaded with
`load_original_checkpoint`, and compared with HuggingFace's recorded outputs.
"""

import os

import numpy as np
import pytest
import tensorflow as tf
from safetensors.numpy import load_file

from albert_tf import AlbertConfig
from albert_tf.checkpoints import load_huggingface, load_original_checkpoint, save_original_checkpoint
from tests.checkpoints.test_huggingface_parity import CASES, TOLERANCE, load_case


def hf_to_tf1(state):
    """HF state dict -> {original TF1 name: array}, written from anchors.md section 2."""
    out = {}
    simple = {
        "albert.embeddings.word_embeddings.weight": "bert/embeddings/word_embeddings",
        "albert.embeddings.token_type_embeddings.weight": "bert/embeddings/token_type_embeddings",
        "albert.embeddings.position_embeddings.weight": "bert/embeddings/position_embeddings",
        "albert.embeddings.LayerNorm.weight": "bert/embeddings/LayerNorm/gamma",
        "albert.embeddings.LayerNorm.bias": "bert/embeddings/LayerNorm/beta",
        "albert.encoder.embedding_hidden_mapping_in.bias": "bert/encoder/embedding_hidden_mapping_in/bias",
        "albert.pooler.bias": "bert/pooler/dense/bias",
        "predictions.dense.bias": "cls/predictions/transform/dense/bias",
        "predictions.LayerNorm.weight": "cls/predictions/transform/LayerNorm/gamma",
        "predictions.LayerNorm.bias": "cls/predictions/transform/LayerNorm/beta",
        "predictions.bias": "cls/predictions/output_bias",
        # The SOP weight is stored [2, H] by both: no transpose.
        "sop_classifier.classifier.weight": "cls/seq_relationship/output_weights",
        "sop_classifier.classifier.bias": "cls/seq_relationship/output_bias",
    }
    transposed = {
        "albert.encoder.embedding_hidden_mapping_in.weight": "bert/encoder/embedding_hidden_mapping_in/kernel",
        "albert.pooler.weight": "bert/pooler/dense/kernel",
        "predictions.dense.weight": "cls/predictions/transform/dense/kernel",
    }
    block = {
        "attention.query": ("attention_1/self/query", True),
        "attention.key": ("attention_1/self/key", True),
        "attention.value": ("attention_1/self/value", True),
        "attention.dense": ("attention_1/output/dense", True),
        "attention.LayerNorm": ("LayerNorm", False),
        "ffn": ("ffn_1/intermediate/dense", True),
        "ffn_output": ("ffn_1/intermediate/output/dense", True),
        "full_layer_layer_norm": ("LayerNorm_1", False),
    }
    for key, value in state.items():
        if key in simple:
            out[simple[key]] = value
        elif key in transposed:
            out[transposed[key]] = value.T
        else:
            _, _, _, g, _, k, rest = key.split(".", 6)
            module, param = rest.rsplit(".", 1)
            scope, is_dense = block[module]
            base = f"bert/encoder/transformer/group_{g}/inner_group_{k}/{scope}/"
            if is_dense:
                out[base + ("kernel" if param == "weight" else "bias")] = value.T if param == "weight" else value
            else:
                out[base + ("gamma" if param == "weight" else "beta")] = value
    return out


def write_tf1_checkpoint(arrays, prefix, with_optimizer_state=True):
    with tf.Graph().as_default():
        variables = [tf.compat.v1.Variable(v, name=k) for k, v in arrays.items()]
        if with_optimizer_state:
            variables.append(tf.compat.v1.Variable(np.int64(1000), name="global_step"))
            for name, value in list(arrays.items())[:3]:
                variables.append(tf.compat.v1.Variable(np.zeros_like(value), name=f"{name}/adam_m"))
                variables.append(tf.compat.v1.Variable(np.zeros_like(value), name=f"{name}/adam_v"))
        saver = tf.compat.v1.train.Saver(variables)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            return saver.save(session, prefix, write_meta_graph=False)


def case_checkpoint(case, tmp_path):
    directory, inputs, expected = load_case(case)
    model_from_hf = load_huggingface(directory)
    arrays = hf_to_tf1(load_file(os.path.join(directory, "model.safetensors")))
    prefix = write_tf1_checkpoint(arrays, str(tmp_path / "model.ckpt"))
    return model_from_hf.config, arrays, prefix, inputs, expected


@pytest.mark.parametrize("case", CASES)
def test_reproduces_reference_outputs(case, tmp_path):
    config, arrays, prefix, inputs, expected = case_checkpoint(case, tmp_path)
    model, report = load_original_checkpoint(prefix, config, return_report=True)
    assert sorted(report.loaded) == sorted(arrays), "every original variable is loaded"
    assert "global_step" in report.ignored_optimizer_state
    assert any(name.endswith("adam_m") for name in report.ignored_optimizer_state)
    assert report.ignored_unknown == [] and report.missing_heads == []

    backbone = model.backbone(inputs)
    for index, ours in enumerate(backbone["encoder_outputs"]):
        np.testing.assert_allclose(ours, expected["encoder_outputs"][index], atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(backbone["pooled_output"], expected["pooled_output"], atol=TOLERANCE, rtol=0)
    outputs = model(inputs)
    np.testing.assert_allclose(outputs["mlm_logits"], expected["mlm_logits"], atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(outputs["sop_logits"], expected["sop_logits"], atol=TOLERANCE, rtol=0)


def test_save_writes_the_original_names_and_shapes(tmp_path):
    config, arrays, prefix, _, _ = case_checkpoint("g2_k2", tmp_path)
    model = load_original_checkpoint(prefix, config)
    written = save_original_checkpoint(model, str(tmp_path / "again" / "model.ckpt"))
    reader = tf.train.load_checkpoint(written)
    assert reader.get_variable_to_shape_map() == {k: list(v.shape) for k, v in arrays.items()}
    for name, value in arrays.items():
        np.testing.assert_array_equal(reader.get_tensor(name), value)


def test_expected_names_for_base_equal_the_specification():
    from albert_tf import AlbertPretrainer
    from albert_tf.checkpoints.original import original_ports, original_shape

    config = AlbertConfig.from_preset("albert-base-v2")
    names = {name: list(original_shape(v.shape, layout)) for v, name, layout in original_ports(AlbertPretrainer(config))}
    block = "bert/encoder/transformer/group_0/inner_group_0/"
    spec = {  # original_release.md section 3, base sizes
        "bert/embeddings/word_embeddings": [30000, 128],
        "bert/embeddings/token_type_embeddings": [2, 128],
        "bert/embeddings/position_embeddings": [512, 128],
        "bert/embeddings/LayerNorm/gamma": [128],
        "bert/embeddings/LayerNorm/beta": [128],
        "bert/encoder/embedding_hidden_mapping_in/kernel": [128, 768],
        "bert/encoder/embedding_hidden_mapping_in/bias": [768],
        **{f"{block}attention_1/self/{p}/kernel": [768, 768] for p in ("query", "key", "value")},
        **{f"{block}attention_1/self/{p}/bias": [768] for p in ("query", "key", "value")},
        f"{block}attention_1/output/dense/kernel": [768, 768],
        f"{block}attention_1/output/dense/bias": [768],
        f"{block}LayerNorm/gamma": [768],
        f"{block}LayerNorm/beta": [768],
        f"{block}ffn_1/intermediate/dense/kernel": [768, 3072],
        f"{block}ffn_1/intermediate/dense/bias": [3072],
        f"{block}ffn_1/intermediate/output/dense/kernel": [3072, 768],
        f"{block}ffn_1/intermediate/output/dense/bias": [768],
        f"{block}LayerNorm_1/gamma": [768],
        f"{block}LayerNorm_1/beta": [768],
        "bert/pooler/dense/kernel": [768, 768],
        "bert/pooler/dense/bias": [768],
        "cls/predictions/transform/dense/kernel": [768, 128],
        "cls/predictions/transform/dense/bias": [128],
        "cls/predictions/transform/LayerNorm/gamma": [128],
        "cls/predictions/transform/LayerNorm/beta": [128],
        "cls/predictions/output_bias": [30000],
        "cls/seq_relationship/output_weights": [2, 768],
        "cls/seq_relationship/output_bias": [2],
    }
    assert names == spec


def test_shape_mismatch_names_variable_and_both_shapes(tmp_path):
    config, arrays, prefix, _, _ = case_checkpoint("g1_k1", tmp_path)
    bigger = config.replace(intermediate_size=config.intermediate_size * 2)
    with pytest.raises(ValueError, match=r"ffn_1/intermediate/dense/kernel' has shape \[32, 64\].*expects \[32, 128\]"):
        load_original_checkpoint(prefix, bigger)


def test_init_from_group0_spreads_group_0_over_more_groups(tmp_path):
    config, arrays, prefix, inputs, _ = case_checkpoint("g1_k1", tmp_path)
    two_groups = config.replace(num_hidden_groups=2)
    with pytest.raises(ValueError, match="init_from_group0"):
        load_original_checkpoint(prefix, two_groups)
    model, report = load_original_checkpoint(prefix, two_groups, init_from_group0=True, return_report=True)
    assert report.from_group0 and all("/group_1/" in name for name in report.from_group0)
    one_group = load_original_checkpoint(prefix, config)
    # Every group holds group 0's weights, so the outputs equal the one-group model's.
    np.testing.assert_allclose(model(inputs)["mlm_logits"], one_group(inputs)["mlm_logits"], atol=1e-6)


def test_fine_tuning_checkpoint_without_heads_and_with_module_prefix(tmp_path):
    config, arrays, _, inputs, expected = case_checkpoint("g1_k1", tmp_path)
    backbone_only = {f"module/{k}": v for k, v in arrays.items() if k.startswith("bert/")}
    prefix = write_tf1_checkpoint(backbone_only, str(tmp_path / "hub" / "model.ckpt"), with_optimizer_state=False)
    with pytest.warns(UserWarning, match="cls/predictions"):
        model = load_original_checkpoint(prefix, config)
    np.testing.assert_allclose(model.backbone(inputs)["pooled_output"], expected["pooled_output"], atol=TOLERANCE, rtol=0)


def test_unreadable_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="Cannot read a TF checkpoint"):
        load_original_checkpoint(str(tmp_path / "nothing"), AlbertConfig(vocab_size=10))
