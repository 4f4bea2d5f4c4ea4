import json

import numpy as np
import pytest

from tests.tools.test_pretrain_cli import records  # noqa: F401  (fixture)
from tools import mlm_by_frequency


def test_accuracy_by_band_adds_up_and_the_baselines_are_the_records(records, tmp_path):  # noqa: F811
    import keras

    from albert_tf import AlbertConfig, AlbertPretrainer
    from albert_tf.data.pretraining import parse_pretraining_batch

    import tensorflow as tf

    keras.utils.set_random_seed(0)
    config = AlbertConfig.from_json_file(str(records / "albert_config.json"))
    model_file = str(tmp_path / "pretrainer.keras")
    AlbertPretrainer(config).save(model_file)
    shards = sorted(str(p) for p in records.glob("train-*.tfrecord"))
    out = tmp_path / "freq.json"
    args = ["--model", model_file, "--eval_records", shards[1], "--train_records", shards[0], "--max_seq_length", "32",
            "--max_predictions_per_seq", "5", "--batch_size", "16", "--output", str(out)]
    assert mlm_by_frequency.main(args) == 0
    results = json.loads(out.read_text())

    def masked(path):
        batch = parse_pretraining_batch(tf.data.TFRecordDataset([path]).batch(10_000).get_single_element(), 32, 5,
                                        keep=("masked_lm_ids", "masked_lm_weights"))
        return batch["masked_lm_ids"].numpy()[batch["masked_lm_weights"].numpy() > 0]

    train, held_out = masked(shards[0]), masked(shards[1])
    assert results["eval_tokens"] == held_out.size and results["train_tokens_counted"] == train.size
    most_frequent = np.bincount(train, minlength=config.vocab_size).argmax()
    assert results["unigram_most_frequent_accuracy"] == pytest.approx(np.mean(held_out == most_frequent))
    bands = results["by_frequency"]
    assert sum(b["share_of_tokens"] for b in bands) == pytest.approx(1.0)
    weighted = sum(b["share_of_tokens"] * b["accuracy"] for b in bands if b["accuracy"] is not None)
    assert weighted == pytest.approx(results["accuracy"])
    assert 0.0 <= results["predictions_in_top_10"] <= results["predictions_in_top_100"] <= 1.0


def test_a_glob_that_matches_nothing_is_one_line(tmp_path):
    with pytest.raises(SystemExit, match=r"--eval_records '.*nothing-\*' matches no file"):
        mlm_by_frequency.main(["--model", "m.keras", "--eval_records", str(tmp_path / "nothing-*"),
                               "--train_records", str(tmp_path / "nothing-*")])
