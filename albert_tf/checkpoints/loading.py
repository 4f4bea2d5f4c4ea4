"""One entry point for every model file a user may hold: `.keras`, albert_tf and original TF1 checkpoints,
HuggingFace and keras-hub directories. Nothing here executes code from a file: `.keras` files load with Keras' safe
mode (a Lambda layer or other serialized Python is refused), HuggingFace weights come from safetensors
or `torch.load(weights_only=True)`, and TF checkpoints are tensors only.
"""

from __future__ import annotations

import os
from typing import Optional

from albert_tf.config import AlbertConfig


class UnsafeModelFileError(ValueError):
    """A model file asks to run serialized Python code (e.g. a Keras Lambda layer); it was not loaded."""


def load_keras_file(path: str):
    """`keras.saving.load_model(path, safe_mode=True)` with albert_tf's classes registered.

    Raises `UnsafeModelFileError` naming the file when it contains serialized code (Lambda layers,
    Python lambdas in a config), which safe mode refuses to deserialize.
    """
    import keras

    import albert_tf  # noqa: F401  (registers the classes the file names)

    if not os.path.isfile(path):
        raise FileNotFoundError(f"No .keras file at {path}")
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except ValueError as e:
        if "safe_mode" in str(e) or "Lambda" in str(e):
            raise UnsafeModelFileError(
                f"{path} contains serialized Python code (e.g. a Lambda layer); albert_tf loads model files "
                f"in Keras safe mode only and refused it. Keras said: {e}"
            ) from None
        raise


def _config_beside(path: str, config) -> AlbertConfig:
    if isinstance(config, AlbertConfig):
        return config
    if isinstance(config, (str, os.PathLike)):
        return AlbertConfig.from_json_file(config)
    if config is not None:
        return AlbertConfig.from_dict(dict(config))
    base = path if os.path.isdir(path) else os.path.dirname(path)
    for candidate in (base, os.path.dirname(base)):
        found = os.path.join(candidate, "albert_config.json")
        if os.path.exists(found):
            return AlbertConfig.from_json_file(found)
    raise ValueError(
        f"--checkpoint {path} is a TF checkpoint, which carries no config; pass --albert_config_file "
        "(or put albert_config.json beside it)"
    )


def _checkpoint_prefix(path: str) -> Optional[str]:
    import tensorflow as tf

    if os.path.isdir(path):
        return tf.train.latest_checkpoint(path) or tf.train.latest_checkpoint(os.path.join(path, "checkpoints"))
    if os.path.exists(path + ".index"):
        return path
    if path.endswith(".index") and os.path.exists(path):
        return path[: -len(".index")]
    return None


def _is_keras_hub_preset(path: str) -> bool:
    return os.path.exists(os.path.join(path, "config.json")) and os.path.exists(os.path.join(path, "model.weights.h5"))


def load_model(path: str, config=None, dtype=None, return_tokenizer: bool = False):
    """The model stored at `path`, whatever albert_tf-readable format it is in.

    * a `.keras` file (any albert_tf model, task models included), or a directory holding `model.keras`;
    * a HuggingFace directory (`config.json` + `model.safetensors` or `pytorch_model.bin`);
    * a keras-hub preset directory (`config.json` + `model.weights.h5`);
    * an original-release TF1 checkpoint (variables named `bert/...`): needs `config`;
    * an albert_tf training checkpoint (written by `albert-pretrain`; a prefix or its directory): needs
      `config`; restored into an `AlbertPretrainer`.

    `config` is an `AlbertConfig`, a dict or an `albert_config.json` path; by default `albert_config.json`
    beside the checkpoint. Returns a Keras model, or `(model, tokenizer)` with `return_tokenizer`: the
    `AlbertTokenizer` that HuggingFace and keras-hub directories carry (None for the other formats).
    """
    path = os.fspath(path)
    model, tokenizer = _load(path, config, dtype)
    return (model, tokenizer) if return_tokenizer else model


def _load(path: str, config, dtype):
    if path.endswith(".keras"):
        return load_keras_file(path), None
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "model.keras")) and not _checkpoint_prefix(path):
            return load_keras_file(os.path.join(path, "model.keras")), None
        if os.path.exists(os.path.join(path, "config.json")) and any(
            os.path.exists(os.path.join(path, name)) for name in ("model.safetensors", "pytorch_model.bin")
        ):
            from albert_tf.checkpoints.huggingface import huggingface_tokenizer, load_huggingface

            model = load_huggingface(path, dtype=dtype)
            has_tokenizer = any(os.path.exists(os.path.join(path, n)) for n in ("spiece.model", "tokenizer.json"))
            return model, huggingface_tokenizer(path) if has_tokenizer else None
        if _is_keras_hub_preset(path):
            from albert_tf.checkpoints.keras_hub import load_keras_hub_preset

            return load_keras_hub_preset(path)
    prefix = _checkpoint_prefix(path)
    if prefix is None:
        if not os.path.exists(path):
            raise FileNotFoundError(f"--checkpoint {path} does not exist")
        raise ValueError(
            f"--checkpoint {path}: expected a .keras file, a HuggingFace directory (config.json + "
            "model.safetensors), a keras-hub preset (config.json + model.weights.h5), an original TF1 "
            "checkpoint or an albert_tf checkpoint"
        )
    import tensorflow as tf

    names = dict(tf.train.list_variables(prefix))
    config = _config_beside(path, config)
    if any(name.startswith(("bert/", "module/bert/")) for name in names):
        from albert_tf.checkpoints.original import load_original_checkpoint

        return load_original_checkpoint(prefix, config, dtype=dtype), None
    from albert_tf.models.pretrainer import AlbertPretrainer
    from albert_tf.training.runner import initialise_weights

    model = AlbertPretrainer(config, dtype=dtype)
    # Weights only: optimizer slots and counters in a training checkpoint are not needed to serve.
    initialise_weights(model, prefix)
    return model, None
