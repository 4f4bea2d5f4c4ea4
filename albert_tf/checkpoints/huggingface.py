"""HuggingFace transformers ALBERT checkpoints (`config.json` + `model.safetensors`) in and out, every head.

`config.json`'s `architectures` chooses the albert_tf model: `AlbertModel` -> `AlbertBackbone`,
`AlbertForPreTraining` / `AlbertForMaskedLM` -> `AlbertPretrainer`, and each task head -> its task model
(see `ARCHITECTURES`). Reading and writing use `safetensors` with NumPy, so torch is needed only for the
legacy `pytorch_model.bin`, which is read with `torch.load(weights_only=True)` and never unpickled freely.
"""

from __future__ import annotations

import json
import os
import warnings

import numpy as np

from albert_tf.checkpoints.block_layout import block_rows
from albert_tf.checkpoints.report import ConversionReport
from albert_tf.config import AlbertConfig
from albert_tf.io import atomic_write, write_text_atomic

# HF's "gelu_new" / "gelu_pytorch_tanh" are the original's tanh GELU; HF's "gelu" is the erf form. v1 hub
# configs say "gelu" although the original trained them with tanh, so by default "gelu" loads as the
# original's tanh (`exact_gelu=True` keeps HF's erf, matching HF's outputs instead).
_HF_TANH_GELU = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")
_HF_PLAIN_ACTS = ("relu", "tanh", "linear")
_CONFIG_KEYS = (
    "vocab_size",
    "embedding_size",
    "hidden_size",
    "num_hidden_layers",
    "num_hidden_groups",
    "num_attention_heads",
    "intermediate_size",
    "inner_group_num",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "max_position_embeddings",
    "type_vocab_size",
    "initializer_range",
)

# HF class -> (albert_tf model kind, whether HF's model has the pooler, whether keys carry "albert.")
ARCHITECTURES = {
    "AlbertModel": ("backbone", True, False),
    "AlbertForPreTraining": ("pretrainer", True, True),
    "AlbertForMaskedLM": ("masked_lm", False, True),
    "AlbertForSequenceClassification": ("classifier", True, True),
    "AlbertForMultipleChoice": ("multiple_choice", True, True),
    "AlbertForTokenClassification": ("token_classifier", False, True),
    "AlbertForQuestionAnswering": ("question_answering", False, True),
}
_HEAD_PREFIXES = ("predictions.", "sop_classifier.", "classifier.", "qa_outputs.")


def _hf_activation(act, where, exact_gelu):
    if act in _HF_TANH_GELU:
        return "gelu"
    if act == "gelu":
        return "gelu_exact" if exact_gelu else "gelu"
    if act in _HF_PLAIN_ACTS:
        return act
    raise ValueError(
        f"{where}: hidden_act {act!r} has no ALBERT equivalent; expected one of "
        f"{sorted(_HF_TANH_GELU + _HF_PLAIN_ACTS + ('gelu',))}."
    )


def config_from_huggingface(hf_config: dict, source: str | None = None, exact_gelu: bool = False) -> AlbertConfig:
    """An `AlbertConfig` from the dict of a HuggingFace ALBERT `config.json`.

    HF's `"gelu"` (erf) becomes the original's tanh `"gelu"` unless `exact_gelu=True` (then `"gelu_exact"`).
    """
    where = source or "HuggingFace config"
    if hf_config.get("model_type", "albert") != "albert":
        raise ValueError(f"{where}: model_type is {hf_config.get('model_type')!r}, expected 'albert'.")
    eps = hf_config.get("layer_norm_eps", 1e-12)
    if eps != 1e-12:
        warnings.warn(f"{where}: layer_norm_eps is {eps}; ALBERT uses 1e-12, which albert_tf always applies.")
    values = {key: hf_config[key] for key in _CONFIG_KEYS if key in hf_config}
    values["hidden_act"] = _hf_activation(hf_config.get("hidden_act", "gelu_new"), where, exact_gelu)
    config = AlbertConfig.from_dict(values, source=source)
    L, G = config.num_hidden_layers, config.num_hidden_groups
    hf_routing = [int(layer / (L / G)) for layer in range(L)]
    if hf_routing != config.layer_to_group():
        warnings.warn(
            f"{where}: HuggingFace routes layers to groups {hf_routing}, the original release (and albert_tf) "
            f"{config.layer_to_group()}; outputs will differ from HuggingFace's for this shape."
        )
    return config


def config_to_huggingface(config: AlbertConfig, architecture: str = "AlbertForPreTraining") -> dict:
    values = {key: getattr(config, key) for key in _CONFIG_KEYS}
    act = config.hidden_act.lower()
    values.update(
        {
            "architectures": [architecture],
            "model_type": "albert",
            "hidden_act": {"gelu": "gelu_new", "gelu_exact": "gelu", "": "linear"}.get(act, act),
            "layer_norm_eps": 1e-12,
            "classifier_dropout_prob": 0.1,
            "position_embedding_type": "absolute",
            "pad_token_id": 0,
            "bos_token_id": 2,
            "eos_token_id": 3,
            "tie_word_embeddings": True,
        }
    )
    return values


# --------------------------------------------------------------------------- the port table
# Each row: (keras variable, HF key, layout). Layouts describe how HF's torch tensor maps to the Keras one:
#   copy      same array
#   linear    torch Linear [out, in] -> Keras kernel [in, out]
#   heads_in  torch [H, H] -> Keras EinsumDense kernel [H, N, D] (head-major)
#   heads_b   torch [H] -> [N, D]
#   heads_out torch [H, H] -> Keras [N, D, H]
def _backbone_of(model):
    return model.backbone if hasattr(model, "backbone") else model


def _backbone_ports(backbone, with_pooler):
    emb = backbone.embeddings
    rows = [
        (emb.word_embeddings.embeddings, "albert.embeddings.word_embeddings.weight", "copy"),
        (emb.position_embeddings, "albert.embeddings.position_embeddings.weight", "copy"),
        (emb.token_type_embeddings.embeddings, "albert.embeddings.token_type_embeddings.weight", "copy"),
        (emb.layer_norm.gamma, "albert.embeddings.LayerNorm.weight", "copy"),
        (emb.layer_norm.beta, "albert.embeddings.LayerNorm.bias", "copy"),
    ]
    if emb.projection is not None:
        rows += [
            (emb.projection.kernel, "albert.encoder.embedding_hidden_mapping_in.weight", "linear"),
            (emb.projection.bias, "albert.encoder.embedding_hidden_mapping_in.bias", "copy"),
        ]
    if backbone.encoder.sharing != "all":
        raise ValueError(f"HuggingFace ALBERT shares whole blocks; sharing={backbone.encoder.sharing!r} cannot be represented.")
    rows += block_rows(backbone, "huggingface")
    if with_pooler:
        rows += [
            (backbone.pooler.kernel, "albert.pooler.weight", "linear"),
            (backbone.pooler.bias, "albert.pooler.bias", "copy"),
        ]
    return rows


def _masked_lm_ports(model):
    mlm = model.masked_lm_head
    return [
        (mlm.transform.kernel, "predictions.dense.weight", "linear"),
        (mlm.transform.bias, "predictions.dense.bias", "copy"),
        (mlm.layer_norm.gamma, "predictions.LayerNorm.weight", "copy"),
        (mlm.layer_norm.beta, "predictions.LayerNorm.bias", "copy"),
        (mlm.output_bias, "predictions.bias", "copy"),
    ]


def _dense_ports(dense, key):
    return [(dense.kernel, f"{key}.weight", "linear"), (dense.bias, f"{key}.bias", "copy")]


def _head_ports(model, kind):
    if kind == "pretrainer":
        return _masked_lm_ports(model) + _dense_ports(model.sentence_order_head.dense, "sop_classifier.classifier")
    if kind == "masked_lm":
        return _masked_lm_ports(model)
    if kind in ("classifier", "multiple_choice", "token_classifier"):
        return _dense_ports(task_output_dense(model), "classifier")
    if kind == "question_answering":
        return _dense_ports(task_output_dense(model), "qa_outputs")
    return []


def task_output_dense(model):
    """The one Dense layer of a task model's head (outside its backbone): what HF's `classifier` /
    `qa_outputs` Linear is."""
    import keras

    # Here, not at the top: `albert_tf._compat` imports TensorFlow, which importing this module does not.
    from albert_tf._compat import direct_sublayers

    backbone = _backbone_of(model)
    found, seen = [], set()

    def visit(layer):
        if id(layer) in seen or layer is backbone:
            return
        seen.add(id(layer))
        if isinstance(layer, keras.layers.Dense):
            found.append(layer)
        for child in direct_sublayers(layer):
            visit(child)

    for layer in direct_sublayers(model):
        visit(layer)
    if len(found) != 1:
        raise ValueError(
            f"{type(model).__name__}'s head has {len(found)} Dense layers ({[d.path for d in found]}); a HuggingFace "
            "head has exactly one Linear, so this model has no HuggingFace counterpart."
        )
    return found[0]


def huggingface_ports(model, architecture):
    """Rows `(keras_variable, HF key, layout)` of `model` as HF class `architecture` stores it."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"Unknown HuggingFace ALBERT architecture {architecture!r}; expected one of {sorted(ARCHITECTURES)}.")
    kind, with_pooler, prefixed = ARCHITECTURES[architecture]
    rows = _backbone_ports(_backbone_of(model), with_pooler) + _head_ports(model, kind)
    if not prefixed:
        rows = [(variable, key[len("albert."):] if key.startswith("albert.") else key, layout) for variable, key, layout in rows]
    return rows


def _to_keras(array, layout, shape):
    if layout in ("linear", "heads_in", "heads_out"):
        array = array.T
    return np.reshape(array, shape)


def _to_hf(array, layout):
    if layout == "linear":
        return array.T
    if layout == "heads_in":
        return array.reshape(array.shape[0], -1).T
    if layout == "heads_out":
        return array.reshape(-1, array.shape[-1]).T
    if layout == "heads_b":
        return array.reshape(-1)
    return array


def architecture_of(model) -> str:
    """The HuggingFace class an albert_tf model saves as."""
    names = {
        "AlbertBackbone": "AlbertModel",
        "AlbertPretrainer": "AlbertForPreTraining",
        "AlbertClassifier": "AlbertForSequenceClassification",
        "AlbertMultipleChoice": "AlbertForMultipleChoice",
        "AlbertTokenClassifier": "AlbertForTokenClassification",
        "AlbertQuestionAnswering": "AlbertForQuestionAnswering",
    }
    for cls in type(model).__mro__:
        if cls.__name__ in names:
            if cls.__name__ == "AlbertQuestionAnswering" and getattr(model, "version", 1) != 1:
                raise ValueError(
                    "AlbertQuestionAnswering(version=2) is the original's beam head, which HuggingFace has no class "
                    "for; only version=1 (the span head, HF's AlbertForQuestionAnswering) can be saved."
                )
            return names[cls.__name__]
    raise ValueError(f"{type(model).__name__} has no HuggingFace ALBERT counterpart.")


# --------------------------------------------------------------------------- files
def read_state_dict(path):
    """`({key: numpy array}, file)` from `model.safetensors`, else `pytorch_model.bin` (needs torch)."""
    safetensors_file = os.path.join(path, "model.safetensors")
    bin_file = os.path.join(path, "pytorch_model.bin")
    if os.path.exists(safetensors_file):
        from safetensors.numpy import load_file

        try:
            return load_file(safetensors_file), safetensors_file
        except Exception as e:  # safetensors raises its own SafetensorError for a corrupt header
            raise ValueError(f"{safetensors_file} is not a readable safetensors file: {e}") from None
    if os.path.exists(bin_file):
        return _read_torch_bin(bin_file), bin_file
    raise FileNotFoundError(f"No model.safetensors or pytorch_model.bin in {path}.")


def _read_torch_bin(bin_file):
    try:
        import torch
    except ImportError:
        raise ImportError(
            f"{bin_file} is a torch pickle; albert_tf reads it only through torch.load(weights_only=True), so it "
            "needs torch installed (`pip install torch`). Without torch, convert it to model.safetensors first."
        ) from None
    try:
        # weights_only=True: tensors and plain containers only, so a crafted file cannot run code.
        state = torch.load(bin_file, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"Refused to load {bin_file}: it is not a plain tensor file ({type(e).__name__}: {e}).") from None
    if not isinstance(state, dict):
        raise ValueError(f"{bin_file} holds a {type(state).__name__}, expected a state dict of tensors.")
    return {k: v.detach().float().numpy() for k, v in state.items()}


def read_huggingface_config(path):
    config_file = os.path.join(path, "config.json")
    if not os.path.exists(config_file):
        raise FileNotFoundError(f"No config.json in {path}.")
    with open(config_file, encoding="utf-8") as f:
        try:
            hf_config = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{config_file} is not valid JSON: {e}") from None
    if not isinstance(hf_config, dict):
        raise ValueError(f"{config_file} must hold a JSON object.")
    return hf_config, config_file


def _architecture_from_config(hf_config, config_file, state):
    names = hf_config.get("architectures") or []
    known = [name for name in names if name in ARCHITECTURES]
    if known:
        return known[0]
    if names:
        raise ValueError(f"{config_file}: architectures {names} name no ALBERT class albert_tf reads; expected one of {sorted(ARCHITECTURES)}.")
    # No `architectures` (older or hand-written configs): guess from the weights.
    if any(k.startswith("sop_classifier.") for k in state):
        return "AlbertForPreTraining"
    if any(k.startswith("predictions.") for k in state):
        return "AlbertForMaskedLM"
    return "AlbertModel" if not any(k.startswith("albert.") for k in state) else "AlbertForPreTraining"


def _num_labels(hf_config):
    if "num_labels" in hf_config:
        return int(hf_config["num_labels"])
    if hf_config.get("id2label"):
        return len(hf_config["id2label"])
    return 2


def _build(architecture, config, hf_config, dtype, num_choices=None):
    from albert_tf import models

    kind = ARCHITECTURES[architecture][0]
    if kind == "backbone":
        return models.AlbertBackbone(config, dtype=dtype)
    if kind in ("pretrainer", "masked_lm"):
        return models.AlbertPretrainer(config, dtype=dtype)
    backbone = models.AlbertBackbone(config, dtype=dtype)
    dropout = hf_config.get("classifier_dropout_prob")
    dropout = {} if dropout is None else {"dropout": float(dropout)}
    if kind == "classifier":
        return models.AlbertClassifier(backbone, num_classes=_num_labels(hf_config), dtype=dtype, **dropout)
    if kind == "token_classifier":
        return models.AlbertTokenClassifier(backbone, num_labels=_num_labels(hf_config), dtype=dtype, **dropout)
    if kind == "multiple_choice":
        # HF's multiple-choice model takes any number of options; albert_tf's needs it (RACE: 4).
        num_choices = num_choices or hf_config.get("num_choices", 4)
        return models.AlbertMultipleChoice(backbone, num_choices=num_choices, dtype=dtype, **dropout)
    return models.AlbertQuestionAnswering(backbone, version=1, dtype=dtype)


def load_huggingface(path, dtype=None, architecture=None, exact_gelu=False, num_choices=None, return_report=False):
    """Loads a HuggingFace ALBERT directory (`config.json` + weights) into the matching albert_tf model.

    `architecture` (default: `config.json`'s `architectures`) picks the model: `AlbertModel` ->
    `AlbertBackbone`; `AlbertForPreTraining` and `AlbertForMaskedLM` -> `AlbertPretrainer` (the latter has
    no pooler or sentence-order weights, which keep their initial values); `AlbertForSequenceClassification`
    -> `AlbertClassifier` (`num_labels` 1 is regression); `AlbertForMultipleChoice` ->
    `AlbertMultipleChoice`; `AlbertForTokenClassification` -> `AlbertTokenClassifier`;
    `AlbertForQuestionAnswering` -> `AlbertQuestionAnswering(version=1)`. Weights HF's class lacks (the
    pooler of the MLM, token and QA models) keep their initial values and are listed in the report.
    `exact_gelu=True` keeps HF's erf `"gelu"` as `"gelu_exact"` instead of the original's tanh GELU.
    `num_choices` sets `AlbertMultipleChoice`'s option count (default: `config.json`'s `num_choices`, else 4).
    A leading `albert.` prefix is optional in the file. With `return_report=True`, returns
    `(model, ConversionReport)`.

    Example (with a directory written by `save_huggingface` or HF's `save_pretrained`):

        model = load_huggingface("albert-base-v2-hf/")
        outputs = model.backbone(batch)
    """
    hf_config, config_file = read_huggingface_config(path)
    config = config_from_huggingface(hf_config, source=config_file, exact_gelu=exact_gelu)
    state, weights_file = read_state_dict(path)
    architecture = architecture or _architecture_from_config(hf_config, config_file, state)
    model = _build(architecture, config, hf_config, dtype, num_choices=num_choices)
    report = assign_from_huggingface(model, architecture, state, weights_file)
    return (model, report) if return_report else model


def assign_from_huggingface(model, architecture, state, source):
    """Assigns `model`'s variables from an HF state dict; returns a `ConversionReport`."""
    report = ConversionReport()
    missing, used = [], set()
    for variable, key, layout in huggingface_ports(model, architecture):
        stored = key
        if stored not in state and stored.startswith("albert.") and stored[len("albert."):] in state:
            stored = stored[len("albert."):]
        elif stored not in state and "albert." + stored in state:
            stored = "albert." + stored
        if stored not in state:
            missing.append(key)
            continue
        array = np.asarray(state[stored], dtype=np.float32)
        expected = tuple(variable.shape)
        if int(np.prod(array.shape)) != int(np.prod(expected)) or (layout in ("copy", "linear") and array.ndim != len(expected)):
            raise ValueError(
                f"{source}: '{stored}' has shape {list(array.shape)}, which does not fit albert_tf variable "
                f"'{variable.path}' of shape {list(expected)}."
            )
        variable.assign(_to_keras(array, layout, expected))
        report.add_mapped(stored, variable.path, array.shape)
        used.add(stored)
    backbone_missing = [k for k in missing if not k.startswith(_HEAD_PREFIXES)]
    if backbone_missing:
        raise ValueError(f"{source} lacks weights albert_tf needs for {architecture}: {backbone_missing}.")
    if missing:
        warnings.warn(f"{source} has no {missing}; those head weights keep their initial values.")
        report.missing_heads.extend(missing)
    kind, with_pooler, _ = ARCHITECTURES[architecture]
    backbone = _backbone_of(model)
    if not with_pooler:
        for variable in (backbone.pooler.kernel, backbone.pooler.bias):
            report.left_at_init[variable.path] = f"HF {architecture} has no pooler"
    if kind == "masked_lm":
        for variable in model.sentence_order_head.weights:
            report.left_at_init[variable.path] = f"HF {architecture} has no sentence-order head"
    _check_identity_projection(backbone, state, source, used)
    for key in sorted(set(state) - used):
        if key.startswith("predictions.decoder."):
            report.ignore(key, "tied to the word embeddings / predictions.bias")
        elif key.endswith("position_ids"):
            report.ignore(key, "buffer (positions 0..P-1), not a weight")
        else:
            report.ignore(key, "no albert_tf counterpart", unknown=True)
    if report.ignored_unknown:
        warnings.warn(f"{source}: ignored weights with no albert_tf counterpart: {report.ignored_unknown}")
    return report


def _check_identity_projection(backbone, state, source, used):
    # With E == H the original (and albert_tf) has no projection; HF always has one, so it must be identity.
    if backbone.embeddings.projection is not None:
        return
    for prefix in ("albert.", ""):
        kernel_key = prefix + "encoder.embedding_hidden_mapping_in.weight"
        bias_key = prefix + "encoder.embedding_hidden_mapping_in.bias"
        if kernel_key in state:
            kernel, bias = np.asarray(state[kernel_key]), np.asarray(state.get(bias_key, 0.0))
            if not (np.array_equal(kernel, np.eye(kernel.shape[0], dtype=kernel.dtype)) and not np.any(bias)):
                raise ValueError(
                    f"{source}: embedding_size == hidden_size, so albert_tf (as the original) has no embedding "
                    f"projection, but '{kernel_key}' is not the identity with a zero bias."
                )
            used.update({kernel_key, bias_key})


def save_huggingface(model, path, architecture=None, id2label=None):
    """Writes `config.json` and `model.safetensors` that HF's `AlbertFor*.from_pretrained` reads.

    `architecture` defaults to the model's counterpart (`AlbertBackbone` -> `AlbertModel`,
    `AlbertPretrainer` -> `AlbertForPreTraining`, `AlbertClassifier` -> `AlbertForSequenceClassification`,
    ...); an `AlbertPretrainer` may also be saved as `"AlbertForMaskedLM"` (no pooler, no sentence-order
    head). `id2label` names classification labels in `config.json`. Files are written atomically.
    """
    from safetensors.numpy import save_file

    architecture = architecture or architecture_of(model)
    backbone = _backbone_of(model)
    state = {}
    for variable, key, layout in huggingface_ports(model, architecture):
        state[key] = np.ascontiguousarray(_to_hf(np.asarray(variable.numpy(), dtype=np.float32), layout))
    if backbone.embeddings.projection is None:
        prefix = "albert." if ARCHITECTURES[architecture][2] else ""
        hidden = backbone.config.hidden_size
        state[prefix + "encoder.embedding_hidden_mapping_in.weight"] = np.eye(hidden, dtype=np.float32)
        state[prefix + "encoder.embedding_hidden_mapping_in.bias"] = np.zeros(hidden, np.float32)
    hf_config = config_to_huggingface(backbone.config, architecture)
    kind = ARCHITECTURES[architecture][0]
    if isinstance(getattr(model, "dropout", None), float):
        hf_config["classifier_dropout_prob"] = model.dropout
    if kind in ("classifier", "token_classifier"):
        num_labels = int(task_output_dense(model).kernel.shape[-1])
        labels = id2label or {i: f"LABEL_{i}" for i in range(num_labels)}
        hf_config["id2label"] = {str(i): str(name) for i, name in dict(labels).items()}
        hf_config["label2id"] = {str(name): int(i) for i, name in dict(labels).items()}
        if kind == "classifier" and num_labels == 1:
            hf_config["problem_type"] = "regression"
    if kind == "multiple_choice":
        hf_config["num_choices"] = int(getattr(model, "num_choices", 4))
    os.makedirs(path, exist_ok=True)
    atomic_write(os.path.join(path, "model.safetensors"), lambda tmp: save_file(state, tmp, metadata={"format": "pt"}))
    text = json.dumps(hf_config, indent=2, sort_keys=True) + "\n"
    write_text_atomic(os.path.join(path, "config.json"), text)
    return path


def huggingface_tokenizer(path, do_lower_case=None):
    """An `AlbertTokenizer` for a HuggingFace folder: its `spiece.model`, else one rebuilt from `tokenizer.json`.

    `do_lower_case` defaults to `tokenizer_config.json`'s value (True when absent, as every ALBERT release).
    """
    from albert_tf.checkpoints.hf_tokenizer import sentencepiece_proto_from_tokenizer_json
    from albert_tf.text.tokenizer import AlbertTokenizer

    if do_lower_case is None:
        do_lower_case = True
        settings = os.path.join(path, "tokenizer_config.json")
        if os.path.exists(settings):
            with open(settings, encoding="utf-8") as f:
                try:
                    do_lower_case = bool(json.load(f).get("do_lower_case", True))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{settings} is not valid JSON: {e}") from None
    spiece = os.path.join(path, "spiece.model")
    if os.path.exists(spiece):
        return AlbertTokenizer(spiece, do_lower_case=do_lower_case)
    tokenizer_json = os.path.join(path, "tokenizer.json")
    if os.path.exists(tokenizer_json):
        return AlbertTokenizer.from_proto(sentencepiece_proto_from_tokenizer_json(tokenizer_json), do_lower_case=do_lower_case)
    raise FileNotFoundError(f"No spiece.model or tokenizer.json in {path}.")
