"""`albert-pretrain` checks its input before the first step and names the file, the feature and both values;
a shard that breaks later is named too, and `--skip_corrupt_records` skips its corrupt records only."""

import json
import os
import shutil

import pytest
import tensorflow as tf

from data_prep.tfrecord import frame, read_records
from tests.tools.test_pretrain_cli import records  # noqa: F401  (a fixture)
from tools import pretrain


def args(records_dir, output_dir, *extra, input_file=None, config="albert_config.json"):
    return [
        f"--albert_config_file={records_dir}/{config}", f"--input_file={input_file or f'{records_dir}/train-*.tfrecord'}",
        f"--output_dir={output_dir}", "--train_batch_size=8", "--max_seq_length=32", "--max_predictions_per_seq=5",
        "--num_train_steps=12", "--num_warmup_steps=2", "--save_checkpoints_steps=6", "--iterations_per_loop=1",
        "--strategy=one_device", "--precision=fp32", "--verbose=0", "--export_dir=none", *extra,  # the input is what is checked
    ]


def run(argv, capsys):
    code = pretrain.main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


@pytest.fixture(scope="module")
def lone_shard(records, tmp_path_factory):
    """A shard without its summary.json beside it: the records themselves are checked."""
    directory = tmp_path_factory.mktemp("lone")
    path = directory / "train-00000.tfrecord"
    shutil.copy(sorted(records.glob("train-*.tfrecord"))[0], path)
    return path


def write_records(path, examples):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for features in examples:
            writer.write(tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString())


def pretraining_features(**overrides):
    ints = lambda values: tf.train.Feature(int64_list=tf.train.Int64List(value=values))  # noqa: E731
    features = {
        "input_ids": ints([2] + [7] * 30 + [3]), "input_mask": ints([1] * 32), "segment_ids": ints([0] * 32),
        "token_boundary": ints([1] * 32), "masked_lm_positions": ints([1, 2, 0, 0, 0]),
        "masked_lm_ids": ints([7, 7, 0, 0, 0]), "next_sentence_labels": ints([0]),
        "masked_lm_weights": tf.train.Feature(float_list=tf.train.FloatList(value=[1.0, 1.0, 0.0, 0.0, 0.0])),
    }
    features.update({k: ints(v) for k, v in overrides.items()})
    return features


def test_lengths_other_than_the_summarys_name_the_file_and_both_values(records, tmp_path, capsys):
    code, err = run(args(records, tmp_path, "--max_seq_length=16"), capsys)
    assert code == 2
    assert "train-00000.tfrecord was written with max_seq_length=32" in err and "--max_seq_length 16" in err
    assert "summary.json" in err


def test_lengths_other_than_the_records_without_a_summary(records, lone_shard, tmp_path, capsys):
    code, err = run(args(records, tmp_path, "--max_predictions_per_seq=3", input_file=str(lone_shard)), capsys)
    assert code == 2
    assert f"{lone_shard}, record 0: feature masked_lm_positions has 5 values; this run expects 3" in err
    assert "--max_predictions_per_seq 3" in err


def test_ids_outside_the_vocabulary_and_negative_ids(records, tmp_path, capsys):
    config = json.loads((records / "albert_config.json").read_text())
    (tmp_path / "small_vocab.json").write_text(json.dumps(dict(config, vocab_size=5)))
    high = tmp_path / "high.tfrecord"
    write_records(high, [pretraining_features()])
    code, err = run(args(records, tmp_path / "a", input_file=str(high)).__add__(
        [f"--albert_config_file={tmp_path}/small_vocab.json"]), capsys)
    assert code == 2 and f"{high}, record 0: feature input_ids holds id 7, outside the config's vocab_size 5" in err

    negative = tmp_path / "negative.tfrecord"
    write_records(negative, [pretraining_features(), pretraining_features(masked_lm_ids=[7, -1, 0, 0, 0])])
    code, err = run(args(records, tmp_path / "b", input_file=str(negative)), capsys)
    assert code == 2 and f"{negative}, record 1: feature masked_lm_ids holds the negative id -1" in err


def test_foreign_and_broken_files(records, tmp_path, capsys):
    foreign = tmp_path / "foreign.tfrecord"
    write_records(foreign, [{"label": tf.train.Feature(int64_list=tf.train.Int64List(value=[1]))}])
    code, err = run(args(records, tmp_path / "a", input_file=str(foreign)), capsys)
    assert code == 2 and f"{foreign}, record 0 lacks the pretraining features input_ids" in err

    text = tmp_path / "text.tfrecord"
    text.write_text("this is not a TFRecord file at all\n" * 4)
    code, err = run(args(records, tmp_path / "b", input_file=str(text)), capsys)
    assert code == 2 and f"{text} is not a readable TFRecord file" in err

    code, err = run(args(records, tmp_path / "c", "--skip_corrupt_records", input_file=str(text)), capsys)
    assert code == 2 and "--input_file: no shard holds a readable record" in err
    assert f"{text}: 0 records kept" in err and "length header checksum mismatch at byte 0" in err


def test_a_shard_truncated_past_its_first_records_is_named_and_can_be_skipped(records, lone_shard, tmp_path, capsys):
    broken = tmp_path / "train-00000.tfrecord"
    shutil.copy(lone_shard, broken)
    offsets = frame_offsets(lone_shard)
    with open(broken, "r+b") as f:
        f.truncate(os.path.getsize(broken) // 5 + 7)  # cuts a record in the middle
    kept = sum(end <= os.path.getsize(broken) for end in offsets[1:])
    assert offsets[kept] < os.path.getsize(broken)
    code, err = run(args(records, tmp_path / "a", input_file=str(broken)), capsys)
    assert code == 2, err
    assert f"unreadable input: {broken} (after " in err and "--skip_corrupt_records" in err

    code, err = run(args(records, tmp_path / "b", "--skip_corrupt_records", input_file=str(broken)), capsys)
    assert code == 0, err
    assert "1 damaged shard(s), 0 corrupt record(s) skipped, 1 truncated tail(s) dropped" in err
    results = json.loads((tmp_path / "b" / "results.json").read_text())
    assert results["train_batches"] == 12
    copy = results["corrupt_input"]["repaired"][str(broken)]
    assert results["corrupt_input"] == {
        "shards": 1, "records_kept": kept, "records_skipped": 0, "truncated_shards": 1,
        "bytes_dropped": os.path.getsize(broken) - offsets[kept], "repaired": {str(broken): copy},
    }
    assert os.path.dirname(copy) == str(tmp_path / "b" / "repaired_input")
    assert list(read_records(copy)) == list(read_records(str(lone_shard)))[:kept]


def frame_offsets(path):
    offsets = [0]
    for record in read_records(str(path)):
        offsets.append(offsets[-1] + len(frame(record)))
    return offsets


def test_one_bad_record_costs_that_record_only(records, tmp_path, capsys):
    """A flipped byte in the third record: TensorFlow would stop the shard there (and the input check
    would fail on it); the run instead reads the shard's every other record."""
    shards = sorted(records.glob("train-*.tfrecord"))
    directory = tmp_path / "records"
    directory.mkdir()
    for shard in shards:
        shutil.copy(shard, directory / shard.name)
    shutil.copy(records / "albert_config.json", directory)
    for summary in records.glob("*.summary.json"):
        content = json.loads(summary.read_text())
        content["shards"] = {str(directory / os.path.basename(k)): v for k, v in content["shards"].items()}
        (directory / summary.name).write_text(json.dumps(content))
    broken = directory / shards[0].name
    original = list(read_records(str(broken)))
    offsets = frame_offsets(broken)
    with open(broken, "r+b") as f:
        f.seek(offsets[2] + 12 + 40)
        byte = f.read(1)
        f.seek(offsets[2] + 12 + 40)
        f.write(bytes([byte[0] ^ 0xFF]))

    code, err = run(args(directory, tmp_path / "a"), capsys)
    assert code == 2 and f"{broken}: record 2 is unreadable" in err and "--skip_corrupt_records" in err

    # The shard's summary.json still applies to its repaired copy.
    code, err = run(args(directory, tmp_path / "b", "--skip_corrupt_records", "--max_seq_length=16"), capsys)
    assert code == 2 and f"{broken} was written with max_seq_length=32" in err

    code, err = run(args(directory, tmp_path / "b", "--skip_corrupt_records"), capsys)
    assert code == 0, err
    results = json.loads((tmp_path / "b" / "results.json").read_text())
    assert results["train_batches"] == 12
    corrupt = results["corrupt_input"]
    assert (corrupt["shards"], corrupt["records_skipped"], corrupt["truncated_shards"]) == (1, 1, 0)
    assert corrupt["records_kept"] == len(original) - 1
    assert list(read_records(corrupt["repaired"][str(broken)])) == original[:2] + original[3:]
    assert "1 damaged shard(s), 1 corrupt record(s) skipped, 0 truncated tail(s) dropped" in err


def test_file_sharding_on_a_cluster_is_checked_before_tensorflow(tmp_path, monkeypatch):
    for name in ("a.tfrecord", "b.tfrecord"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["h1:1", "h2:2", "h3:3"]},
                                                "task": {"type": "worker", "index": 0}}))
    parsed = pretrain.build_parser().parse_args([
        "--albert_config_file=c.json", f"--input_file={tmp_path}/*.tfrecord", "--output_dir=o", "--strategy=multi_worker"])
    with pytest.raises(ValueError, match=r"2 input file\(s\) for 3 input pipelines"):
        pretrain.check_file_sharding(parsed)
    parsed.shard_input_by = "record"  # every worker reads every file: any count will do
    pretrain.check_file_sharding(parsed)
    parsed.shard_input_by, parsed.input_file = "file", "gs://bucket/train-*.tfrecord"  # remote: checked when read
    pretrain.check_file_sharding(parsed)
