"""Runs a script in a fresh interpreter that can import TensorFlow but not albert_tf.

`-I -S` drops PYTHONPATH, the working directory and every `.pth` file (the editable install of albert_tf
is one), then only the site-packages directories are put back on `sys.path`.
"""

import json
import os
import site
import subprocess
import sys
import textwrap

PRELUDE = """
import importlib.util, sys
sys.path[:0] = {paths!r}
for _name in ("albert_tf", "data_prep", "tools"):
    assert importlib.util.find_spec(_name) is None, _name + " must not be importable here"
sys.modules["keras_hub"] = None  # installed, but serving must not need it: importing it now fails
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the SentencePiece op)
"""


def run_isolated(body: str, tmp_path, timeout=600, args=()) -> subprocess.CompletedProcess:
    script = tmp_path / "isolated_script.py"
    script.write_text(PRELUDE.format(paths=site.getsitepackages()) + textwrap.dedent(body))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    result = subprocess.run([sys.executable, "-I", "-S", str(script), *args], capture_output=True, text=True,
                            timeout=timeout, env=env, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def dump(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False)
