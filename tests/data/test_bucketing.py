"""Length buckets: a few static shapes, every example once, and the same model outputs as fixed padding."""

import numpy as np
import pytest
import tensorflow as tf

from albert_tf import AlbertBackbone
from albert_tf.data.bucketing import bucket_by_length, example_length, length_boundaries
from albert_tf.training.finetuning import gather_outputs
from tests.conftest import tiny_config

SEQ = 64


def _examples(n=23, seed=0, choices=None):
    rng = np.random.default_rng(seed)
    shape = (n, SEQ) if choices is None else (n, choices, SEQ)
    lengths = rng.integers(3, SEQ + 1, shape[:-1])
    mask = (np.arange(SEQ) < lengths[..., None]).astype("int32")
    ids = rng.integers(5, 300, shape).astype("int32") * mask
    segments = ((np.arange(SEQ) >= lengths[..., None] // 2) * mask).astype("int32")
    return {"input_ids": ids, "input_mask": mask, "segment_ids": segments,
            "label_ids": rng.integers(0, 2, n).astype("int32")}, lengths


def test_boundaries():
    assert length_boundaries(128) == [32, 64, 128]
    assert length_boundaries(100) == [32, 64, 100]
    assert length_boundaries(20) == [20]
    with pytest.raises(ValueError, match="max_seq_length"):
        length_boundaries(0)


def test_example_length_is_last_real_position():
    assert int(example_length(tf.constant([1, 1, 0, 1, 0, 0]))) == 4
    assert int(example_length(tf.constant([[1, 1, 0], [1, 1, 1]]))) == 3


@pytest.mark.parametrize("choices", [None, 4])
def test_every_example_once_with_static_bucket_shapes(choices):
    features, lengths = _examples(choices=choices)
    longest = lengths if choices is None else lengths.max(axis=1)
    ds = tf.data.Dataset.from_tensor_slices(dict(features, index=np.arange(len(longest))))
    seen = []
    for batch in bucket_by_length(ds, 4, SEQ, boundaries=[16, 32]):
        width = batch["input_ids"].shape[-1]
        assert width in (16, 32, SEQ)
        assert batch["input_mask"].shape == batch["input_ids"].shape == batch["segment_ids"].shape
        for i in batch["index"].numpy():
            # In the smallest bucket that holds it, so nothing real is cut off.
            assert longest[i] <= width and (width == 16 or longest[i] > {32: 16, SEQ: 32}[width])
            seen.append(i)
    assert sorted(seen) == list(range(len(longest)))


def test_drop_remainder_gives_full_batches():
    features, _ = _examples(n=40)
    batches = list(bucket_by_length(tf.data.Dataset.from_tensor_slices(features), 8, SEQ, drop_remainder=True))
    assert batches and all(b["input_ids"].shape[0] == 8 for b in batches)


def test_bucketed_outputs_equal_fixed_padding():
    backbone = AlbertBackbone(tiny_config())
    features, _ = _examples(n=19, seed=3)

    def model(batch, training=False):
        out = backbone(batch, training=training)
        return {"pooled": out["pooled_output"], "sequence": out["sequence_output"][..., 0]}

    def dataset(bucket):
        ds = tf.data.Dataset.from_tensor_slices(features).enumerate().map(lambda i, f: dict(f, _example_index=i))
        return bucket_by_length(ds, 4, SEQ, boundaries=[16, 32]) if bucket else ds.batch(4)

    fixed, bucketed = gather_outputs(model, dataset(False)), gather_outputs(model, dataset(True))
    np.testing.assert_array_equal(fixed["label_ids"], features["label_ids"])
    np.testing.assert_array_equal(bucketed["label_ids"], features["label_ids"])
    np.testing.assert_allclose(bucketed["pooled"], fixed["pooled"], atol=1e-5)
    real = features["input_mask"] > 0
    np.testing.assert_allclose(bucketed["sequence"][real], fixed["sequence"][real], atol=1e-5)


def test_bad_boundaries():
    ds = tf.data.Dataset.from_tensor_slices(_examples()[0])
    with pytest.raises(ValueError, match="strictly increasing"):
        bucket_by_length(ds, 4, SEQ, boundaries=[32, 16])
    with pytest.raises(ValueError, match="longer than max_seq_length"):
        bucket_by_length(ds, 4, SEQ, boundaries=[128])
