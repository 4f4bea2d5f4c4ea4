"""ONNX export of the `tokens` signature, through tf2onnx (the optional `onnx` extra).

The ONNX file takes the `tokens` signature's int32 inputs `input_ids`, `input_mask`, `segment_ids` of
shape `[batch, sequence]` (multiple choice: `[batch, choices, sequence]`, not tested; any length up to
`max_position_embeddings`) and returns its outputs by name: `pooled_output`, `sequence_output` and the
task's outputs (`albert_tf.export`). The raw-string signatures are not exported: their tokenizer runs
tensorflow-text's SentencePiece op, which ONNX has no counterpart for; tokenize with `AlbertTokenizer`
(or any exact SentencePiece) and feed the ids.

Shared weights are stored once. tf2onnx freezes the traced function, which captures each variable once
however many layers read it, so no layer gets a copy of its own. Its constant folding, though, leaves the
query, key and value kernels a second time, reshaped to `[1, 1, heads, head_size, H]`, as the input of a
`Shape` node only (what Keras' EinsumDense asks of its kernel): 3·H² floats whatever L, ~15% of an
albert-base-shaped model. `fold_constant_shapes` replaces each such `Shape` by the shape itself and
drops the tensor; `deduplicate_initializers` then keeps one copy of any tensor still stored twice
(docs/serving.md has the measurements).

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


def _subgraph_inputs(graph) -> set:
    """Every name read by a node of a subgraph (an If or Loop body) anywhere below `graph`."""
    names = set()
    for node in graph.node:
        for attribute in node.attribute:
            for sub in ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs):
                names.update(name for inner in sub.node for name in inner.input)
                names |= _subgraph_inputs(sub)
    return names


def _fixed_initializers(graph) -> dict:
    """The initializers of `graph` by name, less any that is also a graph input (a default a caller may
    replace, so neither its shape nor its values are known)."""
    inputs = {value.name for value in graph.input}
    return {tensor.name: tensor for tensor in graph.initializer if tensor.name not in inputs}


def fold_constant_shapes(graph) -> int:
    """Replaces every `Shape` node of `graph` whose input is an initializer by that shape as an int64
    initializer, then drops the initializers nothing reads any more; returns the number of nodes folded.

    tf2onnx's folding leaves a reshaped copy of each EinsumDense kernel that only a `Shape` node reads.

    >>> import numpy as np
    >>> from onnx import helper, numpy_helper
    >>> kernel = numpy_helper.from_array(np.zeros((2, 3), np.float32), "kernel")
    >>> graph = helper.make_graph([helper.make_node("Shape", ["kernel"], ["shape"], start=1)], "g", [],
    ...                           [helper.make_tensor_value_info("shape", 7, [1])], [kernel])
    >>> fold_constant_shapes(graph), [numpy_helper.to_array(t).tolist() for t in graph.initializer]
    (1, [[3]])
    """
    import numpy as np
    from onnx import numpy_helper

    stored = _fixed_initializers(graph)
    folded = [node for node in graph.node if node.op_type == "Shape" and node.input[0] in stored]
    for node in folded:
        attributes = {a.name: a.i for a in node.attribute}
        dims = list(stored[node.input[0]].dims)
        # ONNX's start/end clamp and count from the back as Python's slices do.
        shape = np.array(dims[attributes.get("start", 0):attributes.get("end", len(dims))], np.int64)
        graph.initializer.append(numpy_helper.from_array(shape, node.output[0]))
        graph.node.remove(node)
    read = {name for node in graph.node for name in node.input} | {v.name for v in graph.output}
    read |= _subgraph_inputs(graph)
    for tensor in [t for t in _fixed_initializers(graph).values() if t.name not in read]:
        graph.initializer.remove(tensor)
    return len(folded)


def deduplicate_initializers(graph) -> int:
    """Keeps one initializer of `graph` per distinct (type, shape, bytes); the nodes that read a copy read
    the kept one. Returns the number of initializers dropped.

    >>> import numpy as np
    >>> from onnx import helper, numpy_helper
    >>> a, b = (numpy_helper.from_array(np.ones((2, 2), np.float32), name) for name in "ab")
    >>> graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["c"])], "g", [],
    ...                           [helper.make_tensor_value_info("c", 1, [2, 2])], [a, b])
    >>> deduplicate_initializers(graph), list(graph.node[0].input)
    (1, ['a', 'a'])
    """
    from onnx import numpy_helper

    kept, renamed = {}, {}
    protected = {v.name for v in graph.output} | _subgraph_inputs(graph)
    for tensor in _fixed_initializers(graph).values():
        if tensor.name in protected:
            continue
        array = numpy_helper.to_array(tensor)
        key = (tensor.data_type, tuple(tensor.dims), array.tobytes())
        if key in kept:
            renamed[tensor.name] = kept[key]
            graph.initializer.remove(tensor)
        else:
            kept[key] = tensor.name
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in renamed:
                node.input[i] = renamed[name]
    return len(renamed)


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
    fold_constant_shapes(proto.graph)
    deduplicate_initializers(proto.graph)
    data = proto.SerializeToString()
    onnx_file = os.fspath(onnx_file)
    os.makedirs(os.path.dirname(os.path.abspath(onnx_file)), exist_ok=True)
    write_bytes_atomic(onnx_file, data)
    return len(data)


__all__ = ["INSTALL_HINT", "ONNX_OPSET", "deduplicate_initializers", "export_onnx", "fold_constant_shapes",
           "tf2onnx_missing"]
