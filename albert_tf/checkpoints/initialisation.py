"""Weights-only initialisation of a model from any checkpoint format (`--init_checkpoint`).

Training imports this (training -> checkpoints -> models); nothing here imports training. TensorFlow
is imported when a checkpoint is read, as everywhere in this package.
"""

from __future__ import annotations

import re
from typing import Dict, Optional

from albert_tf.checkpoints import formats
from albert_tf.checkpoints.original import assign_from_original
from albert_tf.errors import UserInputError


def model_weights(model) -> Dict[str, object]:
    """Every weight of `model` keyed by its unique Keras path, for a checkpoint graph that reaches all.

    Keras 3 models reach `tf.train.Checkpoint` only through attributes TensorFlow tracks, which leaves
    out layers held in Keras' own containers (an `AlbertPretrainer`'s shared encoder among them); a
    flat `{path: variable}` mapping makes the graph independent of how a model stores its layers.
    """
    weights = {}
    for variable in model.weights:
        if variable.path in weights:
            raise ValueError(f"{model.name}: two weights share the path {variable.path!r}")
        weights[variable.path] = variable
    return weights


def first_line(error) -> str:
    """The first line of an exception's message (TensorFlow's run to pages)."""
    text = str(getattr(error, "message", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# How Keras (3.x `load_weights`) and TensorFlow (`Checkpoint.restore`) word a shape mismatch; both bury the
# weight and its two shapes in pages of text, which the one-line message brings forward.
_KERAS_MISMATCH = re.compile(
    r"variable\.shape=(\([^)]*\)), Received: value\.shape=(\([^)]*\))\. Target variable: <Variable path=([^,]+),")
_TF_MISMATCH = re.compile(
    r"incompatible tensor with shape (\([^)]*\)) when attempting to restore variable with shape (\([^)]*\)) and name ([^ ]+?)(?::\d+)?\.")


def shape_mismatch(error) -> Optional[str]:
    """"weight W: (file shape) in the checkpoint, (model shape) in this model", read from a load error, or None."""
    text = " ".join(str(getattr(error, "message", None) or error).split())
    found = _KERAS_MISMATCH.search(text)
    if found:
        model_shape, file_shape, name = found.groups()
        return f"weight {name} is {file_shape} in the checkpoint but {model_shape} in this model"
    found = _TF_MISMATCH.search(text)
    if found:
        file_shape, model_shape, name = found.groups()
        return f"weight {name} is {file_shape} in the checkpoint but {model_shape} in this model"
    return None


def _does_not_fit(source, error) -> UserInputError:
    return UserInputError(f"--init_checkpoint {source} does not fit this model: {shape_mismatch(error) or first_line(error)}")


def initialise_weights(model, path: str, init_from_group0: bool = False) -> str:
    """Loads `model`'s weights (never optimizer state or step) from `path`; returns what was loaded.

    `path`: an original-release TF1 checkpoint, an albert_tf checkpoint (or a run's `output_dir` or
    its `checkpoints/`), a `.keras` file or a `.weights.h5` file (`formats.checkpoint_format` says
    which). Call it before `compile`: a model without an optimizer cannot take one over from the file.

    Raises:
        FileNotFoundError: nothing readable at `path`.
        UserInputError: the file does not hold every weight of `model`.
    """
    if getattr(model, "optimizer", None) is not None:
        raise ValueError("initialise_weights needs an uncompiled model (it would load the file's optimizer state).")
    found = formats.checkpoint_format(path)
    source = found.path
    if found.kind == formats.MISSING:
        raise FileNotFoundError(f"--init_checkpoint {path}: no such file.")
    if found.kind in (formats.KERAS, formats.WEIGHTS_H5):
        formats.refuse_damaged(found, "--init_checkpoint")
        try:
            model.load_weights(source)
        except ValueError as error:
            raise _does_not_fit(source, error) from None
        return f"weights from {source}"
    if found.kind not in formats.TF_KINDS:
        reason = found.reason or f"a {found.kind} folder; convert it with albert-convert first"
        raise FileNotFoundError(f"--init_checkpoint {path}: not a readable checkpoint ({reason}).")
    if found.kind == formats.ORIGINAL:
        import tensorflow as tf

        reader = tf.train.load_checkpoint(source)
        report = assign_from_original(model, found.names, reader.get_tensor, source, init_from_group0=init_from_group0)
        return f"original checkpoint {source}: {report.summary()}"
    if found.kind != formats.ALBERT_TF:
        raise UserInputError(
            f"--init_checkpoint {source} has no model_weights entry (written by an older albert_tf, whose "
            "checkpoints miss the encoder); initialise from that run's model.keras instead."
        )
    import tensorflow as tf

    try:
        tf.train.Checkpoint(model_weights=model_weights(model)).restore(source).expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.InvalidArgumentError) as error:
        raise _does_not_fit(source, error) from None
    return f"albert_tf checkpoint {source} (weights only)"
