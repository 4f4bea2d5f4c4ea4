"""The reusable parts of a durable run, under the names they had before `TrainingEngine` (kept for
code that imports them from here; new code imports from the modules named below).

* `cluster`: `WorkerRole` (only the chief writes into `output_dir`).
* `checkpointing`: `RunRecord` (`run_config.json`), `TrainingCheckpoint`, atomic JSON and
  `eval_results.txt` writers.
* `albert_tf.checkpoints.initialisation`: `initialise_weights` (`--init_checkpoint`, weights only) and
  `model_weights`.
* `callbacks`: `StepCounter`, `CheckpointSaver`, `ScalarLogger`, `MetricsCSV`, `PreemptionWatcher`.
* `fitting`: `distributed_dataset`, `prepare_model_for_fit`, `plan_fit_calls`.
* `engine`: `TrainingEngine`, which puts them together for every run.

Example:

>>> plan_fit_calls(done=0, total=10, save_every=4, steps_per_execution=2)
[FitCall(start=0, steps_per_epoch=4, epochs=2, steps_per_execution=2), FitCall(start=8, steps_per_epoch=2, epochs=1, steps_per_execution=2)]
"""

from albert_tf.checkpoints.initialisation import initialise_weights, model_weights
from albert_tf.training.callbacks import (
    PREEMPTED_EXIT_CODE,
    CheckpointSaver,
    MetricsCSV,
    PreemptionWatcher,
    ScalarLogger,
    StepCounter,
)
from albert_tf.training.checkpointing import (
    RunRecord,
    TrainingCheckpoint,
    dropout_seed_states,
    read_json,
    write_eval_results,
    write_json,
)
from albert_tf.training.cluster import WorkerRole, in_multi_worker_mode
from albert_tf.training.fitting import (
    FitCall,
    accepts_input_context,
    distributed_dataset,
    plan_fit_calls,
    prepare_model_for_fit,
    steps_per_execution_for,
)

__all__ = [
    "PREEMPTED_EXIT_CODE",
    "CheckpointSaver",
    "FitCall",
    "MetricsCSV",
    "PreemptionWatcher",
    "RunRecord",
    "ScalarLogger",
    "StepCounter",
    "TrainingCheckpoint",
    "WorkerRole",
    "accepts_input_context",
    "distributed_dataset",
    "dropout_seed_states",
    "in_multi_worker_mode",
    "initialise_weights",
    "model_weights",
    "plan_fit_calls",
    "prepare_model_for_fit",
    "read_json",
    "steps_per_execution_for",
    "write_eval_results",
    "write_json",
]
