"""Tests of albert_tf._compat: each private-API patch fails here by name when the private API moves,
and a scan keeps every private Keras/TensorFlow name inside albert_tf/_compat.py."""


# ---------------------------------------------------------------------------------------------------
# Section: fitting under a strategy.


def test_patch_in_multi_worker_mode_private_name():
    from tensorflow.python.distribute.collective_all_reduce_strategy import CollectiveAllReduceExtended

    assert hasattr(CollectiveAllReduceExtended, "_in_multi_worker_mode"), (
        "patch in_multi_worker_mode: MultiWorkerMirroredStrategy.extended._in_multi_worker_mode moved; "
        "see albert_tf/_compat.py")


def test_patch_fit_ready_symbolic_build_private_names():
    import keras

    assert hasattr(keras.Model, "_maybe_symbolic_build"), (
        "patch fit_ready_symbolic_build: keras.Model._maybe_symbolic_build moved; see albert_tf/_compat.py")
    assert hasattr(keras.Model, "_flatten_layers"), (
        "patch fit_ready_symbolic_build: keras.Model._flatten_layers moved; see albert_tf/_compat.py")


def test_patch_fit_ready_scalar_metrics_overrides_the_instance_steps():
    import keras
    import numpy as np
    import tensorflow as tf

    from albert_tf._compat import mark_fit_ready, scalar_metrics_with_axis

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    scalar_metrics_with_axis(model)
    logs = model.test_step((tf.ones([4, 2]), tf.ones([4, 1])))
    assert all(np.shape(v) == (1,) for v in logs.values()), "patch fit_ready_scalar_metrics: the instance steps are not used"
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    assert mark_fit_ready(model, strategy) is mark_fit_ready(model, strategy)
    model.fit(tf.ones([4, 2]), tf.ones([4, 1]), epochs=1, verbose=0)


# ---------------------------------------------------------------------------------------------------
# Section: optimizers.




# ---------------------------------------------------------------------------------------------------
# Section: Keras object tracking.




# ---------------------------------------------------------------------------------------------------
# Section: walking a model's layers.




# ---------------------------------------------------------------------------------------------------
# Section: the scan of the tree.
