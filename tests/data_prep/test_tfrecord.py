"""The TensorFlow-free TFRecord writer writes what tf.io.TFRecordWriter writes, and TF reads it back."""

import numpy as np
import tensorflow as tf

from data_prep.tfrecord import TFRecordWriter


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
