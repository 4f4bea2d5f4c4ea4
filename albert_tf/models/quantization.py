"""Keras-native quantization that survives `.keras` files: which layers `model.quantize` changed.

`model.quantize("int8")` (Keras' own) turns every Dense/EinsumDense/Embedding weight of an albert_tf model
into int8 with per-channel scales. Our models rebuild their layers from an `AlbertConfig` when loaded, so
the quantized layers must be quantized again before the weights are read back: `serialize_model` stores
`quantized_layers(model)` in the model's config and `deserialize_model` calls `restore_quantization`.

The tied masked-LM decoder reads the word-embedding table as the quantized `Embedding` serves it
(`FactorizedEmbedding.embedding_table`), so the tie survives an int8 embedding.

Example:

>>> import numpy as np
>>> from albert_tf import AlbertBackbone, AlbertConfig
>>> config = AlbertConfig(vocab_size=50, embedding_size=8, hidden_size=16, num_hidden_layers=2,
...                       num_attention_heads=2, intermediate_size=32, max_position_embeddings=16)
>>> backbone = AlbertBackbone(config)
>>> backbone.quantize("int8")
>>> record = quantized_layers(backbone)
>>> record["pooler"], record["embeddings/word_embeddings"]
('int8', 'int8')
>>> fresh = AlbertBackbone(config)
>>> restore_quantization(fresh, record)
>>> quantized_layers(fresh) == record
True
"""

from typing import Dict

from albert_tf._compat import direct_sublayers


def _leaf_layers(layer):
    children = direct_sublayers(layer)
    if not children:
        yield layer
    for child in children:
        yield from _leaf_layers(child)


def quantized_layers(model) -> Dict[str, str]:
    """`{layer path: quantization mode}` of every quantized layer of `model` (empty when none is)."""
    record = {}
    for layer in _leaf_layers(model):
        mode = layer.quantization_mode
        if mode is not None and layer.path is not None:
            record[layer.path] = mode
    return dict(sorted(record.items()))


def restore_quantization(model, record: Dict[str, str]) -> None:
    """Quantizes the layers named in `record` (from `quantized_layers`), so that a quantized model's
    weights load into a model rebuilt from its config."""
    by_mode: Dict[str, set] = {}
    for path, mode in record.items():
        by_mode.setdefault(mode, set()).add(path)
    for mode, paths in sorted(by_mode.items()):
        model.quantize(mode, filters=lambda layer, paths=paths: layer.path in paths)
