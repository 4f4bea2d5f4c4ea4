"""The work of a pretraining-data job, one piece at a time: tokenize a chunk, build and serialise a block.

The same functions run in-process (``num_workers=1``), in a process pool (:mod:`.local`) and in
Beam DoFns (:mod:`data_prep.pretraining_beam`), which is what makes the shards of every runner the
same bytes. A pool worker keeps what is costly to set up (the tokenizer, the mapped store) in a
module-global, because pool tasks are plain functions of picklable arguments.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
from typing import Dict, Iterable, Iterator, List, Tuple

import numpy as np

from albert_tf.data.schemas import PRETRAINING_SCHEMA
from data_prep import pools, token_store
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


def start_pool(num_workers: int, worker_args: tuple):
    """The worker processes of one job (:func:`data_prep.pools.start_pool`): forked even after TensorFlow
    loaded, since the workers never call into it."""
    return pools.start_pool(num_workers, init_pool_worker, worker_args, fork_after_tensorflow=True)


def ordered_map(pool, func, tasks: Iterable, max_in_flight: int) -> Iterator:
    """:func:`data_prep.pools.ordered_map` with this job's error for a dead worker."""
    return pools.ordered_map(pool, func, tasks, max_in_flight, lambda what: PretrainingDataError(
        f"{what}; run the same command again to resume, or pass --num_workers=1 to work in this process"))


def default_num_workers() -> int:
    """The cores this process may use (affinity-aware where the OS tells)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
