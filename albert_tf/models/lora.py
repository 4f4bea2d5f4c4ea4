"""LoRA on an ALBERT model: low-rank adapters on the shared encoder's projections, everything else frozen.

Built on Keras' own `Dense.enable_lora` / `EinsumDense.enable_lora` (adapters `lora_kernel_a` [.., r] and
`lora_kernel_b` [r, out], B initialised to zero, output `x·W + (alpha/r)·x·A·B`). ALBERT applies one
group's block at every layer of the group, so an adapter on that block's sublayer is shared exactly as its
kernel is: a model gets `groups x inner blocks x targets` adapter pairs, never `layers x ...`. The
attention projections are `EinsumDense` kernels `[H, heads, head_size]`: Keras' adapter there is
`A [H, heads, r]`, `B [r, head_size]` (B shared by the heads), so a useful rank is at most `head_size`.

What trains after `enable_lora`: the adapters, the task head (every weight outside the backbone) and,
with `train_layernorm`, the encoder's LayerNorms; every other backbone weight is frozen
(`variable.trainable = False`), so the optimizer holds slots for the trained weights only.

Saving: tf.train checkpoints (the training engine's resume) hold the raw variables, adapters included,
so a resume is exact. Keras' `.keras` format writes each adapted layer's kernel as
`kernel + (alpha/r)·A·B` and no adapters (Keras' public behaviour), so `model.keras` of a LoRA run
loads and serves as a plain model; `save_lora_weights` writes the adapters and the settings beside it
(`model.lora.npz`), and `load_lora_weights` puts them back on the loaded model (the kernel goes back to
the base kernel, up to float rounding), which `albert-export --merge_lora false` uses.

Example:

>>> from albert_tf import AlbertClassifier, AlbertConfig
>>> config = AlbertConfig(vocab_size=100, embedding_size=8, hidden_size=16, num_hidden_layers=4,
...                       num_attention_heads=2, intermediate_size=32, max_position_embeddings=16)
>>> model = AlbertClassifier(config=config, num_classes=2)
>>> enable_lora(model, rank=2)  # query and value of the one shared block, and the head
194
>>> sorted(lora_state(model))
['group_0_inner_0_attention/query', 'group_0_inner_0_attention/value']
>>> len(merge_lora(model).weights) == len(model.weights) - 4
True
"""

from __future__ import annotations

import json
import os
from typing import Dict, Sequence

import numpy as np

from albert_tf.errors import UserInputError
from albert_tf.io import atomic_write
from albert_tf.models.backbone import AlbertBackbone

#: `--lora_targets` names -> (which sublayer list of the encoder, the projection in it).
TARGETS = {
    "query": ("attention", "query"),
    "key": ("attention", "key"),
    "value": ("attention", "value"),
    "attention_output": ("attention", "output_dense"),
    "ffn_intermediate": ("ffn", "intermediate_dense"),
    "ffn_output": ("ffn", "output_dense"),
}
DEFAULT_TARGETS = ("query", "value")
#: The adapters file written beside `model.keras` (`adapters_path`).
ADAPTERS_SUFFIX = ".lora.npz"
_SETTINGS_KEY = "__lora_settings__"


def check_lora_settings(rank, alpha=None, targets=DEFAULT_TARGETS):
    """The targets as a tuple, once `rank`, `alpha` and `targets` make sense; else a one-line error."""
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or rank <= 0:
        raise UserInputError(f"--lora_rank must be a positive integer, got {rank!r}.")
    if alpha is not None and not alpha > 0:
        raise UserInputError(f"--lora_alpha must be positive, got {alpha!r}.")
    targets = tuple(targets)
    unknown = [t for t in targets if t not in TARGETS]
    if unknown or not targets or len(set(targets)) != len(targets):
        raise UserInputError(f"--lora_targets {','.join(targets)!r}: expected distinct names among "
                             f"{','.join(TARGETS)}.")
    return targets


def backbone_of(model) -> AlbertBackbone:
    """The `AlbertBackbone` of `model` (itself, or its `backbone`); a one-line error for any other model."""
    backbone = model if isinstance(model, AlbertBackbone) else getattr(model, "backbone", None)
    if not isinstance(backbone, AlbertBackbone):
        raise UserInputError(f"LoRA applies to albert_tf models with an ALBERT backbone, not to {type(model).__name__}.")
    return backbone


def _projections(backbone, targets):
    """`(target, key, layer)` of each distinct projection named by `targets` (one per shared sublayer)."""
    encoder = backbone.encoder
    lists = {"attention": encoder.attention_sublayers, "ffn": encoder.ffn_sublayers}
    for target in targets:
        kind, attribute = TARGETS[target]
        for sublayer in lists[kind]:
            yield target, f"{sublayer.name}/{attribute}", getattr(sublayer, attribute)


def _kernel_variable(layer):
    # `layer.kernel` of an adapted layer is the merged tensor, not the variable: find the variable by name.
    return next(v for v in layer.weights if v.name == "kernel")


def enable_lora(model, rank: int, alpha=None, targets: Sequence[str] = DEFAULT_TARGETS,
                train_layernorm: bool = False) -> int:
    """Adds rank-`rank` adapters (scale `alpha / rank`, alpha defaults to rank) to `targets` of `model`'s
    encoder, freezes the rest of the backbone, and returns the number of trainable parameters left
    (adapters + task head, + the encoder's LayerNorms with `train_layernorm`). Call it once, after the
    initial weights are in and before `compile`. The outputs are unchanged until the adapters train (B = 0).
    """
    targets = check_lora_settings(rank, alpha, targets)
    backbone = backbone_of(model)
    if lora_state(model):
        raise UserInputError("LoRA is already enabled on this model; enable it once.")
    shapes = [_kernel_variable(layer).shape for _, _, layer in _projections(backbone, targets)]
    smallest = min(min(shape[-1], int(np.prod(shape[:-1]))) for shape in shapes)
    if rank > smallest:
        raise UserInputError(f"--lora_rank {rank} is not low rank: the smallest dimension of the targeted "
                             f"kernels is {smallest}.")
    for variable in backbone.weights:
        variable.trainable = False
    for _, _, layer in _projections(backbone, targets):
        layer.enable_lora(int(rank), lora_alpha=alpha)
    if train_layernorm:
        for sublayer in backbone.encoder.attention_sublayers + backbone.encoder.ffn_sublayers:
            for variable in sublayer.layer_norm.weights:
                variable.trainable = True
    return trainable_parameter_count(model)


def trainable_parameter_count(model) -> int:
    """Scalars in `model.trainable_variables` (each shared variable once)."""
    return int(sum(int(np.prod(v.shape)) for v in model.trainable_variables))


def lora_state(model) -> Dict[str, dict]:
    """`{"<sublayer>/<projection>": {"rank", "alpha"}}` for every adapted projection of `model` ({}: none)."""
    backbone = backbone_of(model)
    return {key: {"rank": int(layer.lora_rank), "alpha": float(layer.lora_alpha)}
            for _, key, layer in _adapted(model)}


def _adapted(model):
    """`(target, key, layer)` of every adapted projection."""
    return [(target, key, layer) for target, key, layer in _projections(backbone_of(model), TARGETS)
            if getattr(layer, "lora_enabled", False)]


def _delta(layer) -> np.ndarray:
    a = np.asarray(layer.lora_kernel_a.numpy(), np.float64)
    b = np.asarray(layer.lora_kernel_b.numpy(), np.float64)
    return (float(layer.lora_alpha) / float(layer.lora_rank)) * np.matmul(a, b)


def merge_lora(model):
    """A new model of the same class and config without adapters, each adapted kernel replaced by
    `kernel + (alpha/rank)·A·B`; its outputs equal `model`'s (up to float rounding). A model without
    adapters comes back as is."""
    adapted = _adapted(model)
    if not adapted:
        return model
    merged_kernels = {id(_kernel_variable(layer)): _kernel_variable(layer).numpy() + _delta(layer)
                      for _, _, layer in adapted}
    adapters = {id(v) for _, _, layer in adapted for v in (layer.lora_kernel_a, layer.lora_kernel_b)}
    values = [merged_kernels.get(id(v), v.numpy()) for v in model.weights if id(v) not in adapters]
    merged = type(model).from_config(model.get_config())
    if model.get_build_config():
        merged.build_from_config(model.get_build_config())
    merged.set_weights([np.asarray(value, dtype=v.dtype) for value, v in zip(values, merged.weights)])
    return merged


def adapters_path(model_file: str) -> str:
    """Where the adapters of `model_file` (`run/model.keras`) are kept: `run/model.lora.npz`."""
    stem = model_file[: -len(".keras")] if model_file.endswith(".keras") else model_file
    return stem + ADAPTERS_SUFFIX


def save_lora_weights(model, path: str) -> str:
    """Writes `model`'s adapters and their settings to `path` (an `.npz`, atomically); returns `path`."""
    adapted = _adapted(model)
    if not adapted:
        raise UserInputError("the model has no LoRA adapters to save.")
    arrays = {}
    for _, key, layer in adapted:
        arrays[f"{key}/lora_kernel_a"] = layer.lora_kernel_a.numpy()
        arrays[f"{key}/lora_kernel_b"] = layer.lora_kernel_b.numpy()
    layer = adapted[0][2]
    layernorm = backbone_of(model).encoder.attention_sublayers[0].layer_norm.gamma.trainable
    settings = {"rank": int(layer.lora_rank), "alpha": float(layer.lora_alpha),
                "targets": list(dict.fromkeys(target for target, _, _ in adapted)), "train_layernorm": bool(layernorm)}
    arrays[_SETTINGS_KEY] = np.array(json.dumps(settings))

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    atomic_write(path, write)
    return path


def load_lora_weights(model, path: str, merged: bool = True) -> dict:
    """Enables LoRA on `model` as `path` (written by `save_lora_weights`) says and loads the adapters.

    `merged`: `model`'s kernels already hold `(alpha/rank)·A·B` (a `model.keras` saved with adapters);
    it is taken out of each kernel, so the outputs do not change. Returns the settings."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no LoRA adapters file.")
    with np.load(path, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    settings = json.loads(str(arrays.pop(_SETTINGS_KEY)))
    enable_lora(model, settings["rank"], settings["alpha"], settings["targets"], settings["train_layernorm"])
    adapted = _adapted(model)
    missing = sorted({f"{key}/lora_kernel_{x}" for _, key, _ in adapted for x in "ab"} - set(arrays))
    if missing or len(arrays) != 2 * len(adapted):
        raise UserInputError(f"{path}: the adapters do not match the model (missing {missing[:3]}, "
                             f"{len(arrays)} arrays for {len(adapted)} adapted projections).")
    for _, key, layer in adapted:
        layer.lora_kernel_a.assign(arrays[f"{key}/lora_kernel_a"])
        layer.lora_kernel_b.assign(arrays[f"{key}/lora_kernel_b"])
        if merged:
            kernel = _kernel_variable(layer)
            kernel.assign((kernel.numpy() - _delta(layer)).astype(kernel.dtype))
    return settings


__all__ = ["ADAPTERS_SUFFIX", "DEFAULT_TARGETS", "TARGETS", "adapters_path", "backbone_of", "check_lora_settings",
           "enable_lora", "load_lora_weights", "lora_state", "merge_lora", "save_lora_weights",
           "trainable_parameter_count"]
