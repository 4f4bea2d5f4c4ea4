"""Tests of albert_tf._compat: each private-API patch fails here by name when the private API moves,
and a scan keeps every private Keras/TensorFlow name inside albert_tf/_compat.py."""


# ---------------------------------------------------------------------------------------------------
# Section: fitting under a strategy.




# ---------------------------------------------------------------------------------------------------
# Section: optimizers.




# ---------------------------------------------------------------------------------------------------
# Section: Keras object tracking.




# ---------------------------------------------------------------------------------------------------
# Section: walking a model's layers.




# ---------------------------------------------------------------------------------------------------
# Section: the scan of the tree.
