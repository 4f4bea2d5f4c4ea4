"""`.keras` files saved under JAX load under TensorFlow with JAX's outputs (1e-5); tests/jax checks the
reverse. Fixtures: tools/make_backend_fixtures.py, run once per backend."""

import os

import keras
import numpy as np
import pytest

from tests.jax.test_keras_files import FIXTURES, compare
from tools.make_backend_fixtures import MODEL_NAMES, outputs_of


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_keras_file_saved_under_jax_loads_with_its_outputs(name):
    assert keras.backend.backend() == "tensorflow"
    inputs = dict(np.load(os.path.join(FIXTURES, "inputs.npz")))
    expected = dict(np.load(os.path.join(FIXTURES, "jax", f"{name}_outputs.npz")))
    model = keras.saving.load_model(os.path.join(FIXTURES, "jax", f"{name}.keras"))
    compare(outputs_of(model, inputs), expected, f"{name}.keras from JAX")
