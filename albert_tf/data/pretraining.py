"""tf.data input for pretraining: the original's TFRecords (ours or the original script's), batched for
``AlbertPretrainer.fit``, optionally re-masked with fresh n-gram masks every epoch.

The training pipeline follows the original ``run_pretraining.py`` input function: the file list is
shuffled and repeated, files are read interleaved (every file at once by default, up to 64), records are
shuffled, batched with ``drop_remainder`` for static shapes and parsed with the fixed-length schema
of :mod:`albert_tf.data.schemas`; int64 features become int32. Under a ``tf.distribute`` strategy,
each input pipeline reads its share of the files and batches per replica.

**Dynamic masking** (beyond the original, whose ``masked_lm_budget`` mode never worked): with
``dynamic_masking=DynamicMasking(...)`` every batch is re-masked inside the graph with the original
algorithm — whole-word n-grams over ``token_boundary`` word units, n ∝ 1/n, budget
``min(P, max(1, round(len · p)))``, shorter fall-back, 80/10/10 — after restoring the original
tokens from ``masked_lm_positions``/``masked_lm_ids``. A counter over batches seeds the stateless
draws, so masks differ every epoch yet are reproducible for a given ``seed``.

Example:

>>> ds = pretraining_dataset("out-*.tfrecord", batch_size=32, max_seq_length=128,
...                          max_predictions_per_seq=20, is_training=True)  # doctest: +SKIP
>>> model.fit(ds, steps_per_epoch=1000)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence, Union

import numpy as np
import tensorflow as tf

from albert_tf.errors import UserInputError
from albert_tf.data.schemas import (
    PRETRAINING_MODEL_FEATURES,
    PRETRAINING_SCHEMA,
    pretraining_feature_spec,
)


@dataclasses.dataclass(frozen=True)
class DynamicMasking:
    """Settings for re-masking batches inside tf.data (the original flags' names and defaults).

    ``cls_id``/``sep_id``/``mask_id`` default to the ALBERT SentencePiece ids (2, 3, 4);
    ``vocab_size`` bounds the random replacements (any id, special ids included, as the original).

    Example:

    >>> DynamicMasking(vocab_size=30000).masked_lm_prob
    0.15
    """

    vocab_size: int
    masked_lm_prob: float = 0.15
    ngram: int = 3
    favor_shorter_ngram: bool = True
    do_whole_word_mask: bool = True
    cls_id: int = 2
    sep_id: int = 3
    mask_id: int = 4
    seed: Optional[int] = None

    def __post_init__(self):
        if self.vocab_size < 1:
            raise ValueError(f"DynamicMasking.vocab_size must be positive; got {self.vocab_size}")
        if not 0.0 <= self.masked_lm_prob <= 1.0:
            raise ValueError(f"DynamicMasking.masked_lm_prob must be in [0, 1]; got {self.masked_lm_prob}")
        if self.ngram < 1:
            raise ValueError(f"DynamicMasking.ngram must be at least 1; got {self.ngram}")

    def ngram_probabilities(self) -> np.ndarray:
        weights = 1.0 / np.arange(1, self.ngram + 1)
        if not self.favor_shorter_ngram:
            weights = weights[::-1]
        return weights / weights.sum()


def list_files(file_pattern: Union[str, Sequence[str]]) -> list:
    """Files of a glob, a comma-separated list of globs, or a list; each glob sorted."""
    patterns = [file_pattern] if isinstance(file_pattern, str) else list(file_pattern)
    parts = [p.strip() for pattern in patterns for p in str(pattern).split(",") if p.strip()]
    if not parts:
        raise ValueError("file_pattern is empty; expected TFRecord files or globs")
    files = []
    for part in parts:
        matches = sorted(tf.io.gfile.glob(part))
        if not matches:
            raise ValueError(f"no TFRecord file matches {part!r}")
        files.extend(matches)
    return files


def parse_pretraining_batch(serialized, max_seq_length: int, max_predictions_per_seq: int,
                            keep=PRETRAINING_MODEL_FEATURES) -> dict:
    """Parses a batch of serialized Examples; int64 features become int32 (as the original)."""
    spec = pretraining_feature_spec(max_seq_length, max_predictions_per_seq)
    parsed = tf.io.parse_example(serialized, {name: spec[name] for name in keep})
    return {name: tf.cast(value, tf.int32) if value.dtype == tf.int64 else value for name, value in parsed.items()}


def restore_original_ids(features: dict) -> tf.Tensor:
    """``input_ids`` with every masked position put back to its label (``masked_lm_ids``)."""
    ids = features["input_ids"]
    positions = tf.cast(features["masked_lm_positions"], tf.int32)
    current = tf.gather(ids, positions, batch_dims=1)
    updates = tf.where(features["masked_lm_weights"] > 0, tf.cast(features["masked_lm_ids"], ids.dtype), current)
    rows = tf.broadcast_to(tf.range(tf.shape(ids)[0])[:, None], tf.shape(positions))
    indices = tf.stack([rows, positions], axis=-1)
    # Padding predictions point at position 0 and write back what is there, so duplicates agree.
    return tf.tensor_scatter_nd_update(ids, indices, updates)


def dynamic_mask(features: dict, config: DynamicMasking, seed, max_predictions_per_seq: int) -> dict:
    """Re-masks a batch (dict of ``[B, S]``/``[B, P]`` tensors) with the original n-gram algorithm.

    ``seed`` is a shape-[2] integer tensor for the stateless random ops. Returns a new dict with
    ``input_ids``, ``masked_lm_positions``, ``masked_lm_ids`` and ``masked_lm_weights`` replaced.
    """
    ids = restore_original_ids(features)
    mask = tf.cast(features["input_mask"], tf.int32)
    boundary = tf.cast(features["token_boundary"], tf.int32) > 0
    batch = tf.shape(ids)[0]
    width = tf.shape(ids)[1]
    max_pred = max_predictions_per_seq
    ngram = config.ngram
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=4)

    valid = mask > 0
    special = tf.equal(ids, config.cls_id) | tf.equal(ids, config.sep_id)
    candidates = valid & ~special
    cand_int = tf.cast(candidates, tf.int32)
    if config.do_whole_word_mask:
        earlier = tf.cumsum(cand_int, axis=1, exclusive=True)
        unit_start = candidates & (boundary | tf.equal(earlier, 0))
    else:
        unit_start = candidates
    unit_of_token = tf.where(candidates, tf.cumsum(tf.cast(unit_start, tf.int32), axis=1) - 1, -1)
    num_units = tf.reduce_sum(tf.cast(unit_start, tf.int32), axis=1)

    # Tokens per unit; non-candidates go to a dump segment past the end.
    rows = tf.range(batch)[:, None]
    segment = tf.where(candidates, rows * width + unit_of_token, batch * width)
    sizes = tf.math.unsorted_segment_sum(cand_int, segment, batch * width + 1)[:-1]
    sizes = tf.reshape(sizes, [batch, width])
    csum = tf.concat([tf.zeros([batch, 1], tf.int32), tf.cumsum(sizes, axis=1)], axis=1)

    lengths = tf.reduce_sum(mask, axis=1)
    if config.masked_lm_prob == 0:
        budget = tf.zeros_like(lengths)
    else:
        wanted = tf.cast(tf.round(tf.cast(lengths, tf.float64) * config.masked_lm_prob), tf.int32)
        budget = tf.minimum(max_pred, tf.maximum(1, wanted))

    position = tf.range(width)[None, :]
    keys = tf.random.stateless_uniform([batch, width], seeds[0], dtype=tf.float32)
    keys = tf.where(position < num_units[:, None], keys, 2.0)
    order = tf.argsort(keys, axis=1, stable=True)
    cdf = tf.constant(np.cumsum(config.ngram_probabilities()), tf.float32)
    draws = tf.random.stateless_uniform([batch, width], seeds[1], dtype=tf.float32)
    drawn = tf.cast(tf.searchsorted(tf.broadcast_to(cdf, [batch, ngram]), draws, side="right"), tf.int32) + 1
    drawn = tf.minimum(drawn, ngram)
    offsets = tf.range(ngram)[None, :]

    def cond(j, covered, count):
        active = (j < num_units) & (count < budget)
        return (j < width) & tf.reduce_any(active)

    def body(j, covered, count):
        active = (j < num_units) & (count < budget)
        unit = order[:, j]
        n_drawn = drawn[:, j]
        room = budget - count
        start = tf.gather(csum, unit[:, None], batch_dims=1)[:, 0]
        chosen = tf.zeros_like(unit)
        chosen_size = tf.zeros_like(unit)
        for n in range(ngram, 0, -1):
            end = tf.minimum(unit + n, num_units)
            size = tf.gather(csum, end[:, None], batch_dims=1)[:, 0] - start
            take = tf.equal(chosen, 0) & (n <= n_drawn) & (size <= room)
            chosen = tf.where(take, n, chosen)
            chosen_size = tf.where(take, size, chosen_size)
        span = tf.minimum(unit + chosen, num_units) - unit
        unit_index = unit[:, None] + offsets
        in_span = offsets < span[:, None]
        overlap = tf.reduce_any(tf.gather(covered, unit_index, batch_dims=1) & in_span, axis=1)
        accept = active & (chosen > 0) & ~overlap
        marks = tf.one_hot(unit_index, width + ngram, on_value=True, off_value=False, dtype=tf.bool)
        marks = tf.reduce_any(marks & (in_span & accept[:, None])[:, :, None], axis=1)
        return j + 1, covered | marks, count + tf.where(accept, chosen_size, 0)

    covered0 = tf.zeros([batch, width + ngram], tf.bool)
    _, covered, _ = tf.while_loop(
        cond, body, [tf.constant(0), covered0, tf.zeros([batch], tf.int32)],
        shape_invariants=[tf.TensorShape([]), tf.TensorShape([None, None]), tf.TensorShape([None])],
    )
    selected = candidates & tf.gather(covered, tf.maximum(unit_of_token, 0), batch_dims=1)

    decision = tf.random.stateless_uniform([batch, width], seeds[2], dtype=tf.float32)
    random_ids = tf.random.stateless_uniform(
        [batch, width], seeds[3], minval=0, maxval=config.vocab_size, dtype=tf.int32
    )
    replacement = tf.where(decision < 0.8, tf.cast(config.mask_id, ids.dtype),
                           tf.where(decision < 0.9, ids, tf.cast(random_ids, ids.dtype)))
    new_ids = tf.where(selected, replacement, ids)

    sort_keys = tf.where(selected, position, width)
    first = tf.sort(sort_keys, axis=1)[:, :max_pred]
    first = tf.pad(first, [[0, 0], [0, tf.maximum(0, max_pred - tf.shape(first)[1])]], constant_values=width)
    real = first < width
    positions = tf.where(real, first, 0)
    labels = tf.where(real, tf.gather(ids, positions, batch_dims=1), 0)
    out = dict(features)
    out["input_ids"] = new_ids
    out["masked_lm_positions"] = tf.ensure_shape(positions, [None, max_pred])
    out["masked_lm_ids"] = tf.ensure_shape(labels, [None, max_pred])
    out["masked_lm_weights"] = tf.ensure_shape(tf.cast(real, tf.float32), [None, max_pred])
    return out


# Open files cost a read buffer each; 64 mixes any realistic shard count.
MAX_CYCLE_LENGTH = 64


def pretraining_dataset(
    file_pattern: Union[str, Sequence[str]],
    batch_size: int,
    max_seq_length: int,
    max_predictions_per_seq: int,
    is_training: bool,
    *,
    input_context: Optional[tf.distribute.InputContext] = None,
    strategy: Optional[tf.distribute.Strategy] = None,
    shuffle_buffer_size: int = 1000,
    cycle_length: Optional[int] = None,
    repeat: Optional[bool] = None,
    drop_remainder: bool = True,
    dynamic_masking: Optional[DynamicMasking] = None,
    include_token_boundary: bool = False,
    seed: Optional[int] = None,
    skip_corrupt_records: bool = False,
    include_position: bool = False,
):
    """A dataset of feature dicts for ``AlbertPretrainer`` from pretraining TFRecords.

    Args:
        file_pattern: a glob, a comma-separated list of globs, or a list of them.
        batch_size: the global batch size (split per replica under a strategy or input context).
        max_seq_length, max_predictions_per_seq: the lengths the files were written with.
        is_training: shuffle files and records and repeat (the original's training input); otherwise
            read files in order, once (``repeat=True`` repeats as the original's eval input did).
        input_context: a ``tf.distribute.InputContext``: read this pipeline's share of the files and
            batch per replica; fewer files than input pipelines is an error.
        strategy: returns ``strategy.distribute_datasets_from_function(...)`` of this function.
        shuffle_buffer_size: record shuffle buffer (the original used 100; our writers shuffle within
            blocks rather than over the whole output, so the default is larger).
        cycle_length: files read at once; default every file, up to 64. The original read 4 at a time
            from globally shuffled files, but each of our shards holds whole blocks of documents, so
            reading few shards at a time lets the mix drift over a run (a 10-shard acceptance run saw
            its sentence-order accuracy fall as it moved to shards with fewer random-document pairs).
        drop_remainder: drop the last partial batch, for static shapes (TPUs, XLA).
        dynamic_masking: re-mask every batch (see :class:`DynamicMasking`).
        include_token_boundary: also return ``token_boundary`` (the trainer ignores it).
        seed: seeds file and record shuffling (deterministic order) and, unless the
            ``DynamicMasking`` has its own, the masks.
        skip_corrupt_records: end a file at its first corrupt record (with a logged warning) instead
            of failing with ``DataLossError``. TensorFlow's reader cannot go on within a file after a
            checksum error, so every record after that one in the file is lost too; ``albert-pretrain
            --skip_corrupt_records`` instead scans the shards before training and reads repaired
            copies that lose only the bad records (``data_prep.tfrecord.repair_corrupt_files``).
        include_position: also return where each example was read, ``source_file`` (string) and
            ``source_record`` (int64, 0-based within the file); the order of the examples is the same
            as without it (``tools.locate_batches`` finds the records of a training step this way).

    Returns:
        ``tf.data.Dataset`` of dicts with ``input_ids``, ``input_mask``, ``segment_ids``,
        ``masked_lm_positions``, ``masked_lm_ids`` (int32), ``masked_lm_weights`` (float32) and
        ``next_sentence_labels`` (int32, ``[B, 1]``); or a distributed dataset with ``strategy``.

    Example:

    >>> ds = pretraining_dataset(["a.tfrecord", "b.tfrecord"], 8, 128, 20, is_training=False)  # doctest: +SKIP
    >>> next(iter(ds))["input_ids"].shape  # doctest: +SKIP
    TensorShape([8, 128])
    """
    if strategy is not None:
        return strategy.distribute_datasets_from_function(
            lambda context: pretraining_dataset(
                file_pattern, batch_size, max_seq_length, max_predictions_per_seq, is_training,
                input_context=context, shuffle_buffer_size=shuffle_buffer_size, cycle_length=cycle_length,
                repeat=repeat, drop_remainder=drop_remainder, dynamic_masking=dynamic_masking,
                include_token_boundary=include_token_boundary, seed=seed,
                skip_corrupt_records=skip_corrupt_records,
            )
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive; got {batch_size}")
    files = list_files(file_pattern)
    per_replica = batch_size
    if input_context is not None:
        per_replica = input_context.get_per_replica_batch_size(batch_size)
    repeat = is_training if repeat is None else repeat
    deterministic = seed is not None or not is_training

    dataset = tf.data.Dataset.from_tensor_slices(tf.constant(files))
    if input_context is not None and input_context.num_input_pipelines > 1:
        if len(files) < input_context.num_input_pipelines:
            raise UserInputError(
                f"{len(files)} input file(s) for {input_context.num_input_pipelines} input pipelines (workers or TPU "
                "hosts): each reads whole files, so write at least one shard per worker (--num_output_shards of "
                "albert-create-pretraining-data) or shard by record (albert-pretrain --shard_input_by record)."
            )
        dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)

    def read(path):
        records = tf.data.TFRecordDataset(path)
        if skip_corrupt_records:
            # A truncated or corrupted shard ends at its first bad record instead of stopping the run.
            records = records.ignore_errors(log_warning=True)
        if include_position:
            records = records.enumerate().map(lambda index, record: (record, path, index))
        return records
    if is_training:
        if repeat:
            dataset = dataset.repeat()
        dataset = dataset.shuffle(len(files), seed=seed)
        dataset = dataset.interleave(
            read,
            cycle_length=max(1, min(cycle_length or MAX_CYCLE_LENGTH, len(files))),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=deterministic,
        )
    else:
        dataset = dataset.flat_map(read)
        if repeat:
            dataset = dataset.repeat()
    if is_training and shuffle_buffer_size > 1:
        dataset = dataset.shuffle(shuffle_buffer_size, seed=seed)
    dataset = dataset.batch(per_replica, drop_remainder=drop_remainder)

    needs_boundary = include_token_boundary or dynamic_masking is not None
    keep = tuple(f.name for f in PRETRAINING_SCHEMA) if needs_boundary else PRETRAINING_MODEL_FEATURES

    def parse(serialized, path=None, index=None):
        features = parse_pretraining_batch(serialized, max_seq_length, max_predictions_per_seq, keep)
        if include_position:
            features.update(source_file=path, source_record=index)
        return features

    dataset = dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    if dynamic_masking is not None:
        mask_seed = dynamic_masking.seed if dynamic_masking.seed is not None else seed
        if mask_seed is None:
            mask_seed = int(np.random.SeedSequence().generate_state(1)[0] >> 1)
        pipeline = input_context.input_pipeline_id if input_context is not None else 0

        def remask(step, features):
            step_seed = tf.stack([tf.constant(mask_seed, tf.int64), step * 1024 + pipeline])
            features = dynamic_mask(features, dynamic_masking, step_seed, max_predictions_per_seq)
            if not include_token_boundary:
                features.pop("token_boundary")
            return features

        dataset = dataset.enumerate().map(remask, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    return dataset.prefetch(tf.data.AUTOTUNE)
