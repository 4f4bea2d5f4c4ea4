"""The hand-written Example encoder produces exactly the protobuf TensorFlow builds and parses."""

import numpy as np
import pytest
import tensorflow as tf

from albert_tf.data.schemas import FLOAT, INT64, PRETRAINING_SCHEMA, Field, pretraining_feature_spec
from data_prep.tfexample import ExampleEncoder, encode_varint_rows, varint


def reference_example(features, row):
    feature = {}
    for field in PRETRAINING_SCHEMA:
        values = np.asarray(features[field.name])[row].reshape(-1).tolist()
        if field.dtype == INT64:
            feature[field.name] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
        else:
            feature[field.name] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
    return tf.train.Example(features=tf.train.Features(feature=feature))


def random_features(rows=17, seq=40, preds=6, vocab=30000, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "input_ids": rng.integers(0, vocab, (rows, seq)),
        "input_mask": rng.integers(0, 2, (rows, seq)),
        "segment_ids": rng.integers(0, 2, (rows, seq)),
        "token_boundary": rng.integers(0, 2, (rows, seq)),
        "masked_lm_positions": rng.integers(0, seq, (rows, preds)),
        "masked_lm_ids": rng.integers(0, vocab, (rows, preds)),
        "masked_lm_weights": rng.integers(0, 2, (rows, preds)).astype(np.float32),
        "next_sentence_labels": rng.integers(0, 2, (rows, 1)),
    }


@pytest.mark.parametrize("vocab", [100, 30000, 3_000_000])
def test_records_equal_the_protobuf_message(vocab):
    features = random_features(vocab=vocab)
    records = ExampleEncoder(PRETRAINING_SCHEMA).encode(features)
    assert len(records) == 17
    for row, record in enumerate(records):
        assert tf.train.Example.FromString(record) == reference_example(features, row)


def test_records_parse_with_the_fixed_length_spec():
    features = random_features()
    records = ExampleEncoder(PRETRAINING_SCHEMA).encode(features)
    parsed = tf.io.parse_example(tf.constant(records), pretraining_feature_spec(40, 6))
    for name, value in parsed.items():
        np.testing.assert_array_equal(value.numpy(), np.asarray(features[name]).reshape(17, -1))
    assert parsed["masked_lm_weights"].dtype == tf.float32 and parsed["input_ids"].dtype == tf.int64


def test_varints():
    assert [varint(v) for v in (0, 1, 127, 128, 300, 16383, 16384)] == [
        b"\x00", b"\x01", b"\x7f", b"\x80\x01", b"\xac\x02", b"\xff\x7f", b"\x80\x80\x01"]
    values = np.array([[0, 127, 128, 2**21, 2**28 + 3], [5, 6, 7, 8, 9]])
    buffer, starts = encode_varint_rows(values)
    assert buffer[starts[0]:starts[1]] == b"".join(varint(int(v)) for v in values[0])
    assert buffer[starts[1]:starts[2]] == bytes([5, 6, 7, 8, 9])
    with pytest.raises(ValueError, match="non-negative"):
        varint(-1)
    with pytest.raises(ValueError, match="values must be in"):
        encode_varint_rows(np.array([[-1]]))


def test_encoder_errors_name_the_feature():
    encoder = ExampleEncoder([Field("a", INT64, 2), Field("b", FLOAT, 1)])
    with pytest.raises(KeyError, match="'b'"):
        encoder.encode({"a": np.zeros((2, 2), int)})
    with pytest.raises(ValueError, match="'b' has 3 rows"):
        encoder.encode({"a": np.zeros((2, 2), int), "b": np.zeros((3, 1))})
