"""The runnable examples in public docstrings run and print what they say."""

import doctest
import importlib

import pytest

MODULES = [
    "albert_tf.config",
    "albert_tf.io",
    "albert_tf.backend",
    "albert_tf.layers.embedding",
    "albert_tf.layers.encoder",
    "albert_tf.layers.transformer",
    "albert_tf.layers.heads",
    "albert_tf.models.backbone",
    "albert_tf.models.pretrainer",
    "albert_tf.checkpoints.report",
    "albert_tf.models.classifier",
    "albert_tf.models.question_answering",
    "albert_tf.models.multiple_choice",
    "albert_tf.models.token_classifier",
    "albert_tf.models.streaming_metrics",
    "albert_tf.models.serving",
    "albert_tf.models.lora",
    "albert_tf.models.quantization",
    "albert_tf.litert",
    "albert_tf.metrics",
    "albert_tf.export",
    "albert_tf.data.schemas",
    "albert_tf.data.pretraining",
    "albert_tf.data.checks",
    "albert_tf.errors",
    "albert_tf.training.portable_update",
    "albert_tf.training.runner",
    "albert_tf.training.recipe",
    "albert_tf.training.cluster",
    "albert_tf.training.checkpointing",
    "albert_tf.training.callbacks",
    "albert_tf.training.fitting",
    "albert_tf.training.evaluation",
    "albert_tf.training.engine",
    "albert_tf.training.interruption",
    "albert_tf.checkpoints.formats",
    "albert_tf.data.bucketing",
    "albert_tf.tasks.registry",
    "albert_tf.tasks.scoring",
    "albert_tf.training.finetuning",
    "data_prep.masking",
    "data_prep.instances",
    "data_prep.tfexample",
    "data_prep.token_store",
    "data_prep.pretraining",
    "data_prep.pretraining.specs",
    "data_prep.pretraining.workers",
    "data_prep.pretraining.resume",
    "data_prep.pretraining.orchestrator",
    "data_prep.original_algorithm",
    "data_prep.corpus",
    "data_prep.tfrecord",
    "data_prep.glue",
    "data_prep.squad",
    "data_prep.race",
    "data_prep.finetuning",
    "albert_tf.data.finetuning",
    "albert_tf.tasks.glue",
    "albert_tf.tasks.squad",
    "data_prep.fileio",
    "albert_tf._lazy",
    "data_prep.sample_corpus",
    "data_prep.source_task",
    "albert_tf.training.curves",
    "albert_tf.text.tokenizer",
    "albert_tf.text.in_graph.layers",
    "albert_tf.text.in_graph.gated",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no runnable example"
    assert result.failed == 0
