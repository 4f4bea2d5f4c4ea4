"""Runs a script in a fresh interpreter and returns the JSON it prints after "RESULT ".

For tests that must configure TensorFlow before it starts (two logical CPUs for a MirroredStrategy).
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_for_result(script: str, *args: str, timeout: int = 600, **env: str):
    environment = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3", **env)
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
