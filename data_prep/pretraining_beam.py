"""The pretraining-data job as an Apache Beam pipeline (DirectRunner, Dataflow, Flink, Spark).

Same two passes and the same functions as :mod:`data_prep.pretraining`, so the same seed gives the
same shards, byte for byte:

1. ``Tokenize``: every byte-range chunk of the input is tokenized on some worker and written to
   ``<work_dir>/beam-<fingerprint>/chunks/``.
2. ``BuildStore``: one worker concatenates the chunks, in order, into the token store (tokens and
   offsets, a few bytes per token) and plans the blocks of work.
3. ``BuildBlocks``: every block is built, masked, shuffled and serialised on some worker; a worker
   reads the store once (copying it locally first when it lives on a remote file system).
4. ``WriteShards``: blocks are grouped by shard, put back in block order and written as
   ``<shard>.incomplete``, then renamed. Complete shards are skipped unless ``overwrite``.

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
from typing import List, Optional, Sequence

import numpy as np

from albert_tf.data.schemas import PRETRAINING_SCHEMA
from data_prep import token_store
from data_prep.instances import BlockBuilder, empty_block_stats, merge_stats, plan_blocks
from data_prep.pretraining import (
    INCOMPLETE_SUFFIX,
    SUMMARY_VERSION,
    PretrainingDataConfig,
    PretrainingDataError,
    check_input_encoding,
    corpus_warnings,
    default_summary_path,
    empty_corpus_error,
    encode_block,
    load_previous_summary,
    masking_config_for,
    previous_run_complete,
    resolve_output_files,
    shard_blocks,
    split_list,
    summarize,
    validate_config,
)
from data_prep.tfexample import ExampleEncoder

logger = logging.getLogger("albert_tf.data_prep.pretraining_beam")

_STORE_FILES = ("tokens.bin", "sentence_offsets.npy", "document_offsets.npy", "store.json")


def _join(directory: str, *parts: str) -> str:
    return posixpath.join(directory, *parts) if "://" in directory else os.path.join(directory, *parts)


def _is_remote(path: str) -> bool:
    return "://" in path


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
            from albert_tf.text.tokenizer import AlbertTokenizer

            tokenizer = AlbertTokenizer.from_proto(self.spm_proto, do_lower_case=self.do_lower_case)
            self._chunker = token_store.ChunkTokenizer(tokenizer, self.encoding)
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


def _build_store(metas: Sequence[dict], files: Sequence[str], run_dir: str, dtype_name: str,
                 config: PretrainingDataConfig, masking, outputs: List[str], is_pattern: bool) -> dict:
    """Singleton step: the store from every chunk, in order, and the plan of the job."""
    from apache_beam.io.filesystems import FileSystems

    local_dir = tempfile.mkdtemp(prefix="albert-store-") if _is_remote(run_dir) else _join(run_dir, "store")
    writer = token_store.StoreWriter(local_dir, files, np.dtype(dtype_name))
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
    if store.num_documents == 0:
        raise empty_corpus_error(files, store)
    store_dir = local_dir
    if _is_remote(run_dir):
        store_dir = _join(run_dir, "store")
        for name in _STORE_FILES:
            with open(os.path.join(local_dir, name), "rb") as src, FileSystems.create(_join(store_dir, name)) as dst:
                dst.write(src.read())
    blocks = plan_blocks(store.document_tokens(), config.instance_config(), config.block_tokens)
    if len(blocks) < len(outputs):
        if is_pattern and config.num_output_shards is None:
            outputs, _ = resolve_output_files(config.output_file, len(blocks))
        else:
            raise PretrainingDataError(
                f"--output_file asks for {len(outputs)} shards but the corpus makes only {len(blocks)} "
                "blocks of work, so some shards would be empty; use fewer shards or a smaller --block_tokens"
            )
    warnings_list = corpus_warnings(store, config)
    for message in warnings_list:
        logger.warning(message)
    return {
        "store_dir": store_dir,
        "outputs": outputs,
        "blocks": [dataclasses.astuple(b) for b in blocks],
        "warnings": warnings_list,
        "corpus": {
            "documents": store.num_documents,
            "sentences": store.num_sentences,
            "tokens": store.report.tokens,
            "lines": store.report.lines,
            "single_sentence_documents": int((store.sentences_per_document() == 1).sum()),
            "invalid_utf8_lines": store.report.invalid_utf8_lines,
        },
    }


def _blocks_to_build(plan: dict, overwrite: bool):
    import tensorflow as tf

    from data_prep.instances import Block

    blocks = [Block(*b) for b in plan["blocks"]]
    outputs = plan["outputs"]
    for shard, shard_list in enumerate(shard_blocks(blocks, len(outputs))):
        if not overwrite and tf.io.gfile.exists(outputs[shard]):
            continue
        for block in shard_list:
            yield plan["store_dir"], shard, block


class _BuildBlock:
    """DoFn body: one block → ``(shard, (block index, records, stats))``."""

    def __init__(self, instance_config, masking):
        self.instance_config = instance_config
        self.masking = masking
        self._store_dir = None
        self._builder = None
        self._encoder = ExampleEncoder(PRETRAINING_SCHEMA)

    def _local_store(self, store_dir: str) -> str:
        if not _is_remote(store_dir):
            return store_dir
        from apache_beam.io.filesystems import FileSystems

        local = tempfile.mkdtemp(prefix="albert-store-")
        for name in _STORE_FILES:
            with FileSystems.open(_join(store_dir, name)) as src, open(os.path.join(local, name), "wb") as dst:
                while True:
                    piece = src.read(16 << 20)
                    if not piece:
                        break
                    dst.write(piece)
        return local

    def __call__(self, element):
        store_dir, shard, block = element
        if self._store_dir != store_dir:
            store = token_store.TokenStore(self._local_store(store_dir))
            self._builder = BlockBuilder(store, self.instance_config, self.masking)
            self._store_dir = store_dir
        index, records, stats = encode_block(self._builder, self._encoder, block)
        yield shard, (index, records, stats)


def _write_shard(element, outputs_of_plan: dict, ngram: int) -> dict:
    import tensorflow as tf

    shard, items = element
    path = outputs_of_plan["outputs"][shard]
    stats = empty_block_stats(ngram)
    tmp = path + INCOMPLETE_SUFFIX
    directory = posixpath.dirname(path) if _is_remote(path) else os.path.dirname(path)
    if directory:
        tf.io.gfile.makedirs(directory)
    count = 0
    with tf.io.TFRecordWriter(tmp) as writer:
        for _, records, block_stats in sorted(items, key=lambda item: item[0]):
            for record in records:
                writer.write(record)
            count += len(records)
            merge_stats(stats, block_stats)
    tf.io.gfile.rename(tmp, path, overwrite=True)
    return {"path": path, "instances": count, "stats": stats}


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
    import tensorflow as tf

    from albert_tf.text.tokenizer import AlbertTokenizer

    started = time.time()
    validate_config(config)
    encoding = check_input_encoding(config.input_encoding)
    inputs = _expand_inputs(config.input_file)
    files = [path for path, _, _ in inputs]
    tokenizer = AlbertTokenizer(config.spm_model_file, do_lower_case=config.do_lower_case)
    masking = masking_config_for(tokenizer, config)
    outputs, is_pattern = resolve_output_files(config.output_file, config.num_output_shards)
    summary_path = config.summary_file or default_summary_path(config.output_file)
    fingerprint = token_store.store_fingerprint(inputs, tokenizer.proto, config.do_lower_case, encoding)
    job_prefix = config.output_fingerprint() + "-" + fingerprint
    previous = load_previous_summary(summary_path)
    if not config.overwrite:
        may_cap = is_pattern and config.num_output_shards is None
        if previous_run_complete(previous, job_prefix, config.output_file, outputs, may_cap):
            logger.info("every shard of %s is complete; nothing to do (--overwrite redoes them)", summary_path)
            return previous
        existing = [path for path in outputs if tf.io.gfile.exists(path)]
        if existing and previous is not None and not str(previous.get("fingerprint", "")).startswith(job_prefix + "-"):
            raise PretrainingDataError(
                f"{existing[0]} exists from a run with other settings or inputs; pass --overwrite or "
                "choose another --output_file"
            )
    if _is_remote(outputs[0]):
        first_dir = posixpath.dirname(outputs[0])
    else:
        first_dir = os.path.dirname(os.path.abspath(outputs[0]))
    work_dir = config.work_dir or _join(first_dir, ".albert_pretraining_work")
    run_dir = _join(work_dir, f"beam-{fingerprint}")
    chunks = token_store.plan_chunks(files, [size for _, size, _ in inputs])
    dtype_name = "uint16" if tokenizer.vocab_size <= 65536 else "int32"
    instance_config = config.instance_config()

    options = PipelineOptions(beam_args or [])
    with beam.Pipeline(options=options) as pipeline:
        metas = (
            pipeline
            | "Chunks" >> beam.Create(chunks)
            | "SpreadChunks" >> beam.Reshuffle()
            | "Tokenize" >> beam.FlatMap(_TokenizeChunk(tokenizer.proto, config.do_lower_case, run_dir, encoding))
        )
        plan = (
            metas
            | "AllChunks" >> beam.combiners.ToList()
            | "BuildStore" >> beam.Map(_build_store, files, run_dir, dtype_name, config, masking, outputs, is_pattern)
        )
        written = (
            plan
            | "PlanBlocks" >> beam.FlatMap(_blocks_to_build, config.overwrite)
            | "SpreadBlocks" >> beam.Reshuffle()
            | "BuildBlocks" >> beam.FlatMap(_BuildBlock(instance_config, masking))
            | "ByShard" >> beam.GroupByKey()
            | "WriteShards" >> beam.Map(_write_shard, beam.pvalue.AsSingleton(plan), masking.ngram)
        )
        _ = (
            written
            | "AllShards" >> beam.combiners.ToList()
            | "Summary" >> beam.Map(
                _write_summary, beam.pvalue.AsSingleton(plan), config, masking, summary_path, started, files,
                job_prefix,
            )
        )
    with tf.io.gfile.GFile(summary_path) as f:
        summary = json.load(f)
    if not config.keep_work_dir:
        try:
            FileSystems.delete([run_dir])
        except Exception:  # noqa: BLE001 - cleanup must not hide a finished job
            logger.warning("could not remove %s", run_dir)
        if not _is_remote(work_dir):
            try:
                os.rmdir(work_dir)
            except OSError:  # other runs' work is still there
                pass
    return summary


def _write_summary(shards: List[dict], plan: dict, config: PretrainingDataConfig, masking,
                   summary_path: str, started: float, files: Sequence[str], job_prefix: str) -> None:
    import tensorflow as tf

    written = {s["path"]: s for s in shards}
    totals = empty_block_stats(masking.ngram)
    shard_entries = {}
    for path in plan["outputs"]:
        if path in written:
            merge_stats(totals, written[path]["stats"])
            shard_entries[path] = {"status": "written", "instances": written[path]["instances"],
                                   "stats": written[path]["stats"]}
        else:
            shard_entries[path] = {"status": "skipped", "instances": 0, "stats": None}
    summary = {
        "summary_version": SUMMARY_VERSION,
        "complete": True,
        "runner": "beam",
        "fingerprint": f"{job_prefix}-{len(plan['outputs'])}",
        "flags": dataclasses.asdict(config),
        "input_files": list(files),
        "corpus": plan["corpus"],
        "warnings": plan["warnings"],
        "blocks": len(plan["blocks"]),
        "shards": shard_entries,
        "totals": summarize(totals, masking),
        "totals_cover_all_shards": all(e["status"] == "written" for e in shard_entries.values()),
        "seconds": {"total": round(time.time() - started, 3)},
    }
    tmp = summary_path + INCOMPLETE_SUFFIX
    with tf.io.gfile.GFile(tmp, "w") as f:
        json.dump(summary, f, indent=1)
    tf.io.gfile.rename(tmp, summary_path, overwrite=True)
