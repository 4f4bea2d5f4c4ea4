"""Evaluation inside `strategy.run`: two replicas give the one-device outputs, in record order."""

import textwrap

from tests.fresh_process import run_for_result

SCRIPT = textwrap.dedent(
    """
    import json
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from albert_tf import AlbertBackbone, AlbertClassifier
    from albert_tf.data.bucketing import bucket_by_length
    from albert_tf.training.finetuning import gather_outputs
    from tests.conftest import tiny_config
    from tests.data.test_bucketing import SEQ, _examples

    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    keras.utils.set_random_seed(5)
    with mirrored.scope():
        model = AlbertClassifier(AlbertBackbone(tiny_config()), num_classes=3)
    features, _ = _examples(n=21, seed=4)  # batches of 4 in buckets: short batches, one of a single example
    model({k: v[:1] for k, v in features.items() if k != "label_ids"})
    ds = tf.data.Dataset.from_tensor_slices(features).enumerate().map(lambda i, f: dict(f, _example_index=i))
    batches = bucket_by_length(ds, 4, SEQ, boundaries=[16, 32])
    one = gather_outputs(model, batches)
    two = gather_outputs(model, batches, strategy=mirrored)
    print("RESULT " + json.dumps({
        "keys": [sorted(one), sorted(two)],
        "labels": [one["label_ids"].tolist(), two["label_ids"].tolist(), features["label_ids"].tolist()],
        "max_logit_diff": float(np.abs(one["logits"] - two["logits"]).max()),
        "logit_spread": float(np.ptp(one["logits"])),
        "rows": [len(one["logits"]), len(two["logits"])],
    }))
    """
)


def test_two_replicas_score_like_one_device():
    result = run_for_result(SCRIPT)
    assert result["keys"][0] == result["keys"][1]
    one, two, truth = result["labels"]
    assert one == truth and two == truth, "every example once, in record order"
    assert result["rows"] == [21, 21]
    assert result["logit_spread"] > 1e-3, "the logits differ between examples, so the comparison can fail"
    assert result["max_logit_diff"] < 1e-5
