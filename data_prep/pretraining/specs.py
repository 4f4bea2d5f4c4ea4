"""What a pretraining-data job is asked to do: its flags, checked up front, and its input and output files.

Field names, defaults and messages follow the original ``create_pretraining_data.py`` flags; every
check here runs before any work, so a bad flag costs nothing.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
from typing import Callable, List, Optional, Tuple

from data_prep import fileio
from data_prep.instances import InstanceConfig
from data_prep.masking import MaskingConfig, start_piece_table

DEFAULT_PATTERN_SHARDS = 16
DEFAULT_BLOCK_TOKENS = 1_000_000


class PretrainingDataError(ValueError):
    """A problem with the flags or the input that stops the job before it writes anything.

    Example:

    >>> validate_config(PretrainingDataConfig("in.txt", "out.tfrecord"))
    Traceback (most recent call last):
    ...
    data_prep.pretraining.specs.PretrainingDataError: --spm_model_file is required
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
    data_prep.pretraining.specs.PretrainingDataError: --input_encoding utf-16 cannot be read here: ...
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
