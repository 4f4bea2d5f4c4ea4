"""Warnings where a pretraining run departs from the original recipe in a way that usually costs quality.

Nothing is changed: each warning names the setting, the recipe's value and a suggestion, and the run goes
on with what was asked for.

* LAMB's learning rate. The paper trains with LAMB at 0.00176 for a batch of 4,096. That rate copied to a
  much smaller batch is far too large; square-root scaling (You et al., 2019, the LAMB paper) suggests
  ``0.00176 * sqrt(batch / 4096)``.
* Dropout. The v2 release (every ``albert-*-v2`` preset) pretrains without dropout, and the paper
  (section 4.8) measured that removing it raises MLM and downstream accuracy.

Example:

>>> from albert_tf import AlbertConfig
>>> from albert_tf.training.pretraining import PretrainingOptions
>>> options = PretrainingOptions(output_dir="run", train_batch_size=64)
>>> for warning in recipe_warnings(AlbertConfig(vocab_size=30000, hidden_dropout_prob=0.1), options):
...     print(warning)  # doctest: +ELLIPSIS
--learning_rate 0.00176 with LAMB at --train_batch_size 64: ... suggests --learning_rate 0.00022 (the value given is kept)
albert_config has hidden_dropout_prob 0.1: the v2 release pretrains without dropout ...
"""

from __future__ import annotations

import math
from typing import List

from albert_tf.config import AlbertConfig

#: The paper's LAMB setting: learning rate 0.00176 at batch 4,096.
LAMB_LEARNING_RATE, LAMB_BATCH_SIZE = 0.00176, 4096
#: Warn when the rate is more than this many times the square-root-scaled one.
LAMB_TOLERANCE = 2.0


def scaled_lamb_learning_rate(train_batch_size: int) -> float:
    """The paper's LAMB rate, square-root scaled from batch 4,096 to ``train_batch_size``."""
    return LAMB_LEARNING_RATE * math.sqrt(train_batch_size / LAMB_BATCH_SIZE)


def recipe_warnings(config: AlbertConfig, options) -> List[str]:
    """One line per departure from the recipe (``options``: a ``PretrainingOptions``)."""
    warnings = []
    if options.optimizer == "lamb" and options.train_batch_size < LAMB_BATCH_SIZE:
        suggested = scaled_lamb_learning_rate(options.train_batch_size)
        if options.learning_rate > LAMB_TOLERANCE * suggested:
            warnings.append(
                f"--learning_rate {options.learning_rate:g} with LAMB at --train_batch_size "
                f"{options.train_batch_size}: the paper's {LAMB_LEARNING_RATE:g} at a batch of {LAMB_BATCH_SIZE:,}, "
                f"square-root scaled, suggests --learning_rate {suggested:.3g} (the value given is kept)"
            )
    dropout = [f"{name} {getattr(config, name):g}" for name in ("hidden_dropout_prob", "attention_probs_dropout_prob")
               if getattr(config, name) > 0]
    if dropout:
        warnings.append(
            f"albert_config has {' and '.join(dropout)}: the v2 release pretrains without dropout (the paper, "
            "section 4.8: removing it raises MLM and downstream accuracy); set it to 0 to follow the recipe "
            "(the value given is kept)"
        )
    return warnings
