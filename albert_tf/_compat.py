"""The one seam between albert_tf and private Keras / TensorFlow names.

Every use of an underscore attribute of Keras or TensorFlow, or of `tf.__internal__`, lives in this
module and nowhere else (`tests/test_compat.py` scans the tree). Each patch below names:

* the upstream defect it works around, with a minimal reproduction;
* the versions it was checked on;
* a test in `tests/test_compat.py` that fails *by the patch's name* when the private API moves.

Checked on: keras 3.10 to 3.x (see setup.cfg), tensorflow 2.20 and 2.21.
"""

from __future__ import annotations


# ---------------------------------------------------------------------------------------------------
# Section: fitting a model under a tf.distribute strategy (used by albert_tf.training).
# (engine patches go here)




# ---------------------------------------------------------------------------------------------------
# Section: optimizers (used by albert_tf.training.optimizers).
# (optimizer patches go here)




# ---------------------------------------------------------------------------------------------------
# Section: Keras object tracking (used by albert_tf.text).
# (tracking patches go here)


def accept_string_inputs(layer) -> None:
    """Patch accept_string_inputs: lets a text layer take strings positionally, unconverted.

    Upstream defect: ``keras.layers.Layer.__call__`` maps every positional argument through the
    layer's dtype policy, then refuses any leaf that is not a tensor ("Only input tensors may be
    passed as positional arguments"), so ``tokenizer(["a b", "c"])`` or ``tokenizer("a b")`` fails
    although ``call`` converts strings itself; Keras offers no public switch for layers whose
    inputs are raw text (keras-hub's own ``PreprocessingLayer`` sets the same two attributes).

    Minimal reproduction::

        class Echo(keras.layers.Layer):
            def call(self, x):
                return tf.strings.length(x)
        Echo()(["a b"])  # ValueError: Only input tensors may be passed as positional arguments

    Checked on keras 3.15.1 with tensorflow 2.20.0.
    """
    layer._convert_input_args = False
    layer._allow_non_tensor_positional_args = True




# ---------------------------------------------------------------------------------------------------
# Section: walking a model's layers (used by albert_tf.checkpoints).
# (checkpoint patches go here)
