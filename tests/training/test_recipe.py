"""Departures from the original pretraining recipe are warned about, never changed."""

import math

import pytest

from albert_tf import AlbertConfig
from albert_tf.config import PRESETS
from albert_tf.training.pretraining import PretrainingOptions
from albert_tf.training.recipe import recipe_warnings, scaled_lamb_learning_rate


def options(**overrides):
    return PretrainingOptions(**{"output_dir": "unused", **overrides})


def test_the_papers_lamb_rate_at_a_small_batch_gets_the_square_root_scaled_suggestion():
    (warning,) = recipe_warnings(AlbertConfig(vocab_size=300), options(train_batch_size=64))
    assert warning.startswith("--learning_rate 0.00176 with LAMB at --train_batch_size 64:")
    assert "suggests --learning_rate 0.00022 (the value given is kept)" in warning
    assert math.isclose(scaled_lamb_learning_rate(64), 0.00176 / 8)


@pytest.mark.parametrize("overrides", [
    dict(train_batch_size=4096),  # the paper's own setting
    dict(train_batch_size=64, learning_rate=0.0004),  # within 2x of the scaled rate
    dict(train_batch_size=64, optimizer="adamw", learning_rate=1e-3),  # the rule is LAMB's
])
def test_settings_that_follow_the_recipe_pass_quietly(overrides):
    assert recipe_warnings(AlbertConfig(vocab_size=300), options(**overrides)) == []


def test_dropout_in_pretraining_names_the_v2_recipe():
    v1 = AlbertConfig.from_dict(PRESETS["albert-base-v1"])
    (warning,) = recipe_warnings(v1, options(train_batch_size=4096))
    assert warning.startswith("albert_config has hidden_dropout_prob 0.1 and attention_probs_dropout_prob 0.1:")
    assert "v2 release pretrains without dropout" in warning
    assert recipe_warnings(AlbertConfig.from_dict(PRESETS["albert-base-v2"]), options(train_batch_size=4096)) == []
