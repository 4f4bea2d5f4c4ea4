"""Training machinery: the original's optimizers and schedule, `tf.distribute` strategy selection, and the
one engine every run goes through (`albert_tf.training.engine`) with its parts (`callbacks`,
`checkpointing`, `cluster`, `evaluation`, `fitting`)."""

from albert_tf.training.optimizers import (
    DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY,
    OPTIMIZER_NAMES,
    AdamWeightDecayOptimizer,
    LAMBOptimizer,
    create_optimizer,
)
from albert_tf.checkpoints.initialisation import initialise_weights
from albert_tf.training.callbacks import MetricsCSV, PreemptionWatcher, ScalarLogger
from albert_tf.training.checkpointing import RunRecord, TrainingCheckpoint
from albert_tf.training.cluster import WorkerRole
from albert_tf.training.engine import RunSpec, TrainingEngine
from albert_tf.training.fitting import distributed_dataset, prepare_model_for_fit
from albert_tf.training.recipe import recipe_warnings
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
    "RunSpec",
    "ScalarLogger",
    "TrainingCheckpoint",
    "TrainingEngine",
    "WarmupPolynomialDecay",
    "WorkerRole",
    "create_optimizer",
    "distributed_dataset",
    "initialise_weights",
    "prepare_model_for_fit",
    "recipe_warnings",
    "recommended_mixed_precision_policy",
    "select_strategy",
]
