"""TFRecord schemas (TensorFlow-free) and the tf.data readers built on them.

The writers in ``data_prep`` import :mod:`albert_tf.data.schemas`, so reader and writer cannot
drift. The readers (:mod:`albert_tf.data.pretraining`, :mod:`albert_tf.data.finetuning`) import
TensorFlow on first use of a name.
"""

from albert_tf import _lazy
from albert_tf.data.schemas import (
    CLASSIFICATION_SCHEMA,
    MULTIPLE_CHOICE_SCHEMA,
    PRETRAINING_FEATURE_NAMES,
    PRETRAINING_MODEL_FEATURES,
    PRETRAINING_SCHEMA,
    REGRESSION_SCHEMA,
    SQUAD_EVAL_SCHEMA,
    SQUAD_TRAIN_SCHEMA,
    Field,
    feature_spec,
    finetuning_lengths,
    finetuning_schema,
    pretraining_feature_spec,
)

_EXPORTS = {
    **{
        name: "albert_tf.data.pretraining"
        for name in (
            "DynamicMasking",
            "dynamic_mask",
            "list_files",
            "parse_pretraining_batch",
            "pretraining_dataset",
            "restore_original_ids",
        )
    },
    **{
        name: "albert_tf.data.finetuning"
        for name in ("finetuning_dataset", "parse_finetuning_batch", "schema_kind")
    },
}

__all__ = sorted(
    set(_EXPORTS)
    | {
        "CLASSIFICATION_SCHEMA",
        "Field",
        "MULTIPLE_CHOICE_SCHEMA",
        "PRETRAINING_FEATURE_NAMES",
        "PRETRAINING_MODEL_FEATURES",
        "PRETRAINING_SCHEMA",
        "REGRESSION_SCHEMA",
        "SQUAD_EVAL_SCHEMA",
        "SQUAD_TRAIN_SCHEMA",
        "feature_spec",
        "finetuning_lengths",
        "finetuning_schema",
        "pretraining_feature_spec",
    }
)
__getattr__, __dir__ = _lazy.attach(__name__, _EXPORTS, ("finetuning", "pretraining", "schemas"))
