"""ONNX export of the `tokens` signature, through tf2onnx (the optional `onnx` extra).

The ONNX file takes the `tokens` signature's int32 inputs `input_ids`, `input_mask`, `segment_ids` of
shape `[batch, sequence]` (multiple choice: `[batch, choices, sequence]`, not tested; any length up to
`max_position_embeddings`) and returns its outputs by name: `pooled_output`, `sequence_output` and the
task's outputs (`albert_tf.export`). The raw-string signatures are not exported: their tokenizer runs
tensorflow-text's SentencePiece op, which ONNX has no counterpart for; tokenize with `AlbertTokenizer`
(or any exact SentencePiece) and feed the ids.

Shared weights stay shared, but not quite once: tf2onnx freezes the traced function, which captures each
variable once however many layers read it, so no layer gets a copy of its own; its graph optimizer then
keeps the query, key and value kernels a second time, transposed differently for the first layer than
for the others: a fixed 3·H² floats whatever L (measured at L=2 and L=3), which is ~15% of an
albert-base-shaped model (docs/serving.md has the measurements).

Checked with tf2onnx 1.17.0, onnx 1.23.2 and onnxruntime 1.32.0 on TensorFlow 2.21 / Keras 3.15
(tests/export/test_onnx.py) and, by hand (a tiny backbone and classifier), TensorFlow 2.20 / Keras 3.13.

Example (needs `pip install 'albert_tf[onnx]'`; tf2onnx takes tens of seconds even for a tiny model):

    from albert_tf import AlbertBackbone, AlbertConfig
    from albert_tf.export_onnx import export_onnx

    export_onnx(AlbertBackbone(AlbertConfig(vocab_size=300, hidden_size=32, num_attention_heads=4)),
                "albert.onnx")
    # onnxruntime.InferenceSession("albert.onnx").run(None, {"input_ids": ..., "input_mask": ...,
    #                                                        "segment_ids": ...})
"""

from __future__ import annotations

import os

from albert_tf.export import token_function
from albert_tf.io import write_bytes_atomic

#: The ONNX opset written: supported by onnxruntime >= 1.14 and by tf2onnx 1.17.
ONNX_OPSET = 17
#: How to get the converter, named in the error raised without it.
INSTALL_HINT = "pip install 'albert_tf[onnx]' (tf2onnx, onnx, onnxruntime)"
#: The names given to the inputs' symbolic dimensions (tf2onnx leaves them as `unk__N`).
_DIMENSION_NAMES = {2: ("batch", "sequence"), 3: ("batch", "choices", "sequence")}


def tf2onnx_missing() -> str | None:
    """None when tf2onnx and onnx can be imported, else a one-line reason naming the extra to install.

    Looks the packages up without importing them (no TensorFlow import), so a command line can refuse
    `--onnx` before it loads a model.
    """
    import importlib.util

    absent = [name for name in ("tf2onnx", "onnx") if importlib.util.find_spec(name) is None]
    return f"{' and '.join(absent)} not installed: {INSTALL_HINT}" if absent else None


def _name_dimensions(graph):
    for value in graph.input:
        dims = value.type.tensor_type.shape.dim
        for dim, name in zip(dims, _DIMENSION_NAMES.get(len(dims), ())):
            if not dim.HasField("dim_value"):
                dim.dim_param = name


def export_onnx(model, onnx_file: str, opset: int = ONNX_OPSET) -> int:
    """Writes the `tokens` signature of `model` (any albert_tf model) as an ONNX file; returns its size in bytes.

    Inputs and outputs are those of the module docstring; LoRA adapters, if any, are merged into the
    kernels first. The file is written atomically. Raises ImportError naming the `onnx` extra when tf2onnx
    is not installed.
    """
    missing = tf2onnx_missing()
    if missing:
        raise ImportError(f"ONNX export: {missing}")
    import tf2onnx

    model, fn = token_function(model)
    specs = list(model.serving_inputs().values())
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=specs, opset=int(opset))
    _name_dimensions(proto.graph)
    data = proto.SerializeToString()
    onnx_file = os.fspath(onnx_file)
    os.makedirs(os.path.dirname(os.path.abspath(onnx_file)), exist_ok=True)
    write_bytes_atomic(onnx_file, data)
    return len(data)


__all__ = ["INSTALL_HINT", "ONNX_OPSET", "export_onnx", "tf2onnx_missing"]
