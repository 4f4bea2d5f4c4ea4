"""MirroredStrategy over two logical CPUs follows the one-device loss trajectory of the AlbertPretrainer
at the same global batch (the loss is normalised over the global batch, see `masked_lm_loss`)."""

import textwrap

from tests.fresh_process import run_for_result

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from albert_tf import AlbertPretrainer
    from albert_tf.training import create_optimizer
    from tests.conftest import random_batch, tiny_config

    config = tiny_config()
    # Unequal weight sums per half-batch: per-replica normalisation would drift from one device.
    data = random_batch(config, batch=8, length=12, predictions=4, seed=5, pad=(0, 4, 7, 0, 1, 2, 3, 5))
    data["masked_lm_weights"][:4, 2:] = 0.0

    def trajectory(strategy):
        keras.utils.set_random_seed(7)
        with strategy.scope():
            model = AlbertPretrainer(config)
            model.compile(optimizer=create_optimizer("lamb", 1e-2, 20, 2))
        dataset = tf.data.Dataset.from_tensor_slices(data).batch(8, drop_remainder=True).repeat()
        history = model.fit(dataset, steps_per_epoch=1, epochs=6, verbose=0, shuffle=False)
        return history.history["loss"], model.get_weights()

    one_loss, one_weights = trajectory(tf.distribute.OneDeviceStrategy("/cpu:0"))
    two_loss, two_weights = trajectory(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
    print("RESULT " + json.dumps({
        "one": one_loss, "two": two_loss,
        "max_weight_diff": float(max(np.abs(a - b).max() for a, b in zip(one_weights, two_weights))),
    }))
    """
)


def test_mirrored_two_cpus_follow_one_device():
    result = run_for_result(SCRIPT)
    assert len(result["one"]) == len(result["two"]) == 6
    for one, two in zip(result["one"], result["two"]):
        assert abs(one - two) <= 1e-5, result
    assert result["max_weight_diff"] <= 1e-5, result
