"""tf.data readers for the TFRecord schemas in :mod:`albert_tf.data.schemas`.

The writers in ``data_prep`` import the same schemas, so reader and writer cannot drift.
"""

from albert_tf.data.finetuning import finetuning_dataset, parse_finetuning_batch, schema_kind
from albert_tf.data.pretraining import (
    DynamicMasking,
    dynamic_mask,
    list_files,
    parse_pretraining_batch,
    pretraining_dataset,
    restore_original_ids,
)
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

__all__ = [
    "CLASSIFICATION_SCHEMA",
    "DynamicMasking",
    "Field",
    "MULTIPLE_CHOICE_SCHEMA",
    "PRETRAINING_FEATURE_NAMES",
    "PRETRAINING_MODEL_FEATURES",
    "PRETRAINING_SCHEMA",
    "REGRESSION_SCHEMA",
    "SQUAD_EVAL_SCHEMA",
    "SQUAD_TRAIN_SCHEMA",
    "dynamic_mask",
    "feature_spec",
    "finetuning_dataset",
    "finetuning_lengths",
    "finetuning_schema",
    "list_files",
    "parse_finetuning_batch",
    "parse_pretraining_batch",
    "pretraining_dataset",
    "pretraining_feature_spec",
    "restore_original_ids",
    "schema_kind",
]
