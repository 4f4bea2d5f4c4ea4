"""Tests of albert_tf._compat: each private-API patch fails here by name when the private API moves,
and a scan keeps every private Keras/TensorFlow name inside albert_tf/_compat.py."""


# ---------------------------------------------------------------------------------------------------
# Section: fitting under a strategy.




# ---------------------------------------------------------------------------------------------------
# Section: optimizers.




# ---------------------------------------------------------------------------------------------------
# Section: Keras object tracking.


def test_accept_string_inputs_names_exist():
    import keras

    layer = keras.layers.Layer()
    for name in ("_convert_input_args", "_allow_non_tensor_positional_args"):
        assert hasattr(layer, name), f"patch accept_string_inputs: keras.layers.Layer lost {name}"


def test_accept_string_inputs_lets_strings_through():
    import keras
    import pytest
    import tensorflow as tf

    from albert_tf._compat import accept_string_inputs

    class Lengths(keras.layers.Layer):
        def call(self, texts):
            return tf.strings.length(tf.convert_to_tensor(texts, tf.string))

    with pytest.raises(ValueError, match="positional"):  # the defect; if this passes, drop the patch
        Lengths()(["a b", "c"])
    layer = Lengths(dtype="int32")
    accept_string_inputs(layer)
    assert layer(["a b", "c"]).numpy().tolist() == [3, 1], "patch accept_string_inputs no longer works"




# ---------------------------------------------------------------------------------------------------
# Section: walking a model's layers.




# ---------------------------------------------------------------------------------------------------
# Section: the scan of the tree.
