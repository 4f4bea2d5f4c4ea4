"""`.keras` files saved under TensorFlow load under JAX and give TensorFlow's outputs (1e-5), and JAX
gives the same outputs from the same weights (fixtures: tools/make_backend_fixtures.py)."""

import os

import keras
import numpy as np
import pytest

from tools.make_backend_fixtures import MODEL_NAMES, build, outputs_of

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "keras_backends")
TOLERANCE = 1e-5


def compare(ours, theirs, what):
    assert sorted(ours) == sorted(theirs), what
    for key in theirs:
        if theirs[key].dtype.kind == "i":
            np.testing.assert_array_equal(ours[key], theirs[key], err_msg=f"{what}: {key}")
        else:
            np.testing.assert_allclose(ours[key], theirs[key], atol=TOLERANCE, rtol=0, err_msg=f"{what}: {key}")


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_keras_file_saved_under_tensorflow_loads_with_its_outputs(name):
    inputs = dict(np.load(os.path.join(FIXTURES, "inputs.npz")))
    expected = dict(np.load(os.path.join(FIXTURES, "tensorflow", f"{name}_outputs.npz")))
    model = keras.saving.load_model(os.path.join(FIXTURES, "tensorflow", f"{name}.keras"))
    compare(outputs_of(model, inputs), expected, f"{name}.keras from TensorFlow")
    # The same construction and weights, built here under JAX, computes TensorFlow's numbers too.
    compare(outputs_of(build(name), inputs), expected, f"{name} built under JAX")
