"""The runnable examples in public docstrings run and print what they say."""

import doctest
import importlib

import pytest

MODULES = [
    "albert_tf.config",
    "albert_tf.layers.embedding",
    "albert_tf.layers.encoder",
    "albert_tf.layers.transformer",
    "albert_tf.layers.heads",
    "albert_tf.models.backbone",
    "albert_tf.models.pretrainer",
    "albert_tf.data.schemas",
    "albert_tf.data.pretraining",
    "albert_tf.data.checks",
    "albert_tf.errors",
    "albert_tf.training.runner",
    "data_prep.masking",
    "data_prep.instances",
    "data_prep.tfexample",
    "data_prep.token_store",
    "data_prep.pretraining",
    "data_prep.original_algorithm",
    "data_prep.corpus",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no runnable example"
    assert result.failed == 0
