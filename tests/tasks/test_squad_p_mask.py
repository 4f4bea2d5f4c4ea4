"""`squad_p_mask`: one rule for the record writer (NumPy) and the served SQuAD v2 model (TensorFlow)."""

import numpy as np


def test_numpy_and_tensorflow_give_the_same_p_mask():
    import tensorflow as tf

    from albert_tf.tasks.squad import squad_p_mask

    rng = np.random.default_rng(0)
    lengths, questions = rng.integers(4, 16, 32), rng.integers(1, 3, 32)
    positions = np.arange(16)[None]
    input_mask = (positions < lengths[:, None]).astype(np.int32)
    segment_ids = ((positions >= questions[:, None] + 2) & (input_mask == 1)).astype(np.int32)
    expected = squad_p_mask(input_mask, segment_ids)
    # [CLS] and the context pieces are answerable; the question, both [SEP]s and padding are not.
    context = (segment_ids == 1) & (positions < lengths[:, None] - 1)
    np.testing.assert_array_equal(expected, ~(context | (positions == 0)))
    graph = tf.function(lambda m, s: squad_p_mask(m, s, xp=tf.experimental.numpy))
    np.testing.assert_array_equal(graph(tf.constant(input_mask), tf.constant(segment_ids)).numpy(), expected)
    assert [squad_p_mask(m.tolist(), s.tolist()).tolist() for m, s in zip(input_mask, segment_ids)] == expected.tolist()
