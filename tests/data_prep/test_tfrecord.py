"""The TensorFlow-free TFRecord writer writes what tf.io.TFRecordWriter writes, and TF reads it back;
the scanner tells a damaged file's good records from its lost ones."""

import os

import numpy as np
import pytest
import tensorflow as tf

from data_prep.tfrecord import (
    BAD_LENGTH,
    REPAIR_INDEX,
    TRUNCATED,
    TFRecordWriter,
    frame,
    read_records,
    repair_corrupt_files,
    repair_tfrecord_file,
    scan_tfrecord_file,
)


def test_bytes_equal_tensorflow_writer(tmp_path):
    rng = np.random.default_rng(0)
    records = [b"", b"x"] + [rng.bytes(int(n)) for n in rng.integers(1, 5000, 20)]
    with tf.io.TFRecordWriter(str(tmp_path / "tf.tfrecord")) as writer:
        for record in records:
            writer.write(record)
    with TFRecordWriter(str(tmp_path / "ours.tfrecord")) as writer:
        for record in records:
            writer.write(record)
    assert (tmp_path / "ours.tfrecord").read_bytes() == (tmp_path / "tf.tfrecord").read_bytes()
    read = [r.numpy() for r in tf.data.TFRecordDataset(str(tmp_path / "ours.tfrecord"))]
    assert read == records


# ---------------------------------------------------------------------------------------------------
# Scanning and repairing damaged files: a bad data checksum costs that record only; a truncated or
# unframed tail costs the bytes from there on; a clean file is left alone.

# Small blocks make records straddle block boundaries (and exceed a block) in every file below.
BLOCKS = [64, 1 << 20]


def write_file(path, count=40, seed=1):
    rng = np.random.default_rng(seed)
    records = [rng.bytes(int(n)) for n in rng.integers(1, 300, count)]
    records[count // 3] = rng.bytes(1000)  # longer than the smallest block
    records[5] = b""
    with TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)
    offsets = np.cumsum([0] + [len(frame(r)) for r in records]).tolist()
    return records, offsets


def change_byte(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x5A]))


@pytest.mark.parametrize("block_bytes", BLOCKS)
@pytest.mark.parametrize("where", ["data", "data_crc"])
def test_a_bad_data_checksum_skips_exactly_that_record(tmp_path, block_bytes, where):
    path = tmp_path / "x.tfrecord"
    records, offsets = write_file(path)
    bad = len(records) // 2
    start = offsets[bad] + 12
    change_byte(path, start + len(records[bad]) // 2 if where == "data" else offsets[bad + 1] - 2)
    # TensorFlow's reader gives up on the whole rest of the file there.
    read = []
    with pytest.raises(tf.errors.DataLossError):
        for record in tf.data.TFRecordDataset(str(path)):
            read.append(record.numpy())
    assert read == records[:bad]

    scan = scan_tfrecord_file(str(path), block_bytes)
    assert (scan.good_records, scan.corrupt_records, scan.first_corrupt_offset, scan.tail) == (
        len(records) - 1, 1, offsets[bad], None)
    assert not scan.clean and scan.size == os.path.getsize(path)
    copy = tmp_path / "repaired.tfrecord"
    assert repair_tfrecord_file(str(path), str(copy), block_bytes) == scan
    expected = records[:bad] + records[bad + 1:]
    assert list(read_records(str(copy))) == expected
    assert [r.numpy() for r in tf.data.TFRecordDataset(str(copy))] == expected
    assert sorted(os.listdir(tmp_path)) == ["repaired.tfrecord", "x.tfrecord"]  # no temporary file left


@pytest.mark.parametrize("block_bytes", BLOCKS)
@pytest.mark.parametrize("cut", [0, 5, 12, 20, -1], ids=["at_record", "in_header", "after_header", "in_data",
                                                         "in_footer"])
def test_a_truncated_file_keeps_its_good_prefix_and_is_flagged(tmp_path, block_bytes, cut):
    path = tmp_path / "x.tfrecord"
    records, offsets = write_file(path)
    last = len(records) - 7
    with open(path, "r+b") as f:
        f.truncate(offsets[last + 1] - 1 if cut == -1 else offsets[last] + cut)
    scan = scan_tfrecord_file(str(path), block_bytes)
    if cut == 0:  # a cut between records leaves a shorter, valid file
        assert scan.clean and scan.good_records == last
        return
    assert (scan.good_records, scan.corrupt_records, scan.tail, scan.tail_offset) == (last, 0, TRUNCATED, offsets[last])
    assert scan.tail_bytes == os.path.getsize(path) - offsets[last]
    copy = tmp_path / "repaired.tfrecord"
    repair_tfrecord_file(str(path), str(copy), block_bytes)
    assert list(read_records(str(copy))) == records[:last]
    assert "tail dropped: yes (truncated record at byte" in scan.describe()


@pytest.mark.parametrize("block_bytes", BLOCKS)
@pytest.mark.parametrize("byte", [0, 7, 9])  # the length field's low and high byte, its checksum
def test_a_bad_length_checksum_loses_the_framing_there(tmp_path, block_bytes, byte):
    path = tmp_path / "x.tfrecord"
    records, offsets = write_file(path)
    bad = 11
    # A later bad data checksum is beyond the lost framing: not found, not counted.
    change_byte(path, offsets[bad + 3] + 12)
    change_byte(path, offsets[bad] + byte)
    scan = scan_tfrecord_file(str(path), block_bytes)
    assert (scan.good_records, scan.corrupt_records, scan.tail, scan.tail_offset) == (bad, 0, BAD_LENGTH, offsets[bad])
    copy = tmp_path / "repaired.tfrecord"
    repair_tfrecord_file(str(path), str(copy), block_bytes)
    assert list(read_records(str(copy))) == records[:bad]


def test_clean_and_empty_files_are_left_alone(tmp_path):
    clean = tmp_path / "clean.tfrecord"
    records, _ = write_file(clean)
    empty = tmp_path / "empty.tfrecord"
    empty.write_bytes(b"")
    directory = tmp_path / "repaired"
    found = repair_corrupt_files([str(clean), str(empty)], str(directory))
    assert [(f.path, f.repaired, f.scan.clean, f.scan.good_records) for f in found] == [
        (str(clean), False, True, len(records)), (str(empty), False, True, 0)]
    assert os.listdir(directory) == [REPAIR_INDEX]  # the verdicts, no copy


def test_a_not_tfrecord_file_has_no_good_record(tmp_path):
    text = tmp_path / "text.tfrecord"
    text.write_text("this is not a TFRecord file at all\n" * 4)
    scan = scan_tfrecord_file(str(text))
    assert (scan.good_records, scan.tail, scan.tail_offset, scan.tail_bytes) == (0, BAD_LENGTH, 0, 140)


def test_repaired_copies_are_reused_while_the_source_is_unchanged(tmp_path):
    first, second = tmp_path / "a" / "x.tfrecord", tmp_path / "b" / "x.tfrecord"
    first.parent.mkdir()
    second.parent.mkdir()
    records, offsets = write_file(first)
    write_file(second, seed=2)
    change_byte(first, offsets[3] + 13)
    with open(second, "r+b") as f:
        f.truncate(os.path.getsize(second) - 2)
    directory = tmp_path / "repaired"

    found = repair_corrupt_files([str(first), str(second)], str(directory))
    assert [(f.repaired, f.reused) for f in found] == [(True, False), (True, False)]
    assert found[0].path != found[1].path  # the same name in two directories
    assert list(read_records(found[0].path)) == records[:3] + records[4:]
    written = os.stat(found[0].path).st_mtime_ns

    again = repair_corrupt_files([str(first), str(second)], str(directory))
    assert [(f.path, f.scan, f.reused) for f in again] == [(f.path, f.scan, True) for f in found]
    assert os.stat(found[0].path).st_mtime_ns == written

    os.remove(found[1].path)  # a lost copy is written again
    assert [f.reused for f in repair_corrupt_files([str(first), str(second)], str(directory))] == [True, False]
    assert os.path.exists(found[1].path)

    change_byte(first, offsets[3] + 13)  # put back: the file is clean again, with a new mtime
    os.utime(first, ns=(written + 10**9, written + 10**9))
    [fixed] = repair_corrupt_files([str(first)], str(directory))
    assert (fixed.path, fixed.reused, fixed.scan.clean) == (str(first), False, True)
    assert not os.path.exists(found[0].path)


def test_a_damaged_index_costs_a_rescan(tmp_path):
    path = tmp_path / "x.tfrecord"
    write_file(path)
    directory = tmp_path / "repaired"
    directory.mkdir()
    (directory / REPAIR_INDEX).write_text("{not json")
    [found] = repair_corrupt_files([str(path)], str(directory))
    assert found.scan.clean and not found.reused
    assert repair_corrupt_files([str(path)], str(directory))[0].reused
