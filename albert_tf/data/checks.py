"""Checks of pretraining TFRecords against the flags and the model config, before any training step.

`check_pretraining_files` reads the first records of every file (and the `*.summary.json` that
`albert-create-pretraining-data` writes beside its shards, when there is one) and raises a
`UserInputError` naming the file, the feature and both values on the first mismatch: a missing feature,
another `max_seq_length` or `max_predictions_per_seq`, ids outside `[0, vocab_size)`, positions outside
the sequence, a foreign or truncated file. Without it such records fail deep inside the model
("indices[0,11] = 119 is not in [0, 100)") or, for negative ids, silently wrap around.
`find_unreadable_file` names the shard behind a `DataLossError` met later in a run.

Example (a record written with 4 ids, read with ``--max_seq_length 8``):

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "short.tfrecord")
>>> ints = lambda n: tf.train.Feature(int64_list=tf.train.Int64List(value=[1] * n))
>>> features = {name: ints(4) for name in ("input_ids", "input_mask", "segment_ids")}
>>> features.update(masked_lm_positions=ints(2), masked_lm_ids=ints(2), next_sentence_labels=ints(1),
...                 masked_lm_weights=tf.train.Feature(float_list=tf.train.FloatList(value=[1.0, 1.0])))
>>> with tf.io.TFRecordWriter(path) as writer:
...     writer.write(tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString())
>>> check_pretraining_files([path], max_seq_length=4, max_predictions_per_seq=2, vocab_size=30)["records_checked"]
1
>>> check_pretraining_files([path], max_seq_length=8, max_predictions_per_seq=2)
Traceback (most recent call last):
...
albert_tf.errors.UserInputError: ...short.tfrecord, record 0: feature input_ids has 4 values; this run expects 8 (--max_seq_length 8).
"""

from __future__ import annotations

import glob
import json
import os
import time
from typing import Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from albert_tf.data.schemas import PRETRAINING_MODEL_FEATURES, PRETRAINING_SCHEMA, resolve_lengths
from albert_tf.errors import UserInputError

# Features holding token ids (checked against the vocabulary) and positions (against the sequence).
_ID_FEATURES = ("input_ids", "masked_lm_ids")
_POSITION_FEATURES = ("masked_lm_positions",)
_BINARY_FEATURES = ("input_mask", "segment_ids", "next_sentence_labels")


def _summaries_for(files):
    """`{file: (summary path, flags)}` from the `*.summary.json` files beside the inputs."""
    found = {}
    for directory in sorted({os.path.dirname(os.path.abspath(f)) for f in files}):
        for path in glob.glob(os.path.join(directory, "*.summary.json")):
            try:
                with open(path, encoding="utf-8") as f:
                    summary = json.load(f)
            except (OSError, json.JSONDecodeError):
                continue
            flags = summary.get("flags") or {}
            for shard in summary.get("shards") or {}:
                found[os.path.abspath(shard)] = (path, flags)
    return found


def check_pretraining_files(
    files: Sequence[str],
    max_seq_length: int,
    max_predictions_per_seq: int,
    vocab_size: Optional[int] = None,
    records_per_file: int = 8,
    originals: Optional[Mapping[str, str]] = None,
) -> dict:
    """Checks the first `records_per_file` records of every file; returns what was checked.

    `originals` maps a file read in place of another (a repaired copy) to that other file, whose
    `*.summary.json` then applies and which errors name too.

    Raises:
        UserInputError: naming the file (and record), the feature and both values.
    """
    originals = originals or {}
    started = time.time()
    lengths = resolve_lengths(PRETRAINING_SCHEMA, max_seq_length=max_seq_length,
                              max_predictions_per_seq=max_predictions_per_seq)
    flags = {"max_seq_length": max_seq_length, "max_predictions_per_seq": max_predictions_per_seq}
    used_summaries = set()
    checked = 0
    summaries = _summaries_for([originals.get(path, path) for path in files])
    for path in files:
        original = originals.get(path, path)
        name = path if original == path else f"{original} (read as its repaired copy {path})"
        summary = summaries.get(os.path.abspath(original))
        if summary:
            used_summaries.add(summary[0])
            for flag, value in flags.items():
                stored = summary[1].get(flag)
                if stored is not None and int(stored) != value:
                    raise UserInputError(
                        f"{original} was written with {flag}={stored} ({summary[0]}); this run has --{flag} {value}."
                    )
        records = []
        try:
            for record in tf.data.TFRecordDataset(path).take(records_per_file).as_numpy_iterator():
                records.append(record)
        except (tf.errors.DataLossError, tf.errors.OutOfRangeError, tf.errors.NotFoundError) as error:
            if records:
                raise UserInputError(
                    f"{name}: record {len(records)} is unreadable ({_first_line(error)}); remove or rebuild that "
                    "shard, or pass --skip_corrupt_records (albert-pretrain) to skip its corrupt records."
                ) from None
            raise UserInputError(
                f"{name} is not a readable TFRecord file ({_first_line(error)}); if it is one whose first record is "
                "corrupt, --skip_corrupt_records (albert-pretrain) skips that record."
            ) from None
        if not records:
            raise UserInputError(f"{name} holds no records.")
        for index, record in enumerate(records):
            _check_record(name, index, record, lengths, flags, vocab_size, max_seq_length)
            checked += 1
    return {"files": len(files), "records_checked": checked, "summaries": len(used_summaries),
            "seconds": round(time.time() - started, 3)}


def _check_record(path, index, record, lengths, flags, vocab_size, max_seq_length):
    where = f"{path}, record {index}"
    try:
        example = tf.train.Example.FromString(record)
    except Exception:  # noqa: BLE001 (protobuf's DecodeError is not importable by a stable name)
        raise UserInputError(f"{where} is not a tf.train.Example (a foreign TFRecord file?).") from None
    features = example.features.feature
    missing = [name for name in PRETRAINING_MODEL_FEATURES if name not in features]
    if missing:
        raise UserInputError(
            f"{where} lacks the pretraining features {', '.join(missing)} (it has {', '.join(sorted(features)) or 'none'})."
        )
    for name in PRETRAINING_MODEL_FEATURES:
        feature = features[name]
        values = np.asarray(feature.float_list.value if name == "masked_lm_weights" else feature.int64_list.value)
        if len(values) != lengths[name]:
            flag = next((f for f in flags if lengths[name] == flags[f]), None)
            hint = f" (--{flag} {flags[flag]})" if flag else ""
            raise UserInputError(f"{where}: feature {name} has {len(values)} values; this run expects {lengths[name]}{hint}.")
        if name in _ID_FEATURES:
            if values.size and values.min() < 0:
                raise UserInputError(f"{where}: feature {name} holds the negative id {int(values.min())}.")
            if vocab_size is not None and values.size and values.max() >= vocab_size:
                raise UserInputError(
                    f"{where}: feature {name} holds id {int(values.max())}, outside the config's vocab_size {vocab_size}."
                )
        if name in _POSITION_FEATURES and values.size and (values.min() < 0 or values.max() >= max_seq_length):
            raise UserInputError(
                f"{where}: feature {name} holds position {int(values.max() if values.max() >= max_seq_length else values.min())}, "
                f"outside --max_seq_length {max_seq_length}."
            )
        if name in _BINARY_FEATURES and values.size and (values.min() < 0 or values.max() > 1):
            raise UserInputError(f"{where}: feature {name} holds {int(values.max())}; expected 0 or 1.")


def unreadable_files(files: Sequence[str], first_only: bool = False) -> list:
    """The files that cannot be read to their end, each as ``"path (after N records: reason)"``.

    Reads every record through TensorFlow's reader, which stops at a file's first bad record: meant
    for after a `DataLossError`, to name the shard behind it. (`albert-pretrain --skip_corrupt_records`
    classifies records one by one with `data_prep.tfrecord.scan_tfrecord_file` instead.)
    """
    found = []
    for path in files:
        count = 0
        try:
            for _ in tf.data.TFRecordDataset(path):
                count += 1
        except (tf.errors.DataLossError, tf.errors.OutOfRangeError) as error:
            found.append(f"{path} (after {count} records: {_first_line(error)})")
            if first_only:
                break
    return found


def find_unreadable_file(files: Sequence[str]) -> Optional[str]:
    """The first of `files` that cannot be read to its end, with the reason; None when all read."""
    found = unreadable_files(files, first_only=True)
    return found[0] if found else None


def _first_line(error) -> str:
    text = str(getattr(error, "message", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__
