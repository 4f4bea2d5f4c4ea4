"""ci/requirements-jax.txt (the TensorFlow-free environment of `make test-jax`) keeps setup.cfg's ranges."""

import configparser
import os
import re

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def requirements(lines):
    found = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            name = re.split(r"[<>=!\[ ]", line, 1)[0].lower()
            found[name] = line
    return found


def test_requirements_jax_repeats_setup_cfg_ranges():
    setup = configparser.ConfigParser()
    setup.read(os.path.join(ROOT, "setup.cfg"))
    declared = requirements(setup["options"]["install_requires"].splitlines())
    declared.update(requirements(setup["options.extras_require"]["jax"].splitlines()))
    with open(os.path.join(ROOT, "ci", "requirements-jax.txt")) as f:
        jax_env = requirements(f)
    assert "tensorflow" not in jax_env and "keras-hub" not in jax_env
    shared = sorted(set(jax_env) & set(declared))
    assert {"jax", "keras", "numpy", "sentencepiece"} <= set(shared)
    assert {name: jax_env[name] for name in shared} == {name: declared[name] for name in shared}
