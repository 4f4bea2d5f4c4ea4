"""One entry point for every model file a user may hold: `.keras`, albert_tf and original TF1 checkpoints,
HuggingFace and keras-hub directories. Nothing here executes code from a file: `.keras` files load with Keras' safe
mode (a Lambda layer or other serialized Python is refused), HuggingFace weights come from safetensors
or `torch.load(weights_only=True)`, and TF checkpoints are tensors only.
"""

from __future__ import annotations

import os

from albert_tf.checkpoints import formats
from albert_tf.checkpoints.initialisation import initialise_weights
from albert_tf.config import AlbertConfig


class UnsafeModelFileError(ValueError):
    """A model file asks to run serialized Python code (e.g. a Keras Lambda layer); it was not loaded."""


def load_keras_file(path: str, flag: str = "--input"):
    """`keras.saving.load_model(path, safe_mode=True)` with albert_tf's classes registered.

    Raises `UnsafeModelFileError` naming the file when it contains serialized code (Lambda layers,
    Python lambdas in a config), which safe mode refuses to deserialize.
    """
    import keras

    import albert_tf  # noqa: F401  (registers the classes the file names)

    if not os.path.isfile(path):
        raise FileNotFoundError(f"No .keras file at {path}")
    if path.endswith(".keras"):
        formats.refuse_damaged(formats.checkpoint_format(path), flag)
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
    model, tokenizer, _ = load_with_description(path, config, dtype)
    return (model, tokenizer) if return_tokenizer else model


def load_with_description(path: str, config=None, dtype=None, init_from_group0: bool = False, flag: str = "--checkpoint"):
    """`(model, tokenizer, description)` for `path` in any format `formats.checkpoint_format` names.

    `flag` names the option the path came from in error messages; `init_from_group0` applies to
    original checkpoints (see `load_original_checkpoint`).
    """
    found = formats.checkpoint_format(path)
    if found.kind == formats.KERAS:
        return load_keras_file(found.path, flag), None, f"weights of {found.path}"
    if found.kind == formats.HUGGINGFACE:
        from albert_tf.checkpoints.huggingface import huggingface_tokenizer, load_huggingface

        model = load_huggingface(path, dtype=dtype)
        has_tokenizer = any(os.path.exists(os.path.join(path, n)) for n in ("spiece.model", "tokenizer.json"))
        return model, huggingface_tokenizer(path) if has_tokenizer else None, f"HuggingFace folder {path}"
    if found.kind == formats.KERAS_HUB:
        from albert_tf.checkpoints.keras_hub import load_keras_hub_preset

        model, tokenizer = load_keras_hub_preset(path)
        return model, tokenizer, f"keras-hub preset {path}"
    if found.kind == formats.MISSING:
        raise FileNotFoundError(f"{flag} {path} does not exist")
    if found.kind not in formats.TF_KINDS:
        detail = f" ({found.reason})" if found.reason else ""
        raise ValueError(
            f"{flag} {path}: expected a .keras file, a HuggingFace directory (config.json + "
            "model.safetensors), a keras-hub preset (config.json + model.weights.h5), an original TF1 "
            f"checkpoint or an albert_tf checkpoint{detail}"
        )
    config = _config_beside(path, config)
    if found.kind == formats.ORIGINAL:
        from albert_tf.checkpoints.original import load_original_checkpoint

        model, report = load_original_checkpoint(found.path, config, init_from_group0=init_from_group0, dtype=dtype,
                                                 return_report=True)
        return model, None, f"original checkpoint {found.path}: {report.summary()}"
    from albert_tf.models.pretrainer import AlbertPretrainer

    model = AlbertPretrainer(config, dtype=dtype)
    # Weights only: optimizer slots and counters in a training checkpoint are not needed to serve.
    return model, None, initialise_weights(model, found.path, init_from_group0)
