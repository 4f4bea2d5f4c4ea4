"""HuggingFace transformers ALBERT checkpoints (`config.json` + `model.safetensors`) in and out.

Reading and writing use `safetensors` with NumPy, so torch is needed only for the legacy
`pytorch_model.bin` format.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings

import numpy as np

from albert_tf.checkpoints.block_layout import block_rows
from albert_tf.config import AlbertConfig

# HF spells the original's tanh GELU "gelu_new" (v2 configs) but also writes "gelu" (v1 configs), which HF
# evaluates as the erf form although the published weights were trained with tanh. Both load as the original.
_HF_TO_ORIGINAL_ACT = {"gelu_new": "gelu", "gelu_pytorch_tanh": "gelu", "gelu": "gelu", "relu": "relu", "tanh": "tanh", "linear": "linear"}
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


def config_from_huggingface(hf_config: dict, source: str | None = None) -> AlbertConfig:
    """An `AlbertConfig` from the dict of a HuggingFace ALBERT `config.json`."""
    where = source or "HuggingFace config"
    if hf_config.get("model_type", "albert") != "albert":
        raise ValueError(f"{where}: model_type is {hf_config.get('model_type')!r}, expected 'albert'.")
    act = hf_config.get("hidden_act", "gelu_new")
    if act not in _HF_TO_ORIGINAL_ACT:
        raise ValueError(f"{where}: hidden_act {act!r} has no original-ALBERT equivalent; expected one of {sorted(_HF_TO_ORIGINAL_ACT)}.")
    eps = hf_config.get("layer_norm_eps", 1e-12)
    if eps != 1e-12:
        warnings.warn(f"{where}: layer_norm_eps is {eps}; ALBERT uses 1e-12, which albert_tf always applies.")
    values = {key: hf_config[key] for key in _CONFIG_KEYS if key in hf_config}
    values["hidden_act"] = _HF_TO_ORIGINAL_ACT[act]
    config = AlbertConfig.from_dict(values, source=source)
    L, G = config.num_hidden_layers, config.num_hidden_groups
    hf_routing = [int(layer / (L / G)) for layer in range(L)]
    if hf_routing != config.layer_to_group():
        warnings.warn(
            f"{where}: HuggingFace routes layers to groups {hf_routing}, the original release (and albert_tf) "
            f"{config.layer_to_group()}; outputs will differ from HuggingFace's for this shape."
        )
    return config


def config_to_huggingface(config: AlbertConfig) -> dict:
    values = {key: getattr(config, key) for key in _CONFIG_KEYS}
    values.update(
        {
            "architectures": ["AlbertForPreTraining"],
            "model_type": "albert",
            "hidden_act": "gelu_new" if config.hidden_act.lower() == "gelu" else config.hidden_act.lower(),
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
def _ports(model):
    backbone = model.backbone if hasattr(model, "backbone") else model
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
    rows += [
        (backbone.pooler.kernel, "albert.pooler.weight", "linear"),
        (backbone.pooler.bias, "albert.pooler.bias", "copy"),
    ]
    if backbone is not model:
        mlm, sop = model.masked_lm_head, model.sentence_order_head
        rows += [
            (mlm.transform.kernel, "predictions.dense.weight", "linear"),
            (mlm.transform.bias, "predictions.dense.bias", "copy"),
            (mlm.layer_norm.gamma, "predictions.LayerNorm.weight", "copy"),
            (mlm.layer_norm.beta, "predictions.LayerNorm.bias", "copy"),
            (mlm.output_bias, "predictions.bias", "copy"),
            (sop.dense.kernel, "sop_classifier.classifier.weight", "linear"),
            (sop.dense.bias, "sop_classifier.classifier.bias", "copy"),
        ]
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


# --------------------------------------------------------------------------- files
def _read_state_dict(path):
    safetensors_file = os.path.join(path, "model.safetensors")
    bin_file = os.path.join(path, "pytorch_model.bin")
    if os.path.exists(safetensors_file):
        from safetensors.numpy import load_file

        return load_file(safetensors_file), safetensors_file
    if os.path.exists(bin_file):
        try:
            import torch
        except ImportError:
            raise ImportError(
                f"{bin_file} is a torch pickle and reading it needs torch; convert it to model.safetensors "
                "or install torch."
            ) from None
        state = torch.load(bin_file, map_location="cpu", weights_only=True)
        return {k: v.numpy() for k, v in state.items()}, bin_file
    raise FileNotFoundError(f"No model.safetensors or pytorch_model.bin in {path}.")


def load_huggingface(path, dtype=None):
    """Loads a HuggingFace ALBERT directory (`config.json` + weights) into an `AlbertPretrainer`.

    Works for `AlbertForPreTraining` checkpoints (every weight) and for `AlbertModel` /
    `AlbertForMaskedLM` ones (missing heads keep their initial values, and a warning lists them).
    A leading `albert.` prefix is optional in the file, as HF's base-model files omit it.

    Example (with a directory written by `save_huggingface` or HF's `save_pretrained`):

        model = load_huggingface("albert-base-v2-hf/")
        outputs = model.backbone(batch)
    """
    from albert_tf.models.pretrainer import AlbertPretrainer

    config_file = os.path.join(path, "config.json")
    if not os.path.exists(config_file):
        raise FileNotFoundError(f"No config.json in {path}.")
    with open(config_file, encoding="utf-8") as f:
        try:
            hf_config = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{config_file} is not valid JSON: {e}") from None
    config = config_from_huggingface(hf_config, source=config_file)
    state, weights_file = _read_state_dict(path)
    model = AlbertPretrainer(config, dtype=dtype)
    missing, used = [], set()
    for variable, key, layout in _ports(model):
        if key not in state and key.startswith("albert."):
            key = key[len("albert."):]
        if key not in state:
            missing.append(key)
            continue
        array = np.asarray(state[key], dtype=np.float32)
        expected = tuple(variable.shape)
        if int(np.prod(array.shape)) != int(np.prod(expected)):
            raise ValueError(
                f"{weights_file}: '{key}' has shape {list(array.shape)}, which does not fit albert_tf variable "
                f"'{variable.path}' of shape {list(expected)}."
            )
        variable.assign(_to_keras(array, layout, expected))
        used.add(key)
    backbone_missing = [k for k in missing if not k.startswith(("predictions.", "sop_classifier."))]
    if backbone_missing:
        raise ValueError(f"{weights_file} lacks backbone weights {backbone_missing}.")
    if missing:
        warnings.warn(f"{weights_file} has no {missing}; those head weights keep their initial values.")
    ignored = sorted(k for k in state if k not in used and not k.startswith("predictions.decoder."))
    if ignored:
        warnings.warn(f"{weights_file}: ignored weights with no albert_tf counterpart: {ignored}")
    return model


def save_huggingface(model, path):
    """Writes `config.json` and `model.safetensors` that HF's `AlbertForPreTraining.from_pretrained` reads.

    Accepts an `AlbertPretrainer` (every weight) or an `AlbertBackbone` (an `AlbertModel` checkpoint).
    Files are written atomically.
    """
    from safetensors.numpy import save_file

    backbone = model.backbone if hasattr(model, "backbone") else model
    os.makedirs(path, exist_ok=True)
    state = {}
    for variable, key, layout in _ports(model):
        if backbone is model:
            key = key[len("albert."):] if key.startswith("albert.") else key
        state[key] = np.ascontiguousarray(_to_hf(np.asarray(variable.numpy(), dtype=np.float32), layout))
    hf_config = config_to_huggingface(backbone.config)
    if backbone is model:
        hf_config["architectures"] = ["AlbertModel"]
    _atomic_write(os.path.join(path, "model.safetensors"), lambda tmp: save_file(state, tmp, metadata={"format": "pt"}))
    text = json.dumps(hf_config, indent=2, sort_keys=True) + "\n"

    def write_config(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    _atomic_write(os.path.join(path, "config.json"), write_config)


def _atomic_write(target, write):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(target)), prefix=".tmp-", suffix=os.path.basename(target))
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
