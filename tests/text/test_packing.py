"""pack_segments against keras-hub's MultiSegmentPacker (the packer it replaced), edge cases included."""

import numpy as np
import tensorflow as tf
from keras_hub.layers import MultiSegmentPacker

from albert_tf.text.in_graph.packing import pack_segments


def _random_batch(rng, rows, longest):
    lengths = rng.integers(0, longest + 1, size=rows)
    lengths[:3] = [0, longest, 1]  # empty, longest, one id
    return tf.ragged.constant([rng.integers(4, 100, size=n).tolist() for n in lengths], dtype=tf.int32)


def test_pack_segments_equals_keras_hub_packer():
    rng = np.random.default_rng(0)
    for sequence_length in (3, 4, 9, 16, 48):
        for num_segments in (1, 2):
            segments = [_random_batch(rng, 40, 20) for _ in range(num_segments)]
            ours = pack_segments(segments, sequence_length, start_id=2, end_id=3, pad_id=0)
            reference = MultiSegmentPacker(sequence_length=sequence_length, start_value=2, end_value=3,
                                           pad_value=-1, truncate="round_robin")
            token_ids, segment_ids = (t.numpy() for t in reference(tuple(segments)))
            case = f"sequence_length={sequence_length}, {num_segments} segment(s)"
            np.testing.assert_array_equal(ours["input_ids"].numpy(), np.where(token_ids < 0, 0, token_ids), case)
            np.testing.assert_array_equal(ours["input_mask"].numpy(), (token_ids != -1).astype(np.int32), case)
            np.testing.assert_array_equal(ours["segment_ids"].numpy(), segment_ids, case)
            assert all(t.dtype == tf.int32 for t in ours.values())


def test_pack_segments_in_a_traced_function_with_unknown_batch():
    packed = tf.function(lambda a: pack_segments([a], 5, 2, 3, 0)["input_ids"],
                         input_signature=[tf.RaggedTensorSpec([None, None], tf.int32)])
    assert packed(tf.ragged.constant([[7, 8, 9, 10], []], dtype=tf.int32)).numpy().tolist() == [
        [2, 7, 8, 9, 3], [2, 3, 0, 0, 0]]
