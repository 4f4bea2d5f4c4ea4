"""LiteRT (TFLite) conversion of a token-id SavedModel, in float32 or quantized.

| `quantize` | weights | activations | needs |
|---|---|---|---|
| `none` | float32 | float32 | |
| `dynamic` | int8 (per channel) | float32, quantized on the fly inside each matmul | |
| `float16` | float16 (dequantized at load) | float32 | |
| `int8` | int8 | int8 where the converter's int8 kernels exist, float32 elsewhere | a representative dataset |

`int8` is full-integer quantization calibrated on a few hundred examples of the task's own records
(`representative_features`). The converter may keep an op in float32 when it has no int8 kernel for it
(`TFLITE_BUILTINS` is allowed beside `TFLITE_BUILTINS_INT8`). With TensorFlow 2.21 on albert models the
embedding lookups, the dense layers and both attention products run in int8; what stays float32 is each
attention layer's score path (scale, mask add, softmax: the ops under `ATTENTION_SCORES_SCOPE`, kept float
on purpose: the -10000 mask adder makes the int8 step of the scores 39, which cost 20 points of SST-2
accuracy; docs/serving.md has the measurements), a few LayerNorm intermediates, the attention mask's cast
and the float32 outputs (logits, probabilities, pooled and sequence outputs) after a dequantize. Inputs
stay int32 token ids.

Raw strings cannot reach LiteRT: the in-graph SentencePiece tokenizer needs TensorFlow ops that LiteRT's
built-in op set lacks, so only the token-id signature (`input_ids`, `input_mask`, `segment_ids`) is
converted; tokenize in the application (e.g. with `AlbertTokenizer.encode`).

Example:

>>> QUANTIZE_MODES
('none', 'dynamic', 'float16', 'int8')
"""

from __future__ import annotations

import warnings
from typing import Callable, Dict, Iterable, List, Optional

import numpy as np
import tensorflow as tf

from albert_tf.data.pretraining import list_files
from albert_tf.errors import UserInputError
from albert_tf.layers.transformer import ATTENTION_SCORES_SCOPE

QUANTIZE_MODES = ("none", "dynamic", "float16", "int8")
TOKEN_KEYS = ("input_ids", "input_mask", "segment_ids")


def convert_saved_model(
    saved_model_dir: str,
    quantize: str = "none",
    representative_dataset: Optional[Callable[[], Iterable[Dict[str, np.ndarray]]]] = None,
) -> bytes:
    """The LiteRT flatbuffer of a SavedModel's `serving_default` signature, in one of `QUANTIZE_MODES`.

    `representative_dataset` (required for `int8`, ignored otherwise): a callable returning an iterable
    of input dicts keyed by the signature's input names, each of the signature's fixed shape.
    """
    if quantize not in QUANTIZE_MODES:
        raise UserInputError(f"--quantize {quantize}: expected one of {', '.join(QUANTIZE_MODES)}")
    if quantize == "int8" and representative_dataset is None:
        raise UserInputError("--quantize int8 needs representative examples: pass --representative_records PATTERN "
                             "(a few hundred of the task's TFRecords)")
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        converter.representative_dataset = representative_dataset
        # Float kernels stay allowed where an op has no int8 one; inputs stay int32 ids and outputs
        # float32, so the file is a drop-in for the float model's.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
        return _int8_with_float_attention_scores(converter)
    return converter.convert()


def _int8_with_float_attention_scores(converter) -> bytes:
    """Full-integer conversion keeping every op under `ATTENTION_SCORES_SCOPE` float32.

    The converter has no public option to keep chosen ops float; TensorFlow's quantization debugger
    does (`denylisted_nodes`), from one calibration run. Its debug dataset is only read by `run()`.
    """
    with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation notice: it only reads names here
        warnings.simplefilter("ignore", UserWarning)
        debugger = tf.lite.experimental.QuantizationDebugger(converter=converter)
        details = tf.lite.Interpreter(model_content=debugger.calibrated_model).get_tensor_details()
        nodes = sorted({d["name"] for d in details if f"/{ATTENTION_SCORES_SCOPE}/" in d["name"]})
        if not nodes:
            raise ValueError(f"--quantize int8: no tensor under '{ATTENTION_SCORES_SCOPE}/' in the model; "
                             "int8 attention scores would lose the model's accuracy")
        debugger.options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=nodes)
        return debugger.get_nondebug_quantized_model()


def representative_features(file_pattern: str, input_shape, count: int = 300) -> List[Dict[str, np.ndarray]]:
    """Up to `count` token-id examples read from fine-tuning TFRecords, each of `input_shape` (`[1, S]`,
    or `[1, C, S]` for multiple choice), cut or zero-padded to its length S.

    Any albert_tf fine-tuning record works (classification, regression, SQuAD, RACE): only `input_ids`,
    `input_mask` and `segment_ids` are read.
    """
    shape = [int(d) for d in input_shape]
    if shape[0] != 1:
        raise ValueError(f"representative examples are single examples: input_shape {shape} must start with 1")
    try:
        files = list_files(file_pattern)
    except ValueError as error:
        raise UserInputError(f"--representative_records {file_pattern}: {error}") from None
    spec = {key: tf.io.VarLenFeature(tf.int64) for key in TOKEN_KEYS}
    examples = []
    for serialized in tf.data.TFRecordDataset(files).take(count):
        try:
            parsed = tf.io.parse_single_example(serialized, spec)
        except tf.errors.InvalidArgumentError:
            parsed = {}
        if not parsed or any(parsed[key].values.shape[0] == 0 for key in TOKEN_KEYS):
            raise UserInputError(f"--representative_records {file_pattern}: a record without "
                                 f"{', '.join(TOKEN_KEYS)}; expected albert_tf fine-tuning TFRecords")
        examples.append({key: _fit(tf.sparse.to_dense(parsed[key]).numpy(), shape) for key in TOKEN_KEYS})
    if not examples:
        raise UserInputError(f"--representative_records {file_pattern}: no records in {', '.join(files)}")
    return examples


def _fit(values: np.ndarray, shape: List[int]) -> np.ndarray:
    """A flat record feature cut or zero-padded to `shape` (rows of a multiple-choice record each)."""
    rows = values.reshape(int(np.prod(shape[1:-1], dtype=np.int64)), -1)
    length = shape[-1]
    fitted = np.zeros((rows.shape[0], length), np.int32)
    fitted[:, : min(length, rows.shape[1])] = rows[:, :length]
    return fitted.reshape(shape)


__all__ = ["QUANTIZE_MODES", "convert_saved_model", "representative_features"]
