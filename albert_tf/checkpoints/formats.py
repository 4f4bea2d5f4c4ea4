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
>>> checkpoint_format(os.path.join(folder, "missing")).kind
'missing'
"""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, Optional

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
    prefix), the TF checkpoint's variable shapes by name (`names`, TF kinds only) and, for `UNREADABLE`,
    why (`reason`)."""

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
        return CheckpointFormat(KERAS if os.path.isfile(path) else MISSING, path)
    if path.endswith(".weights.h5"):
        return CheckpointFormat(WEIGHTS_H5 if os.path.isfile(path) else MISSING, path)
    if os.path.isdir(path):
        if _has(path, "config.json") and _has(path, "model.safetensors", "pytorch_model.bin"):
            return CheckpointFormat(HUGGINGFACE, path)
        if _has(path, "config.json") and _has(path, "model.weights.h5"):
            return CheckpointFormat(KERAS_HUB, path)
        import tensorflow as tf

        if _has(path, "model.keras") and not tf.train.latest_checkpoint(path):
            return CheckpointFormat(KERAS, os.path.join(path, "model.keras"))
        prefix = _latest_tf_checkpoint(path) or path
    elif path.endswith(".index") and os.path.exists(path):
        prefix = path[: -len(".index")]
    else:
        prefix = path
    if not os.path.exists(prefix) and not os.path.exists(prefix + ".index") and not os.path.exists(path):
        return CheckpointFormat(MISSING, path)
    return _tf_checkpoint(prefix)


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
