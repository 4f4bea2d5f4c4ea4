"""albert-finetune: the original run_classifier.py / run_squad_v1.py / run_squad_v2.py / run_race.py in one.

Flags keep the original names and defaults. A hyper-parameter flag that is not given takes the task's
value from run_glue.sh (GLUE) or the SQuAD/RACE scripts (see `albert_tf.tasks`). Raw task files given
with --data_dir (GLUE folder, or the folder holding RACE/) or --train_file/--predict_file (SQuAD JSON)
are converted with albert-create-finetuning-data and cached under <output_dir>/records, keyed by a hash
of the input files (paths, sizes, times), the vocabulary and the flags: a changed input or flag builds
new records, never reuses stale ones. A run resumes from its newest checkpoint in <output_dir>.

    albert-finetune --task sst-2 --do_train --do_eval --do_predict --data_dir glue_data/SST-2 \\
        --albert_config_file albert_base/albert_config.json --spm_model_file albert_base/30k-clean.model \\
        --init_checkpoint albert_base/model.ckpt-best --output_dir runs/sst2 --max_seq_length 128
"""

import argparse
import glob
import hashlib
import json
import logging
import os
import shutil
import sys

from .flags import (add_bool, add_tpu_flags, check_vocabulary, cli_entry_point, comma_list, positive_float,
                    positive_int, refuse_or_warn, select_strategy_from_flags, show_defaults, strategy_options)

# Bumped when the conversion itself changes, so records cached by an older converter are rebuilt.
RECORDS_VERSION = 1
#: albert_tf.models.lora.DEFAULT_TARGETS, repeated so that --help and check_flags need no TensorFlow
#: (tests/training/test_finetuning_lora.py checks that they agree).
LORA_DEFAULT_TARGETS = ("query", "value")


def build_parser():
    p = argparse.ArgumentParser(prog="albert-finetune", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", "--task_name", dest="task", required=True,
                   help="cola, sst-2, mrpc, sts-b, qqp, mnli, mismnli, qnli, rte, wnli, ax, squad_v1, squad_v2, race")
    add_bool(p, "do_train", False)
    add_bool(p, "do_eval", False)
    add_bool(p, "do_predict", False)
    p.add_argument("--output_dir", required=True, help="checkpoints, records cache, eval_results.txt, predictions, model.keras")
    p.add_argument("--albert_config_file", default=None,
                   help="original albert_config.json (optional when --init_checkpoint is a HuggingFace folder or .keras file)")
    p.add_argument("--spm_model_file", default=None, help="SentencePiece model (needed to convert raw task files)")
    p.add_argument("--init_checkpoint", default=None,
                   help="original TF1 checkpoint, albert_tf checkpoint or run folder, HuggingFace folder or .keras file; weights only")
    add_bool(p, "init_from_group0", False)
    p.add_argument("--data_dir", default=None, help="GLUE task folder (glue_data/SST-2), or the folder holding RACE/")
    p.add_argument("--train_file", default=None, help="SQuAD training JSON")
    p.add_argument("--predict_file", default=None, help="SQuAD evaluation JSON (dev for --do_eval, any for --do_predict)")
    p.add_argument("--cached_dir", default=None, help="where converted records are cached (default: <output_dir>/records)")
    add_bool(p, "do_lower_case", True)
    p.add_argument("--max_seq_length", type=int, default=None, help="default: the task's (512 GLUE/RACE, 384 SQuAD)")
    p.add_argument("--learning_rate", type=float, default=None)
    p.add_argument("--train_step", type=int, default=None, help="default: the task's (run_glue.sh)")
    p.add_argument("--warmup_step", type=int, default=None)
    p.add_argument("--num_train_epochs", type=float, default=None,
                   help="steps = training examples / batch x epochs, instead of --train_step (default: SQuAD 3.0; "
                        "other tasks train the task's --train_step), e.g. --num_train_epochs 1")
    p.add_argument("--warmup_proportion", type=float, default=None,
                   help="warm-up share of the steps that --num_train_epochs sets (default: the task's, 0.1)")
    p.add_argument("--train_batch_size", type=int, default=None)
    p.add_argument("--eval_batch_size", type=int, default=None, help="default 8")
    p.add_argument("--predict_batch_size", type=int, default=None, help="default 8")
    p.add_argument("--optimizer", choices=["adamw", "lamb"], default=None, help="default adamw")
    p.add_argument("--save_checkpoints_steps", type=int, default=None)
    p.add_argument("--iterations_per_loop", type=int, default=1000, help="steps per compiled execution")
    p.add_argument("--log_every_steps", type=int, default=100, help="TensorBoard scalars every N steps (and at checkpoints)")
    p.add_argument("--doc_stride", type=int, default=128)
    p.add_argument("--max_query_length", type=int, default=64)
    p.add_argument("--max_qa_length", type=int, default=128)
    p.add_argument("--n_best_size", type=int, default=20)
    p.add_argument("--max_answer_length", type=int, default=30)
    add_tpu_flags(p)
    p.add_argument("--export_dir", default=None, help="SavedModel folder (default: <output_dir>/saved_model)")
    add_bool(p, "export", True, "write a SavedModel (raw-string and token signatures) after training")
    # Beyond the original.
    p.add_argument("--train_records", default=None, help="ready TFRecords in the task's schema instead of raw files (comma list/globs)")
    p.add_argument("--eval_records", default=None)
    p.add_argument("--predict_records", default=None)
    p.add_argument("--classifier_dropout", type=float, default=0.1,
                   help="dropout before the task head (the original's 0.1, always on in training)")
    add_bool(p, "bucket_by_length", True, "batch examples of similar length, trimmed to one of a few static lengths")
    p.add_argument("--strategy", choices=["tpu", "multi_worker", "mirrored", "one_device", "auto"], default="auto")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto")
    add_bool(p, "jit_compile", False, "compile steps with XLA")
    p.add_argument("--max_consecutive_bad_steps", type=int, default=3,
                   help="stop after this many updates in a row skipped for a NaN/Inf loss or gradient, keeping the last "
                        "checkpoint (0: skip them and never stop)")
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2], help="Keras progress output (0: none)")
    add_bool(p, "strict", False, "refuse records whose summary says --max_seq_length cut more than 10%% of the "
             "examples (otherwise a warning)")
    # LoRA (albert_tf.models.lora); the target names are checked there, once the library is loaded, and
    # the flags against each other in check_flags, before it is.
    p.add_argument("--lora_rank", type=positive_int, default=0, metavar="R",
                   help="train rank-R LoRA adapters, the task head (and LayerNorms with --lora_train_layernorm) and "
                        "freeze the rest of the backbone, e.g. --lora_rank 8 (default: 0, full fine-tuning; leave "
                        "the flag out rather than give 0)")
    p.add_argument("--lora_alpha", type=positive_float, default=None,
                   help="adapter scale alpha/rank, e.g. --lora_alpha 16 (default: the rank, a scale of 1)")
    p.add_argument("--lora_targets", type=comma_list, default=LORA_DEFAULT_TARGETS,
                   help="projections of the shared block given adapters, a comma list of query, key, value, "
                        "attention_output, ffn_intermediate, ffn_output, e.g. --lora_targets query,key,value,ffn_output")
    add_bool(p, "lora_train_layernorm", False, "with --lora_rank, also train the encoder's LayerNorms, e.g. "
             "--lora_train_layernorm")
    add_bool(p, "allow_vocab_mismatch", False, "accept a config vocab_size larger than the SentencePiece model's "
             "piece count (deliberate padding of the embedding table); a smaller one is always an error")
    return show_defaults(p, (
        'albert-finetune --task sst-2 --do_train --do_eval --data_dir glue_data/SST-2 \\\n    '
        '--albert_config_file albert_config.json --spm_model_file 30k-clean.model \\\n    '
        '--init_checkpoint run1/model.keras --output_dir runs/sst2 --max_seq_length 128'))


# --------------------------------------------------------------------------- records cache
def _file_identity(path):
    stat = os.stat(path)
    return [os.path.abspath(path), stat.st_size, stat.st_mtime_ns]


def _inputs_of(source):
    """Every file under a folder (sorted), or the file itself."""
    if os.path.isdir(source):
        files = sorted(os.path.join(root, name) for root, _, names in os.walk(source) for name in names)
        if not files:
            raise FileNotFoundError(f"{source}: the folder holds no files.")
        return files
    if not os.path.exists(source):
        raise FileNotFoundError(f"{source}: no such file or folder.")
    return [source]


def records_key(task, split, source, spm_model_file, flags):
    """A hash of what the records are made from: input files, vocabulary bytes and conversion flags."""
    digest = hashlib.sha256()
    with open(spm_model_file, "rb") as f:
        vocabulary = hashlib.sha256(f.read()).hexdigest()
    identity = {"version": RECORDS_VERSION, "task": task, "split": split, "flags": flags, "vocabulary": vocabulary,
                "inputs": [_file_identity(p) for p in _inputs_of(source)]}
    digest.update(json.dumps(identity, sort_keys=True).encode())
    return digest.hexdigest()[:16], identity


def convert(args, task, split, source, cache_dir):
    """Records for one split, from the cache when their key matches, else built (atomically) now."""
    if not args.spm_model_file:
        raise ValueError("--spm_model_file is needed to convert raw task files (or pass --train_records/--eval_records).")
    if not os.path.exists(args.spm_model_file):
        raise FileNotFoundError(f"--spm_model_file {args.spm_model_file}: no such file.")
    flags = {"do_lower_case": args.do_lower_case, "max_seq_length": args.max_seq_length}
    if task.is_squad:
        flags.update(doc_stride=args.doc_stride, max_query_length=args.max_query_length)
    if task.family == "multiple_choice":
        flags["max_qa_length"] = args.max_qa_length
    key, identity = records_key(task.name, split, source, args.spm_model_file, flags)
    os.makedirs(cache_dir, exist_ok=True)
    output = os.path.join(cache_dir, f"{task.name}_{split}-{key}.tf_record")
    if os.path.exists(output):
        logging.info("records for %s/%s from the cache: %s", task.name, split, output)
        return output
    # Written into a private folder and renamed into place, the records last, so a killed conversion never
    # looks cached and workers of a multi-worker run converting the same split never share a file.
    private = os.path.join(cache_dir, f".converting-{os.getpid()}")
    os.makedirs(private, exist_ok=True)
    try:
        _convert_into(args, task, split, source, os.path.join(private, os.path.basename(output)), output, identity)
    finally:  # a failed conversion (a bad input file, Ctrl-C) leaves no private folder behind
        shutil.rmtree(private, ignore_errors=True)
    return output


def _convert_into(args, task, split, source, base, output, identity):
    """Converts into `base` (in the private folder), then renames each file to `output`, the records last."""
    from data_prep.finetuning import FinetuningDataConfig, create_finetuning_data

    logging.info("converting %s (%s split of %s) into %s", source, split, task.name, output)
    create_finetuning_data(FinetuningDataConfig(
        task=task.name, output_file=base, spm_model_file=args.spm_model_file, split=split,
        data_dir=None if task.is_squad else source, input_file=source if task.is_squad else None,
        do_lower_case=args.do_lower_case, max_seq_length=args.max_seq_length, doc_stride=args.doc_stride,
        max_query_length=args.max_query_length, max_qa_length=args.max_qa_length,
        summary_file=base + ".summary.json", meta_file=base + ".meta.json", progress=None,
    ))
    with open(base + ".key.json", "w", encoding="utf-8") as f:
        json.dump(identity, f, indent=2, sort_keys=True)
    with open(base + ".summary.json", encoding="utf-8") as f:
        summary = json.load(f)
    summary.update(output_file=output, meta_file=output + ".meta.json" if summary.get("meta_file") else None)
    with open(base + ".summary.json", "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    for suffix in (".summary.json", ".meta.json", ".key.json", ""):
        if os.path.exists(base + suffix):
            os.replace(base + suffix, output + suffix)


def _record_files(pattern):
    files = []
    for part in [p.strip() for p in pattern.split(",") if p.strip()]:
        matches = sorted(glob.glob(part))
        if not matches:
            raise FileNotFoundError(f"no TFRecord file matches {part!r}.")
        files.extend(matches)
    return files


def resolve_records(args, task):
    """(train, eval, predict) record files for the requested stages."""
    cache_dir = args.cached_dir or os.path.join(args.output_dir, "records")
    wanted = {"train": args.do_train, "dev": args.do_eval, "test": args.do_predict}
    given = {"train": args.train_records, "dev": args.eval_records, "test": args.predict_records}
    records = {}
    for split, needed in wanted.items():
        if not needed:
            continue
        if given[split]:
            records[split] = _record_files(given[split])
            continue
        if task.is_squad:
            source = args.train_file if split == "train" else args.predict_file
            flag = "--train_file" if split == "train" else "--predict_file"
        else:
            source, flag = args.data_dir, "--data_dir"
        if not source:
            stage = {"train": "--do_train", "dev": "--do_eval", "test": "--do_predict"}[split]
            raise ValueError(f"{stage} needs {flag} (raw task files) or --{ {'train': 'train', 'dev': 'eval', 'test': 'predict'}[split]}_records.")
        # SQuAD's --predict_file is its dev set for evaluation; prediction re-reads it as a test split.
        records[split] = [convert(args, task, "dev" if task.is_squad and split == "test" else split, source, cache_dir)]
    return records.get("train"), records.get("dev"), records.get("test")


# --------------------------------------------------------------------------- checks before any work
def check_flags(args):
    """The task, once the flags agree with each other and with the config file; no TensorFlow imported yet.

    An unknown --task or a sequence length that leaves no room for text is refused in well under a
    second, not after TensorFlow has loaded and records have been converted.
    """
    from albert_tf.tasks import get_task
    from data_prep.finetuning import minimum_max_seq_length

    task = get_task(args.task)
    if not (args.do_train or args.do_eval or args.do_predict):
        raise ValueError("At least one of --do_train, --do_eval or --do_predict must be true.")
    check_lora_flags(args)
    if args.num_train_epochs is not None and args.train_step is not None:
        raise ValueError(f"--num_train_epochs {args.num_train_epochs:g} and --train_step {args.train_step} both set the "
                         "length of training: give one.")
    if args.num_train_epochs is not None and args.num_train_epochs <= 0:
        raise ValueError(f"--num_train_epochs must be positive, got {args.num_train_epochs:g}.")
    if args.do_train and not task.has_train:
        raise ValueError(f"--task {task.name} has no training data (it is scored with a {task.eval_task} model: --do_predict).")
    if args.max_seq_length is None:
        args.max_seq_length = task.defaults.max_seq_length
    minimum, layout = minimum_max_seq_length(task.name, args.max_query_length)
    if args.max_seq_length < minimum:
        flag = f" with --max_query_length {args.max_query_length}" if task.is_squad else ""
        raise ValueError(f"--max_seq_length {args.max_seq_length} leaves no room for text: --task {task.name} packs "
                         f"{layout}{flag}, which needs --max_seq_length >= {minimum}.")
    if args.albert_config_file:
        if not os.path.exists(args.albert_config_file):
            raise FileNotFoundError(f"--albert_config_file {args.albert_config_file}: no such file.")
        from albert_tf.config import AlbertConfig

        check_config(args, AlbertConfig.from_json_file(args.albert_config_file),
                     source=f"--albert_config_file {args.albert_config_file}")
    return task


def check_lora_flags(args):
    """The LoRA flags against each other and --do_train, as `FinetuningOptions` checks them, but before
    TensorFlow loads and records are converted."""
    given = [flag for flag, value, default in (("--lora_alpha", args.lora_alpha, None),
                                               ("--lora_targets", tuple(args.lora_targets), LORA_DEFAULT_TARGETS),
                                               ("--lora_train_layernorm", args.lora_train_layernorm, False))
             if value != default]
    if given and not args.lora_rank:
        raise ValueError(f"{', '.join(given)}: LoRA settings, with no --lora_rank; give the adapters' rank too, "
                         "e.g. --lora_rank 8.")
    if args.lora_rank and not args.do_train:
        raise ValueError(f"--lora_rank {args.lora_rank} without --do_train: only training uses it; evaluate or "
                         "predict with a LoRA run's model.keras (the adapters merged) and no --lora_rank.")


def check_config(args, config, source):
    """The config against --max_seq_length and the SentencePiece model (when one is given)."""
    config.check_sequence_length(args.max_seq_length, source)
    if args.spm_model_file and os.path.exists(args.spm_model_file):
        check_vocabulary(config, source, args.spm_model_file, args.allow_vocab_mismatch)


def check_truncation(args, task, record_lists):
    """Warns (--strict: refuses) when the records' summaries say --max_seq_length cut many examples."""
    from data_prep.finetuning import truncation_warning

    for path in [path for files in record_lists for path in files or ()]:
        if os.path.exists(path + ".summary.json"):
            with open(path + ".summary.json", encoding="utf-8") as f:
                summary = {"task": task.name, **json.load(f)}
            refuse_or_warn(truncation_warning(summary, path), args.strict, "raise --max_seq_length")


# --------------------------------------------------------------------------- main
def _config(args):
    from albert_tf import AlbertConfig

    if args.albert_config_file:
        if not os.path.exists(args.albert_config_file):
            raise FileNotFoundError(f"--albert_config_file {args.albert_config_file}: no such file.")
        return AlbertConfig.from_json_file(args.albert_config_file)
    from albert_tf.checkpoints import formats

    found = formats.checkpoint_format(args.init_checkpoint) if args.init_checkpoint else None
    if found is not None and found.kind == formats.HUGGINGFACE:
        from albert_tf.checkpoints.huggingface import config_from_huggingface

        with open(os.path.join(found.path, "config.json"), encoding="utf-8") as f:
            return config_from_huggingface(json.load(f), source=os.path.join(found.path, "config.json"))
    if found is not None and found.kind == formats.KERAS:
        import keras

        formats.refuse_damaged(found, "--init_checkpoint")
        source = keras.saving.load_model(found.path, compile=False)
        return getattr(source, "backbone", source).config
    raise ValueError("--albert_config_file is required (unless --init_checkpoint is a HuggingFace folder or a .keras file).")


def run(args):
    task = check_flags(args)
    # Raw files are converted first (no TensorFlow), then the strategy is made before any other TensorFlow
    # work: a multi-worker strategy configures the runtime, which reading a .keras config would start.
    train_files, eval_files, predict_files = resolve_records(args, task)
    check_truncation(args, task, [train_files, eval_files, predict_files])
    from albert_tf.training.finetuning import FinetuningOptions, run_finetuning

    strategy = select_strategy_from_flags(args)
    config = _config(args)
    if not args.albert_config_file:
        check_config(args, config, source=f"the config of --init_checkpoint {args.init_checkpoint}")

    train_step, warmup_step = args.train_step, args.warmup_step
    if args.do_train and train_step is None and (task.is_squad or args.num_train_epochs is not None):
        from albert_tf.training.finetuning import count_records

        # The SQuAD scripts count examples (questions), not windows; the records hold windows, so
        # the count of distinct training questions is read back from the converter's summary.
        squad_examples = _squad_train_examples(train_files[0]) if task.is_squad else None
        examples = squad_examples or count_records(train_files)
        batch = args.train_batch_size or task.defaults.train_batch_size
        epochs = args.num_train_epochs if args.num_train_epochs is not None else task.defaults.num_train_epochs
        proportion = args.warmup_proportion if args.warmup_proportion is not None else task.defaults.warmup_share
        train_step = max(1, int(examples / batch * epochs))
        warmup_step = int(train_step * proportion) if warmup_step is None else warmup_step
    options = FinetuningOptions(
        output_dir=args.output_dir,
        learning_rate=args.learning_rate,
        train_step=train_step,
        warmup_step=warmup_step,
        train_batch_size=args.train_batch_size,
        eval_batch_size=args.eval_batch_size,
        predict_batch_size=args.predict_batch_size,
        max_seq_length=args.max_seq_length,
        save_checkpoints_steps=args.save_checkpoints_steps,
        optimizer=args.optimizer,
        iterations_per_loop=args.iterations_per_loop,
        log_every_steps=args.log_every_steps,
        init_checkpoint=args.init_checkpoint,
        init_from_group0=args.init_from_group0,
        bucket_by_length=args.bucket_by_length,
        classifier_dropout=args.classifier_dropout,
        **strategy_options(args),
        precision=args.precision,
        jit_compile=args.jit_compile,
        max_consecutive_bad_steps=args.max_consecutive_bad_steps,
        seed=args.seed,
        verbose=args.verbose,
        export_dir=args.export_dir,
        export=args.export,
        spm_model_file=args.spm_model_file,
        lora_rank=args.lora_rank,
        lora_alpha=args.lora_alpha,
        lora_targets=args.lora_targets,
        lora_train_layernorm=args.lora_train_layernorm,
    )
    evaluate_fn = predict_fn = None
    if task.is_squad and (eval_files or predict_files):
        from albert_tf.training.finetuning import squad_hooks

        meta_file = (eval_files or predict_files)[0] + ".meta.json"
        if not os.path.exists(meta_file):
            raise FileNotFoundError(f"{meta_file}: SQuAD evaluation records need the feature metadata written beside them.")
        evaluate_fn, predict_fn = squad_hooks(task, meta_file, args.predict_file, n_best_size=args.n_best_size,
                                              max_answer_length=args.max_answer_length)
    if task.name == "race" and eval_files:
        meta_file = eval_files[0] + ".meta.json"
        if len(eval_files) == 1 and os.path.exists(meta_file):
            from albert_tf.training.finetuning import race_hooks

            evaluate_fn = race_hooks(task, meta_file)
        else:
            logging.warning("no %s beside the RACE evaluation records: overall accuracy only (middle/high need the "
                            "levels albert-create-finetuning-data writes there)", meta_file)
    result = run_finetuning(task, config, options, train_files, eval_files, predict_files,
                            do_train=args.do_train, do_eval=args.do_eval, do_predict=args.do_predict,
                            evaluate_fn=evaluate_fn, predict_fn=predict_fn, strategy=strategy)
    if _report_stop("albert-finetune", result.results):
        return result
    summary = {k: result.results[k] for k in ("train_steps", "train_seconds", "eval", "best_step", "prediction_files",
                                              "model_file", "lora_file", "lora", "resumed_from",
                                              "initialised_from") if k in result.results}
    print(f"albert-finetune {task.name} finished: {json.dumps(summary, default=str)}")
    return result


def _squad_train_examples(record_file):
    summary = record_file + ".summary.json"
    if os.path.exists(summary):
        with open(summary, encoding="utf-8") as f:
            return json.load(f).get("examples")
    return None


def _report_stop(prog, results):
    """Prints where a run stopped by a signal stopped (never "finished"); True when it was."""
    stop = results.get("preempted")
    if stop:
        from albert_tf.training.interruption import stopped_message

        print(stopped_message(prog, stop["signal"], "step", stop["step"], stop["checkpoint"]), file=sys.stderr)
    return bool(stop)


@cli_entry_point("albert-finetune")
def main(argv=None):
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    result = run(args)
    stop = result.results.get("preempted")
    return stop["exit_code"] if stop else 0


if __name__ == "__main__":
    sys.exit(main())
