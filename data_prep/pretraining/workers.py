"""The work of a pretraining-data job, one piece at a time: tokenize a chunk, build and serialise a block.

The same functions run in-process (``num_workers=1``), in a process pool (:mod:`.local`) and in
Beam DoFns (:mod:`data_prep.pretraining_beam`), which is what makes the shards of every runner the
same bytes. A pool worker keeps what is costly to set up (the tokenizer, the mapped store) in a
module-global, because pool tasks are plain functions of picklable arguments.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import itertools
import json
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np

from albert_tf.data.schemas import PRETRAINING_SCHEMA
from data_prep import token_store
from data_prep.instances import Block, BlockBuilder, InstanceConfig
from data_prep.masking import MaskingConfig
from data_prep.pretraining.specs import PretrainingDataError
from data_prep.tfexample import ExampleEncoder


def chunk_tokenizer_for(spm_proto: bytes, do_lower_case: bool, encoding: str) -> token_store.ChunkTokenizer:
    """The tokenizer of pass one, rebuilt on a worker from the SentencePiece model's bytes."""
    from albert_tf.text.tokenizer import AlbertTokenizer  # the SentencePiece import stays off --help

    tokenizer = AlbertTokenizer.from_proto(spm_proto, do_lower_case=do_lower_case)
    return token_store.ChunkTokenizer(tokenizer, encoding)


def encode_block(builder: BlockBuilder, encoder: ExampleEncoder, block: Block) -> Tuple[int, List[bytes], dict]:
    """Builds one block and serialises it: ``(block index, records, stats)``."""
    built = builder.build(block)
    return block.index, encoder.encode(built.features), built.stats


class BlockEncoder:
    """Builds, masks and serialises the blocks of one token store; the store stays mapped between blocks.

    Example:

    >>> import tempfile
    >>> from data_prep.instances import InstanceConfig
    >>> store = token_store.StoreWriter(tempfile.mkdtemp(), ["corpus.txt"], np.uint16).finish()
    >>> encoder = BlockEncoder(store.directory, InstanceConfig(max_seq_length=16, dupe_factor=1), None)
    >>> encoder.encoder.schema is PRETRAINING_SCHEMA
    True
    """

    def __init__(self, store_dir: str, instance_config: InstanceConfig, masking: MaskingConfig):
        self.builder = BlockBuilder(token_store.TokenStore(store_dir), instance_config, masking)
        self.encoder = ExampleEncoder(PRETRAINING_SCHEMA)

    def __call__(self, block: Block) -> Tuple[int, List[bytes], dict]:
        return encode_block(self.builder, self.encoder, block)


def masking_key(masking: MaskingConfig) -> str:
    """A hashable identity of a masking config (its table is an array)."""
    fields = {k: v for k, v in dataclasses.asdict(masking).items() if k != "start_table"}
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode())
    digest.update(np.asarray(masking.start_table, dtype=bool).tobytes())
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------------
# Process-pool workers

_WORKER: Dict[str, object] = {}


def init_worker(spm_proto: bytes, do_lower_case: bool, encoding: str = "utf-8") -> None:
    """``Pool`` initializer (and the in-process setup): what :func:`tokenize_task` needs."""
    _WORKER.clear()
    _WORKER["spm"] = (spm_proto, do_lower_case, encoding)


def init_pool_worker(spm_proto: bytes, do_lower_case: bool, encoding: str = "utf-8") -> None:
    """Pool initializer: the default SIGTERM action first, then :func:`init_worker`.

    A forked worker inherits the parent's Python SIGTERM handler (a console script's, or one an earlier
    run left installed); a SIGTERM to the process group must still end it.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    init_worker(spm_proto, do_lower_case, encoding)


def tokenize_task(chunk: token_store.Chunk) -> token_store.ChunkResult:
    if "chunker" not in _WORKER:
        _WORKER["chunker"] = chunk_tokenizer_for(*_WORKER["spm"])
    return _WORKER["chunker"].tokenize_chunk(chunk)


def block_task(task) -> Tuple[int, List[bytes], dict]:
    store_dir, instance_config, masking, key, block = task
    # One encoder per job and worker: it keeps the store mapped and the round's document order.
    if _WORKER.get("blocks_key") != (store_dir, instance_config, key):
        _WORKER["blocks"] = BlockEncoder(store_dir, instance_config, masking)
        _WORKER["blocks_key"] = (store_dir, instance_config, key)
    return _WORKER["blocks"](block)


def ordered_map(pool: Optional[ProcessPoolExecutor], func, tasks: Iterable, max_in_flight: int) -> Iterator:
    """``map`` in task order with at most ``max_in_flight`` tasks queued (bounded memory)."""
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
        raise PretrainingDataError(
            f"a data worker process died ({error}); run the same command again to resume, or pass "
            "--num_workers=1 to work in this process") from None


def start_pool(num_workers: int, worker_args: tuple) -> ProcessPoolExecutor:
    """The worker processes of one job.

    An executor, not ``multiprocessing.Pool``: a worker that dies (out of memory, killed) breaks the
    executor with an error, where a Pool replaces the worker and waits for its lost task for ever.
    fork starts workers in milliseconds and shares the parent's imports; the workers never call into
    TensorFlow, which the parent may have imported. Elsewhere, spawn.
    """
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    return ProcessPoolExecutor(num_workers, mp_context=context, initializer=init_pool_worker, initargs=worker_args)


def default_num_workers() -> int:
    """The cores this process may use (affinity-aware where the OS tells)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
