"""tests/jax runs only under KERAS_BACKEND=jax (`make test-jax`, an environment without TensorFlow);
`make test` (TensorFlow) collects nothing here."""

import os

collect_ignore_glob = [] if os.environ.get("KERAS_BACKEND") == "jax" else ["test_*.py"]
