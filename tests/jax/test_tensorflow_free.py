"""Under JAX, building, training, saving and loading every model imports no TensorFlow (checked in a
fresh interpreter, as the accelerator machine runs it: it has JAX and no TensorFlow)."""

import importlib.util

from tests.fresh_process import run_for_result

SCRIPT = r"""
import json, os, sys
import keras
from tests.jax.test_models import CASES
from tests.conftest import tiny_config

import albert_tf  # the Keras registration of albert_tf's objects runs here, backend-aware
for name, (make, make_batch, _) in sorted(CASES.items()):
    model = make(tiny_config())
    model.compile(optimizer="adam")
    model.fit(make_batch(model.config), batch_size=2, epochs=1, verbose=0)
    path = os.path.join(sys.argv[1], name + ".keras")
    model.save(path)
    keras.saving.load_model(path)
print("RESULT " + json.dumps({"backend": keras.backend.backend(),
                              "tensorflow": sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow")}))
"""


def test_building_training_and_saving_every_model_imports_no_tensorflow(tmp_path):
    result = run_for_result(SCRIPT, str(tmp_path), KERAS_BACKEND="jax")
    assert result == {"backend": "jax", "tensorflow": []}


def test_the_jax_environment_has_no_tensorflow():
    # `make test-jax` installs none (ci/requirements-jax.txt, albert_tf with --no-deps): a stray import fails.
    assert importlib.util.find_spec("tensorflow") is None
