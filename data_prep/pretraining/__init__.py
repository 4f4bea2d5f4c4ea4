"""ALBERT pretraining data: the original ``create_pretraining_data.py``, multi-process and resumable.

Same flags, defaults, input format and TFRecord features as the original (spec §5; schema in
:mod:`albert_tf.data.schemas`), so records written by either implementation feed either trainer.
The job runs in two passes over a pool of ``num_workers`` processes:

1. **Tokenize** the corpus once, in byte-range chunks, into a memory-mapped token store
   (:mod:`data_prep.token_store`) in a work directory next to the output. A re-run reuses it.
2. **Build instances** per block of documents (:mod:`data_prep.instances`), mask them
   (:mod:`data_prep.masking`), serialise them (:mod:`data_prep.tfexample`) and write them to their
   output shard. Each shard is written under ``<name>.incomplete`` and renamed when complete; a
   re-run skips complete shards unless ``overwrite`` is set. A JSON summary sits next to the output.

Memory is bounded by the block size times the number of blocks in flight, never by the corpus
times ``dupe_factor``.

**Deviations from the original, on purpose.**

* Randomness: the original used one ``random.Random(random_seed)`` stream over the whole corpus
  plus the *unseeded* global NumPy RNG for n-gram lengths, so two runs never matched. Here every
  draw comes from streams seeded by ``random_seed`` and the position of the work in the corpus
  (round, document, block), so the same seed gives byte-identical shards for any ``num_workers``
  and with the Beam runner. The statistics are the original's; its exact bytes cannot be
  reproduced (they were never reproducible).
* Shuffling: the original shuffled the documents once, shuffled all instances of all rounds in
  memory and dealt them round-robin to the output files. Here every round visits the documents in
  its own seeded order, instances are shuffled within blocks of about ``block_tokens`` tokens, and
  blocks are dealt round-robin to shards, so each shard mixes every round and every part of the
  corpus. Readers should still shuffle (``albert_tf.data.pretraining_dataset`` does).
* The end of an input file ends a document (the original carried it into the next file).
* Invalid UTF-8 bytes become U+FFFD with a warning naming the first file and line (the original
  dropped them silently). ``input_encoding`` reads other encodings that write a newline as the byte
  0x0A (latin-1, cp1252, gb18030, ...), strictly: a line that does not decode stops the job, naming
  the file and line, as ``albert-prepare-corpus`` does. Files are cut into chunks at ``\n`` bytes, so
  UTF-16 and UTF-32 are refused; ``albert-prepare-corpus`` converts them to UTF-8.
* ``do_permutation`` is rejected: its records have ``2 * max_predictions_per_seq`` predictions,
  which the original trainer could not read either. WordPiece vocabularies (``vocab_file`` without
  ``spm_model_file``) are not supported; ALBERT's released models are SentencePiece.

**Where each part lives.** :mod:`.specs` (flags, input and output files), :mod:`.workers` (the work
of one chunk or block, in any process), :mod:`.resume` (fingerprints: what a re-run may skip),
:mod:`.report` (warnings and rates), :mod:`.orchestrator` (the steps every runner takes: one plan
of output files, one resume check, one summary) and :mod:`.local` (the multi-process runner); the
Beam runner, :mod:`data_prep.pretraining_beam`, drives the same orchestrator.

Example:

>>> resolve_output_files("out-{shard}.tfrecord", 2)
(['out-00000.tfrecord', 'out-00001.tfrecord'], True)
>>> default_summary_path("out-{shard}.tfrecord")
'out.summary.json'
"""

from data_prep.pretraining.local import create_pretraining_data
from data_prep.pretraining.orchestrator import (
    INCOMPLETE_SUFFIX,
    SUMMARY_VERSION,
    Job,
    Plan,
    ShardWriter,
    finish_summary,
    plan_job,
    prepare_job,
    shard_blocks,
    start_summary,
    write_summary,
)
from data_prep.pretraining.report import corpus_report, corpus_warnings, empty_corpus_error, summarize
from data_prep.pretraining.resume import (
    SHARD_FINGERPRINT_SUFFIX,
    load_previous_summary,
    previous_run_complete,
    shard_fingerprint_path,
    shard_state,
)
from data_prep.pretraining.specs import (
    DEFAULT_BLOCK_TOKENS,
    DEFAULT_PATTERN_SHARDS,
    PretrainingDataConfig,
    PretrainingDataError,
    check_input_encoding,
    default_summary_path,
    expand_input_files,
    masking_config_for,
    resolve_output_files,
    split_list,
    validate_config,
)
from data_prep.pretraining.workers import BlockEncoder, default_num_workers, encode_block, masking_key

__all__ = [
    "BlockEncoder",
    "DEFAULT_BLOCK_TOKENS",
    "DEFAULT_PATTERN_SHARDS",
    "INCOMPLETE_SUFFIX",
    "Job",
    "Plan",
    "PretrainingDataConfig",
    "PretrainingDataError",
    "SHARD_FINGERPRINT_SUFFIX",
    "SUMMARY_VERSION",
    "ShardWriter",
    "check_input_encoding",
    "corpus_report",
    "corpus_warnings",
    "create_pretraining_data",
    "default_num_workers",
    "default_summary_path",
    "empty_corpus_error",
    "encode_block",
    "expand_input_files",
    "finish_summary",
    "load_previous_summary",
    "masking_config_for",
    "masking_key",
    "plan_job",
    "prepare_job",
    "previous_run_complete",
    "resolve_output_files",
    "shard_blocks",
    "shard_fingerprint_path",
    "shard_state",
    "split_list",
    "start_summary",
    "summarize",
    "validate_config",
    "write_summary",
]
