"""albert_tf.data.pretraining_dataset: our records and the original's, shapes, sharding, dynamic masking."""

import numpy as np
import pytest
import tensorflow as tf

from albert_tf.data import (
    DynamicMasking,
    dynamic_mask,
    pretraining_dataset,
    restore_original_ids,
)
from tests.data_prep.generated_text import random_documents, train_tiny_model, write_documents

SEQ, PREDS = 48, 8
MODEL_KEYS = {"input_ids", "input_mask", "segment_ids", "masked_lm_positions", "masked_lm_ids",
              "masked_lm_weights", "next_sentence_labels"}


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """Three shards from albert-create-pretraining-data and two from the original algorithm."""
    from albert_tf.text.tokenizer import AlbertTokenizer
    from data_prep import original_algorithm as original
    from data_prep.pretraining import PretrainingDataConfig, create_pretraining_data

    directory = tmp_path_factory.mktemp("records")
    model = train_tiny_model(directory)
    corpus = write_documents(directory / "corpus.txt", random_documents(11, 60))
    create_pretraining_data(PretrainingDataConfig(
        input_file=corpus, output_file=str(directory / "ours-{shard}.tfrecord"), spm_model_file=model,
        max_seq_length=SEQ, max_predictions_per_seq=PREDS, dupe_factor=2, num_output_shards=3,
        block_tokens=1000, num_workers=1, progress=False))
    tokenizer = AlbertTokenizer(model)
    flags = original.OriginalFlags(max_seq_length=SEQ, max_predictions_per_seq=PREDS, dupe_factor=1)
    instances = original.create_instances([corpus], tokenizer, flags, np.random.RandomState(0))
    theirs = [str(directory / f"original-{i}.tfrecord") for i in range(2)]
    original.write_instances(instances, tokenizer, flags, theirs)
    return {"ours": str(directory / "ours-*.tfrecord"), "theirs": theirs, "instances": instances,
            "tokenizer": tokenizer}


def count(pattern):
    return sum(1 for _ in tf.data.TFRecordDataset(tf.io.gfile.glob(pattern) if isinstance(pattern, str) else pattern))


def test_training_batches_have_static_shapes_and_the_trainer_dtypes(records):
    ds = pretraining_dataset(records["ours"], 16, SEQ, PREDS, is_training=True, seed=1)
    spec = ds.element_spec
    assert set(spec) == MODEL_KEYS
    assert spec["input_ids"].shape == (16, SEQ) and spec["input_ids"].dtype == tf.int32
    assert spec["masked_lm_weights"].shape == (16, PREDS) and spec["masked_lm_weights"].dtype == tf.float32
    assert spec["next_sentence_labels"].shape == (16, 1)
    batches = list(ds.take(30).as_numpy_iterator())  # repeats past the end of the data
    assert len(batches) == 30
    again = list(pretraining_dataset(records["ours"], 16, SEQ, PREDS, is_training=True, seed=1).take(2).as_numpy_iterator())
    np.testing.assert_array_equal(again[1]["input_ids"], batches[1]["input_ids"])
    other = next(iter(pretraining_dataset(records["ours"], 16, SEQ, PREDS, is_training=True, seed=2)))
    assert not np.array_equal(other["input_ids"].numpy(), batches[0]["input_ids"])


def test_reads_the_original_scripts_records_in_order(records):
    n = len(records["instances"])
    ds = pretraining_dataset(records["theirs"], 7, SEQ, PREDS, is_training=False, drop_remainder=False,
                             include_token_boundary=True)
    rows = {k: np.concatenate([b[k] for b in ds.as_numpy_iterator()]) for k in MODEL_KEYS | {"token_boundary"}}
    assert len(rows["input_ids"]) == n
    # Record i of file (i mod 2): files are read in order, file 0 first.
    first = records["instances"][0]
    tokenizer = records["tokenizer"]
    ids = tokenizer.convert_tokens_to_ids(first.tokens)
    assert rows["input_ids"][0, :len(ids)].tolist() == ids and rows["input_ids"][0, len(ids):].sum() == 0
    assert rows["token_boundary"][0, :len(ids)].tolist() == first.token_boundary
    assert rows["next_sentence_labels"][0, 0] == int(first.is_random_next)
    dropped = pretraining_dataset(records["theirs"], 7, SEQ, PREDS, is_training=False)
    assert sum(1 for _ in dropped) == n // 7
    with pytest.raises(ValueError, match="no TFRecord file matches"):
        pretraining_dataset("/nonexistent/*.tfrecord", 2, SEQ, PREDS, is_training=False)


def test_input_context_splits_files_and_batches_per_replica(records):
    total = count(records["ours"])
    seen = 0
    for pipeline in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pipeline, num_replicas_in_sync=4)
        ds = pretraining_dataset(records["ours"], 16, SEQ, PREDS, is_training=False, input_context=context,
                                 drop_remainder=False)
        sizes = [len(b["input_ids"]) for b in ds.as_numpy_iterator()]
        assert max(sizes) == 4  # global batch 16 over 4 replicas
        seen += sum(sizes)
    assert seen == total  # the two pipelines read disjoint files that cover everything


def test_strategy_gives_a_distributed_dataset(records):
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    ds = pretraining_dataset(records["ours"], 8, SEQ, PREDS, is_training=True, strategy=strategy, seed=0)
    batch = next(iter(ds))
    assert batch["input_ids"].shape == (8, SEQ)


def word_units_from_boundary(ids, mask, boundary, cls_id, sep_id):
    units = np.full(len(ids), -1)
    current = -1
    for i in range(int(mask.sum())):
        if ids[i] in (cls_id, sep_id):
            continue
        if boundary[i] or current < 0:
            current += 1
        units[i] = current
    return units


def test_restore_original_ids_undoes_the_static_masks(records):
    tokenizer = records["tokenizer"]
    ds = pretraining_dataset(records["theirs"], len(records["instances"]), SEQ, PREDS, is_training=False,
                             drop_remainder=False, include_token_boundary=True)
    batch = next(iter(ds))
    restored = restore_original_ids(batch).numpy()
    # Instances were written round-robin to two files, read back file 0 first.
    order = list(range(0, len(records["instances"]), 2)) + list(range(1, len(records["instances"]), 2))
    for row, index in enumerate(order[:40]):
        instance = records["instances"][index]
        original_tokens = list(instance.tokens)
        for position, label in zip(instance.masked_lm_positions, instance.masked_lm_labels):
            original_tokens[position] = label
        ids = tokenizer.convert_tokens_to_ids(original_tokens)
        assert restored[row, :len(ids)].tolist() == ids


def test_dynamic_masking_follows_the_original_algorithm(records):
    tokenizer = records["tokenizer"]
    masking = DynamicMasking(vocab_size=tokenizer.vocab_size, cls_id=tokenizer.cls_id, sep_id=tokenizer.sep_id,
                             mask_id=tokenizer.mask_id, seed=5)
    ds = pretraining_dataset(records["ours"], 32, SEQ, PREDS, is_training=True, seed=3,
                             dynamic_masking=masking, include_token_boundary=True)
    predictions = tokens = masked = kept = 0
    for batch in ds.take(20).as_numpy_iterator():
        plain = {k: v for k, v in batch.items()}
        for r in range(32):
            ids, mask, weights = plain["input_ids"][r], plain["input_mask"][r], plain["masked_lm_weights"][r]
            positions = plain["masked_lm_positions"][r][weights > 0]
            labels = plain["masked_lm_ids"][r][weights > 0]
            length = int(mask.sum())
            budget = min(PREDS, max(1, int(round(length * 0.15))))
            assert len(positions) <= budget and positions.tolist() == sorted(positions.tolist())
            assert (plain["masked_lm_positions"][r][weights == 0] == 0).all()
            original_ids = ids.copy()
            original_ids[positions] = labels
            assert not np.isin(labels, [tokenizer.cls_id, tokenizer.sep_id]).any()
            units = word_units_from_boundary(original_ids, mask, plain["token_boundary"][r],
                                             tokenizer.cls_id, tokenizer.sep_id)
            chosen = set(units[positions].tolist())
            assert set(np.nonzero(np.isin(units, list(chosen)))[0].tolist()) == set(positions.tolist())
            predictions += len(positions)
            tokens += length
            masked += int((ids[positions] == tokenizer.mask_id).sum())
            kept += int((ids[positions] == labels).sum())
    assert abs(masked / predictions - 0.8) < 0.04 and abs(kept / predictions - 0.1) < 0.04
    assert 0.12 < predictions / tokens < 0.17


def test_dynamic_masks_are_fresh_every_epoch_and_reproducible(records):
    tokenizer = records["tokenizer"]
    masking = DynamicMasking(vocab_size=tokenizer.vocab_size, seed=9)

    def two_epochs():
        # One batch is one whole epoch of the file, so batch k holds epoch k.
        n = count(records["theirs"][0])
        ds = pretraining_dataset(records["theirs"][0], n, SEQ, PREDS, is_training=False, repeat=True,
                                 dynamic_masking=masking)
        first, second = ds.take(2).as_numpy_iterator()
        return [first], [second]

    first, second = two_epochs()
    # The same records (same original tokens) with different masks in the second epoch.
    for a, b in zip(first, second):
        np.testing.assert_array_equal(restore_original_ids(a).numpy(), restore_original_ids(b).numpy())
    assert any(not np.array_equal(a["masked_lm_positions"], b["masked_lm_positions"]) for a, b in zip(first, second))
    replay, _ = two_epochs()
    for a, b in zip(first, replay):
        np.testing.assert_array_equal(a["masked_lm_positions"], b["masked_lm_positions"])
        np.testing.assert_array_equal(a["input_ids"], b["input_ids"])


def test_dynamic_mask_matches_the_numpy_masker_statistics(records):
    """The TF and NumPy implementations of the same algorithm agree on the prediction counts."""
    from data_prep.masking import MaskingConfig, mask_batch

    tokenizer = records["tokenizer"]
    ds = pretraining_dataset(records["ours"], 256, SEQ, PREDS, is_training=False, drop_remainder=True,
                             include_token_boundary=True)
    batch = next(iter(ds))
    ids = restore_original_ids(batch).numpy()
    lengths = batch["input_mask"].numpy().sum(axis=1)
    # A start table reproducing the file's boundaries: the tiny vocabulary's own rule.
    from data_prep.masking import start_piece_table

    pieces = [tokenizer.sp_model.IdToPiece(i) for i in range(tokenizer.vocab_size)]
    config = MaskingConfig(vocab_size=tokenizer.vocab_size, cls_id=tokenizer.cls_id, sep_id=tokenizer.sep_id,
                           mask_id=tokenizer.mask_id, start_table=start_piece_table(pieces),
                           max_predictions_per_seq=PREDS)
    numpy_counts = mask_batch(ids, lengths, np.random.default_rng(0), config).masked_lm_weights.sum(axis=1)
    masking = DynamicMasking(vocab_size=tokenizer.vocab_size, cls_id=tokenizer.cls_id, sep_id=tokenizer.sep_id,
                             mask_id=tokenizer.mask_id)
    out = dynamic_mask(dict(batch), masking, tf.constant([1, 2], tf.int64), PREDS)
    tf_counts = out["masked_lm_weights"].numpy().sum(axis=1)
    assert abs(tf_counts.mean() - numpy_counts.mean()) < 0.15
    assert (tf_counts <= np.minimum(PREDS, np.maximum(1, np.rint(lengths * 0.15)))).all()


def test_batches_feed_the_pretrainer(records):
    import keras

    from albert_tf import AlbertPretrainer
    from tests.conftest import tiny_config

    tokenizer = records["tokenizer"]
    config = tiny_config(vocab_size=tokenizer.vocab_size, max_position_embeddings=SEQ)
    keras.utils.set_random_seed(0)
    model = AlbertPretrainer(config)
    model.compile(optimizer="adam")
    for pattern, masking in ((records["theirs"], None), (records["ours"], DynamicMasking(vocab_size=tokenizer.vocab_size, seed=1))):
        ds = pretraining_dataset(pattern, 4, SEQ, PREDS, is_training=True, seed=0, dynamic_masking=masking)
        history = model.fit(ds, steps_per_epoch=2, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][-1])
        assert "masked_lm_accuracy" in history.history


def test_skip_corrupt_records_ends_a_file_at_its_first_corrupt_record(records, tmp_path):
    """The library's flag keeps TensorFlow's reader: the rest of the damaged file is lost with the bad
    record (albert-pretrain repairs shards record by record instead; tests/tools)."""
    from data_prep.tfrecord import frame, read_records

    files = []
    for path in sorted(tf.io.gfile.glob(records["ours"])):
        files.append(str(tmp_path / path.rsplit("/", 1)[-1]))
        tf.io.gfile.copy(path, files[-1])
    first = list(read_records(files[0]))
    offset = sum(len(frame(r)) for r in first[:3]) + 12 + 5
    with open(files[0], "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))

    def rows(**kwargs):
        ds = pretraining_dataset(files, 1, SEQ, PREDS, is_training=False, drop_remainder=False, **kwargs)
        return sum(1 for _ in ds)

    with pytest.raises(tf.errors.DataLossError):
        rows()
    assert rows(skip_corrupt_records=True) == 3 + count(files[1:])
