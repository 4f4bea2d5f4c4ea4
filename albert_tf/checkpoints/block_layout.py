"""The weights of one transformer block as albert_tf, the original TF1 release, HuggingFace and keras-hub
name them.

One table, so the converters cannot disagree about which weight is which; each converter owns its layout
functions (the same label can mean a reshape in one format and a transpose in the other). keras-hub's
Keras variables have albert_tf's shapes, so its column needs no layout.
"""

# (sublayer, albert_tf attribute, original name, original layout, HuggingFace name, HuggingFace layout)
# keras-hub's name (inside `group_{g}_inner_layer_{k}/`) is in KERAS_HUB_NAMES, keyed by the first two.
BLOCK_WEIGHTS = (
    ("attention", "query.kernel", "attention_1/self/query/kernel", "heads_in", "attention.query.weight", "heads_in"),
    ("attention", "query.bias", "attention_1/self/query/bias", "heads_b", "attention.query.bias", "heads_b"),
    ("attention", "key.kernel", "attention_1/self/key/kernel", "heads_in", "attention.key.weight", "heads_in"),
    ("attention", "key.bias", "attention_1/self/key/bias", "heads_b", "attention.key.bias", "heads_b"),
    ("attention", "value.kernel", "attention_1/self/value/kernel", "heads_in", "attention.value.weight", "heads_in"),
    ("attention", "value.bias", "attention_1/self/value/bias", "heads_b", "attention.value.bias", "heads_b"),
    ("attention", "output_dense.kernel", "attention_1/output/dense/kernel", "heads_out", "attention.dense.weight", "heads_out"),
    ("attention", "output_dense.bias", "attention_1/output/dense/bias", "copy", "attention.dense.bias", "copy"),
    ("attention", "layer_norm.gamma", "LayerNorm/gamma", "copy", "attention.LayerNorm.weight", "copy"),
    ("attention", "layer_norm.beta", "LayerNorm/beta", "copy", "attention.LayerNorm.bias", "copy"),
    ("ffn", "intermediate_dense.kernel", "ffn_1/intermediate/dense/kernel", "copy", "ffn.weight", "linear"),
    ("ffn", "intermediate_dense.bias", "ffn_1/intermediate/dense/bias", "copy", "ffn.bias", "copy"),
    ("ffn", "output_dense.kernel", "ffn_1/intermediate/output/dense/kernel", "copy", "ffn_output.weight", "linear"),
    ("ffn", "output_dense.bias", "ffn_1/intermediate/output/dense/bias", "copy", "ffn_output.bias", "copy"),
    ("ffn", "layer_norm.gamma", "LayerNorm_1/gamma", "copy", "full_layer_layer_norm.weight", "copy"),
    ("ffn", "layer_norm.beta", "LayerNorm_1/beta", "copy", "full_layer_layer_norm.bias", "copy"),
)

KERAS_HUB_NAMES = {
    ("attention", "query.kernel"): "self_attention_layer/query/kernel",
    ("attention", "query.bias"): "self_attention_layer/query/bias",
    ("attention", "key.kernel"): "self_attention_layer/key/kernel",
    ("attention", "key.bias"): "self_attention_layer/key/bias",
    ("attention", "value.kernel"): "self_attention_layer/value/kernel",
    ("attention", "value.bias"): "self_attention_layer/value/bias",
    ("attention", "output_dense.kernel"): "self_attention_layer/attention_output/kernel",
    ("attention", "output_dense.bias"): "self_attention_layer/attention_output/bias",
    ("attention", "layer_norm.gamma"): "self_attention_layer_norm/gamma",
    ("attention", "layer_norm.beta"): "self_attention_layer_norm/beta",
    ("ffn", "intermediate_dense.kernel"): "feedforward_intermediate_dense/kernel",
    ("ffn", "intermediate_dense.bias"): "feedforward_intermediate_dense/bias",
    ("ffn", "output_dense.kernel"): "feedforward_output_dense/kernel",
    ("ffn", "output_dense.bias"): "feedforward_output_dense/bias",
    ("ffn", "layer_norm.gamma"): "feedforward_layer_norm/gamma",
    ("ffn", "layer_norm.beta"): "feedforward_layer_norm/beta",
}
_PREFIXES = {
    "original": "bert/encoder/transformer/group_{g}/inner_group_{k}/",
    "huggingface": "albert.encoder.albert_layer_groups.{g}.albert_layers.{k}.",
    "keras_hub": "group_{g}_inner_layer_{k}/",
}


def block_rows(backbone, scheme):
    """`(variable, name, layout)` for every block weight; `scheme` is "original", "huggingface" or "keras_hub"."""
    rows = []
    for group, inner, attention, ffn in backbone.encoder.group_blocks():
        prefix = _PREFIXES[scheme].format(g=group, k=inner)
        sublayers = {"attention": attention, "ffn": ffn}
        for sublayer, attribute, original, original_layout, hf, hf_layout in BLOCK_WEIGHTS:
            variable = sublayers[sublayer]
            for part in attribute.split("."):
                variable = getattr(variable, part)
            name, layout = {
                "original": (original, original_layout),
                "huggingface": (hf, hf_layout),
                "keras_hub": (KERAS_HUB_NAMES[(sublayer, attribute)], "copy"),
            }[scheme]
            rows.append((variable, prefix + name, layout))
    return rows
