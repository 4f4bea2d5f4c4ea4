"""tf.data readers for the TFRecord schemas in :mod:`albert_tf.data.schemas`.

The writers in ``data_prep`` import the same schemas, so reader and writer cannot drift.
"""

from albert_tf.data.pretraining import (
    DynamicMasking,
    dynamic_mask,
    list_files,
    parse_pretraining_batch,
    pretraining_dataset,
    restore_original_ids,
)
from albert_tf.data.schemas import (
    PRETRAINING_FEATURE_NAMES,
    PRETRAINING_MODEL_FEATURES,
    PRETRAINING_SCHEMA,
    Field,
    feature_spec,
    pretraining_feature_spec,
)

__all__ = [
    "DynamicMasking",
    "Field",
    "PRETRAINING_FEATURE_NAMES",
    "PRETRAINING_MODEL_FEATURES",
    "PRETRAINING_SCHEMA",
    "dynamic_mask",
    "feature_spec",
    "list_files",
    "parse_pretraining_batch",
    "pretraining_dataset",
    "pretraining_feature_spec",
    "restore_original_ids",
]
