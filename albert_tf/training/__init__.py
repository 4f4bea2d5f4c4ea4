"""Training machinery: the original's optimizers and schedule, `tf.distribute` strategy selection, and the
one engine every run goes through (`albert_tf.training.engine`) with its parts (`callbacks`,
`checkpointing`, `cluster`, `evaluation`, `fitting`).

The optimizers and the schedule are backend-neutral and imported here; the engine and its parts are
TensorFlow's, imported here on TensorFlow and on first use elsewhere, so that under `KERAS_BACKEND=jax`
`albert_tf.training.optimizers` imports without TensorFlow installed.
"""

import importlib

from albert_tf import _lazy
from albert_tf.backend import on_tensorflow
from albert_tf.training.optimizers import (
    DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY,
    OPTIMIZER_NAMES,
    AdamWeightDecayOptimizer,
    LAMBOptimizer,
    create_optimizer,
)
from albert_tf.training.schedules import WarmupPolynomialDecay

# Public name -> its (TensorFlow-only) module.
_TENSORFLOW_EXPORTS = {
    "MetricsCSV": "albert_tf.training.callbacks",
    "PreemptionWatcher": "albert_tf.training.callbacks",
    "ScalarLogger": "albert_tf.training.callbacks",
    "RunRecord": "albert_tf.training.checkpointing",
    "TrainingCheckpoint": "albert_tf.training.checkpointing",
    "WorkerRole": "albert_tf.training.cluster",
    "RunSpec": "albert_tf.training.engine",
    "TrainingEngine": "albert_tf.training.engine",
    "distributed_dataset": "albert_tf.training.fitting",
    "prepare_model_for_fit": "albert_tf.training.fitting",
    "initialise_weights": "albert_tf.checkpoints.initialisation",
    "recipe_warnings": "albert_tf.training.recipe",
    "STRATEGY_NAMES": "albert_tf.training.strategy",
    "recommended_mixed_precision_policy": "albert_tf.training.strategy",
    "select_strategy": "albert_tf.training.strategy",
}
__getattr__, __dir__ = _lazy.attach(__name__, _TENSORFLOW_EXPORTS)

if on_tensorflow():
    # As before the split: `import albert_tf.training` loads the engine (and registers what it defines).
    for _module in dict.fromkeys(_TENSORFLOW_EXPORTS.values()):
        importlib.import_module(_module)

__all__ = [
    "AdamWeightDecayOptimizer",
    "DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY",
    "LAMBOptimizer",
    "MetricsCSV",
    "OPTIMIZER_NAMES",
    "PreemptionWatcher",
    "RunRecord",
    "RunSpec",
    "STRATEGY_NAMES",
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
