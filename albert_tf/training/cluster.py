"""Where each task of a cluster writes: the chief into `output_dir`, the others into temporary folders."""

from __future__ import annotations

import os
import shutil
import tempfile

import tensorflow as tf  # noqa: F401 (the doctest below uses it)

from albert_tf._compat import in_multi_worker_mode

__all__ = ["WorkerRole", "in_multi_worker_mode"]


class WorkerRole:
    """This task's place in the cluster of `strategy`, and the directory it may write to.

    The chief (task 0 of a multi-worker cluster, or the only process otherwise) writes into
    `output_dir`; every other worker gets a private temporary directory, removed by `cleanup()`.

    Example:

    >>> role = WorkerRole(tf.distribute.OneDeviceStrategy("/cpu:0"), "/tmp/run")
    >>> role.is_chief, role.write_dir
    (True, '/tmp/run')
    """

    def __init__(self, strategy, output_dir: str):
        self.output_dir = output_dir
        self.multi_worker = in_multi_worker_mode(strategy)
        resolver = getattr(strategy, "cluster_resolver", None) if self.multi_worker else None
        self.task = f"{resolver.task_type}-{resolver.task_id}" if resolver is not None else "chief"
        # The chief of TensorFlow's rules: the "chief" task, else worker 0 (also True off-cluster).
        self.is_chief = bool(strategy.extended.should_checkpoint)
        self._temp = None
        if self.is_chief:
            self.write_dir = output_dir
        else:
            self._temp = tempfile.mkdtemp(prefix=f"albert_tf-{self.task}-")
            self.write_dir = self._temp

    def path(self, *parts) -> str:
        """Where this worker writes `parts` (inside `output_dir` only on the chief)."""
        return os.path.join(self.write_dir, *parts)

    def cleanup(self):
        if self._temp:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None

