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




# ---------------------------------------------------------------------------------------------------
# Section: walking a model's layers (used by albert_tf.checkpoints).
# (checkpoint patches go here)
