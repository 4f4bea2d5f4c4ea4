"""The pretraining-data job as an Apache Beam pipeline (DirectRunner, Dataflow, Flink, Spark).

Same two passes, the same worker functions (:mod:`data_prep.pretraining.workers`) and the same
plan, resume check and summary (:mod:`data_prep.pretraining.orchestrator`) as the multi-process
runner, so the same seed gives the same shards, byte for byte:

1. ``Tokenize``: every byte-range chunk of the input is tokenized on some worker and written to
   ``<work_dir>/beam-<fingerprint>/chunks/``.
2. ``BuildStore``: one worker concatenates the chunks, in order, into the token store (tokens and
   offsets, a few bytes per token) and plans the blocks of work.
3. ``BuildBlocks``: every block is built, masked, shuffled and serialised on some worker; a worker
   reads the store once (copying it locally first when it lives on a remote file system).
4. ``WriteShards``: blocks are grouped by shard, put back in block order and written as
   ``<shard>.incomplete``, then renamed. A re-run skips the shards an earlier run of this very job
   wrote (unless ``overwrite``) and stops at any other existing shard, as the local runner does.

Paths may be anything Beam's ``FileSystems`` and ``tf.io.gfile`` read (``gs://`` on Dataflow). The
summary JSON is written next to the output as by the multi-process runner. Needs the ``beam`` extra
(``pip install albert_tf[beam]``); on a cluster the workers need ``albert_tf`` too, e.g.
``--runner DataflowRunner --project P --region R --temp_location gs://B/tmp --setup_file ./setup.py``
or a custom container. Memory per worker: the token store (about 2 bytes per corpus token with a
vocabulary under 65,536 pieces) plus the shard being written, which ``WriteShards`` groups on one
worker — use enough shards to keep each one small.

Example:

>>> from data_prep.pretraining import PretrainingDataConfig
>>> run_beam(PretrainingDataConfig(input_file="corpus.txt", output_file="out-{shard}.tfrecord",
...                                spm_model_file="30k-clean.model", num_output_shards=4),
...          ["--runner", "DirectRunner"])  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import posixpath
import tempfile
import time
from typing import List, Optional, Sequence, Tuple

import numpy as np

from data_prep import fileio, token_store
from data_prep.pretraining import orchestrator
from data_prep.pretraining.specs import PretrainingDataConfig, PretrainingDataError, split_list
from data_prep.pretraining.workers import BlockEncoder, chunk_tokenizer_for

logger = logging.getLogger("albert_tf.data_prep.pretraining_beam")

_STORE_FILES = ("tokens.bin", "sentence_offsets.npy", "document_offsets.npy", "store.json")


def _join(directory: str, *parts: str) -> str:
    return posixpath.join(directory, *parts) if fileio.is_url(directory) else os.path.join(directory, *parts)


def _expand_inputs(spec) -> List[tuple]:
    from apache_beam.io.filesystems import FileSystems

    patterns = split_list(spec)
    if not patterns:
        raise PretrainingDataError("--input_file is empty; expected a comma-separated list of files or globs")
    files = []
    for pattern in patterns:
        matched = sorted(FileSystems.match([pattern])[0].metadata_list, key=lambda m: m.path)
        if not matched:
            raise PretrainingDataError(f"--input_file: no file matches {pattern!r}")
        files.extend((m.path, m.size_in_bytes, float(m.last_updated_in_seconds or 0.0)) for m in matched)
    return files


def _save_array(path: str, array: np.ndarray) -> None:
    from apache_beam.io.filesystems import FileSystems

    buffer = io.BytesIO()
    np.save(buffer, array)
    with FileSystems.create(path) as f:
        f.write(buffer.getvalue())


def _load_array(path: str) -> np.ndarray:
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(path) as f:
        return np.load(io.BytesIO(f.read()))


class _TokenizeChunk:
    """DoFn body: tokenizes one chunk and writes its ids and line lengths next to the run."""

    def __init__(self, spm_proto: bytes, do_lower_case: bool, run_dir: str, encoding: str = "utf-8"):
        self.spm_proto = spm_proto
        self.do_lower_case = do_lower_case
        self.run_dir = run_dir
        self.encoding = encoding
        self._chunker = None

    def __call__(self, chunk: token_store.Chunk):
        from apache_beam.io.filesystems import FileSystems

        if self._chunker is None:
            self._chunker = chunk_tokenizer_for(self.spm_proto, self.do_lower_case, self.encoding)
        with FileSystems.open(chunk.path) as f:
            result = self._chunker.tokenize_chunk(chunk, f)
        prefix = _join(self.run_dir, "chunks", f"chunk-{chunk.index:06d}")
        _save_array(prefix + "-ids.npy", result.ids)
        _save_array(prefix + "-lines.npy", result.line_lengths)
        yield {
            "chunk": dataclasses.asdict(chunk),
            "prefix": prefix,
            "invalid_utf8_lines": result.invalid_utf8_lines,
            "invalid_utf8_count": result.invalid_utf8_count,
            # Raised by BuildStore, the one step that knows the line's number in its file.
            "decode_error": result.decode_error,
        }


def _copy(source: str, target: str) -> None:
    """Copies a store file between Beam file systems (local paths included), 16 MiB at a time."""
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(source) as src, FileSystems.create(target) as dst:
        while True:
            piece = src.read(16 << 20)
            if not piece:
                break
            dst.write(piece)


def _build_store(metas: Sequence[dict], job: orchestrator.Job, run_dir: str, dtype_name: str
                 ) -> Tuple[str, orchestrator.Plan]:
    """Singleton step: the store from every chunk, in order, and the plan of the job."""
    local_dir = tempfile.mkdtemp(prefix="albert-store-") if fileio.is_url(run_dir) else _join(run_dir, "store")
    writer = token_store.StoreWriter(local_dir, job.input_files, np.dtype(dtype_name))
    for meta in sorted(metas, key=lambda m: m["chunk"]["index"]):
        chunk = token_store.Chunk(**meta["chunk"])
        writer.add(token_store.ChunkResult(
            chunk,
            _load_array(meta["prefix"] + "-ids.npy"),
            _load_array(meta["prefix"] + "-lines.npy"),
            meta["invalid_utf8_lines"],
            meta["invalid_utf8_count"],
            meta["decode_error"],
        ))
    store = writer.finish()
    plan = orchestrator.plan_job(job, store)
    store_dir = local_dir
    if fileio.is_url(run_dir):
        store_dir = _join(run_dir, "store")
        for name in _STORE_FILES:
            _copy(os.path.join(local_dir, name), _join(store_dir, name))
    return store_dir, plan


def _blocks_to_build(planned: Tuple[str, orchestrator.Plan]):
    store_dir, plan = planned
    per_shard = plan.blocks_of_shard()
    for shard in plan.todo():
        for block in per_shard[shard]:
            yield store_dir, shard, block


class _BuildBlock:
    """DoFn body: one block → ``(shard, (block index, records, stats))``."""

    def __init__(self, instance_config, masking):
        self.instance_config = instance_config
        self.masking = masking
        self._store_dir = None
        self._blocks = None

    def _local_store(self, store_dir: str) -> str:
        if not fileio.is_url(store_dir):
            return store_dir
        local = tempfile.mkdtemp(prefix="albert-store-")
        for name in _STORE_FILES:
            _copy(_join(store_dir, name), os.path.join(local, name))
        return local

    def __call__(self, element):
        store_dir, shard, block = element
        if self._store_dir != store_dir:
            self._blocks = BlockEncoder(self._local_store(store_dir), self.instance_config, self.masking)
            self._store_dir = store_dir
        yield shard, self._blocks(block)


def _write_shard(element, planned: Tuple[str, orchestrator.Plan], ngram: int) -> Tuple[str, dict]:
    shard, items = element
    path = planned[1].outputs[shard]
    writer = orchestrator.ShardWriter(path, ngram)
    try:
        for _, records, block_stats in sorted(items, key=lambda item: item[0]):
            writer.add(records, block_stats)
    except BaseException:
        writer.abort()
        raise
    return path, writer.commit()


def _write_summary(written: List[Tuple[str, dict]], planned: Tuple[str, orchestrator.Plan], job: orchestrator.Job,
                   started: float) -> None:
    summary = orchestrator.start_summary(job, planned[1], runner="beam")
    summary["shards"].update(written)
    orchestrator.finish_summary(summary, job.masking, {"total": time.time() - started})
    orchestrator.write_summary(job.summary_path, summary)


def run_beam(config: PretrainingDataConfig, beam_args: Optional[List[str]] = None) -> dict:
    """Runs the job on a Beam runner (``beam_args`` are PipelineOptions flags) and returns the summary."""
    try:
        import apache_beam as beam
        from apache_beam.io.filesystems import FileSystems
        from apache_beam.options.pipeline_options import PipelineOptions
    except ImportError as err:
        raise PretrainingDataError(
            f"--runner needs Apache Beam ({err}); install the 'beam' extra: pip install 'albert_tf[beam]'"
        ) from None

    started = time.time()
    job, tokenizer = orchestrator.prepare_job(config, _expand_inputs)
    if job.already_complete():
        logger.info("every shard of %s is complete; nothing to do (--overwrite redoes them)", job.summary_path)
        return job.previous
    outputs = job.outputs
    if fileio.is_url(outputs[0]):
        first_dir = posixpath.dirname(outputs[0])
    else:
        first_dir = os.path.dirname(os.path.abspath(outputs[0]))
    work_dir = config.work_dir or _join(first_dir, ".albert_pretraining_work")
    run_dir = _join(work_dir, f"beam-{job.store_fingerprint}")
    chunks = token_store.plan_chunks(job.input_files, job.input_sizes)
    dtype_name = "uint16" if tokenizer.vocab_size <= 65536 else "int32"

    options = PipelineOptions(beam_args or [])
    with beam.Pipeline(options=options) as pipeline:
        metas = (
            pipeline
            | "Chunks" >> beam.Create(chunks)
            | "SpreadChunks" >> beam.Reshuffle()
            | "Tokenize" >> beam.FlatMap(_TokenizeChunk(tokenizer.proto, config.do_lower_case, run_dir, job.encoding))
        )
        planned = (
            metas
            | "AllChunks" >> beam.combiners.ToList()
            | "BuildStore" >> beam.Map(_build_store, job, run_dir, dtype_name)
        )
        written = (
            planned
            | "PlanBlocks" >> beam.FlatMap(_blocks_to_build)
            | "SpreadBlocks" >> beam.Reshuffle()
            | "BuildBlocks" >> beam.FlatMap(_BuildBlock(job.instance_config, job.masking))
            | "ByShard" >> beam.GroupByKey()
            | "WriteShards" >> beam.Map(_write_shard, beam.pvalue.AsSingleton(planned), job.masking.ngram)
        )
        _ = (
            written
            | "AllShards" >> beam.combiners.ToList()
            | "Summary" >> beam.Map(_write_summary, beam.pvalue.AsSingleton(planned), job, started)
        )
    summary = json.loads(fileio.read_text(job.summary_path))
    if not config.keep_work_dir:
        try:
            FileSystems.delete([run_dir])
        except Exception:  # noqa: BLE001 - cleanup must not hide a finished job
            logger.warning("could not remove %s", run_dir)
        if not fileio.is_url(work_dir):
            try:
                os.rmdir(work_dir)
            except OSError:  # other runs' work is still there
                pass
    return summary
