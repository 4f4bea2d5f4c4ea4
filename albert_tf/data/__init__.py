"""TFRecord schemas (TensorFlow-free) and the tf.data readers built on them.

The writers in ``data_prep`` import :mod:`albert_tf.data.schemas`, so reader and writer cannot
drift. The readers (:mod:`albert_tf.data.pretraining`) import TensorFlow on first use of a name.
"""

from albert_tf import _lazy
from albert_tf.data.schemas import (
    PRETRAINING_FEATURE_NAMES,
    PRETRAINING_MODEL_FEATURES,
    PRETRAINING_SCHEMA,
    Field,
    feature_spec,
    pretraining_feature_spec,
)

_EXPORTS = {
    name: "albert_tf.data.pretraining"
    for name in (
        "DynamicMasking",
        "dynamic_mask",
        "list_files",
        "parse_pretraining_batch",
        "pretraining_dataset",
        "restore_original_ids",
    )
}

__all__ = sorted(
    set(_EXPORTS)
    | {
        "Field",
        "PRETRAINING_FEATURE_NAMES",
        "PRETRAINING_MODEL_FEATURES",
        "PRETRAINING_SCHEMA",
        "feature_spec",
        "pretraining_feature_spec",
    }
)
__getattr__, __dir__ = _lazy.attach(__name__, _EXPORTS, ("pretraining", "schemas"))
