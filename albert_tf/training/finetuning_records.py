"""A fine-tuning task's TFRecords: their features (the original writers' names, dtypes and lengths),
a check of each file against them, and the `tf.data` input for training and evaluation."""

from __future__ import annotations

import tensorflow as tf

from albert_tf.data.bucketing import bucket_by_length, length_boundaries
from albert_tf.data.schemas import INT64, Field, feature_spec, finetuning_lengths, finetuning_schema
from albert_tf.tasks import Task

#: The feature carrying each evaluation example's position, so outputs can be put back in record order.
EXAMPLE_INDEX = "_example_index"


def record_fields(task: Task, max_seq_length: int, training: bool):
    """The TFRecord features of the task's records (the original writers' names, dtypes and lengths),
    from the schemas of `albert_tf.data.schemas`; token tagging adds one label per token."""
    if task.family == "tagging":
        return tuple(Field(name, INT64, max_seq_length) for name in ("input_ids", "input_mask", "segment_ids", "label_ids"))
    kind = "squad" if task.is_squad else task.family
    schema = finetuning_schema(kind, training)
    lengths = finetuning_lengths(max_seq_length, task.num_choices)
    return tuple(Field(f.name, f.dtype, f.resolve(**lengths)) for f in schema)


def _parse_fn(task, max_seq_length, training):
    fields = record_fields(task, max_seq_length, training)
    spec = feature_spec(fields)

    def parse(serialized):
        parsed = tf.io.parse_single_example(serialized, spec)
        features = {}
        for name, value in parsed.items():
            if value.dtype == tf.int64:
                value = tf.cast(value, tf.int32)
            if task.family == "multiple_choice" and value.shape[0] == task.num_choices * max_seq_length:
                value = tf.reshape(value, [task.num_choices, max_seq_length])
            elif name in ("label_ids", "is_real_example", "unique_ids", "start_positions", "end_positions",
                          "is_impossible") and value.shape[0] == 1:
                value = tf.reshape(value, [])
            features[name] = value
        return features

    return parse


def count_records(files) -> int:
    return sum(1 for f in files for _ in tf.data.TFRecordDataset(f))


def check_records(files, task, max_seq_length, training):
    """Parses the first record of every file against the task's schema; a mismatch names the file."""
    spec = feature_spec(record_fields(task, max_seq_length, training))
    for path in files:
        if not tf.io.gfile.exists(path):
            raise FileNotFoundError(f"{path}: no such record file.")
        first = next(iter(tf.data.TFRecordDataset(path).take(1)), None)
        if first is None:
            raise ValueError(f"{path}: the record file is empty.")
        example = tf.train.Example.FromString(first.numpy())
        for name, feature in spec.items():
            if name not in example.features.feature:
                raise ValueError(f"{path}: records lack feature {name!r} that task {task.name!r} needs.")
            value = example.features.feature[name]
            length = len(value.int64_list.value) or len(value.float_list.value)
            if length != feature.shape[0]:
                raise ValueError(
                    f"{path}: feature {name!r} has length {length}, expected {feature.shape[0]} "
                    f"(--max_seq_length {max_seq_length} for task {task.name!r})."
                )


def finetuning_dataset_fn(files, task, max_seq_length, training, bucket=True, smallest_bucket=32, seed=12345):
    """`make(batch_size)` for the records in `files`.

    Training: shuffled deterministically (seeded, the same order on every start), repeated, batched
    with `drop_remainder`. Evaluation: every example once, in record order, each carrying its index
    (`_example_index`) so outputs can be put back in that order after bucketing reorders them.
    """
    files = [files] if isinstance(files, str) else list(files)
    parse = _parse_fn(task, max_seq_length, training)
    boundaries = length_boundaries(max_seq_length, smallest_bucket)

    def make(batch_size):
        dataset = tf.data.Dataset.from_tensor_slices(files)
        dataset = dataset.interleave(tf.data.TFRecordDataset, cycle_length=1)
        dataset = dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if training:
            # Buffer 100 as the original; seeded so a resumed run replays the same stream.
            dataset = dataset.shuffle(100, seed=seed, reshuffle_each_iteration=True).repeat()
        else:
            dataset = dataset.enumerate().map(lambda i, f: dict(f, **{EXAMPLE_INDEX: i}))
        if bucket:
            dataset = bucket_by_length(dataset, batch_size, max_seq_length, boundaries, drop_remainder=training)
        else:
            dataset = dataset.batch(batch_size, drop_remainder=training)
        return dataset.prefetch(tf.data.AUTOTUNE)

    return make

