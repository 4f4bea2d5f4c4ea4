"""Fresh interpreters for tests: the environment of the CLI processes the tests start, and a script run
that returns the JSON it prints after "RESULT " (for tests that must configure TensorFlow before it
starts, e.g. two logical CPUs for a MirroredStrategy).
"""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _without_scikit_learn() -> str:
    """A folder whose `sklearn` package raises ImportError, made once per machine and user."""
    folder = os.path.join(tempfile.gettempdir(), f"albert_tf_tests_{os.getuid()}", "without_sklearn")
    init = os.path.join(folder, "sklearn", "__init__.py")
    if not os.path.exists(init):
        os.makedirs(os.path.dirname(init), exist_ok=True)
        temporary = f"{init}.{os.getpid()}.tmp"
        with open(temporary, "w") as f:
            f.write("raise ImportError('scikit-learn is left out of the processes the tests start')\n")
        os.replace(temporary, init)  # several test workers may get here at once
    return folder


def cli_environment(**env: str) -> dict:
    """The environment of a process a test starts: this checkout first on the path, TensorFlow quiet,
    and scikit-learn out of reach, as after a plain `pip install albert_tf`. scikit-learn is a test-only
    reference (`tests/test_metrics.py`), and Keras imports it at start-up whenever it is installed: 0.7 s
    of CPU in every one of the many CLI processes the suite starts."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join([_without_scikit_learn(), ROOT]), TF_CPP_MIN_LOG_LEVEL="3",
                **env)


def run_for_result(script: str, *args: str, timeout: int = 600, **env: str):
    environment = cli_environment(**env)
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, cwd=ROOT,
                          env=environment, timeout=timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-4000:]
    return json.loads(lines[-1][len("RESULT "):])


def require_jax():
    """For tests whose JAX side needs TensorFlow beside JAX (`.venv` plus the `jax` extra), called before any
    costly set-up: skips without jax (`make test`), fails under ALBERT_TF_REQUIRE_JAX=1 (`make test-jax`,
    where a skip would hide the test)."""
    if importlib.util.find_spec("jax") is None:
        if os.environ.get("ALBERT_TF_REQUIRE_JAX") == "1":
            pytest.fail("ALBERT_TF_REQUIRE_JAX=1 but jax is not installed here (pip install -e '.[jax]').")
        pytest.skip("jax is not installed: run by `make test-jax`, which adds the jax extra to .venv")


def run_module_on_jax(module: str, *args: str, xla_flags: str, timeout: int = 600):
    """`run_for_result` of `module` run as `__main__` under KERAS_BACKEND=jax on CPU (see `require_jax`)."""
    script = f"import runpy; runpy.run_module({module!r}, run_name='__main__')"
    return run_for_result(script, *args, timeout=timeout, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", XLA_FLAGS=xla_flags)
