"""Training machinery: the original's optimizers and schedule, and `tf.distribute` strategy selection."""

from albert_tf.training.optimizers import (
    DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY,
    OPTIMIZER_NAMES,
    AdamWeightDecayOptimizer,
    LAMBOptimizer,
    create_optimizer,
)
from albert_tf.training.schedules import WarmupPolynomialDecay
from albert_tf.training.strategy import (
    STRATEGY_NAMES,
    recommended_mixed_precision_policy,
    select_strategy,
)

__all__ = [
    "DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY",
    "OPTIMIZER_NAMES",
    "STRATEGY_NAMES",
    "AdamWeightDecayOptimizer",
    "LAMBOptimizer",
    "WarmupPolynomialDecay",
    "create_optimizer",
    "recommended_mixed_precision_policy",
    "select_strategy",
]
