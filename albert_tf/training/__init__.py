"""Training machinery: the original's optimizers and schedule, `tf.distribute` strategy selection, and the
reusable parts of a durable run (`albert_tf.training.runner`)."""

from albert_tf.training.optimizers import (
    DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY,
    OPTIMIZER_NAMES,
    AdamWeightDecayOptimizer,
    LAMBOptimizer,
    create_optimizer,
)
from albert_tf.training.runner import (
    MetricsCSV,
    PreemptionWatcher,
    RunRecord,
    ScalarLogger,
    TrainingCheckpoint,
    WorkerRole,
    distributed_dataset,
    initialise_weights,
    prepare_model_for_fit,
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
    "MetricsCSV",
    "PreemptionWatcher",
    "RunRecord",
    "ScalarLogger",
    "TrainingCheckpoint",
    "WarmupPolynomialDecay",
    "WorkerRole",
    "create_optimizer",
    "distributed_dataset",
    "initialise_weights",
    "prepare_model_for_fit",
    "recommended_mixed_precision_policy",
    "select_strategy",
]
