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
"""

from __future__ import annotations

import collections
import dataclasses
import glob
import hashlib
import itertools
import json
import logging
import multiprocessing
import os
import tempfile
import time
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from albert_tf.data.schemas import PRETRAINING_SCHEMA
from albert_tf.errors import UserInputError
from data_prep import fileio, token_store
from data_prep.instances import (
    Block,
    BlockBuilder,
    InstanceConfig,
    empty_block_stats,
    merge_stats,
    plan_blocks,
)
from data_prep.masking import MaskingConfig, ngram_probabilities, start_piece_table
from data_prep.tfexample import ExampleEncoder
from data_prep.tfrecord import TFRecordWriter

logger = logging.getLogger("albert_tf.data_prep.pretraining")

DEFAULT_PATTERN_SHARDS = 16
DEFAULT_BLOCK_TOKENS = 1_000_000
INCOMPLETE_SUFFIX = ".incomplete"
SUMMARY_VERSION = 1


class PretrainingDataError(ValueError):
    """A problem with the flags or the input that stops the job before it writes anything.

    Example:

    >>> validate_config(PretrainingDataConfig("in.txt", "out.tfrecord"))
    Traceback (most recent call last):
    ...
    data_prep.pretraining.PretrainingDataError: --spm_model_file is required
    """


@dataclasses.dataclass
class PretrainingDataConfig:
    """Every setting of a pretraining-data job; field names are the original's flag names.

    Example:

    >>> cfg = PretrainingDataConfig(input_file="corpus/*.txt", output_file="out-{shard}.tfrecord",
    ...                             spm_model_file="30k-clean.model", dupe_factor=2)
    >>> cfg.max_seq_length, cfg.masked_lm_prob, cfg.random_next_sentence
    (512, 0.15, False)
    """

    input_file: str
    output_file: str
    spm_model_file: Optional[str] = None
    vocab_file: Optional[str] = None
    do_lower_case: bool = True
    do_whole_word_mask: bool = True
    do_permutation: bool = False
    favor_shorter_ngram: bool = True
    random_next_sentence: bool = False
    max_seq_length: int = 512
    ngram: int = 3
    max_predictions_per_seq: int = 20
    random_seed: int = 12345
    dupe_factor: int = 40
    masked_lm_prob: float = 0.15
    short_seq_prob: float = 0.1
    # Additions.
    num_workers: Optional[int] = None
    num_output_shards: Optional[int] = None
    overwrite: bool = False
    block_tokens: int = DEFAULT_BLOCK_TOKENS
    work_dir: Optional[str] = None
    keep_work_dir: bool = False
    summary_file: Optional[str] = None
    progress: Optional[bool] = None
    input_encoding: str = "utf-8"

    def instance_config(self) -> InstanceConfig:
        return InstanceConfig(
            max_seq_length=self.max_seq_length,
            short_seq_prob=self.short_seq_prob,
            random_next_sentence=self.random_next_sentence,
            dupe_factor=self.dupe_factor,
            random_seed=self.random_seed,
        )

    def output_fingerprint(self) -> str:
        """Hash of every setting that changes the bytes of the output."""
        keys = (
            "do_lower_case do_whole_word_mask favor_shorter_ngram random_next_sentence max_seq_length "
            "ngram max_predictions_per_seq random_seed dupe_factor masked_lm_prob short_seq_prob "
            "block_tokens"
        ).split()
        payload = json.dumps({k: getattr(self, k) for k in keys}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def validate_config(config: PretrainingDataConfig) -> None:
    """Checks the flags up front; errors name the flag and what was expected."""
    if config.do_permutation:
        raise PretrainingDataError(
            "--do_permutation is not supported: the original wrote 2 * max_predictions_per_seq "
            "predictions per instance in that mode, which its own run_pretraining.py could not read"
        )
    if not config.spm_model_file:
        hint = " (--vocab_file is WordPiece, which ALBERT's models do not use)" if config.vocab_file else ""
        raise PretrainingDataError(f"--spm_model_file is required{hint}")
    check_input_encoding(config.input_encoding)
    if config.ngram < 1:
        raise PretrainingDataError(f"--ngram must be at least 1; got {config.ngram}")
    if config.max_predictions_per_seq < 1:
        raise PretrainingDataError(
            f"--max_predictions_per_seq must be at least 1; got {config.max_predictions_per_seq}"
        )
    if not 0.0 <= config.masked_lm_prob <= 1.0:
        raise PretrainingDataError(f"--masked_lm_prob must be in [0, 1]; got {config.masked_lm_prob}")
    if config.num_workers is not None and config.num_workers < 1:
        raise PretrainingDataError(f"--num_workers must be at least 1; got {config.num_workers}")
    if config.num_output_shards is not None and config.num_output_shards < 1:
        raise PretrainingDataError(f"--num_output_shards must be at least 1; got {config.num_output_shards}")
    if config.block_tokens < 1:
        raise PretrainingDataError(f"--block_tokens must be positive; got {config.block_tokens}")
    try:
        config.instance_config()
    except ValueError as err:
        raise PretrainingDataError(str(err)) from None


def check_input_encoding(encoding: str) -> str:
    """The codec name of ``--input_encoding``; ``PretrainingDataError`` unless it writes "\\n" as 0x0A.

    The corpus is cut into chunks, and chunks into lines, at ``\\n`` bytes, which is right only
    where that byte is always a newline: UTF-8 and the ASCII-compatible encodings (latin-1, cp1252,
    iso-8859-*, gb18030, shift_jis, euc-*, ...), not UTF-16 or UTF-32.

    Example:

    >>> check_input_encoding("Latin-1")
    'iso8859-1'
    >>> check_input_encoding("utf-16")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    data_prep.pretraining.PretrainingDataError: --input_encoding utf-16 cannot be read here: ...
    """
    from data_prep.corpus import CorpusError, check_encoding, newline_is_one_byte

    try:
        name = check_encoding(encoding)
    except CorpusError as error:
        raise PretrainingDataError(str(error)) from None
    if not newline_is_one_byte(name):
        raise PretrainingDataError(
            f"--input_encoding {encoding} cannot be read here: this job cuts files into lines at the byte "
            f"0x0A, so it reads only encodings that write a newline as that one byte (utf-8, latin-1, "
            f"cp1252, gb18030, ...), which {name} does not; convert the files first with "
            f"albert-prepare-corpus --input_encoding {encoding} (it writes UTF-8)"
        )
    return name


# ----------------------------------------------------------------------------------------------
# Inputs and outputs


def split_list(spec) -> List[str]:
    """A comma-separated flag (or a list) as a list of non-empty items."""
    if isinstance(spec, (list, tuple)):
        items = []
        for item in spec:
            items.extend(split_list(item))
        return items
    return [item.strip() for item in str(spec).split(",") if item.strip()]


def expand_input_files(spec, glob_fn: Callable[[str], List[str]] = glob.glob) -> List[str]:
    """``--input_file``: a comma list of files or globs, each glob sorted, in the order given.

    Example:

    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> for name in ("a.txt", "b.txt"):
    ...     _ = open(os.path.join(folder, name), "w").write("A sentence.")
    >>> files = expand_input_files(os.path.join(folder, "b.txt") + "," + os.path.join(folder, "a*.txt"))
    >>> [os.path.basename(f) for f in files]
    ['b.txt', 'a.txt']
    """
    patterns = split_list(spec)
    if not patterns:
        raise PretrainingDataError("--input_file is empty; expected a comma-separated list of files or globs")
    files = []
    for pattern in patterns:
        if "://" in pattern:
            raise PretrainingDataError(
                f"--input_file {pattern!r} is remote: the multi-process runner reads local files; copy "
                "them locally or run the Beam pipeline (--runner), which reads any Beam file system"
            )
        matches = sorted(glob_fn(pattern))
        if not matches:
            raise PretrainingDataError(f"--input_file: no file matches {pattern!r}")
        for match in matches:
            if os.path.isdir(match):
                raise PretrainingDataError(
                    f"--input_file: {match} is a directory; pass files or a glob such as {match}/*.txt"
                )
            try:
                if os.path.isfile(match):
                    fileio.refuse_binary(match, "--input_file")
            except ValueError as error:
                raise PretrainingDataError(str(error)) from None
        files.extend(matches)
    return files


def resolve_output_files(spec, num_output_shards: Optional[int]) -> Tuple[List[str], bool]:
    """``--output_file`` as the list of shard paths, and whether it was a ``{shard}`` pattern.

    A pattern is formatted with ``shard`` (an int; ``{shard}`` alone gives 5 digits) and
    ``num_shards``. A comma list names the shards itself.

    Example:

    >>> resolve_output_files("out-{shard}.tfrecord", 2)
    (['out-00000.tfrecord', 'out-00001.tfrecord'], True)
    >>> resolve_output_files("a.tfrecord,b.tfrecord", None)
    (['a.tfrecord', 'b.tfrecord'], False)
    """
    if isinstance(spec, str) and "{shard" in spec:
        shards = num_output_shards or DEFAULT_PATTERN_SHARDS
        pattern = spec.replace("{shard}", "{shard:05d}")
        try:
            files = [pattern.format(shard=i, num_shards=shards) for i in range(shards)]
        except (KeyError, IndexError, ValueError) as err:
            raise PretrainingDataError(
                f"--output_file pattern {spec!r} is not valid: {err}; use {{shard}} (and optionally {{num_shards}})"
            ) from None
        return files, True
    files = split_list(spec)
    if not files:
        raise PretrainingDataError("--output_file is empty; expected a file, a comma list or a pattern with {shard}")
    if num_output_shards is not None and num_output_shards != len(files):
        raise PretrainingDataError(
            f"--num_output_shards={num_output_shards} disagrees with the {len(files)} files of --output_file; "
            "use a {shard} pattern to set the count"
        )
    if len(set(files)) != len(files):
        raise PretrainingDataError("--output_file names the same file twice")
    return files, False


def default_summary_path(output_spec) -> str:
    """``out-{shard}.tfrecord`` → ``out.summary.json``; ``a.tfrecord,b.tfrecord`` → ``a.summary.json``."""
    first = output_spec if isinstance(output_spec, str) and "{shard" in output_spec else split_list(output_spec)[0]
    directory, name = os.path.split(first)
    cut = name.find("{shard")
    if cut >= 0:
        name = name[:cut]
    else:
        name = name.split(".")[0] or name
    name = name.rstrip("-_.") or "pretraining_data"
    return os.path.join(directory, name + ".summary.json")


def _atomic_write_json(path: str, content: dict) -> None:
    fileio.write_text_atomic(path, json.dumps(content, indent=1) + "\n", INCOMPLETE_SUFFIX)


def _file_signature(path: str) -> Tuple[str, int, float]:
    stat = os.stat(path)
    return path, stat.st_size, stat.st_mtime


# ----------------------------------------------------------------------------------------------
# Worker side: the same functions run in-process (num_workers=1), in a process pool, or in Beam.

_WORKER: Dict[str, object] = {}


def _init_worker(spm_proto: bytes, do_lower_case: bool, encoding: str = "utf-8") -> None:
    _WORKER.clear()
    _WORKER["spm"] = (spm_proto, do_lower_case, encoding)


def _chunk_tokenizer() -> token_store.ChunkTokenizer:
    if "chunker" not in _WORKER:
        from albert_tf.text.tokenizer import AlbertTokenizer

        proto, lower, encoding = _WORKER["spm"]
        tokenizer = AlbertTokenizer.from_proto(proto, do_lower_case=lower)
        _WORKER["chunker"] = token_store.ChunkTokenizer(tokenizer, encoding)
    return _WORKER["chunker"]


def _tokenize_task(chunk: token_store.Chunk) -> token_store.ChunkResult:
    return _chunk_tokenizer().tokenize_chunk(chunk)


def masking_config_for(tokenizer, config: PretrainingDataConfig) -> MaskingConfig:
    """The :class:`MaskingConfig` of a job: flags plus the vocabulary's start-piece table."""
    pieces = [tokenizer.sp_model.IdToPiece(i) for i in range(tokenizer.vocab_size)]
    return MaskingConfig(
        vocab_size=tokenizer.vocab_size,
        cls_id=tokenizer.cls_id,
        sep_id=tokenizer.sep_id,
        mask_id=tokenizer.mask_id,
        start_table=start_piece_table(pieces),
        masked_lm_prob=config.masked_lm_prob,
        max_predictions_per_seq=config.max_predictions_per_seq,
        ngram=config.ngram,
        favor_shorter_ngram=config.favor_shorter_ngram,
        do_whole_word_mask=config.do_whole_word_mask,
    )


def encode_block(builder: BlockBuilder, encoder: ExampleEncoder, block: Block) -> Tuple[int, List[bytes], dict]:
    """Builds one block and serialises it: ``(block index, records, stats)``."""
    built = builder.build(block)
    return block.index, encoder.encode(built.features), built.stats


def masking_key(masking: MaskingConfig) -> str:
    """A hashable identity of a masking config (its table is an array)."""
    fields = {k: v for k, v in dataclasses.asdict(masking).items() if k != "start_table"}
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode())
    digest.update(np.asarray(masking.start_table, dtype=bool).tobytes())
    return digest.hexdigest()


def _block_task(task) -> Tuple[int, List[bytes], dict]:
    store_dir, instance_config, masking, key, block = task
    # One builder per job and worker: it keeps the store mapped and the round's document order.
    if _WORKER.get("builder_key") != (store_dir, instance_config, key):
        _WORKER["builder"] = BlockBuilder(token_store.TokenStore(store_dir), instance_config, masking)
        _WORKER["builder_key"] = (store_dir, instance_config, key)
        _WORKER["encoder"] = ExampleEncoder(PRETRAINING_SCHEMA)
    return encode_block(_WORKER["builder"], _WORKER["encoder"], block)


def _ordered_map(pool, func, tasks: Iterable, max_in_flight: int) -> Iterator:
    """``map`` in task order with at most ``max_in_flight`` tasks queued (bounded memory)."""
    if pool is None:
        for task in tasks:
            yield func(task)
        return
    pending = collections.deque()
    iterator = iter(tasks)
    for task in itertools.islice(iterator, max_in_flight):
        pending.append(pool.apply_async(func, (task,)))
    while pending:
        result = pending.popleft().get()
        for task in itertools.islice(iterator, 1):
            pending.append(pool.apply_async(func, (task,)))
        yield result


def _pool_context():
    # fork starts workers in milliseconds and shares the parent's imports; the workers never
    # call into TensorFlow, which the parent has imported. Elsewhere, spawn.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


# ----------------------------------------------------------------------------------------------
# Messages about the input


def corpus_warnings(store: token_store.TokenStore, config: PretrainingDataConfig) -> List[str]:
    """Human-readable warnings about the corpus (also logged and kept in the summary)."""
    report = store.report
    messages = []
    if report.invalid_utf8_lines:
        messages.append(
            f"{report.invalid_utf8_lines} input lines were not valid UTF-8 (first at "
            f"{report.first_invalid_utf8}); the invalid bytes were replaced by U+FFFD"
        )
    sentences = store.sentences_per_document()
    single = int((sentences == 1).sum())
    if single:
        share = single / len(sentences)
        message = (
            f"{single} of {len(sentences)} documents ({share:.0%}) have a single sentence; as in the "
            "original, their instances take segment B from a random other document (label 1)"
        )
        if share > 0.5:
            message += (
                ". That many suggests the input is not one sentence per line with blank lines only "
                "between documents; albert-prepare-corpus converts raw text into that format"
            )
        messages.append(message)
    lengths = store.sentence_lengths()
    too_long = int((lengths > config.max_seq_length - 3).sum())
    if too_long:
        longest = report.longest_sentence
        messages.append(
            f"{too_long} sentences have more than --max_seq_length - 3 = {config.max_seq_length - 3} "
            f"tokens (longest: {longest[0]} tokens at {longest[1]}); they are truncated as in the "
            "original. Is the input one sentence per line?"
        )
    if store.num_documents == 1:
        messages.append(
            "the corpus has a single document: random-document B segments come from that same "
            "document (the original does the same after 10 tries)"
        )
    if report.lines_without_tokens:
        messages.append(f"{report.lines_without_tokens} non-blank lines tokenized to nothing and were dropped")
    return messages


def empty_corpus_error(files: Sequence[str], store: Optional[token_store.TokenStore]) -> PretrainingDataError:
    lines = store.report.lines if store is not None else 0
    shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    return PretrainingDataError(
        f"--input_file has no text: {len(files)} file(s) ({shown}) with {lines} lines, none of which "
        "holds a token. Expected one sentence per line with a blank line between documents; no "
        "output was written"
    )


# ----------------------------------------------------------------------------------------------
# Summary


def summarize(stats: dict, masking: MaskingConfig) -> dict:
    """Derived rates from merged block counters (what the statistics tests and users look at)."""
    instances = max(int(stats.get("instances", 0)), 1)
    predictions = max(int(stats.get("predictions", 0)), 1)
    spans = stats.get("span_units", [])
    span_total = max(sum(spans), 1)
    return {
        "instances": int(stats.get("instances", 0)),
        "documents_processed": int(stats.get("documents", 0)),
        "tokens": int(stats.get("tokens", 0)),
        "masked_lm_predictions": int(stats.get("predictions", 0)),
        "mask_rate": stats.get("predictions", 0) / max(int(stats.get("tokens", 0)), 1),
        "replaced_by_mask_share": stats.get("replaced_by_mask", 0) / predictions,
        "kept_share": stats.get("kept", 0) / predictions,
        "replaced_by_random_share": stats.get("replaced_by_random", 0) / predictions,
        "span_units_share": {str(n + 1): c / span_total for n, c in enumerate(spans)},
        "ngram_spec_share": {
            str(n + 1): float(p)
            for n, p in enumerate(ngram_probabilities(masking.ngram, masking.favor_shorter_ngram))
        },
        "label_1_share": stats.get("label_1", 0) / instances,
        "swapped_share": stats.get("swapped", 0) / instances,
        "random_document_share": stats.get("random_document", 0) / instances,
        "short_target_share": stats.get("short_target", 0) / instances,
        "short_target_document_share": stats.get("short_target_documents", 0) / max(int(stats.get("documents", 0)), 1),
        "truncated_share": stats.get("truncated", 0) / instances,
        "mean_tokens_a": stats.get("tokens_a", 0) / instances,
        "mean_tokens_b": stats.get("tokens_b", 0) / instances,
    }


# ----------------------------------------------------------------------------------------------
# The job


def _progress(enabled: Optional[bool], **kwargs):
    from tqdm.auto import tqdm

    # None: tqdm shows the bar on a terminal and stays quiet in logs and tests.
    return tqdm(disable=None if enabled is None else not enabled, dynamic_ncols=True, **kwargs)


class _ShardWriter:
    """Writes one shard under ``<path>.incomplete`` and renames it when complete."""

    def __init__(self, path: str):
        self.path = path
        fileio.makedirs(os.path.dirname(path))
        self._writer = TFRecordWriter(path)  # writes <path>.incomplete, renamed by close()
        self.records = 0

    def write(self, records: Sequence[bytes]) -> None:
        for record in records:
            self._writer.write(record)
        self.records += len(records)

    def commit(self) -> None:
        self._writer.close()

    def abort(self) -> None:
        self._writer.abort()


def shard_blocks(blocks: Sequence[Block], num_shards: int) -> List[List[Block]]:
    """Blocks dealt round-robin to shards: shard s holds blocks s, s + S, s + 2S, ... in order."""
    return [list(blocks[s::num_shards]) for s in range(num_shards)]


def load_previous_summary(path: str) -> Optional[dict]:
    try:
        return json.loads(fileio.read_text(path))
    except (FileNotFoundError, ValueError):
        return None


def default_num_workers() -> int:
    """The cores this process may use (affinity-aware where the OS tells)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def create_pretraining_data(config: PretrainingDataConfig) -> dict:
    """Runs the whole job and returns the summary (also written as JSON next to the output).

    Example:

    >>> summary = create_pretraining_data(PretrainingDataConfig(  # doctest: +SKIP
    ...     input_file="corpus.txt", output_file="out-{shard}.tfrecord", num_output_shards=4,
    ...     spm_model_file="30k-clean.model", dupe_factor=5))
    >>> summary["totals"]["instances"]  # doctest: +SKIP
    12345
    """
    from albert_tf.text.tokenizer import AlbertTokenizer

    started = time.time()
    validate_config(config)
    encoding = check_input_encoding(config.input_encoding)
    files = expand_input_files(config.input_file)
    tokenizer = AlbertTokenizer(config.spm_model_file, do_lower_case=config.do_lower_case)
    masking = masking_config_for(tokenizer, config)
    instance_config = config.instance_config()
    outputs, is_pattern = resolve_output_files(config.output_file, config.num_output_shards)
    summary_path = config.summary_file or default_summary_path(config.output_file)
    num_workers = config.num_workers or default_num_workers()

    fingerprint = token_store.store_fingerprint(
        [_file_signature(f) for f in files], tokenizer.proto, config.do_lower_case, encoding
    )
    if config.work_dir:
        work_dir = config.work_dir
    elif "://" in outputs[0]:  # the token store is memory-mapped, so it must be local
        work_dir = os.path.join(tempfile.gettempdir(), "albert_pretraining_work")
    else:
        work_dir = os.path.join(os.path.dirname(os.path.abspath(outputs[0])), ".albert_pretraining_work")
    store_dir = os.path.join(work_dir, fingerprint)

    previous = load_previous_summary(summary_path)
    may_cap = is_pattern and config.num_output_shards is None
    job_prefix = config.output_fingerprint() + "-" + fingerprint
    if not config.overwrite and previous_run_complete(previous, job_prefix, config.output_file, outputs, may_cap):
        logger.info("every shard of %s is complete; nothing to do (--overwrite redoes them)", summary_path)
        return previous

    pool = None
    if num_workers > 1:
        pool = _pool_context().Pool(
            num_workers, initializer=_init_worker, initargs=(tokenizer.proto, config.do_lower_case, encoding)
        )
    else:
        _init_worker(tokenizer.proto, config.do_lower_case, encoding)
    try:
        store, tokenize_seconds = _build_store(files, store_dir, tokenizer, pool, num_workers, config)
        if store.num_documents == 0:
            token_store.remove_store(store_dir)
            raise empty_corpus_error(files, store)
        warnings_list = corpus_warnings(store, config)
        for message in warnings_list:
            logger.warning(message)

        blocks = plan_blocks(store.document_tokens(), instance_config, config.block_tokens)
        if len(blocks) < len(outputs):
            if is_pattern and config.num_output_shards is None:
                logger.info(
                    "the corpus makes %d blocks of work; writing %d shards instead of %d",
                    len(blocks), len(blocks), len(outputs),
                )
                outputs, _ = resolve_output_files(config.output_file, len(blocks))
            else:
                raise PretrainingDataError(
                    f"--output_file asks for {len(outputs)} shards but the corpus ({store.num_documents} "
                    f"documents, {store.report.tokens} tokens, --dupe_factor={config.dupe_factor}) makes "
                    f"only {len(blocks)} blocks of work, so some shards would be empty; use at most "
                    f"{len(blocks)} shards or a smaller --block_tokens"
                )
        per_shard = shard_blocks(blocks, len(outputs))

        job_fingerprint = config.output_fingerprint() + "-" + fingerprint + f"-{len(outputs)}"
        shard_state = _shard_state(outputs, config.overwrite, previous, job_fingerprint)

        summary = {
            "summary_version": SUMMARY_VERSION,
            "complete": False,
            "fingerprint": job_fingerprint,
            "flags": dataclasses.asdict(config),
            "input_files": files,
            "corpus": {
                "documents": store.num_documents,
                "sentences": store.num_sentences,
                "tokens": store.report.tokens,
                "lines": store.report.lines,
                "single_sentence_documents": int((store.sentences_per_document() == 1).sum()),
                "invalid_utf8_lines": store.report.invalid_utf8_lines,
            },
            "warnings": warnings_list,
            "num_workers": num_workers,
            "blocks": len(blocks),
            "shards": {path: shard_state[path] for path in outputs},
        }
        _atomic_write_json(summary_path, summary)

        build_started = time.time()
        todo = [s for s, path in enumerate(outputs) if shard_state[path]["status"] != "skipped"]
        if len(todo) < len(outputs):
            logger.info(
                "%d of %d shards are complete and skipped (--overwrite redoes them)",
                len(outputs) - len(todo), len(outputs),
            )
        _write_shards(
            pool, num_workers, store_dir, instance_config, masking, outputs, per_shard, todo,
            summary, summary_path, config.progress,
        )
        build_seconds = time.time() - build_started
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()

    totals = empty_block_stats(masking.ngram)
    covered_all = True
    for path in outputs:
        shard = summary["shards"][path]
        if shard.get("stats"):
            merge_stats(totals, shard["stats"])
        else:
            covered_all = False
    summary["totals"] = summarize(totals, masking)
    summary["totals_cover_all_shards"] = covered_all
    summary["seconds"] = {
        "tokenize": round(tokenize_seconds, 3),
        "instances": round(build_seconds, 3),
        "total": round(time.time() - started, 3),
    }
    written = sum(summary["shards"][p]["instances"] for p in outputs if summary["shards"][p]["status"] == "written")
    summary["instances_per_second"] = written / max(build_seconds, 1e-9)
    summary["complete"] = True
    _atomic_write_json(summary_path, summary)
    if not config.keep_work_dir:
        token_store.remove_store(store_dir)
        try:
            os.rmdir(work_dir)
        except OSError:
            pass
    logger.info(
        "wrote %d instances to %d shards (%s) in %.1f s; summary: %s",
        summary["totals"]["instances"], len(outputs), outputs[0] if len(outputs) == 1 else f"{outputs[0]} ...",
        summary["seconds"]["total"], summary_path,
    )
    return summary


def previous_run_complete(previous: Optional[dict], fingerprint_prefix: str, output_spec, outputs: Sequence[str],
                          may_cap: bool) -> bool:
    """Whether ``previous`` (a summary) is a complete run of this very job whose shards all exist.

    ``may_cap``: a ``{shard}`` pattern without an explicit count, which a small corpus may have
    written as fewer shards.
    """
    if not previous or not previous.get("complete"):
        return False
    if not str(previous.get("fingerprint", "")).startswith(fingerprint_prefix + "-"):
        return False
    shards = list(previous.get("shards", {}))
    expected = list(outputs)
    if may_cap and 0 < len(shards) < len(outputs):
        expected, _ = resolve_output_files(output_spec, len(shards))
    return shards == expected and all(fileio.exists(path) for path in shards)


#: Beside every shard the multi-process writer commits: the job fingerprint it was written under.
SHARD_FINGERPRINT_SUFFIX = ".fingerprint"


def shard_fingerprint_path(shard: str) -> str:
    return shard + SHARD_FINGERPRINT_SUFFIX


def _shard_state(outputs: Sequence[str], overwrite: bool, previous: Optional[dict], fingerprint: str) -> dict:
    state = {}
    previous_shards = (previous or {}).get("shards", {})
    for path in outputs:
        if not overwrite and fileio.exists(path):
            # The shard's own fingerprint decides, so a deleted or foreign summary cannot make a
            # shard written with other settings (say --max_seq_length 64 for 32) pass for this job's.
            own = shard_fingerprint_path(path)
            stored = fileio.read_text(own).strip() if fileio.exists(own) else None
            if stored is None and previous is not None:
                stored = previous.get("fingerprint")
            if stored is None:
                raise PretrainingDataError(
                    f"{path} exists without a fingerprint ({own}) or a summary telling how it was made; pass "
                    "--overwrite to rebuild it or choose another --output_file"
                )
            if stored != fingerprint:
                raise PretrainingDataError(
                    f"{path} exists from a run with other settings or inputs (its fingerprint {stored} differs "
                    f"from {fingerprint}); pass --overwrite or choose another --output_file"
                )
            old = previous_shards.get(path, {})
            state[path] = {"status": "skipped", "instances": old.get("instances", 0), "stats": old.get("stats")}
        else:
            state[path] = {"status": "pending", "instances": 0, "stats": None}
    return state


def _build_store(files, store_dir, tokenizer, pool, num_workers, config) -> Tuple[token_store.TokenStore, float]:
    started = time.time()
    if token_store.is_complete_store(store_dir):
        logger.info("reusing the tokenized corpus in %s", store_dir)
        return token_store.TokenStore(store_dir), 0.0
    token_store.remove_store(store_dir)
    sizes = [os.path.getsize(f) for f in files]
    # Smaller chunks than the default keep every worker busy on small corpora; the store does not
    # depend on the chunking.
    chunk_bytes = max(token_store.MIN_CHUNK_BYTES, min(token_store.CHUNK_BYTES, sum(sizes) // (4 * num_workers) + 1))
    chunks = token_store.plan_chunks(files, sizes, chunk_bytes)
    chunker_dtype = np.uint16 if tokenizer.vocab_size <= 65536 else np.int32
    writer = token_store.StoreWriter(store_dir, files, chunker_dtype)
    try:
        with _progress(config.progress, total=sum(sizes), unit="B", unit_scale=True, desc="tokenize") as bar:
            for result in _ordered_map(pool, _tokenize_task, chunks, 2 * num_workers):
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


def _write_shards(pool, num_workers, store_dir, instance_config, masking, outputs, per_shard, todo,
                  summary, summary_path, progress) -> None:
    key = masking_key(masking)
    tasks = ((store_dir, instance_config, masking, key, block) for s in todo for block in per_shard[s])
    remaining = {s: len(per_shard[s]) for s in todo}
    shard_of = {block.index: s for s in todo for block in per_shard[s]}
    total_documents = sum(b.end - b.start for s in todo for b in per_shard[s])
    writers: Dict[int, _ShardWriter] = {}
    stats: Dict[int, dict] = {}
    started = time.time()
    instances = 0
    try:
        with _progress(progress, total=total_documents, unit="doc", desc="instances") as bar:
            for block_index, records, block_stats in _ordered_map(pool, _block_task, tasks, 2 * num_workers):
                s = shard_of[block_index]
                if s not in writers:
                    writers[s] = _ShardWriter(outputs[s])
                    stats[s] = empty_block_stats(masking.ngram)
                writers[s].write(records)
                merge_stats(stats[s], block_stats)
                instances += len(records)
                bar.update(block_stats["documents"])
                rate = instances / max(time.time() - started, 1e-9)
                bar.set_postfix(instances=instances, instances_per_s=f"{rate:.0f}", refresh=False)
                remaining[s] -= 1
                if remaining[s] == 0:
                    writer = writers.pop(s)
                    writer.commit()
                    fileio.write_text_atomic(shard_fingerprint_path(outputs[s]), summary["fingerprint"] + "\n",
                                             INCOMPLETE_SUFFIX)
                    summary["shards"][outputs[s]] = {
                        "status": "written", "instances": writer.records, "stats": stats.pop(s)
                    }
                    _atomic_write_json(summary_path, summary)
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
