"""keras-hub ALBERT models and preset directories, in and out.

`to_keras_hub(model)` builds the keras-hub counterpart (`AlbertBackbone`, `AlbertTextClassifier`,
`AlbertMaskedLM`) holding the same weights; `from_keras_hub(kh_model)` goes the other way;
`save_keras_hub_preset` / `load_keras_hub_preset` write and read the preset directories keras-hub's own
`save_to_preset` / `from_preset` use (`config.json`, `model.weights.h5`, `tokenizer.json`,
`assets/tokenizer/vocabulary.spm`, and for tasks `task.json`), on local paths only.

keras-hub cannot represent everything albert_tf can; each case is an error that names both values:
`num_hidden_layers % num_hidden_groups != 0` (keras-hub raises, the original floors), an activation other
than the tanh GELU (keras-hub hard-codes it), `sharing != "all"`, and the masked-LM head, whose keras-hub
LayerNorm epsilon is 1e-5 where the original's is 1e-12 (pass `accept_mlm_epsilon=True` to convert anyway).
keras-hub has one dropout rate, and no sentence-order head (dropped, and reported).
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from albert_tf.checkpoints.block_layout import block_rows
from albert_tf.checkpoints.report import ConversionReport

KERAS_HUB_MLM_EPSILON = 1e-5
ALBERT_EPSILON = 1e-12


def config_to_keras_hub(config) -> dict:
    """`keras_hub.models.AlbertBackbone` constructor arguments for an `AlbertConfig`, or a ValueError."""
    L, G = config.num_hidden_layers, config.num_hidden_groups
    if L % G:
        raise ValueError(
            f"keras-hub's AlbertBackbone needs num_layers % num_groups == 0, but this model has "
            f"num_hidden_layers={L} and num_hidden_groups={G} (the original routes layers {config.layer_to_group()})."
        )
    if config.hidden_act.lower() != "gelu":
        raise ValueError(
            f"keras-hub's AlbertBackbone always uses the tanh GELU (the original's 'gelu'); this model has "
            f"hidden_act={config.hidden_act!r}."
        )
    if config.sharing != "all":
        raise ValueError(f"keras-hub's AlbertBackbone shares whole blocks (sharing='all'); this model has sharing={config.sharing!r}.")
    if config.hidden_dropout_prob != config.attention_probs_dropout_prob:
        warnings.warn(
            f"keras-hub has one dropout rate; using attention_probs_dropout_prob={config.attention_probs_dropout_prob} "
            f"for hidden_dropout_prob={config.hidden_dropout_prob} too (training only; inference is unaffected)."
        )
    return dict(
        vocabulary_size=config.vocab_size,
        num_layers=L,
        num_heads=config.num_attention_heads,
        embedding_dim=config.embedding_size,
        hidden_dim=config.hidden_size,
        intermediate_dim=config.intermediate_size,
        num_groups=G,
        num_inner_repetitions=config.inner_group_num,
        dropout=config.attention_probs_dropout_prob,
        max_sequence_length=config.max_position_embeddings,
        num_segments=config.type_vocab_size,
    )


def config_from_keras_hub(kh_backbone):
    from albert_tf.config import AlbertConfig

    if getattr(kh_backbone, "cls_token_index", 0) != 0:
        raise ValueError(f"keras-hub backbone pools token {kh_backbone.cls_token_index}; ALBERT pools token 0.")
    return AlbertConfig(
        vocab_size=kh_backbone.vocabulary_size,
        embedding_size=kh_backbone.embedding_dim,
        hidden_size=kh_backbone.hidden_dim,
        num_hidden_layers=kh_backbone.num_layers,
        num_hidden_groups=kh_backbone.num_groups,
        num_attention_heads=kh_backbone.num_heads,
        intermediate_size=kh_backbone.intermediate_dim,
        inner_group_num=kh_backbone.num_inner_repetitions,
        hidden_act="gelu",
        hidden_dropout_prob=kh_backbone.dropout,
        attention_probs_dropout_prob=kh_backbone.dropout,
        max_position_embeddings=kh_backbone.max_sequence_length,
        type_vocab_size=kh_backbone.num_segments,
    )


# --------------------------------------------------------------------------- the port table
def keras_hub_ports(backbone):
    """Rows `(albert_tf variable, keras-hub backbone variable path)`; shapes are equal on both sides.

    Without an albert_tf projection (E == H, as the original) the row is absent; keras-hub always has one.
    """
    emb = backbone.embeddings
    rows = [
        (emb.word_embeddings.embeddings, "token_embedding/embeddings"),
        (emb.position_embeddings, "position_embedding/embeddings"),
        (emb.token_type_embeddings.embeddings, "segment_embedding/embeddings"),
        (emb.layer_norm.gamma, "embeddings_layer_norm/gamma"),
        (emb.layer_norm.beta, "embeddings_layer_norm/beta"),
    ]
    if emb.projection is not None:
        rows += [(emb.projection.kernel, "embedding_projection/kernel"), (emb.projection.bias, "embedding_projection/bias")]
    rows += [(variable, name) for variable, name, _ in block_rows(backbone, "keras_hub")]
    rows += [(backbone.pooler.kernel, "pooled_dense/kernel"), (backbone.pooler.bias, "pooled_dense/bias")]
    return rows


def _masked_lm_rows(pretrainer):
    mlm = pretrainer.masked_lm_head
    return [
        (mlm.transform.kernel, "intermediate_dense/kernel"),
        (mlm.transform.bias, "intermediate_dense/bias"),
        (mlm.layer_norm.gamma, "intermediate_layer_norm/gamma"),
        (mlm.layer_norm.beta, "intermediate_layer_norm/beta"),
        (mlm.output_bias, "output_bias"),
    ]


def _by_path(layer, prefix=""):
    """keras-hub variables by path, relative to `layer` (and without `prefix`)."""
    out = {}
    for variable in layer.weights:
        path = variable.path
        if prefix and path.startswith(prefix):
            path = path[len(prefix):]
        out[path] = variable
    return out


def _identity_projection(kh_backbone):
    dense = kh_backbone.get_layer("embedding_projection")
    return dense.kernel, dense.bias


def _copy(source, target, report, name, reverse=False):
    value = np.asarray(source.numpy())
    if tuple(source.shape) != tuple(target.shape):
        a, b = (name, source.path) if reverse else (source.path, name)
        raise ValueError(f"'{a}' has shape {list(source.shape)} but '{b}' has shape {list(target.shape)}.")
    target.assign(value)
    if report is not None:
        report.add_mapped(*((name, target.path) if reverse else (source.path, name)), source.shape)


def _backbone_of(model):
    return model.backbone if hasattr(model, "backbone") else model


def _task_dense(model):
    from albert_tf.checkpoints.huggingface import task_output_dense

    return task_output_dense(model)


# --------------------------------------------------------------------------- albert_tf -> keras-hub
def to_keras_hub(model, task=None, accept_mlm_epsilon=False, return_report=False):
    """The keras-hub model holding `model`'s weights.

    `AlbertBackbone` -> `keras_hub.models.AlbertBackbone`; `AlbertClassifier` ->
    `keras_hub.models.AlbertTextClassifier`; `AlbertPretrainer` -> its backbone, or with
    `task="masked_lm"` a `keras_hub.models.AlbertMaskedLM` (refused unless `accept_mlm_epsilon=True`,
    because keras-hub's head normalises with epsilon 1e-5, not 1e-12; the sentence-order head is dropped).
    """
    import keras_hub

    report = ConversionReport()
    backbone = _backbone_of(model)
    config = backbone.config
    kh_backbone = keras_hub.models.AlbertBackbone(**config_to_keras_hub(config), dtype=backbone.dtype_policy.name)
    target = _by_path(kh_backbone)
    for variable, name in keras_hub_ports(backbone):
        _copy(variable, target[name], report, name)
    if backbone.embeddings.projection is None:
        kernel, bias = _identity_projection(kh_backbone)
        kernel.assign(np.eye(config.hidden_size, dtype="float32"))
        bias.assign(np.zeros(config.hidden_size, "float32"))
        report.left_at_init["embedding_projection"] = "identity: albert_tf (as the original) has no projection when E == H"
    kind = type(model).__name__
    if kind == "AlbertClassifier":
        dense = _task_dense(model)
        kh_model = keras_hub.models.AlbertTextClassifier(
            kh_backbone, num_classes=int(dense.kernel.shape[-1]), dropout=getattr(model, "dropout", 0.1)
        )
        logits = kh_model.get_layer("logits")
        _copy(dense.kernel, logits.kernel, report, "logits/kernel")
        _copy(dense.bias, logits.bias, report, "logits/bias")
    elif task == "masked_lm":
        if not hasattr(model, "masked_lm_head"):
            raise ValueError(f"task='masked_lm' needs an AlbertPretrainer, got {kind}.")
        if not accept_mlm_epsilon:
            raise ValueError(
                f"keras-hub's AlbertMaskedLM normalises its MLM head with LayerNorm epsilon {KERAS_HUB_MLM_EPSILON}, the "
                f"original (and albert_tf) with {ALBERT_EPSILON}: the logits would move (about 3-6e-4 on a tiny model). "
                "Pass accept_mlm_epsilon=True to convert anyway, or export the backbone only."
            )
        warnings.warn(
            f"keras-hub MLM head: LayerNorm epsilon {KERAS_HUB_MLM_EPSILON} instead of {ALBERT_EPSILON}; "
            "its logits differ slightly from albert_tf's."
        )
        kh_model = keras_hub.models.AlbertMaskedLM(kh_backbone)
        head = kh_model.get_layer("mlm_head")
        head_vars = _by_path(head, prefix="mlm_head/")
        for variable, name in _masked_lm_rows(model):
            _copy(variable, head_vars[name], report, "mlm_head/" + name)
        for variable in model.sentence_order_head.weights:
            report.ignore(variable.path, "keras-hub has no sentence-order head")
    else:
        if task not in (None, "backbone"):
            raise ValueError(f"task must be None, 'backbone' or 'masked_lm', got {task!r}.")
        kh_model = kh_backbone
        if hasattr(model, "masked_lm_head"):
            for variable in model.masked_lm_head.weights + model.sentence_order_head.weights:
                report.ignore(variable.path, "pretraining head; keras-hub's backbone has none (task='masked_lm' ports the MLM head)")
        elif model is not backbone:
            raise ValueError(f"keras-hub has no counterpart of {kind}; convert its backbone (model.backbone) instead.")
    return (kh_model, report) if return_report else kh_model


# --------------------------------------------------------------------------- keras-hub -> albert_tf
def from_keras_hub(kh_model, return_report=False):
    """The albert_tf model holding a keras-hub ALBERT model's weights.

    `AlbertBackbone` -> `AlbertBackbone`; `AlbertTextClassifier` -> `AlbertClassifier` (its `activation`
    must be None: logits); `AlbertMaskedLM` -> `AlbertPretrainer` (the MLM head's LayerNorm epsilon becomes
    the original's 1e-12, a warning says so; the sentence-order head keeps its initial values).
    """
    import keras_hub

    from albert_tf import models

    report = ConversionReport()
    kh_backbone = kh_model.backbone if hasattr(kh_model, "backbone") else kh_model
    if not isinstance(kh_backbone, keras_hub.models.AlbertBackbone):
        raise ValueError(f"Expected a keras-hub ALBERT model, got {type(kh_model).__name__}.")
    config = config_from_keras_hub(kh_backbone)
    if isinstance(kh_model, keras_hub.models.AlbertMaskedLM):
        model = models.AlbertPretrainer(config)
    elif isinstance(kh_model, keras_hub.models.AlbertTextClassifier):
        if getattr(kh_model.activation, "__name__", "linear") != "linear":
            raise ValueError(f"AlbertTextClassifier has activation {kh_model.activation}; albert_tf's classifier outputs logits.")
        model = models.AlbertClassifier(models.AlbertBackbone(config), num_classes=kh_model.num_classes, dropout=kh_model.dropout)
    elif kh_model is kh_backbone:
        model = models.AlbertBackbone(config)
    else:
        raise ValueError(f"albert_tf has no counterpart of keras-hub's {type(kh_model).__name__}.")
    backbone = _backbone_of(model)
    source = _by_path(kh_backbone)
    for variable, name in keras_hub_ports(backbone):
        _copy(source[name], variable, report, name, reverse=True)
    if backbone.embeddings.projection is None:
        kernel, bias = _identity_projection(kh_backbone)
        if not (np.array_equal(kernel.numpy(), np.eye(config.hidden_size)) and not np.any(bias.numpy())):
            raise ValueError(
                "embedding_dim == hidden_dim: albert_tf (as the original) has no embedding projection, but keras-hub's "
                "embedding_projection is not the identity with a zero bias."
            )
        report.ignore("embedding_projection", "identity (E == H)")
    if isinstance(kh_model, keras_hub.models.AlbertMaskedLM):
        warnings.warn(
            f"keras-hub MLM head used LayerNorm epsilon {KERAS_HUB_MLM_EPSILON}; albert_tf applies the original's "
            f"{ALBERT_EPSILON}, so MLM logits differ slightly from keras-hub's."
        )
        head_vars = _by_path(kh_model.get_layer("mlm_head"), prefix="mlm_head/")
        for variable, name in _masked_lm_rows(model):
            _copy(head_vars[name], variable, report, "mlm_head/" + name, reverse=True)
        for variable in model.sentence_order_head.weights:
            report.left_at_init[variable.path] = "keras-hub has no sentence-order head"
    elif isinstance(kh_model, keras_hub.models.AlbertTextClassifier):
        dense = _task_dense(model)
        logits = kh_model.get_layer("logits")
        _copy(logits.kernel, dense.kernel, report, "logits/kernel", reverse=True)
        _copy(logits.bias, dense.bias, report, "logits/bias", reverse=True)
    return (model, report) if return_report else model


# --------------------------------------------------------------------------- tokenizer and presets
def to_keras_hub_tokenizer(tokenizer):
    """keras-hub's `AlbertTokenizer` on the same SentencePiece proto as an albert_tf `AlbertTokenizer`.

    keras-hub does no lowercasing or accent stripping (the original's preprocessing), so ids differ from
    albert_tf's on cased or accented text; feed it text already preprocessed with `tokenizer.preprocess`.
    """
    import keras_hub

    return keras_hub.tokenizers.AlbertTokenizer(proto=tokenizer.proto)


def from_keras_hub_tokenizer(kh_tokenizer, do_lower_case=True):
    """An albert_tf `AlbertTokenizer` on a keras-hub `AlbertTokenizer`'s SentencePiece proto."""
    from albert_tf.text.tokenizer import AlbertTokenizer

    proto = kh_tokenizer.proto
    if isinstance(proto, str):
        with open(proto, "rb") as f:
            proto = f.read()
    if proto is None:
        raise ValueError("The keras-hub tokenizer has no SentencePiece proto loaded.")
    return AlbertTokenizer.from_proto(bytes(proto), do_lower_case=do_lower_case)


def save_keras_hub_preset(model, preset_dir, tokenizer=None, task=None, accept_mlm_epsilon=False):
    """Writes a keras-hub preset directory that `keras_hub.models.*.from_preset(preset_dir)` loads.

    A classifier is saved as a task (`AlbertTextClassifier`, with its preprocessor when `tokenizer` is
    given), anything else as its backbone (or `task="masked_lm"`, see `to_keras_hub`). Returns the report.
    """
    import keras_hub

    kh_model, report = to_keras_hub(model, task=task, accept_mlm_epsilon=accept_mlm_epsilon, return_report=True)
    os.makedirs(preset_dir, exist_ok=True)
    kh_tokenizer = to_keras_hub_tokenizer(tokenizer) if tokenizer is not None else None
    if kh_model is not getattr(kh_model, "backbone", kh_model) and kh_tokenizer is not None:
        # A task saves its preprocessor (and with it the tokenizer) next to task.json.
        preprocessor_cls = (
            keras_hub.models.AlbertTextClassifierPreprocessor
            if isinstance(kh_model, keras_hub.models.AlbertTextClassifier)
            else keras_hub.models.AlbertMaskedLMPreprocessor
        )
        kh_model.preprocessor = preprocessor_cls(kh_tokenizer, sequence_length=model_max_length(model))
        kh_model.save_to_preset(preset_dir)
    else:
        kh_model.save_to_preset(preset_dir)
        if kh_tokenizer is not None:
            kh_tokenizer.save_to_preset(preset_dir)
    return report


def model_max_length(model):
    return _backbone_of(model).config.max_position_embeddings


def load_keras_hub_preset(preset_dir, return_report=False):
    """`(model, tokenizer)` from a local keras-hub preset directory (tokenizer None when it has none).

    The model is a classifier when the preset holds an `AlbertTextClassifier` task, a pretrainer for an
    `AlbertMaskedLM` task, else a backbone.
    """
    import json

    import keras_hub

    if not os.path.isdir(preset_dir):
        raise FileNotFoundError(f"No keras-hub preset directory at {preset_dir}.")
    for required in ("config.json",):
        if not os.path.exists(os.path.join(preset_dir, required)):
            raise FileNotFoundError(f"{preset_dir} is not a keras-hub preset: no {required}.")
    task_file = os.path.join(preset_dir, "task.json")
    kh_model = None
    if os.path.exists(task_file):
        with open(task_file, encoding="utf-8") as f:
            class_name = json.load(f).get("class_name", "")
        if class_name.endswith("AlbertTextClassifier"):
            kh_model = keras_hub.models.AlbertTextClassifier.from_preset(preset_dir)
        elif class_name.endswith("AlbertMaskedLM"):
            kh_model = keras_hub.models.AlbertMaskedLM.from_preset(preset_dir)
    if kh_model is None:
        kh_model = keras_hub.models.AlbertBackbone.from_preset(preset_dir)
    if hasattr(kh_model, "preprocessor") and kh_model.preprocessor is not None:
        kh_model.preprocessor = None  # ours is AlbertTokenizer, returned separately
    model, report = from_keras_hub(kh_model, return_report=True)
    tokenizer = None
    if os.path.exists(os.path.join(preset_dir, "tokenizer.json")):
        tokenizer = from_keras_hub_tokenizer(keras_hub.tokenizers.AlbertTokenizer.from_preset(preset_dir))
    return (model, tokenizer, report) if return_report else (model, tokenizer)
