"""albert-locate-batches names the records a pretraining run read at given steps, and a run warns of a loss
spike with the command that finds them."""

import json
import logging

import numpy as np
import pytest
import tensorflow as tf

from albert_tf.data.pretraining import list_files, parse_pretraining_batch, pretraining_dataset
from albert_tf.training.callbacks import LossSpikeLogger
from data_prep.tfrecord import read_records
from tests.tools.test_pretrain_cli import records  # noqa: F401  (a fixture)
from tools import locate_batches


def test_the_located_records_are_the_batches_the_run_read(records, tmp_path, capsys):  # noqa: F811
    pattern = f"{records}/train-*.tfrecord"
    # What a run with this seed and batch reads at steps 3 and 4 (1-based), without positions.
    training = list(pretraining_dataset(list_files(pattern), 8, 32, 5, is_training=True, repeat=True, seed=7)
                    .skip(2).take(2).as_numpy_iterator())
    output = tmp_path / "located.tfrecord"
    assert locate_batches.main([f"--input_file={pattern}", "--train_batch_size=8", "--max_seq_length=32",
                                "--max_predictions_per_seq=5", "--seed=7", "--steps=3-4",
                                f"--output_file={output}"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["step"] for line in lines] == [3, 4] and all(len(line["records"]) == 8 for line in lines)
    located = list(read_records(str(output)))
    assert len(located) == 16
    ids = parse_pretraining_batch(tf.constant(located), 32, 5)["input_ids"].numpy()
    np.testing.assert_array_equal(ids, np.concatenate([batch["input_ids"] for batch in training]))
    # Each named (file, index) is that record of that file.
    name, index = lines[1]["records"][0]
    assert list(read_records(name))[index] == located[8]


@pytest.mark.parametrize("steps", ["0", "5-3", "x"])
def test_bad_steps_are_one_line_errors(steps, capsys):
    assert locate_batches.main(["--input_file=x", "--train_batch_size=8", f"--steps={steps}"]) == 2
    err = capsys.readouterr().err
    assert f"--steps {steps!r}" in err and "Traceback" not in err


def test_a_damaged_shard_is_named_in_one_line(tmp_path, capsys):
    broken = tmp_path / "train-00000.tfrecord"
    broken.write_bytes(b"not a tfrecord file" * 20)
    assert locate_batches.main([f"--input_file={broken}", "--train_batch_size=8", "--max_seq_length=32",
                                "--max_predictions_per_seq=5", "--steps=1"]) == 2
    err = capsys.readouterr().err
    assert f"unreadable input: {broken}" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_an_executions_own_loss_is_read_from_keras_running_means(caplog):
    # Keras reports the mean since the checkpoint interval began; executions of 2 steps with losses
    # 2, 2, 2, 2, 2, 12 give running means 2, 2, 2, 2, 2, 3.67.
    step = tf.Variable(0, dtype=tf.int64)
    spikes = LossSpikeLogger(step, factor=3.0, hint=lambda first, last: f"locate {first}-{last}")
    spikes.on_epoch_begin(0)
    losses = [2.0, 2.0, 2.0, 2.0, 2.0, 12.0]
    with caplog.at_level(logging.WARNING, logger="albert_tf.training.callbacks"):
        for execution, loss in enumerate(losses, start=1):
            step.assign(2 * execution)
            spikes.on_train_batch_end(0, {"loss": np.mean(losses[:execution])})
    assert spikes.spikes == [{"steps": [11, 12], "loss": 12.0, "median": 2.0}]
    assert "loss spike at steps 11-12: 12, 6.0x the median 2" in caplog.text and "locate 11-12" in caplog.text
