"""The worker processes of the data jobs (corpus, pretraining and fine-tuning records), one way for all three.

An executor, not ``multiprocessing.Pool``: a worker that dies (out of memory, killed) breaks the executor with
an error, where a Pool replaces the worker and waits for its lost task for ever. Results come back in task
order with a bounded number of tasks in flight, so a job streams a corpus of any size through its workers.
"""

from __future__ import annotations

import collections
import itertools
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterable, Iterator, Optional


def start_pool(num_workers: int, initializer, initargs: tuple, fork_after_tensorflow: bool = False
               ) -> ProcessPoolExecutor:
    """``num_workers`` processes, each set up by ``initializer(*initargs)``.

    fork starts a worker in milliseconds and shares the parent's imports; forking a process whose
    TensorFlow runtime already runs threads can deadlock the child, so then spawn, unless the caller
    knows its workers touch nothing TensorFlow holds (``fork_after_tensorflow``).
    """
    methods = multiprocessing.get_all_start_methods()
    use_fork = "fork" in methods and (fork_after_tensorflow or "tensorflow" not in sys.modules)
    context = multiprocessing.get_context("fork" if use_fork else "spawn")
    return ProcessPoolExecutor(num_workers, mp_context=context, initializer=initializer, initargs=initargs)


def ordered_map(pool: Optional[ProcessPoolExecutor], func: Callable, tasks: Iterable, max_in_flight: int,
                broken: Callable[[str], Exception]) -> Iterator:
    """``map(func, tasks)`` in task order, on ``pool`` (in this process when None) with at most
    ``max_in_flight`` tasks queued; a dead worker raises ``broken(what happened)``."""
    if pool is None:
        for task in tasks:
            yield func(task)
        return
    pending = collections.deque()
    iterator = iter(tasks)
    try:
        for task in itertools.islice(iterator, max_in_flight):
            pending.append(pool.submit(func, task))
        while pending:
            result = pending.popleft().result()
            for task in itertools.islice(iterator, 1):
                pending.append(pool.submit(func, task))
            yield result
    except BrokenProcessPool as error:
        raise broken(f"a worker process died ({error})") from None


def stop_pool(pool: Optional[ProcessPoolExecutor]) -> None:
    """Waits for the tasks running on ``pool`` and drops the queued ones."""
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)
