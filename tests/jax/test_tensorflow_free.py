"""Under JAX, building, training, saving and loading the models imports no TensorFlow, checked in a fresh
interpreter as the accelerator machine runs them (it has JAX and no TensorFlow). The three models cover
every TensorFlow form albert_tf.backend replaces (gather, top-k, the losses' sums, streaming metrics); in
`make test-jax`'s environment, which has no TensorFlow, tests/jax/test_models.py would fail on any import."""

import importlib.util

from tests.fresh_process import run_for_result

SCRIPT = r"""
import json, os, sys
import keras
from tests.jax.test_models import CASES
from tests.conftest import tiny_config

import albert_tf  # the Keras registration of albert_tf's objects runs here, backend-aware
for name in ("pretrainer", "classifier", "squad_v2"):
    make, make_batch, _ = CASES[name]
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
