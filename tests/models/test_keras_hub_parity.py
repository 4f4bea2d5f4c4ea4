"""Live parity with keras-hub's `AlbertBackbone` (and its `MaskedLMHead`) on the sharing layouts it can
represent (it rejects L not a multiple of G; that case is covered by the HuggingFace golden files).

Weights are perturbed away from their initial values so that convention differences show, then ported
to keras-hub by the variable-path table below.
"""

import keras
import keras_hub
import numpy as np
import pytest

from albert_tf import AlbertPretrainer
from albert_tf.layers import gelu_tanh
from tests.conftest import random_batch, tiny_config

TOLERANCE = 1e-5

# Our variable path (inside AlbertBackbone) -> keras-hub's, for one block; `{g}`/`{k}` are filled in.
_EMBEDDINGS = {
    "embeddings/word_embeddings/embeddings": "token_embedding/embeddings",
    "embeddings/position_embeddings": "position_embedding/embeddings",
    "embeddings/token_type_embeddings/embeddings": "segment_embedding/embeddings",
    "embeddings/layer_norm/gamma": "embeddings_layer_norm/gamma",
    "embeddings/layer_norm/beta": "embeddings_layer_norm/beta",
    "embeddings/embedding_projection/kernel": "embedding_projection/kernel",
    "embeddings/embedding_projection/bias": "embedding_projection/bias",
    "pooler/kernel": "pooled_dense/kernel",
    "pooler/bias": "pooled_dense/bias",
}
_BLOCK = {
    "attention/query/kernel": "self_attention_layer/query/kernel",
    "attention/query/bias": "self_attention_layer/query/bias",
    "attention/key/kernel": "self_attention_layer/key/kernel",
    "attention/key/bias": "self_attention_layer/key/bias",
    "attention/value/kernel": "self_attention_layer/value/kernel",
    "attention/value/bias": "self_attention_layer/value/bias",
    "attention/output_dense/kernel": "self_attention_layer/attention_output/kernel",
    "attention/output_dense/bias": "self_attention_layer/attention_output/bias",
    "attention/layer_norm/gamma": "self_attention_layer_norm/gamma",
    "attention/layer_norm/beta": "self_attention_layer_norm/beta",
    "ffn/intermediate_dense/kernel": "feedforward_intermediate_dense/kernel",
    "ffn/intermediate_dense/bias": "feedforward_intermediate_dense/bias",
    "ffn/output_dense/kernel": "feedforward_output_dense/kernel",
    "ffn/output_dense/bias": "feedforward_output_dense/bias",
    "ffn/layer_norm/gamma": "feedforward_layer_norm/gamma",
    "ffn/layer_norm/beta": "feedforward_layer_norm/beta",
}


def perturb(model, seed=0):
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        shape = tuple(variable.shape)
        centre = 1.0 if variable.path.endswith("gamma") else 0.0
        variable.assign((centre + rng.normal(0.0, 0.2, shape)).astype("float32"))


def port_backbone(ours, theirs, config):
    table = dict(_EMBEDDINGS)
    for g in range(config.num_hidden_groups):
        for k in range(config.inner_group_num):
            for suffix, target in _BLOCK.items():
                kind, rest = suffix.split("/", 1)
                table[f"encoder/group_{g}_inner_{k}_{kind}/{rest}"] = f"group_{g}_inner_layer_{k}/{target}"
    source = {v.path: v for v in ours.weights}
    target = {v.path: v for v in theirs.weights}
    assert sorted(table) == sorted(source), "port table must cover every albert_tf variable"
    assert sorted(table.values()) == sorted(target), "port table must cover every keras-hub variable"
    for ours_path, theirs_path in table.items():
        target[theirs_path].assign(source[ours_path].numpy())


def keras_hub_block_outputs(theirs, batch, config):
    """Every applied block's output, by running keras-hub's own layers in keras-hub's order."""
    layer = theirs.get_layer
    tokens = layer("token_embedding")(batch["input_ids"])
    x = layer("embeddings_add")(
        (tokens, layer("position_embedding")(tokens), layer("segment_embedding")(batch["segment_ids"]))
    )
    x = layer("embedding_projection")(layer("embeddings_layer_norm")(x))
    outputs = []
    per_group = config.num_hidden_layers // config.num_hidden_groups
    for group in range(config.num_hidden_groups):
        for _ in range(per_group):
            for inner in range(config.inner_group_num):
                block = layer(f"group_{group}_inner_layer_{inner}")
                x = block(x, padding_mask=batch["input_mask"])
                outputs.append(np.asarray(x))
    return outputs


@pytest.mark.parametrize(
    "layout", [dict(num_hidden_groups=1, inner_group_num=1), dict(num_hidden_groups=2, inner_group_num=2, num_hidden_layers=4)]
)
def test_matches_keras_hub(layout):
    config = tiny_config(**layout)
    keras.utils.set_random_seed(1)
    ours = AlbertPretrainer(config)
    perturb(ours)
    theirs = keras_hub.models.AlbertBackbone(
        vocabulary_size=config.vocab_size,
        num_layers=config.num_hidden_layers,
        num_heads=config.num_attention_heads,
        embedding_dim=config.embedding_size,
        hidden_dim=config.hidden_size,
        intermediate_dim=config.intermediate_size,
        num_groups=config.num_hidden_groups,
        num_inner_repetitions=config.inner_group_num,
        max_sequence_length=config.max_position_embeddings,
    )
    port_backbone(ours.backbone, theirs, config)
    # keras-hub's AlbertMaskedLM builds its head with LayerNorm epsilon 1e-5; the original uses 1e-12, so
    # the reference head is keras-hub's MaskedLMHead configured as the original.
    head = keras_hub.layers.MaskedLMHead(
        token_embedding=theirs.get_layer("token_embedding"), intermediate_activation=gelu_tanh, layer_norm_epsilon=1e-12
    )
    batch = random_batch(config)
    assert batch["input_mask"].min() == 0

    theirs_out = theirs(
        {"token_ids": batch["input_ids"], "segment_ids": batch["segment_ids"], "padding_mask": batch["input_mask"]}
    )
    head(theirs_out["sequence_output"], mask_positions=batch["masked_lm_positions"])
    mlm = ours.masked_lm_head
    theirs_head = {v.path.split("/", 1)[1]: v for v in head.weights if v.path.startswith(head.name)}
    theirs_head["intermediate_dense/kernel"].assign(mlm.transform.kernel.numpy())
    theirs_head["intermediate_dense/bias"].assign(mlm.transform.bias.numpy())
    theirs_head["intermediate_layer_norm/gamma"].assign(mlm.layer_norm.gamma.numpy())
    theirs_head["intermediate_layer_norm/beta"].assign(mlm.layer_norm.beta.numpy())
    theirs_head["output_bias"].assign(mlm.output_bias.numpy())

    ours_backbone = ours.backbone(batch)
    np.testing.assert_allclose(ours_backbone["sequence_output"], theirs_out["sequence_output"], atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(ours_backbone["pooled_output"], theirs_out["pooled_output"], atol=TOLERANCE, rtol=0)
    blocks = keras_hub_block_outputs(theirs, batch, config)
    assert len(blocks) == len(ours_backbone["encoder_outputs"]) == config.num_hidden_layers * config.inner_group_num
    np.testing.assert_allclose(blocks[-1], theirs_out["sequence_output"], atol=1e-6, rtol=0)
    for index, (a, b) in enumerate(zip(ours_backbone["encoder_outputs"], blocks)):
        np.testing.assert_allclose(a, b, atol=TOLERANCE, rtol=0, err_msg=f"encoder_outputs[{index}]")

    theirs_logits = head(theirs_out["sequence_output"], mask_positions=batch["masked_lm_positions"])
    np.testing.assert_allclose(ours(batch)["mlm_logits"], theirs_logits, atol=TOLERANCE, rtol=0)
