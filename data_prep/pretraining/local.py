"""The multi-process runner: the job on one machine, over a pool of ``num_workers`` processes.

Pass one tokenizes the corpus in byte-range chunks into a memory-mapped token store in a work
directory next to the output, which a re-run reuses; pass two builds the blocks and writes each
shard as its last block arrives. Results come back in task order with a bounded number in flight,
so memory holds a few blocks, never the corpus times ``dupe_factor``.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from typing import Dict, Optional, Tuple

import numpy as np

from albert_tf.errors import UserInputError
from data_prep import fileio, token_store
from data_prep.pretraining import orchestrator
from data_prep.pretraining.resume import local_file_signature, shard_fingerprint_path
from data_prep.pretraining.specs import PretrainingDataConfig, expand_input_files
from data_prep.pretraining.workers import (
    block_task,
    default_num_workers,
    init_worker,
    masking_key,
    ordered_map,
    start_pool,
    tokenize_task,
)

logger = logging.getLogger("albert_tf.data_prep.pretraining")


def create_pretraining_data(config: PretrainingDataConfig) -> dict:
    """Runs the whole job and returns the summary (also written as JSON next to the output).

    Example:

    >>> summary = create_pretraining_data(PretrainingDataConfig(  # doctest: +SKIP
    ...     input_file="corpus.txt", output_file="out-{shard}.tfrecord", num_output_shards=4,
    ...     spm_model_file="30k-clean.model", dupe_factor=5))
    >>> summary["totals"]["instances"]  # doctest: +SKIP
    12345
    """
    started = time.time()
    job, tokenizer = orchestrator.prepare_job(config, _local_inputs)
    if job.already_complete():
        logger.info("every shard of %s is complete; nothing to do (--overwrite redoes them)", job.summary_path)
        return job.previous
    num_workers = config.num_workers or default_num_workers()
    work_dir = _work_dir(config, job.outputs[0])
    store_dir = os.path.join(work_dir, job.store_fingerprint)

    pool = None
    worker_args = (tokenizer.proto, config.do_lower_case, job.encoding)
    if num_workers > 1:
        pool = start_pool(num_workers, worker_args)
    else:
        init_worker(*worker_args)
    try:
        store, tokenize_seconds = _build_store(job, store_dir, tokenizer.vocab_size, pool, num_workers)
        if store.num_documents == 0:
            token_store.remove_store(store_dir)  # of no use: the input must change
        plan = orchestrator.plan_job(job, store)
        summary = orchestrator.start_summary(job, plan, num_workers=num_workers)
        orchestrator.write_summary(job.summary_path, summary)
        build_started = time.time()
        _write_shards(job, plan, store_dir, pool, num_workers, summary)
        build_seconds = time.time() - build_started
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    orchestrator.finish_summary(summary, job.masking, {
        "tokenize": tokenize_seconds, "instances": build_seconds, "total": time.time() - started,
    })
    written = sum(shard["instances"] for shard in summary["shards"].values() if shard["status"] == "written")
    summary["instances_per_second"] = written / max(build_seconds, 1e-9)
    orchestrator.write_summary(job.summary_path, summary)
    if not config.keep_work_dir:
        token_store.remove_store(store_dir)
        try:
            os.rmdir(work_dir)
        except OSError:
            pass
    outputs = plan.outputs
    logger.info(
        "wrote %d instances to %d shards (%s) in %.1f s; summary: %s",
        summary["totals"]["instances"], len(outputs), outputs[0] if len(outputs) == 1 else f"{outputs[0]} ...",
        summary["seconds"]["total"], job.summary_path,
    )
    return summary


def _local_inputs(spec) -> list:
    return [local_file_signature(path) for path in expand_input_files(spec)]


def _work_dir(config: PretrainingDataConfig, first_output: str) -> str:
    if config.work_dir:
        return config.work_dir
    if fileio.is_url(first_output):  # the token store is memory-mapped, so it must be local
        return os.path.join(tempfile.gettempdir(), "albert_pretraining_work")
    return os.path.join(os.path.dirname(os.path.abspath(first_output)), ".albert_pretraining_work")


def _progress(enabled: Optional[bool], **kwargs):
    from tqdm.auto import tqdm

    # None: tqdm shows the bar on a terminal and stays quiet in logs and tests.
    return tqdm(disable=None if enabled is None else not enabled, dynamic_ncols=True, **kwargs)


def _build_store(job: orchestrator.Job, store_dir: str, vocab_size: int, pool, num_workers: int
                 ) -> Tuple[token_store.TokenStore, float]:
    started = time.time()
    if token_store.is_complete_store(store_dir):
        logger.info("reusing the tokenized corpus in %s", store_dir)
        return token_store.TokenStore(store_dir), 0.0
    token_store.remove_store(store_dir)
    files = job.input_files
    sizes = job.input_sizes
    # Smaller chunks than the default keep every worker busy on small corpora; the store does not
    # depend on the chunking.
    chunk_bytes = max(token_store.MIN_CHUNK_BYTES, min(token_store.CHUNK_BYTES, sum(sizes) // (4 * num_workers) + 1))
    chunks = token_store.plan_chunks(files, sizes, chunk_bytes)
    chunker_dtype = np.uint16 if vocab_size <= 65536 else np.int32
    writer = token_store.StoreWriter(store_dir, files, chunker_dtype)
    try:
        with _progress(job.config.progress, total=sum(sizes), unit="B", unit_scale=True, desc="tokenize") as bar:
            for result in ordered_map(pool, tokenize_task, chunks, 2 * num_workers):
                writer.add(result)
                bar.update(result.chunk.end - result.chunk.start)
                bar.set_postfix(lines=writer.report.lines, refresh=False)
    except UserInputError:
        # A line that does not decode: the input must change, so the partial store is of no use.
        writer.abort()
        raise
    store = writer.finish()
    seconds = time.time() - started
    logger.info(
        "tokenized %d lines into %d documents, %d sentences, %d tokens in %.1f s",
        store.report.lines, store.num_documents, store.num_sentences, store.report.tokens, seconds,
    )
    return store, seconds


def _write_shards(job: orchestrator.Job, plan: orchestrator.Plan, store_dir: str, pool, num_workers: int,
                  summary: dict) -> None:
    """Pass two: every block of the shards to do, each shard committed (and the summary updated) when complete."""
    masking, instance_config, outputs = job.masking, job.instance_config, plan.outputs
    per_shard = plan.blocks_of_shard()
    todo = plan.todo()
    key = masking_key(masking)
    tasks = ((store_dir, instance_config, masking, key, block) for s in todo for block in per_shard[s])
    remaining = {s: len(per_shard[s]) for s in todo}
    shard_of = {block.index: s for s in todo for block in per_shard[s]}
    total_documents = sum(b.end - b.start for s in todo for b in per_shard[s])
    writers: Dict[int, orchestrator.ShardWriter] = {}
    started = time.time()
    instances = 0
    try:
        with _progress(job.config.progress, total=total_documents, unit="doc", desc="instances") as bar:
            for block_index, records, block_stats in ordered_map(pool, block_task, tasks, 2 * num_workers):
                s = shard_of[block_index]
                if s not in writers:
                    writers[s] = orchestrator.ShardWriter(outputs[s], masking.ngram)
                writers[s].add(records, block_stats)
                instances += len(records)
                bar.update(block_stats["documents"])
                rate = instances / max(time.time() - started, 1e-9)
                bar.set_postfix(instances=instances, instances_per_s=f"{rate:.0f}", refresh=False)
                remaining[s] -= 1
                if remaining[s] == 0:
                    summary["shards"][outputs[s]] = writers.pop(s).commit()
                    fileio.write_text_atomic(shard_fingerprint_path(outputs[s]), summary["fingerprint"] + "\n",
                                             orchestrator.INCOMPLETE_SUFFIX)
                    orchestrator.write_summary(job.summary_path, summary)
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
