"""TFRecord feature schemas, defined once for the writers in ``data_prep`` and the readers here.

A schema is a tuple of :class:`Field` (name, dtype, length) in the order the original wrote the
features. Lengths are symbolic (``"max_seq_length"``, ``"max_predictions_per_seq"`` or a number) and
resolved by :func:`resolve_lengths`, so a writer and a reader given the same flags agree on every
shape. Nothing here imports TensorFlow at module level: the multiprocess writers use the schema
without paying for a TensorFlow import in every worker.

Example:

>>> [f.name for f in PRETRAINING_SCHEMA][:3]
['input_ids', 'input_mask', 'segment_ids']
>>> resolve_lengths(PRETRAINING_SCHEMA, max_seq_length=8, max_predictions_per_seq=2)["masked_lm_ids"]
2
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Tuple, Union

import numpy as np

INT64 = "int64"
FLOAT = "float"

#: Symbolic lengths a schema may use; each is resolved from a keyword argument of the same name.
SEQ = "max_seq_length"
PREDICTIONS = "max_predictions_per_seq"
#: RACE stores its four choices concatenated: ``num_choices * max_seq_length`` values per feature.
CHOICES_SEQ = "choices_seq_length"


@dataclasses.dataclass(frozen=True)
class Field:
    """One fixed-length feature: its name, ``"int64"`` or ``"float"``, and its length.

    ``length`` is an int or the name of a length argument (``"max_seq_length"``,
    ``"max_predictions_per_seq"``).

    Example:

    >>> Field("input_ids", INT64, SEQ).resolve(max_seq_length=128)
    128
    """

    name: str
    dtype: str
    length: Union[int, str]

    def resolve(self, **lengths: int) -> int:
        if isinstance(self.length, int):
            return self.length
        if self.length not in lengths or lengths[self.length] is None:
            raise ValueError(f"feature {self.name!r} needs {self.length}=...; got {sorted(lengths)}")
        value = int(lengths[self.length])
        if value <= 0:
            raise ValueError(f"{self.length} must be positive for feature {self.name!r}; got {value}")
        return value


#: The original ``create_pretraining_data.py`` output, in its insertion order (spec §5.5).
PRETRAINING_SCHEMA: Tuple[Field, ...] = (
    Field("input_ids", INT64, SEQ),
    Field("input_mask", INT64, SEQ),
    Field("segment_ids", INT64, SEQ),
    Field("token_boundary", INT64, SEQ),
    Field("masked_lm_positions", INT64, PREDICTIONS),
    Field("masked_lm_ids", INT64, PREDICTIONS),
    Field("masked_lm_weights", FLOAT, PREDICTIONS),
    Field("next_sentence_labels", INT64, 1),
)

PRETRAINING_FEATURE_NAMES: Tuple[str, ...] = tuple(f.name for f in PRETRAINING_SCHEMA)

#: What ``run_pretraining.py`` parsed: everything except ``token_boundary`` (which it ignored).
PRETRAINING_MODEL_FEATURES: Tuple[str, ...] = tuple(
    name for name in PRETRAINING_FEATURE_NAMES if name != "token_boundary"
)


#: ``classifier_utils.file_based_convert_examples_to_features`` for classification (GLUE, spec §7.3).
CLASSIFICATION_SCHEMA: Tuple[Field, ...] = (
    Field("input_ids", INT64, SEQ),
    Field("input_mask", INT64, SEQ),
    Field("segment_ids", INT64, SEQ),
    Field("label_ids", INT64, 1),
    Field("is_real_example", INT64, 1),
)

#: The same for regression (STS-B): the label is written as a float.
REGRESSION_SCHEMA: Tuple[Field, ...] = CLASSIFICATION_SCHEMA[:3] + (
    Field("label_ids", FLOAT, 1),
    Field("is_real_example", INT64, 1),
)

#: ``race_utils``: the four choices' sequences concatenated (``choices_seq_length = 4 * max_seq_length``).
MULTIPLE_CHOICE_SCHEMA: Tuple[Field, ...] = (
    Field("input_ids", INT64, CHOICES_SEQ),
    Field("input_mask", INT64, CHOICES_SEQ),
    Field("segment_ids", INT64, CHOICES_SEQ),
    Field("label_ids", INT64, 1),
    Field("is_real_example", INT64, 1),
)

#: ``squad_utils.FeatureWriter`` for evaluation / prediction features (spec §7.8).
SQUAD_EVAL_SCHEMA: Tuple[Field, ...] = (
    Field("unique_ids", INT64, 1),
    Field("input_ids", INT64, SEQ),
    Field("input_mask", INT64, SEQ),
    Field("segment_ids", INT64, SEQ),
    Field("p_mask", INT64, SEQ),
)

#: ... and for training features, which add the answer span and the impossible flag.
SQUAD_TRAIN_SCHEMA: Tuple[Field, ...] = SQUAD_EVAL_SCHEMA + (
    Field("start_positions", INT64, 1),
    Field("end_positions", INT64, 1),
    Field("is_impossible", INT64, 1),
)

#: Task kinds of :func:`finetuning_schema`.
FINETUNING_KINDS = ("classification", "regression", "multiple_choice", "squad")


def finetuning_schema(kind: str, is_training: bool = False) -> Tuple[Field, ...]:
    """The record schema of a fine-tuning task kind (``"classification"``, ``"regression"``,
    ``"multiple_choice"`` or ``"squad"``); SQuAD training records carry the answer positions.

    Example:

    >>> [f.name for f in finetuning_schema("squad", is_training=True)][-3:]
    ['start_positions', 'end_positions', 'is_impossible']
    >>> finetuning_schema("regression")[3].dtype
    'float'
    """
    if kind == "classification":
        return CLASSIFICATION_SCHEMA
    if kind == "regression":
        return REGRESSION_SCHEMA
    if kind == "multiple_choice":
        return MULTIPLE_CHOICE_SCHEMA
    if kind == "squad":
        return SQUAD_TRAIN_SCHEMA if is_training else SQUAD_EVAL_SCHEMA
    raise ValueError(f"unknown fine-tuning task kind {kind!r}; expected one of {FINETUNING_KINDS}")


def finetuning_lengths(max_seq_length: int, num_choices: int = 4) -> Dict[str, int]:
    """The length arguments every fine-tuning schema resolves with.

    Example:

    >>> resolve_lengths(MULTIPLE_CHOICE_SCHEMA, **finetuning_lengths(8))["input_ids"]
    32
    """
    return {SEQ: int(max_seq_length), CHOICES_SEQ: int(num_choices) * int(max_seq_length)}


def resolve_lengths(schema, **lengths: int) -> Dict[str, int]:
    """``{feature name: length}`` for ``schema`` under the given length arguments."""
    return {field.name: field.resolve(**lengths) for field in schema}


def feature_spec(schema, **lengths: int) -> dict:
    """``tf.io.FixedLenFeature`` spec for ``tf.io.parse_example`` (TensorFlow imported on use).

    Example:

    >>> spec = feature_spec(PRETRAINING_SCHEMA, max_seq_length=8, max_predictions_per_seq=2)
    >>> spec["masked_lm_weights"].dtype.name, spec["input_ids"].shape
    ('float32', [8])
    """
    import tensorflow as tf

    dtypes = {INT64: tf.int64, FLOAT: tf.float32}
    return {
        field.name: tf.io.FixedLenFeature([field.resolve(**lengths)], dtypes[field.dtype])
        for field in schema
    }


def pretraining_feature_spec(max_seq_length: int, max_predictions_per_seq: int) -> dict:
    """The fixed-length parse spec of the original pretraining TFRecords (pitfall 17)."""
    return feature_spec(
        PRETRAINING_SCHEMA,
        max_seq_length=max_seq_length,
        max_predictions_per_seq=max_predictions_per_seq,
    )


def squad_p_mask(input_mask, segment_ids, xp=np):
    """``p_mask`` of ``[CLS] question [SEP] context [SEP]`` features: True where no answer may start or end.

    An answer may lie only on ``[CLS]`` (position 0, the original's "no answer" slot) and on the context
    pieces: segment 1 up to, not including, the closing ``[SEP]``, which is the last real token. Rows are
    along the last axis. ``xp`` is the array module: NumPy for the record writer,
    ``tf.experimental.numpy`` inside a serving graph, so that both follow this one rule.

    >>> squad_p_mask([1, 1, 1, 1, 1, 1, 0], [0, 0, 0, 1, 1, 1, 0]).astype(int).tolist()
    [0, 1, 1, 0, 0, 1, 1]
    """
    input_mask, segment_ids = xp.asarray(input_mask), xp.asarray(segment_ids)
    positions = xp.cumsum(xp.ones_like(input_mask), axis=-1) - 1
    closing_sep = xp.sum(input_mask, axis=-1, keepdims=True) - 1
    context = xp.logical_and(
        xp.logical_and(xp.equal(segment_ids, 1), xp.equal(input_mask, 1)), xp.not_equal(positions, closing_sep)
    )
    return xp.logical_not(xp.logical_or(context, xp.equal(positions, 0)))
