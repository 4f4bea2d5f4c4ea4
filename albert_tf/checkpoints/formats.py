"""What a model path holds: the one place that tells checkpoint formats apart.

Every entry point that accepts a path (`--init_checkpoint` of pretraining and fine-tuning, `load_model`
behind `albert-export`) asks `checkpoint_format(path)` and dispatches on its `kind`, so a path means the
same thing everywhere. TensorFlow is imported only when a TF checkpoint must be read (this package
imports without it).

Example:

>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> open(os.path.join(folder, "model.keras"), "w").close()
>>> found = checkpoint_format(folder)
>>> found.kind, os.path.basename(found.path)
('keras', 'model.keras')
>>> found.reason  # told apart by name; why it cannot load is said beside the kind
'empty (0 bytes)'
>>> checkpoint_format(os.path.join(folder, "missing")).kind
'missing'
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
from typing import Dict, Optional

from albert_tf.errors import UserInputError

ORIGINAL = "original"  # an original-release TF1 checkpoint (variables `bert/...`)
ALBERT_TF = "albert_tf"  # a checkpoint written by albert_tf's training (`model_weights/...`)
TF_CHECKPOINT = "tf_checkpoint"  # another TF checkpoint (an older albert_tf's, without `model_weights`)
KERAS = "keras"  # a `.keras` file
WEIGHTS_H5 = "weights_h5"  # a `.weights.h5` file
HUGGINGFACE = "huggingface"  # config.json + model.safetensors or pytorch_model.bin
KERAS_HUB = "keras_hub"  # a keras-hub preset: config.json + model.weights.h5
MISSING = "missing"  # nothing at the path
UNREADABLE = "unreadable"  # something there that none of the readers takes (a truncated checkpoint among them)

TF_KINDS = (ORIGINAL, ALBERT_TF, TF_CHECKPOINT)


@dataclasses.dataclass(frozen=True)
class CheckpointFormat:
    """`kind` (one of this module's constants), the `path` to read (a file, a folder or a TF checkpoint
    prefix), the TF checkpoint's variable shapes by name (`names`, TF kinds only) and, for `UNREADABLE`
    and for a damaged `KERAS` file (empty, truncated, not a zip archive), why (`reason`)."""

    kind: str
    path: str
    names: Optional[Dict[str, list]] = None
    reason: str = ""


def _latest_tf_checkpoint(folder: str) -> Optional[str]:
    import tensorflow as tf

    return tf.train.latest_checkpoint(folder) or tf.train.latest_checkpoint(os.path.join(folder, "checkpoints"))


def _has(folder: str, *names: str) -> bool:
    return any(os.path.exists(os.path.join(folder, name)) for name in names)


def checkpoint_format(path) -> CheckpointFormat:
    """What `path` holds; never raises for a bad path (`MISSING` / `UNREADABLE` say so).

    A folder holding `model.keras` and no TF checkpoint of its own is that `.keras` file (a finished
    run's `output_dir`); a folder with TF checkpoints (itself or its `checkpoints/`) is the newest one.
    """
    path = os.fspath(path)
    if path.endswith(".keras"):
        if not os.path.isfile(path):
            return CheckpointFormat(MISSING, path)
        return CheckpointFormat(KERAS, path, reason=_keras_archive_problem(path))
    if path.endswith(".weights.h5"):
        return CheckpointFormat(WEIGHTS_H5 if os.path.isfile(path) else MISSING, path)
    if os.path.isdir(path):
        if _has(path, "config.json") and _has(path, "model.safetensors", "pytorch_model.bin"):
            return CheckpointFormat(HUGGINGFACE, path)
        if _has(path, "config.json") and _has(path, "model.weights.h5"):
            return CheckpointFormat(KERAS_HUB, path)
        import tensorflow as tf

        if _has(path, "model.keras") and not tf.train.latest_checkpoint(path):
            keras_file = os.path.join(path, "model.keras")
            return CheckpointFormat(KERAS, keras_file, reason=_keras_archive_problem(keras_file))
        prefix = _latest_tf_checkpoint(path) or path
    elif path.endswith(".index") and os.path.exists(path):
        prefix = path[: -len(".index")]
    else:
        prefix = path
    if not os.path.exists(prefix) and not os.path.exists(prefix + ".index") and not os.path.exists(path):
        return CheckpointFormat(MISSING, path)
    return _tf_checkpoint(prefix)


def _keras_archive_problem(path: str) -> str:
    """Why the `.keras` file at `path` cannot load ("" when it is a whole zip archive).

    Keras reports a truncated archive as "File not found", which sends the user looking for a path
    that is right there; the zip's closing directory (at its end) tells a cut-off copy apart.
    """
    size = os.path.getsize(path)
    if size == 0:
        return "empty (0 bytes)"
    if zipfile.is_zipfile(path):
        return ""
    with open(path, "rb") as f:
        started_as_zip = f.read(4) == b"PK\x03\x04"
    if started_as_zip:
        return f"truncated ({size} bytes, the end of its zip archive is missing: an interrupted write or copy)"
    return "not a zip archive, which a .keras file is"


def refuse_damaged(found: CheckpointFormat, flag: str) -> None:
    """Raises `UserInputError` naming `flag` and the file when `found` is a damaged `.keras` file."""
    if found.kind == KERAS and found.reason:
        raise UserInputError(f"{flag} {found.path} is {found.reason}; expected a complete .keras file (write or copy it again)")


def _tf_checkpoint(prefix: str) -> CheckpointFormat:
    import tensorflow as tf

    try:
        names = dict(tf.train.list_variables(prefix))
    except (tf.errors.OpError, ValueError) as error:  # a truncated .index raises a bare OpError
        text = str(getattr(error, "message", None) or error).strip()
        return CheckpointFormat(UNREADABLE, prefix, reason=text.splitlines()[0] if text else type(error).__name__)
    if any(name.startswith(("bert/", "module/bert/")) for name in names):
        return CheckpointFormat(ORIGINAL, prefix, names)
    if any(name.startswith("model_weights/") for name in names):
        return CheckpointFormat(ALBERT_TF, prefix, names)
    return CheckpointFormat(TF_CHECKPOINT, prefix, names)
