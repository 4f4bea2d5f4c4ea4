"""SavedModel export with serving signatures: raw strings in, model outputs out.

`export_saved_model` wraps a model in a `tf.Module` whose signatures are plain functions of tensors, the
tokenizer included, so the SavedModel serves from TensorFlow Serving or from a process that imports only
`tensorflow` and `tensorflow_text` (which registers the SentencePiece op). Signatures:

| signature | inputs | outputs |
|---|---|---|
| `serving_default` | `text` string `[B]` | `pooled_output`, `sequence_output`, `input_mask`, `input_ids`, `segment_ids`, plus the model's outputs (below) |
| `serving_text_pair` | `text`, `text_b` string `[B]` | the same, packed `[CLS] A [SEP] B [SEP]` with the original pair truncation |
| `tokens` | `input_ids`, `input_mask`, `segment_ids` int32 `[B, S]` | `pooled_output`, `sequence_output`, plus the model's outputs |
| `mlm` (pretrainers) | `tokens` inputs + `mlm_positions` int32 `[B, P]` | `pooled_output`, `sequence_output`, `mlm_logits` `[B, P, V]` |
| `sop` (pretrainers) | `tokens` inputs | `pooled_output`, `sequence_output`, `sop_log_probs` `[B, 2]` |
| `tokenization_info` | none | `vocab_file` (path of the SentencePiece `.model` asset), `do_lower_case` |

The original TF-Hub module's `mlm_logits` are flattened to `[B*P, V]`; ours keep `[B, P, V]` (API.md).
Without a tokenizer the string signatures and `tokenization_info` are left out and `serving_default` is
`tokens`. For pretrainers the string signatures fill in each literal `[MASK]` of the text: `mask_positions`
`[B, M]` (-1 pads rows with fewer masks), `fill_mask_ids`, `fill_mask_tokens`, `fill_mask_probabilities`
`[B, M, top_k]`.

Each model says what it serves (`albert_tf.models.serving.ServingModel`: token-input specs, outputs,
extra signatures); this module only wraps that in signatures. Task models add their outputs to every
signature but `mlm`/`sop`: classifiers `logits`, `probabilities`, `predictions` (class ids, or the
`label_names` strings with the ids in `prediction_ids`; regression: the score); SQuAD v1
`start_logits`/`end_logits`; SQuAD v2 the original's beam outputs and `cls_logits`, with `p_mask` from the
records' rule (`albert_tf.data.schemas.squad_p_mask`); token classifiers per-token `logits` and
`predictions`. Multiple-choice models are served from `tokens` only, with `[B, num_choices, S]` inputs.

Text is cut to `max_seq_length` exactly as `AlbertTokenizer.encode` does (ids equal by construction, see
`albert_tf.text.in_graph`), so a string of any length is served without error.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from typing import Optional, Sequence

import tensorflow as tf

from albert_tf.config import AlbertConfig
from albert_tf.io import write_bytes_atomic
from albert_tf.litert import convert_saved_model
from albert_tf.models import lora
from albert_tf.models.serving import ServingModel
from albert_tf.text.in_graph import AlbertPreprocessor
from albert_tf.text.tokenizer import AlbertTokenizer

MASK_TEXT = "[MASK]"


def _float32(outputs: dict) -> dict:
    # Mixed-precision models compute in bf16/fp16; serving clients expect float32.
    return {k: tf.cast(v, tf.float32) if v.dtype.is_floating else v for k, v in outputs.items()}


def _servable(model) -> ServingModel:
    if not isinstance(model, ServingModel):
        raise TypeError(
            "export expects a model that says what it serves (AlbertBackbone, AlbertPretrainer or an albert_tf "
            f"task model: albert_tf.models.serving.ServingModel), got {type(model).__name__}."
        )
    return model


class _Heads:
    """The model's serving outputs, float32, with class ids named by `label_names` where given."""

    def __init__(self, model, label_names: Optional[Sequence[str]]):
        self.model = _servable(model)
        self.label_names = None if label_names is None else [str(n) for n in label_names]
        if self.label_names is not None:
            count = model.serving_classes
            if count is None:
                raise ValueError(f"label_names apply to classifiers and token classifiers, not to {type(model).__name__}")
            if len(self.label_names) != count:
                raise ValueError(f"label_names has {len(self.label_names)} names but the model has {count} classes")

    def outputs(self, features: dict) -> dict:
        """The `tokens` signature's outputs for one batch of token features."""
        result = _float32(self.model.serving_outputs(features))
        predictions = result.get("predictions")
        if self.label_names is not None and predictions is not None and predictions.dtype.is_integer:
            result.update(prediction_ids=predictions, predictions=tf.gather(tf.constant(self.label_names), predictions))
        return result


def _signature_function(fn, specs: dict):
    """A tf.function of the tensors named in `specs` (the names become the signature's input keys)."""
    names = list(specs)
    return tf.function(lambda *tensors: fn(dict(zip(names, tensors))), input_signature=list(specs.values()))


class _ServingModule(tf.Module):
    """Holds the model, the tokenizer resources and the assets; its tf.functions are the signatures."""

    def __init__(self, preprocessor, heads: _Heads, vocabulary, top_k: int, assets: dict):
        super().__init__(name="albert_serving")
        # The model is reached through `heads` (a plain object, not tracked): tracked here, its Keras
        # variables would be saved beside the tf.Variables in `captured_variables` that they wrap, every
        # weight twice (a 90 MB SavedModel for albert-base's 45 MB).
        self.preprocessor = preprocessor
        self.heads = heads
        self.top_k = int(top_k)
        self.vocabulary = vocabulary
        self.assets = assets  # dict of tf.saved_model.Asset, tracked so that the files are copied

    # --- string signatures -----------------------------------------------------------------
    def _ids(self, texts):
        tokenizer = self.preprocessor.tokenizer
        if not self.heads.model.fills_masks:
            return tokenizer(texts)
        # Each literal [MASK] becomes the mask id; the text around it is tokenized part by part
        # (the [MASK] piece is a control symbol, which SentencePiece never produces from text).
        parts = tf.strings.split(texts, MASK_TEXT)
        part_ids = tokenizer(parts.flat_values)
        is_last = tf.equal(
            tf.range(tf.size(parts.flat_values, out_type=tf.int64)), tf.gather(parts.row_limits() - 1, parts.value_rowids())
        )
        tail_lengths = 1 - tf.cast(is_last, tf.int64)
        tails = tf.RaggedTensor.from_row_lengths(
            tf.fill([tf.reduce_sum(tail_lengths)], tf.constant(tokenizer.mask_id, tf.int32)), tail_lengths
        )
        ids = tf.concat([part_ids, tails], axis=1)
        return tf.RaggedTensor.from_row_splits(ids, parts.row_splits).merge_dims(1, 2)

    def text(self, text, text_b=None):
        segments = (self._ids(text),) if text_b is None else (self._ids(text), self._ids(text_b))
        features = self.preprocessor.pack(segments)
        result = self.heads.outputs(features)
        result.update(features)
        if self.heads.model.fills_masks:
            result.update(self._fill_mask(features, result["sequence_output"]))
        return result

    def _fill_mask(self, features, sequence_output):
        mask_id = self.preprocessor.tokenizer.mask_id
        ids = features["input_ids"]
        is_mask = tf.equal(ids, mask_id)
        positions = tf.ragged.boolean_mask(tf.broadcast_to(tf.range(tf.shape(ids)[1]), tf.shape(ids)), is_mask)
        present = positions.to_tensor(default_value=-1)
        present = tf.reshape(present, [tf.shape(ids)[0], -1])
        logits = self.heads.model.masked_lm_logits(sequence_output, tf.maximum(present, 0))
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        top = tf.math.top_k(probabilities, k=min(self.top_k, self.vocabulary.shape[0]))
        return {
            "mask_positions": present,
            "fill_mask_ids": top.indices,
            "fill_mask_tokens": tf.gather(self.vocabulary, top.indices),
            "fill_mask_probabilities": top.values,
        }


def _tokenizer_of(tokenizer, config: AlbertConfig) -> Optional[AlbertTokenizer]:
    if tokenizer is None or isinstance(tokenizer, AlbertTokenizer):
        result = tokenizer
    elif isinstance(tokenizer, (str, os.PathLike)):
        result = AlbertTokenizer(os.fspath(tokenizer))
    else:
        raise TypeError(
            f"tokenizer must be an AlbertTokenizer, a SentencePiece .model path or None, got {type(tokenizer).__name__}"
        )
    if result is not None and result.vocab_size > config.vocab_size:
        source = result.spm_model_file or "the SentencePiece model"
        raise ValueError(
            f"{source} has {result.vocab_size} pieces but the model's vocab_size is only {config.vocab_size}; "
            "pass the SentencePiece model the checkpoint was trained with"
        )
    return result


def _write_assets(directory, config: AlbertConfig, tokenizer: Optional[AlbertTokenizer]) -> dict:
    config_path = os.path.join(directory, "albert_config.json")
    config.to_json_file(config_path)
    assets = {"albert_config": config_path}
    if tokenizer is not None:
        stem = "spiece"
        if tokenizer.spm_model_file and "://" not in tokenizer.spm_model_file:
            stem = os.path.splitext(os.path.basename(tokenizer.spm_model_file))[0] or stem
        model_path = os.path.join(directory, stem + ".model")
        with open(model_path, "wb") as f:
            f.write(tokenizer.proto)
        # The .vocab text file the original module shipped beside the .model: "piece<TAB>score".
        sp = tokenizer.sp_model
        vocab_path = os.path.join(directory, stem + ".vocab")
        with open(vocab_path, "w", encoding="utf-8") as f:
            for i in range(sp.GetPieceSize()):
                f.write(f"{sp.IdToPiece(i)}\t{sp.GetScore(i):g}\n")
        assets.update(spm_model=model_path, spm_vocab=vocab_path)
    return assets


def build_serving_module(
    model,
    tokenizer=None,
    max_seq_length: Optional[int] = None,
    label_names: Optional[Sequence[str]] = None,
    top_k: int = 5,
    exact_segmentation: bool = True,
    asset_dir: Optional[str] = None,
):
    """The `tf.Module` and the signature dict that `export_saved_model` saves (see its docstring).

    `asset_dir` receives the config and SentencePiece files that the module references as assets.
    """
    config = _servable(model).config
    tokenizer = _tokenizer_of(tokenizer, config)
    if max_seq_length is None:
        max_seq_length = min(512, config.max_position_embeddings)
    max_seq_length = int(max_seq_length)
    if not 3 <= max_seq_length <= config.max_position_embeddings:
        raise ValueError(
            f"max_seq_length={max_seq_length}: expected 3 <= max_seq_length <= max_position_embeddings "
            f"({config.max_position_embeddings})"
        )
    heads = _Heads(model, label_names)
    asset_dir = asset_dir or tempfile.mkdtemp(prefix="albert_export_assets_")
    asset_files = _write_assets(asset_dir, config, tokenizer)
    assets = {name: tf.saved_model.Asset(path) for name, path in asset_files.items()}
    preprocessor = vocabulary = None
    if tokenizer is not None:
        preprocessor = AlbertPreprocessor.from_tokenizer(
            tokenizer, sequence_length=max_seq_length, exact_segmentation=exact_segmentation
        )
        pieces = [tokenizer.sp_model.IdToPiece(i) for i in range(tokenizer.vocab_size)]
        # Rows of a model vocabulary padded beyond the SentencePiece model have no piece: "".
        vocabulary = tf.constant(pieces + [""] * (config.vocab_size - len(pieces)))
    module = _ServingModule(preprocessor, heads, vocabulary, top_k, assets)

    specs = model.serving_inputs()
    # The tf.functions stay local: as attributes of the module, tf.saved_model.save would trace each one
    # again in its save context (a third of the export's time); the signatures alone carry them.
    tokens_fn = _signature_function(heads.outputs, specs)
    signatures = {"tokens": tokens_fn.get_concrete_function()}
    for name, (extra_specs, fn) in model.serving_signatures().items():
        signatures[name] = _signature_function(
            lambda tensors, fn=fn: _float32(fn({k: tensors[k] for k in specs}, tensors)), {**specs, **extra_specs}
        ).get_concrete_function()
    if preprocessor is None or not model.serves_text:
        signatures["serving_default"] = signatures["tokens"]
    else:
        text_spec = tf.TensorSpec([None], tf.string, name="text")
        text_fn = tf.function(lambda text: module.text(text), input_signature=[text_spec])
        text_pair_fn = tf.function(
            lambda text, text_b: module.text(text, text_b),
            input_signature=[text_spec, tf.TensorSpec([None], tf.string, name="text_b")],
        )
        do_lower_case = bool(tokenizer.do_lower_case)
        tokenization_info_fn = tf.function(
            lambda: {
                "vocab_file": tf.identity(assets["spm_model"].asset_path),
                "do_lower_case": tf.constant(do_lower_case),
            },
            input_signature=[],
        )
        signatures["serving_default"] = text_fn.get_concrete_function()
        signatures["serving_text_pair"] = text_pair_fn.get_concrete_function()
        signatures["tokenization_info"] = tokenization_info_fn.get_concrete_function()
    # The tf.Variables the functions capture, tracked directly: through the Keras variables alone the
    # TF1-style loaders (TensorFlow Serving, `saved_model_cli run`) find them uninitialised.
    captured, seen = [], set()
    for fn in signatures.values():
        for variable in fn.variables:
            if id(variable) not in seen:
                seen.add(id(variable))
                captured.append(variable)
    module.captured_variables = captured
    return module, signatures


def export_saved_model(
    model,
    export_dir: str,
    tokenizer=None,
    max_seq_length: Optional[int] = None,
    label_names: Optional[Sequence[str]] = None,
    top_k: int = 5,
    exact_segmentation: bool = True,
    overwrite: bool = True,
    merge_lora: bool = True,
) -> str:
    """Writes `model` as a SavedModel with serving signatures; returns `export_dir`.

    Args:
        model: an `AlbertBackbone`, an `AlbertPretrainer`, or a task model (any `ServingModel`).
        export_dir: the SavedModel directory. The export is written beside it and renamed into place,
            so a reader never sees half an export; an existing export is replaced when `overwrite`.
        tokenizer: an `AlbertTokenizer` or a `.model` path; enables the raw-string signatures and ships
            the SentencePiece files as assets. None exports only the token signatures.
        max_seq_length: strings are packed and cut to this length (default: 512 or the position limit).
        label_names: class names; `predictions` then holds these strings instead of class ids.
        top_k: fill-mask candidates per `[MASK]` (pretrainers).
        exact_segmentation: as `AlbertInGraphTokenizer`; False is faster and may break score ties
            differently from Python SentencePiece.
        merge_lora: a model with LoRA adapters (`albert_tf.models.lora`) is exported with each adapted
            kernel merged (`kernel + (alpha/rank)·A·B`) and no adapter variables; False keeps the adapters
            as variables of their own (the same outputs, computed as `x·W + (alpha/rank)·x·A·B`).

    The signatures are listed in the module docstring.

    Example:

    >>> import io
    >>> import sentencepiece as spm
    >>> import tensorflow as tf
    >>> from albert_tf import AlbertBackbone, AlbertConfig
    >>> spm_model = io.BytesIO()
    >>> spm.SentencePieceTrainer.train(
    ...     sentence_iterator=iter([f"the year {1900 + i} was a year" for i in range(100)]), model_writer=spm_model,
    ...     vocab_size=32, pad_id=0, unk_id=1, bos_id=-1, eos_id=-1, control_symbols="[CLS],[SEP],[MASK]",
    ...     num_threads=1, minloglevel=2)
    >>> config = AlbertConfig(vocab_size=40, embedding_size=8, hidden_size=16, num_hidden_layers=1,
    ...                       num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)
    >>> export_dir = export_saved_model(AlbertBackbone(config), tempfile.mkdtemp() + "/sm",
    ...                                 tokenizer=AlbertTokenizer.from_proto(spm_model.getvalue()), max_seq_length=16)
    >>> served = tf.saved_model.load(export_dir)
    >>> sorted(served.signatures)
    ['serving_default', 'serving_text_pair', 'tokenization_info', 'tokens']
    >>> out = served.signatures["serving_default"](text=tf.constant(["the year 1999", ""]))
    >>> out["pooled_output"].shape, out["sequence_output"].shape
    (TensorShape([2, 16]), TensorShape([2, 16, 16]))
    """
    export_dir = os.fspath(export_dir).rstrip("/") or "/"
    remote = "://" in export_dir
    if not remote:
        parent = os.path.dirname(os.path.abspath(export_dir))
        os.makedirs(parent, exist_ok=True)
        if os.path.exists(export_dir) and not overwrite:
            raise FileExistsError(f"{export_dir} exists; pass overwrite=True (or --overwrite) to replace it")
        if os.path.exists(export_dir) and not os.path.isdir(export_dir):
            raise NotADirectoryError(f"--export_dir {export_dir} is a file; expected a directory for the SavedModel")
    if merge_lora and isinstance(model, ServingModel):
        model = lora.merge_lora(model)
    with tempfile.TemporaryDirectory(prefix="albert_export_assets_") as asset_dir:
        module, signatures = build_serving_module(
            model, tokenizer, max_seq_length, label_names, top_k, exact_segmentation, asset_dir
        )
        if remote:  # object stores have no rename; write in place
            tf.saved_model.save(module, export_dir, signatures=signatures)
            return export_dir
        _remove_stale_staging(parent, os.path.basename(export_dir))
        staging = os.path.join(parent, f".{os.path.basename(export_dir)}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            tf.saved_model.save(module, staging, signatures=signatures)
            old = None
            if os.path.exists(export_dir):
                old = staging + ".old"
                os.replace(export_dir, old)
            os.replace(staging, export_dir)
            if old:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return export_dir


def _remove_stale_staging(parent: str, name: str):
    """Removes staging folders of exports to `name` whose process is gone (a SIGKILL mid-export), so a rerun
    leaves no hidden copies; a live process's staging folder is left alone."""
    prefix = f".{name}.tmp-"
    for entry in os.listdir(parent):
        pid = entry[len(prefix):].split("-")[0] if entry.startswith(prefix) else ""
        if pid.isdigit() and not _process_alive(int(pid)):
            shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def export_tflite(
    model,
    tflite_file: str,
    max_seq_length: int = 384,
    quantize: str = "none",
    representative_dataset=None,
) -> int:
    """Writes a TFLite flatbuffer taking int32 token ids `[1, max_seq_length]`; returns its size in bytes.

    As the original `run_squad_v1 --export_dir`: fixed-shape `input_ids`, `input_mask`, `segment_ids`
    inputs, one signature (`serving_default`) with the `tokens` signature's outputs (`start_logits` /
    `end_logits` for SQuAD models, `logits` / `probabilities` for classifiers). Only TFLite built-in ops
    are used, so any LiteRT interpreter runs it. The file is written atomically.
    LoRA adapters, if any, are merged into the kernels (`albert_tf.models.lora.merge_lora`).

    `quantize` is one of `albert_tf.litert.QUANTIZE_MODES` (`none`, `dynamic`, `float16`, `int8`);
    `int8` needs `representative_dataset`: a list of input dicts (`albert_tf.litert.representative_features`
    reads them from the task's records) or a callable returning an iterable of them.
    """
    model = lora.merge_lora(_servable(model))
    heads = _Heads(model, None)
    config = model.config
    if not 3 <= int(max_seq_length) <= config.max_position_embeddings:
        raise ValueError(
            f"max_seq_length={max_seq_length}: expected 3 <= max_seq_length <= max_position_embeddings "
            f"({config.max_position_embeddings})"
        )
    fn = _signature_function(heads.outputs, model.serving_inputs(int(max_seq_length), batch_size=1))
    module = tf.Module()
    module.tokens = fn
    module.captured_variables = list(fn.get_concrete_function().variables)
    examples = representative_dataset
    if examples is not None and not callable(examples):
        examples = lambda data=list(representative_dataset): iter(data)  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="albert_tflite_") as staging:
        # Through a SavedModel, the converter freezes every variable (from_concrete_functions leaves
        # Keras 3 variables as READ_VARIABLE ops that run uninitialised).
        tf.saved_model.save(module, staging, signatures={"serving_default": fn.get_concrete_function()})
        flatbuffer = convert_saved_model(staging, quantize, examples)
    tflite_file = os.fspath(tflite_file)
    os.makedirs(os.path.dirname(os.path.abspath(tflite_file)), exist_ok=True)
    write_bytes_atomic(tflite_file, flatbuffer)
    return len(flatbuffer)


def signature_summary(export_dir: str) -> dict:
    """`{signature: {"inputs": {...}, "outputs": {...}}}` with dtypes and shapes, read from the SavedModel."""
    loaded = tf.saved_model.load(export_dir)
    summary = {}
    for name, fn in loaded.signatures.items():
        inputs = {k: (v.dtype.name, v.shape.as_list()) for k, v in fn.structured_input_signature[1].items()}
        outputs = {k: (v.dtype.name, v.shape.as_list()) for k, v in fn.structured_outputs.items()}
        summary[name] = {"inputs": inputs, "outputs": outputs}
    return summary


def token_function(model, max_seq_length: Optional[int] = None, batch_size: Optional[int] = None):
    """`(model, fn)`: the model with any LoRA adapters merged, and the `tokens` signature as a tf.function.

    `fn` takes the int32 token inputs `[batch_size, max_seq_length]` (None: any size up to the position
    limit) in the order of `model.serving_inputs()` (`input_ids`, `input_mask`, `segment_ids`; the names of
    its input specs) and returns the `tokens` signature's float32 outputs; `albert_tf.export_onnx`
    converts it.

    Example:

    >>> import numpy as np
    >>> from albert_tf import AlbertBackbone, AlbertConfig
    >>> config = AlbertConfig(vocab_size=40, embedding_size=8, hidden_size=16, num_hidden_layers=1,
    ...                       num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)
    >>> model, fn = token_function(AlbertBackbone(config))
    >>> ones = np.ones((2, 5), "int32")
    >>> sorted((k, v.shape.as_list()) for k, v in fn(ones, ones, 0 * ones).items())
    [('pooled_output', [2, 16]), ('sequence_output', [2, 5, 16])]
    """
    model = lora.merge_lora(_servable(model))
    config = model.config
    if max_seq_length is not None and not 3 <= int(max_seq_length) <= config.max_position_embeddings:
        raise ValueError(
            f"max_seq_length={max_seq_length}: expected 3 <= max_seq_length <= max_position_embeddings "
            f"({config.max_position_embeddings})"
        )
    seq_length = None if max_seq_length is None else int(max_seq_length)
    return model, _signature_function(_Heads(model, None).outputs, model.serving_inputs(seq_length, batch_size))


__all__ = [
    "MASK_TEXT", "build_serving_module", "export_saved_model", "export_tflite", "signature_summary", "token_function",
]
