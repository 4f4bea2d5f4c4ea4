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

import contextlib
import gc
from typing import Dict

from albert_tf._compat import direct_sublayers


@contextlib.contextmanager
def one_full_collection():
    """Runs the body with the heap frozen, then collects once.

    Keras' `Layer.__delattr__` runs `gc.collect()` for every variable it drops, and `quantize` drops the
    float kernel of each Dense/EinsumDense/Embedding: one full collection per layer, about 0.4 s each in a
    process that holds TensorFlow graphs (14 s of a 17 s `quantize` measured on the H=32 classifier).
    Frozen objects are not scanned, so those collections see only what `quantize` made.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.collect()


class QuantizableModel:
    """Mixin of every albert_tf model: Keras' own `quantize`, with one full garbage collection, not one
    per quantized layer (see `one_full_collection`)."""

    def quantize(self, *args, **kwargs):
        with one_full_collection():
            return super().quantize(*args, **kwargs)


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
