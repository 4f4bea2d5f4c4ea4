"""The derived which-file task: held-out split by position, balanced classes, records the runner reads."""

import numpy as np
import pytest
import tensorflow as tf

from albert_tf.data.schemas import CLASSIFICATION_SCHEMA, feature_spec
from data_prep.source_task import read_tsv, write_source_task, write_task_records
from tests.data_prep.generated_text import random_documents


def test_task_and_records(tmp_path, tokenizer):
    files = []
    for seed, name in ((3, "alpha"), (4, "beta"), (5, "gamma")):
        sentences = [s for d in random_documents(seed, 10, sentences=(6, 10), words=(6, 12)) for s in d]
        path = tmp_path / f"{name}.txt"
        path.write_text("\n".join(sentences) + "\n")
        files.append(str(path))
    task = write_source_task(files, str(tmp_path / "task"), fmt="lines", max_train_per_class=15, max_dev_per_class=4)
    assert task.labels == ["alpha", "beta", "gamma"]
    train, dev = read_tsv(task.train_file), read_tsv(task.dev_file)
    assert [label for _, label in train].count("beta") == 15 and len(dev) == 12
    held_out = open(task.heldout).read()
    assert all(sentence in held_out for sentence, _ in dev)  # dev sentences never reach pretraining
    corpus = open(task.corpus).read().splitlines()
    assert not any(sentence in corpus for sentence, _ in dev)

    paths = write_task_records(task, tokenizer, 24, str(tmp_path / "records"))
    spec = feature_spec(CLASSIFICATION_SCHEMA, max_seq_length=24)
    parsed = [tf.io.parse_single_example(r, spec) for r in tf.data.TFRecordDataset(paths["dev"])]
    assert len(parsed) == 12
    labels = [task.labels[int(p["label_ids"][0])] for p in parsed]
    assert labels == [label for _, label in dev]
    first = parsed[0]
    expected = tokenizer.encode(dev[0][0], max_seq_length=24)
    np.testing.assert_array_equal(first["input_ids"].numpy(), expected["input_ids"])
    np.testing.assert_array_equal(first["input_mask"].numpy(), expected["input_mask"])


def test_few_label_records_hold_that_many_sentences_per_class(tmp_path, tokenizer):
    files = []
    for seed, name in ((3, "alpha"), (4, "beta")):
        sentences = [s for d in random_documents(seed, 10, sentences=(6, 10), words=(6, 12)) for s in d]
        path = tmp_path / f"{name}.txt"
        path.write_text("\n".join(sentences) + "\n")
        files.append(str(path))
    task = write_source_task(files, str(tmp_path / "task"), fmt="lines", max_train_per_class=15, max_dev_per_class=4)
    spec = feature_spec(CLASSIFICATION_SCHEMA, max_seq_length=24)

    def labels(seed):
        paths = write_task_records(task, tokenizer, 24, str(tmp_path / f"few{seed}"), train_per_class=3, seed=seed)
        parsed = [tf.io.parse_single_example(r, spec) for r in tf.data.TFRecordDataset(paths["train"])]
        dev = sum(1 for _ in tf.data.TFRecordDataset(paths["dev"]))
        return sorted(int(p["label_ids"][0]) for p in parsed), [p["input_ids"].numpy().tolist() for p in parsed], dev

    first, ids, dev = labels(1)
    assert first == [0, 0, 0, 1, 1, 1] and dev == 8  # the dev split is never cut
    assert labels(1)[1] == ids and labels(2)[1] != ids  # the seed draws the sentences
    with pytest.raises(ValueError, match=r"train.tsv: 16 sentences per class were asked for; these classes have fewer"):
        write_task_records(task, tokenizer, 24, str(tmp_path / "many"), train_per_class=16)
