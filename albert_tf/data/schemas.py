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

INT64 = "int64"
FLOAT = "float"

#: Symbolic lengths a schema may use; each is resolved from a keyword argument of the same name.
SEQ = "max_seq_length"
PREDICTIONS = "max_predictions_per_seq"


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
