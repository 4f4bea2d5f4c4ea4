"""tf.data readers for fine-tuning records (GLUE, SQuAD, RACE), ours or the original scripts'.

The input functions follow the original ``run_classifier`` / ``run_squad`` / ``run_race``: training
repeats (optional here), shuffles with a buffer of 100 and batches with ``drop_remainder`` (static
shapes for XLA and TPUs); evaluation reads in record order and keeps the last partial batch unless
``drop_remainder`` is asked. Records are parsed with the fixed-length schemas of
:mod:`albert_tf.data.schemas`; int64 features become int32 (float labels stay float32). The
batches are dicts keyed by the records' feature names; RACE's ``input_ids``, ``input_mask`` and
``segment_ids`` are reshaped to ``[batch, num_choices, max_seq_length]``.

Example:

>>> schema_kind("sst-2"), schema_kind("sts-b"), schema_kind("race")
('classification', 'regression', 'multiple_choice')
>>> ds = finetuning_dataset("sst2_train.tfrecord", "classification", batch_size=32,
...                         max_seq_length=128, is_training=True)  # doctest: +SKIP
>>> sorted(next(iter(ds)))  # doctest: +SKIP
['input_ids', 'input_mask', 'is_real_example', 'label_ids', 'segment_ids']
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import tensorflow as tf

from albert_tf.data.pretraining import list_files
from albert_tf.data.schemas import feature_spec, finetuning_lengths, finetuning_schema

#: Task names accepted by ``kind`` besides the schema kinds themselves.
_KIND_OF_TASK = {"squad_v1": "squad", "squad_v2": "squad", "race": "multiple_choice", "sts-b": "regression"}
_SHUFFLE_BUFFER = 100


def schema_kind(task_or_kind: str) -> str:
    """The schema kind of a task name (``"sst-2"`` -> ``"classification"``) or of a kind itself."""
    key = str(task_or_kind).strip().lower()
    if key in ("classification", "regression", "multiple_choice", "squad"):
        return key
    if key in _KIND_OF_TASK:
        return _KIND_OF_TASK[key]
    from albert_tf.tasks.glue import glue_task

    return glue_task(key).schema_kind


def parse_finetuning_batch(serialized, kind: str, max_seq_length: int, is_training: bool = False,
                           num_choices: int = 4) -> dict:
    """Parses a batch of serialized Examples of a task kind (or task name)."""
    kind = schema_kind(kind)
    schema = finetuning_schema(kind, is_training)
    spec = feature_spec(schema, **finetuning_lengths(max_seq_length, num_choices))
    parsed = tf.io.parse_example(serialized, spec)
    out = {}
    for name, value in parsed.items():
        if value.dtype == tf.int64:
            value = tf.cast(value, tf.int32)
        if kind == "multiple_choice" and name in ("input_ids", "input_mask", "segment_ids"):
            value = tf.reshape(value, [-1, num_choices, max_seq_length])
        out[name] = value
    return out


def finetuning_dataset(
    file_pattern: Union[str, Sequence[str]],
    kind: str,
    batch_size: int,
    max_seq_length: int,
    is_training: bool,
    drop_remainder: Optional[bool] = None,
    repeat: bool = False,
    num_choices: int = 4,
    shuffle_buffer: int = _SHUFFLE_BUFFER,
    seed: Optional[int] = None,
    input_context: Optional[tf.distribute.InputContext] = None,
) -> tf.data.Dataset:
    """Batches of fine-tuning records as dicts keyed by feature name.

    Args:
        file_pattern: TFRecord files: a glob, a comma-separated list or a list.
        kind: ``"classification"``, ``"regression"``, ``"multiple_choice"``, ``"squad"``, or a task
            name (``"sst-2"``, ``"sts-b"``, ``"squad_v1"``, ``"race"``, ...).
        batch_size: global batch size; with ``input_context`` the per-replica size is derived.
        max_seq_length: the records' sequence length (per choice for RACE).
        is_training: shuffle and, for SQuAD, parse the answer positions (training records).
        drop_remainder: default True in training, False otherwise.
        repeat: repeat forever (the original's training input did).
        num_choices: RACE choices per question (4).
        shuffle_buffer: the original used 100.
        seed: shuffle seed.
        input_context: from ``strategy.distribute_datasets_from_function``; shards the files
            (or, with a single file, the records) across input pipelines.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive; got {batch_size}")
    kind = schema_kind(kind)
    files = list_files(file_pattern)
    if drop_remainder is None:
        drop_remainder = is_training
    dataset = tf.data.TFRecordDataset(files)
    if input_context is not None and input_context.num_input_pipelines > 1:
        dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    if repeat:
        dataset = dataset.repeat()
    if is_training:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    dataset = dataset.map(
        lambda serialized: parse_finetuning_batch(serialized, kind, max_seq_length, is_training, num_choices),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return dataset.prefetch(tf.data.AUTOTUNE)
