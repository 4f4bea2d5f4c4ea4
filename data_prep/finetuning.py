"""Fine-tuning records for GLUE, SQuAD and RACE: one job, many processes, no TensorFlow.

:func:`create_finetuning_data` reads a task's raw files with the original's processor
(:mod:`data_prep.glue`, :mod:`data_prep.squad`, :mod:`data_prep.race`), converts the examples to
features in a pool of ``num_workers`` processes (contiguous chunks, results in order, so the records
are the same for any worker count), and writes one TFRecord file with the original's feature names,
dtypes, lengths and record order (schemas in :mod:`albert_tf.data.schemas`). Next to it go a JSON
summary (examples, features, truncated share, seconds) and ``<output_file>.meta.json``: for SQuAD
evaluation features, what post-processing needs (read by :func:`albert_tf.tasks.squad.load_squad_features`);
for RACE, each record's article id and level (middle/high), which the records' original schema has
no room for and the per-level accuracies need. Every file is written atomically.

``split="train"`` for SQuAD means training features (answer positions, examples shuffled with
``random.Random(12345)`` first, as the original runner); ``dev``/``test`` give evaluation features.
``pad_to_batch_size`` appends the original's all-zero padding examples (``is_real_example`` 0) to a
multiple of that batch size, which the original did for TPU evaluation and prediction (GLUE, RACE).

Example:

>>> config = FinetuningDataConfig(task="sst-2", data_dir="glue_data/SST-2", split="dev",
...                               output_file="sst2_dev.tfrecord", spm_model_file="30k-clean.model")
>>> config.resolved_max_seq_length()
512
>>> summary = create_finetuning_data(config)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from typing import Dict, List, Optional, Sequence

from albert_tf.data.schemas import finetuning_schema
from albert_tf.errors import UserInputError
from albert_tf.tasks.glue import GLUE_TASKS
from data_prep import glue, pools, race, squad
from data_prep.tfexample import ExampleEncoder
from data_prep.tfrecord import INCOMPLETE_SUFFIX, TFRecordWriter

logger = logging.getLogger("albert_tf.data_prep.finetuning")

SQUAD_TASKS = ("squad_v1", "squad_v2")
TASKS = tuple(GLUE_TASKS) + SQUAD_TASKS + ("race",)
SPLITS = ("train", "dev", "test")
SUMMARY_VERSION = 1
DEFAULT_MAX_SEQ_LENGTH = {"squad": 384, "race": 512, "glue": 512}


class FinetuningDataError(UserInputError):
    """Flags that cannot work together; raised before anything is written."""


@dataclasses.dataclass
class FinetuningDataConfig:
    """Every setting of a fine-tuning records job (flag names of the original scripts)."""

    task: str
    output_file: str
    spm_model_file: Optional[str] = None
    split: str = "train"
    data_dir: Optional[str] = None
    input_file: Optional[str] = None
    do_lower_case: bool = True
    max_seq_length: Optional[int] = None
    doc_stride: int = 128
    max_query_length: int = 64
    max_qa_length: int = 128
    high_only: bool = False
    middle_only: bool = False
    # Additions.
    pad_to_batch_size: int = 0
    num_workers: Optional[int] = None
    summary_file: Optional[str] = None
    meta_file: Optional[str] = None
    progress: Optional[bool] = None

    @property
    def task_name(self) -> str:
        return str(self.task).strip().lower()

    @property
    def family(self) -> str:
        """``"glue"``, ``"squad"`` or ``"race"``."""
        if self.task_name in SQUAD_TASKS:
            return "squad"
        return "race" if self.task_name == "race" else "glue"

    def resolved_max_seq_length(self) -> int:
        return int(self.max_seq_length or DEFAULT_MAX_SEQ_LENGTH[self.family])

    @property
    def is_training(self) -> bool:
        return self.split == "train"


def minimum_max_seq_length(task_name: str, max_query_length: int = 64):
    """``(shortest max_seq_length, layout)``: the length that leaves one piece for every text of an example.

    Shorter, the packing cuts every text to nothing and the model learns the majority label from
    ``[CLS] [SEP] [SEP]`` (the original accepted it silently).

    >>> minimum_max_seq_length("mrpc"), minimum_max_seq_length("sst-2")[0]
    ((5, '[CLS] a [SEP] b [SEP]'), 3)
    """
    if task_name in SQUAD_TASKS:
        return max_query_length + 4, "[CLS] question [SEP] passage [SEP]"
    if task_name in glue.SINGLE_TEXT_TASKS:
        return 3, "[CLS] text [SEP]"
    return 5, "[CLS] a [SEP] b [SEP]"  # GLUE pairs; RACE packs passage and question + option the same way


#: Share of cut examples above which a summary is worth a warning (an error with the tools' --strict).
TRUNCATION_WARNING_SHARE = 0.1


def truncation_warning(summary: dict, records: str) -> Optional[str]:
    """What to tell the user when the summary of `records` says many examples were cut; None when few were.

    SQuAD is left out: its long contexts are split into overlapping windows, which loses nothing.

    >>> truncation_warning({"task": "mrpc", "max_seq_length": 3, "truncated_share": 1.0}, "dev.tf_record")
    '--max_seq_length 3 truncates 100.0% of the examples in dev.tf_record (more than 10%)'
    """
    share = summary.get("truncated_share") or 0.0
    if summary.get("task") in SQUAD_TASKS or share <= TRUNCATION_WARNING_SHARE:
        return None
    return (f"--max_seq_length {summary.get('max_seq_length')} truncates {share:.1%} of the examples in {records} "
            f"(more than {TRUNCATION_WARNING_SHARE:.0%})")


def validate_config(config: FinetuningDataConfig) -> None:
    """Checks the flags; errors name the flag and what was expected."""
    if config.task_name not in TASKS:
        raise FinetuningDataError(f"--task={config.task!r} is not a task; expected one of {list(TASKS)}")
    if config.split not in SPLITS:
        raise FinetuningDataError(f"--split={config.split!r}; expected one of {list(SPLITS)}")
    if not config.spm_model_file:
        raise FinetuningDataError("--spm_model_file is required (the SentencePiece .model, e.g. 30k-clean.model)")
    if not config.output_file:
        raise FinetuningDataError("--output_file is required")
    if config.family == "squad":
        if not config.input_file:
            raise FinetuningDataError(f"--task={config.task_name} reads --input_file (a SQuAD JSON file)")
    elif not config.data_dir:
        raise FinetuningDataError(f"--task={config.task_name} reads --data_dir")
    length = config.resolved_max_seq_length()
    minimum, layout = minimum_max_seq_length(config.task_name)
    if config.family != "squad" and length < minimum:
        raise FinetuningDataError(
            f"--max_seq_length={length} leaves no room for text: --task={config.task_name} packs {layout}, "
            f"which needs --max_seq_length >= {minimum}"
        )
    if config.family == "squad":
        if length <= config.max_query_length + 3:
            raise FinetuningDataError(
                f"--max_seq_length={length} must exceed --max_query_length + 3 = {config.max_query_length + 3}"
            )
        if config.doc_stride < 1:
            raise FinetuningDataError(f"--doc_stride must be positive; got {config.doc_stride}")
    if config.family == "race" and config.max_qa_length < 1:
        raise FinetuningDataError(f"--max_qa_length must be positive; got {config.max_qa_length}")
    if config.pad_to_batch_size < 0:
        raise FinetuningDataError(f"--pad_to_batch_size must be 0 or positive; got {config.pad_to_batch_size}")
    if config.pad_to_batch_size and config.family == "squad":
        raise FinetuningDataError("--pad_to_batch_size applies to GLUE and RACE; the original did not pad SQuAD")
    if config.num_workers is not None and config.num_workers < 1:
        raise FinetuningDataError(f"--num_workers must be at least 1; got {config.num_workers}")


def record_schema(config: FinetuningDataConfig):
    """The schema of the job's records."""
    if config.family == "squad":
        return finetuning_schema("squad", config.is_training)
    if config.family == "race":
        return finetuning_schema("multiple_choice")
    return glue.schema(config.task_name)


def default_summary_path(output_file: str) -> str:
    return output_file + ".summary.json"


def default_meta_path(output_file: str) -> str:
    """Where SQuAD evaluation metadata and RACE levels go: ``<output_file>.meta.json``."""
    return output_file + ".meta.json"


def write_json_atomic(path: str, content, indent: Optional[int] = 1) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = path + INCOMPLETE_SUFFIX
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(content, f, indent=indent, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, path)


def default_num_workers() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:
        return os.cpu_count() or 1


# ----------------------------------------------------------------------------------------------
# Workers: the same function runs in-process or in a pool.

_WORKER: Dict[str, object] = {}
# Examples per task sent to a worker: a SQuAD example costs many times a GLUE one (long paragraphs).
CHUNK_EXAMPLES = {"glue": 256, "race": 256, "squad": 16}


def _init_worker(proto: bytes, do_lower_case: bool, config: FinetuningDataConfig) -> None:
    from albert_tf.text.tokenizer import AlbertTokenizer

    _WORKER.clear()
    _WORKER["tokenizer"] = AlbertTokenizer.from_proto(proto, do_lower_case=do_lower_case)
    _WORKER["config"] = config


def _convert_chunk(task):
    first_index, examples = task
    tokenizer = _WORKER["tokenizer"]
    config: FinetuningDataConfig = _WORKER["config"]
    length = config.resolved_max_seq_length()
    if config.family == "glue":
        return glue.convert_examples(examples, config.task_name, tokenizer, length)
    if config.family == "race":
        return race.convert_examples(examples, tokenizer, length, config.max_qa_length)
    if "paragraphs" not in _WORKER:
        _WORKER["paragraphs"] = squad.ParagraphCache(tokenizer)
    return squad.convert_examples(
        examples, first_index, tokenizer, length, config.doc_stride, config.max_query_length,
        config.is_training, _WORKER["paragraphs"],
    )


def read_task_examples(config: FinetuningDataConfig) -> list:
    """The examples of the job, in the order their records are written."""
    if config.family == "glue":
        return glue.read_examples(config.task_name, config.data_dir, config.split, config.do_lower_case)
    if config.family == "race":
        return race.read_examples(config.data_dir, config.split, config.do_lower_case, config.high_only,
                                  config.middle_only)
    examples = squad.read_squad_examples(config.input_file, config.is_training)
    if config.is_training:
        examples = squad.shuffle_training_examples(examples)
    return examples


def _chunks(examples: Sequence, size: int, same_unit=None):
    """``(first index, examples)`` of consecutive chunks of at least ``size`` examples; with
    ``same_unit(a, b)``, a chunk never splits a run of examples it holds together (a SQuAD
    paragraph's questions, so one worker aligns that paragraph once)."""
    start = 0
    while start < len(examples):
        end = min(start + size, len(examples))
        while same_unit is not None and end < len(examples) and same_unit(examples[end - 1], examples[end]):
            end += 1
        yield start, examples[start:end]
        start = end


def _progress(enabled: Optional[bool], **kwargs):
    from tqdm.auto import tqdm

    return tqdm(disable=None if enabled is None else not enabled, dynamic_ncols=True, **kwargs)


def _merge(totals: dict, stats: dict) -> None:
    for key, value in stats.items():
        if isinstance(value, list):
            totals.setdefault(key, []).extend(value)
        else:
            totals[key] = totals.get(key, 0) + value


def create_finetuning_data(config: FinetuningDataConfig) -> dict:
    """Runs the job; returns the summary, which is also written next to the records."""
    from albert_tf.text.tokenizer import AlbertTokenizer

    started = time.time()
    validate_config(config)
    tokenizer = AlbertTokenizer(config.spm_model_file, do_lower_case=config.do_lower_case)
    examples = read_task_examples(config)
    read_seconds = time.time() - started
    is_squad = config.family == "squad"
    same_paragraph = (lambda a, b: a.paragraph_text == b.paragraph_text) if is_squad else None
    tasks = list(_chunks(examples, CHUNK_EXAMPLES[config.family], same_paragraph))
    # No more workers than chunks: a spawned worker costs seconds to start, more than a small split takes.
    num_workers = max(1, min(config.num_workers or default_num_workers(), len(tasks)))
    length = config.resolved_max_seq_length()
    schema = record_schema(config)
    encoder = ExampleEncoder(schema)
    initargs = (tokenizer.proto, config.do_lower_case, config)

    totals: dict = {}
    meta_features: List[dict] = []
    next_unique_id = squad.UNIQUE_ID_BASE
    pool = pools.start_pool(num_workers, _init_worker, initargs) if num_workers > 1 else None
    if pool is None:
        _init_worker(*initargs)
    convert_started = time.time()
    try:
        with TFRecordWriter(config.output_file) as writer, _progress(
            config.progress, total=len(examples), unit="ex", desc=f"{config.task_name} {config.split}"
        ) as bar:
            def broken(what: str) -> FinetuningDataError:
                return FinetuningDataError(
                    f"{config.output_file}: {what}; rerun, or pass --num_workers=1 to convert in this process")

            for output, stats in pools.ordered_map(pool, _convert_chunk, tasks, 2 * num_workers, broken):
                if is_squad:
                    for feature in output:
                        feature.unique_id = next_unique_id
                        next_unique_id += 1
                    if not config.is_training:
                        meta_features.extend(squad.feature_metadata(f) for f in output)
                    arrays = squad.feature_arrays(output, config.is_training) if output else None
                else:
                    arrays = output
                if arrays is not None:
                    for record in encoder.encode(arrays):
                        writer.write(record)
                _merge(totals, stats)
                bar.update(stats["examples"])
                bar.set_postfix(features=totals.get("features", 0), refresh=False)
            padding = 0
            if config.pad_to_batch_size and writer.records % config.pad_to_batch_size:
                padding = config.pad_to_batch_size - writer.records % config.pad_to_batch_size
                pad = (race.padding_features(padding, length) if config.family == "race"
                       else glue.padding_features(config.task_name, padding, length))
                for record in encoder.encode(pad):
                    writer.write(record)
            records = writer.records
    finally:
        pools.stop_pool(pool)
    convert_seconds = time.time() - convert_started

    meta_path = None
    if is_squad and not config.is_training:
        meta_path = config.meta_file or default_meta_path(config.output_file)
        write_json_atomic(meta_path, squad_metadata(config, examples, meta_features), indent=None)
    elif config.family == "race":
        meta_path = config.meta_file or default_meta_path(config.output_file)
        write_json_atomic(meta_path, race_metadata(config, examples, padding), indent=None)

    features = int(totals.get("features", 0))
    summary = {
        "summary_version": SUMMARY_VERSION,
        "task": config.task_name,
        "split": config.split,
        "output_file": config.output_file,
        "meta_file": meta_path,
        "features_in_schema": [f.name for f in schema],
        "max_seq_length": length,
        "examples": len(examples),
        "features": features,
        "records": records,
        "padding_examples": padding,
        "truncated": int(totals.get("truncated", 0)),
        "truncated_share": totals.get("truncated", 0) / max(len(examples), 1),
        "num_workers": num_workers,
        "seconds": {"read": round(read_seconds, 3), "convert": round(convert_seconds, 3),
                    "total": round(time.time() - started, 3)},
        "flags": dataclasses.asdict(config),
    }
    if is_squad:
        summary["alignment_failures"] = int(totals.get("alignment_failures", 0))
        summary["dropped_qas_ids"] = totals.get("dropped_qas_ids", [])[:100]
        summary["impossible_features"] = int(totals.get("impossible_features", 0))
        summary["truncated_meaning"] = "questions whose context needed more than one window"
    else:
        summary["truncated_meaning"] = "examples with pieces cut to fit max_seq_length"
    write_json_atomic(config.summary_file or default_summary_path(config.output_file), summary)
    logger.info(
        "%s %s: %d examples -> %d records in %s (%.1f s)", config.task_name, config.split, len(examples),
        records, config.output_file, summary["seconds"]["total"],
    )
    return summary


RACE_META_FORMAT = "albert_tf.race_examples"


def race_metadata(config: FinetuningDataConfig, examples: Sequence, padding: int) -> dict:
    """The content of a RACE ``<output_file>.meta.json``: one entry per record, in record order.

    ``levels`` is "middle" or "high" for each question (its file's folder) and "" for the padding
    records; ``article_ids`` each question's article id (its JSON ``id``, else its file name).
    """
    return {
        "format": RACE_META_FORMAT,
        "format_version": 1,
        "task": config.task_name,
        "split": config.split,
        "data_dir": os.path.abspath(config.data_dir),
        "article_ids": [e.example_id for e in examples] + [""] * padding,
        "levels": [e.level for e in examples] + [""] * padding,
    }


def squad_metadata(config: FinetuningDataConfig, examples: Sequence, features: List[dict]) -> dict:
    """The content of ``<output_file>.meta.json`` (see :mod:`albert_tf.tasks.squad`)."""
    contexts: Dict[str, int] = {}
    rows = []
    for example in examples:
        index = contexts.setdefault(example.paragraph_text, len(contexts))
        rows.append({
            "qas_id": example.qas_id,
            "question_text": example.question_text,
            "context_index": index,
            "answers": list(example.answers),
            "answer_starts": list(example.answer_starts),
            "is_impossible": bool(example.is_impossible),
        })
    return {
        "format": "albert_tf.squad_features",
        "format_version": 1,
        "task": config.task_name,
        "input_file": os.path.abspath(config.input_file),
        "max_seq_length": config.resolved_max_seq_length(),
        "doc_stride": config.doc_stride,
        "max_query_length": config.max_query_length,
        "do_lower_case": config.do_lower_case,
        "contexts": list(contexts),
        "examples": rows,
        "features": features,
    }
