"""Fine-tuning tasks: the registry of the original task names and how each is trained and scored."""

from albert_tf.tasks.registry import FAMILIES, Task, TaskDefaults, get_task, register_task, tagging_task, task_names

__all__ = ["FAMILIES", "Task", "TaskDefaults", "get_task", "register_task", "tagging_task", "task_names"]
