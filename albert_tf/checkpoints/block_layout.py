"""The weights of one transformer block as albert_tf, the original TF1 release and HuggingFace name them.

One table, so the two converters cannot disagree about which weight is which; each converter owns its
layout functions (the same label can mean a reshape in one format and a transpose in the other).
"""

# (sublayer, albert_tf attribute, original name, original layout, HuggingFace name, HuggingFace layout)
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


def block_rows(backbone, scheme):
    """`(variable, name, layout)` for every block weight; `scheme` is "original" or "huggingface"."""
    rows = []
    for group, inner, attention, ffn in backbone.encoder.group_blocks():
        if scheme == "original":
            prefix = f"bert/encoder/transformer/group_{group}/inner_group_{inner}/"
        else:
            prefix = f"albert.encoder.albert_layer_groups.{group}.albert_layers.{inner}."
        sublayers = {"attention": attention, "ffn": ffn}
        for sublayer, attribute, original, original_layout, hf, hf_layout in BLOCK_WEIGHTS:
            variable = sublayers[sublayer]
            for part in attribute.split("."):
                variable = getattr(variable, part)
            name, layout = (original, original_layout) if scheme == "original" else (hf, hf_layout)
            rows.append((variable, prefix + name, layout))
    return rows
