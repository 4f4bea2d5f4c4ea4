"""The steps every runner of a pretraining-data job takes, in order, whatever executes the work.

The multi-process runner (:mod:`.local`) and the Beam runner (:mod:`data_prep.pretraining_beam`)
differ only in how they tokenize, build blocks and move files; what they decide is decided here,
once, so their shards and summaries cannot drift apart:

1. :func:`prepare_job`: flags checked, tokenizer and masking set up, output files named, and
   whether a previous run already did all of it (:meth:`Job.already_complete`).
2. :func:`plan_job`: once the token store exists, the blocks of work, the shards they are dealt to
   (fewer for a small corpus under a ``{shard}`` pattern), and which shards a re-run skips.
3. :class:`ShardWriter`: a shard is written under ``<name>.incomplete`` and renamed when complete.
4. :func:`start_summary` and :func:`finish_summary`: one JSON summary, next to the output.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Callable, List, Optional, Sequence, Tuple

from data_prep import fileio, token_store
from data_prep.instances import Block, InstanceConfig, empty_block_stats, merge_stats, plan_blocks
from data_prep.masking import MaskingConfig
from data_prep.pretraining.report import corpus_report, corpus_warnings, empty_corpus_error, summarize
from data_prep.pretraining.resume import load_previous_summary, previous_run_complete, shard_state
from data_prep.pretraining.specs import (
    PretrainingDataConfig,
    PretrainingDataError,
    check_input_encoding,
    default_summary_path,
    masking_config_for,
    resolve_output_files,
    validate_config,
)
from data_prep.tfrecord import TFRecordWriter

logger = logging.getLogger("albert_tf.data_prep.pretraining")

INCOMPLETE_SUFFIX = ".incomplete"
SUMMARY_VERSION = 1


@dataclasses.dataclass
class Job:
    """One pretraining-data job as both runners see it before any work (picklable, for Beam workers).

    Example:

    >>> job = Job(PretrainingDataConfig("in.txt", "out-{shard}.tfrecord"), "utf-8", [("in.txt", 10, 0.0)], None,
    ...           ["out-00000.tfrecord", "out-00001.tfrecord"], True, "out.summary.json", "c0ffee", None)
    >>> job.fingerprint(2) == job.fingerprint_prefix + "-2", job.may_cap
    (True, True)
    """

    config: PretrainingDataConfig
    encoding: str
    inputs: List[Tuple[str, int, float]]
    masking: Optional[MaskingConfig]
    outputs: List[str]
    is_pattern: bool
    summary_path: str
    store_fingerprint: str
    previous: Optional[dict]

    @property
    def input_files(self) -> List[str]:
        return [path for path, _, _ in self.inputs]

    @property
    def input_sizes(self) -> List[int]:
        return [size for _, size, _ in self.inputs]

    @property
    def instance_config(self) -> InstanceConfig:
        return self.config.instance_config()

    @property
    def fingerprint_prefix(self) -> str:
        """What the settings and the inputs fix; the shard count completes a fingerprint."""
        return self.config.output_fingerprint() + "-" + self.store_fingerprint

    def fingerprint(self, num_shards: int) -> str:
        return f"{self.fingerprint_prefix}-{num_shards}"

    @property
    def may_cap(self) -> bool:
        """A ``{shard}`` pattern without a count: a small corpus may write fewer shards."""
        return self.is_pattern and self.config.num_output_shards is None

    def already_complete(self) -> bool:
        """Whether a previous run of this very job wrote every shard (and ``overwrite`` is off)."""
        if self.config.overwrite:
            return False
        return previous_run_complete(self.previous, self.fingerprint_prefix, self.config.output_file,
                                     self.outputs, self.may_cap)

    def check_existing_shards(self) -> None:
        """Stops before any work when an existing shard is not this job's.

        :func:`plan_job` checks again with the final shard count, which a ``{shard}`` pattern
        without a count learns only from the corpus; this early check covers every other case.
        """
        if not self.may_cap:
            shard_state(self.outputs, self.config.overwrite, self.previous, self.fingerprint(len(self.outputs)))


def prepare_job(config: PretrainingDataConfig,
                list_inputs: Callable[[str], Sequence[Tuple[str, int, float]]]) -> Tuple[Job, object]:
    """Checks the flags and sets the job up: ``(job, tokenizer)``.

    ``list_inputs``: ``--input_file`` to ``(path, bytes, mtime)`` of every input file, as the
    runner's file system lists them; they, the tokenizer and the encoding identify the token store.
    """
    from albert_tf.text.tokenizer import AlbertTokenizer  # the SentencePiece import stays off --help

    validate_config(config)
    encoding = check_input_encoding(config.input_encoding)
    input_signatures = list(list_inputs(config.input_file))
    tokenizer = AlbertTokenizer(config.spm_model_file, do_lower_case=config.do_lower_case)
    outputs, is_pattern = resolve_output_files(config.output_file, config.num_output_shards)
    summary_path = config.summary_file or default_summary_path(config.output_file)
    job = Job(
        config=config,
        encoding=encoding,
        inputs=input_signatures,
        masking=masking_config_for(tokenizer, config),
        outputs=outputs,
        is_pattern=is_pattern,
        summary_path=summary_path,
        store_fingerprint=token_store.store_fingerprint(
            input_signatures, tokenizer.proto, config.do_lower_case, encoding
        ),
        previous=load_previous_summary(summary_path),
    )
    job.check_existing_shards()
    return job, tokenizer


@dataclasses.dataclass
class Plan:
    """The work of a job once its corpus is tokenized: blocks, the shards they go to, and what is left to do."""

    outputs: List[str]
    blocks: List[Block]
    shards: dict
    corpus: dict
    warnings: List[str]

    def blocks_of_shard(self) -> List[List[Block]]:
        return shard_blocks(self.blocks, len(self.outputs))

    def todo(self) -> List[int]:
        """The shards to write, by index (the others were written by an earlier run of this job)."""
        return [s for s, path in enumerate(self.outputs) if self.shards[path]["status"] != "skipped"]


def shard_blocks(blocks: Sequence[Block], num_shards: int) -> List[List[Block]]:
    """Blocks dealt round-robin to shards: shard s holds blocks s, s + S, s + 2S, ... in order."""
    return [list(blocks[s::num_shards]) for s in range(num_shards)]


def plan_job(job: Job, store: token_store.TokenStore) -> Plan:
    """The blocks of work of ``store`` and the shards they are dealt to; stops on an empty corpus."""
    config = job.config
    if store.num_documents == 0:
        raise empty_corpus_error(job.input_files, store)
    warnings_list = corpus_warnings(store, config)
    for message in warnings_list:
        logger.warning(message)
    blocks = plan_blocks(store.document_tokens(), job.instance_config, config.block_tokens)
    outputs = job.outputs
    if len(blocks) < len(outputs):
        if not job.may_cap:
            raise PretrainingDataError(
                f"--output_file asks for {len(outputs)} shards but the corpus ({store.num_documents} "
                f"documents, {store.report.tokens} tokens, --dupe_factor={config.dupe_factor}) makes "
                f"only {len(blocks)} blocks of work, so some shards would be empty; use at most "
                f"{len(blocks)} shards or a smaller --block_tokens"
            )
        logger.info(
            "the corpus makes %d blocks of work; writing %d shards instead of %d",
            len(blocks), len(blocks), len(outputs),
        )
        outputs, _ = resolve_output_files(config.output_file, len(blocks))
    shards = shard_state(outputs, config.overwrite, job.previous, job.fingerprint(len(outputs)))
    skipped = sum(entry["status"] == "skipped" for entry in shards.values())
    if skipped:
        logger.info("%d of %d shards are complete and skipped (--overwrite redoes them)", skipped, len(outputs))
    return Plan(outputs, blocks, shards, corpus_report(store), warnings_list)


class ShardWriter:
    """Writes one shard under ``<path>.incomplete``, counting what goes in, and renames it when complete.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "out.tfrecord")
    >>> shard = ShardWriter(path, ngram=3)
    >>> shard.add([b"record"], empty_block_stats(3))
    >>> shard.commit()["status"], os.path.exists(path)
    ('written', True)
    """

    def __init__(self, path: str, ngram: int):
        self.path = path
        self._writer = TFRecordWriter(path)  # makes the folder, writes <path>.incomplete, renamed by close()
        self.records = 0
        self.stats = empty_block_stats(ngram)

    def add(self, records: Sequence[bytes], block_stats: dict) -> None:
        for record in records:
            self._writer.write(record)
        self.records += len(records)
        merge_stats(self.stats, block_stats)

    def commit(self) -> dict:
        """Renames the shard to its name; returns its entry in the summary."""
        self._writer.close()
        return {"status": "written", "instances": self.records, "stats": self.stats}

    def abort(self) -> None:
        self._writer.abort()


def start_summary(job: Job, plan: Plan, **runner) -> dict:
    """The summary before any shard is written; ``runner``: what only one runner reports."""
    return {
        "summary_version": SUMMARY_VERSION,
        "complete": False,
        "fingerprint": job.fingerprint(len(plan.outputs)),
        "flags": dataclasses.asdict(job.config),
        "input_files": list(job.input_files),
        "corpus": plan.corpus,
        "warnings": plan.warnings,
        **runner,
        "blocks": len(plan.blocks),
        "shards": {path: dict(plan.shards[path]) for path in plan.outputs},
    }


def finish_summary(summary: dict, masking: MaskingConfig, seconds: dict) -> dict:
    """Totals over every shard that has counters (skipped shards carry their earlier run's)."""
    totals = empty_block_stats(masking.ngram)
    covered_all = True
    for shard in summary["shards"].values():
        if shard.get("stats"):
            merge_stats(totals, shard["stats"])
        else:
            covered_all = False
    summary["totals"] = summarize(totals, masking)
    summary["totals_cover_all_shards"] = covered_all
    summary["seconds"] = {name: round(value, 3) for name, value in seconds.items()}
    summary["complete"] = True
    return summary


def write_summary(path: str, summary: dict) -> None:
    fileio.write_text_atomic(path, json.dumps(summary, indent=1) + "\n", INCOMPLETE_SUFFIX)
