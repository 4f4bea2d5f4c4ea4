"""Fine-tuning tasks: the registry of the original task names (labels, records, model, metrics, defaults)
and the per-task helpers (GLUE files and labels, SQuAD post-processing).

`glue` and `squad` are pure Python / NumPy (no TensorFlow at import), so data-preparation jobs and
prediction code can share them.
"""

from albert_tf.tasks.registry import FAMILIES, Task, TaskDefaults, get_task, register_task, tagging_task, task_names

__all__ = ["FAMILIES", "Task", "TaskDefaults", "get_task", "register_task", "tagging_task", "task_names"]
