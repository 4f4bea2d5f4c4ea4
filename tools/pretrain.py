"""albert-pretrain: the original `run_pretraining.py` on Keras 3, inside any tf.distribute strategy.

Flags keep the original's names and defaults; those after `--strategy` go beyond it. A run resumes from
the newest checkpoint in `--output_dir/checkpoints` by itself.

    albert-pretrain --input_file 'records/train-*.tfrecord' --output_dir run1 \\
        --albert_config_file albert_config.json --train_batch_size 128 --max_seq_length 128 \\
        --num_train_steps 10000 --num_warmup_steps 500 --learning_rate 0.00176
"""

import argparse
import glob
import json
import logging
import os
import shlex
import sys

from .flags import (add_bool, add_tpu_flags, check_vocabulary, cli_entry_point, select_strategy_from_flags,
                    show_defaults, strategy_options)

REPAIRED_INPUT_DIR = "repaired_input"


def repair_inputs(train_files, eval_files, output_dir, chief):
    """`--skip_corrupt_records`: `(train_files, eval_files, totals)`, damaged shards replaced by their repaired copies.

    The chief keeps its copies in `<output_dir>/repaired_input`, where a rerun reuses them (and the
    scans of unchanged clean shards); other workers, which must not write there, in a temporary
    directory of their own.
    """
    import time

    from data_prep.tfrecord import repair_corrupt_files

    if chief:
        directory = os.path.join(output_dir, REPAIRED_INPUT_DIR)
    else:
        import atexit
        import shutil
        import tempfile

        directory = tempfile.mkdtemp(prefix="albert_tf-repaired-")
        atexit.register(shutil.rmtree, directory, True)
    started = time.time()
    found = repair_corrupt_files(sorted(set(train_files + eval_files)), directory)
    damaged = [item for item in found if not item.scan.clean]
    for item in damaged:
        where = f"read as {item.path}" if item.scan.good_records else "left out: no good record"
        logging.warning("corrupt shard %s; %s%s", item.scan.describe(), where, " (copy reused)" if item.reused else "")
    logging.info("--skip_corrupt_records: %d shard(s) checked in %.1f s (%d unchanged since an earlier run), "
                 "%d damaged", len(found), time.time() - started, sum(item.reused for item in found), len(damaged))
    read_as = {item.source: item.path for item in found if item.scan.clean or item.scan.good_records}

    def replace(files, flag):
        kept = [read_as[f] for f in files if f in read_as]
        if files and not kept:
            lost = "; ".join(item.scan.describe() for item in damaged)
            raise ValueError(f"{flag}: no shard holds a readable record ({lost}).")
        return kept

    totals = {
        "shards": len(damaged),
        "records_kept": sum(item.scan.good_records for item in damaged),
        "records_skipped": sum(item.scan.corrupt_records for item in damaged),
        "truncated_shards": sum(item.scan.tail is not None for item in damaged),
        "bytes_dropped": sum(item.scan.tail_bytes for item in damaged),
        "repaired": {item.source: item.path if item.scan.good_records else None for item in damaged},
    }
    return replace(train_files, "--input_file"), replace(eval_files, "--eval_input_file"), totals


def build_parser():
    p = argparse.ArgumentParser(prog="albert-pretrain", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--albert_config_file", required=True, help="original albert_config.json")
    p.add_argument("--input_file", required=True, help="TFRecord files: comma-separated list and/or globs")
    p.add_argument("--output_dir", required=True, help="checkpoints, TensorBoard logs, metrics, model.keras")
    p.add_argument("--init_checkpoint", default=None, help="original TF1 checkpoint, albert_tf checkpoint or .keras file")
    p.add_argument("--max_seq_length", type=int, default=512)
    p.add_argument("--max_predictions_per_seq", type=int, default=20)
    add_bool(p, "do_train", True)
    add_bool(p, "do_eval", False)
    p.add_argument("--train_batch_size", type=int, default=4096)
    p.add_argument("--eval_batch_size", type=int, default=64)
    p.add_argument("--optimizer", choices=["lamb", "adamw"], default="lamb")
    p.add_argument("--learning_rate", type=float, default=0.00176)
    p.add_argument("--poly_power", type=float, default=1.0)
    p.add_argument("--num_train_steps", type=int, default=125000)
    p.add_argument("--num_warmup_steps", type=int, default=3125)
    p.add_argument("--start_warmup_step", type=int, default=0)
    p.add_argument("--save_checkpoints_steps", type=int, default=5000)
    p.add_argument("--keep_checkpoint_max", type=int, default=5)
    p.add_argument("--iterations_per_loop", type=int, default=1000, help="steps per compiled execution")
    p.add_argument("--max_eval_steps", type=int, default=100)
    add_bool(p, "init_from_group0", False)
    add_tpu_flags(p)
    # Beyond the original.
    p.add_argument("--strategy", choices=["tpu", "multi_worker", "mirrored", "one_device", "auto"], default="auto")
    p.add_argument("--eval_input_file", default=None,
                   help="held-out TFRecords for --do_eval and --eval_every_steps (default: --input_file)")
    p.add_argument("--loss_spike_factor", type=float, default=3.0,
                   help="warn when a logged loss is this many times the median of the last 20, naming its steps and the "
                        "albert-locate-batches command that lists their records (0: never)")
    p.add_argument("--eval_every_steps", type=int, default=0,
                   help="also score --max_eval_steps held-out batches every this many steps while training (a "
                        "multiple of --save_checkpoints_steps; 0: only at the end, with --do_eval): eval_history.json, "
                        "tensorboard/eval, curves.png, and best/ keeps the best held-out MLM accuracy")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                   help="auto: bf16 on TPUs and bf16-capable GPUs, fp32 on CPU")
    add_bool(p, "jit_compile", False, "compile steps with XLA")
    p.add_argument("--gradient_accumulation_steps", type=int, default=1,
                   help="split each --train_batch_size update into this many micro-batches")
    add_bool(p, "dynamic_masking", False, "draw fresh n-gram masks in tf.data every epoch instead of the records' static masks")
    p.add_argument("--log_every_steps", type=int, default=100,
                   help="TensorBoard scalars every this many steps (and at every checkpoint)")
    p.add_argument("--max_consecutive_bad_steps", type=int, default=3,
                   help="stop after this many updates in a row skipped for a NaN/Inf loss or gradient, keeping the last "
                        "checkpoint (0: skip them and never stop)")
    p.add_argument("--shard_input_by", choices=["file", "record"], default="file",
                   help="file: each worker reads its own share of the files (needs a file per worker); record: every "
                        "worker reads all files and keeps its rows of each global batch (the batches of one process)")
    add_bool(p, "check_input", True, "check the first records of every file against the flags and config before training")
    add_bool(p, "skip_corrupt_records", False,
             "instead of stopping at a corrupt record, skip it: shards are checked record by record before "
             "training and damaged ones read through a copy of their good records in <output_dir>/repaired_input "
             "(a truncated tail is lost)")
    p.add_argument("--export_dir", default=None,
                   help="SavedModel written after training (default: <output_dir>/saved_model; 'none' skips it)")
    p.add_argument("--spm_model_file", default=None,
                   help="SentencePiece .model: adds the raw-string signatures to the SavedModel")
    add_bool(p, "allow_vocab_mismatch", False, "accept a config vocab_size larger than --spm_model_file's piece "
             "count (deliberate padding of the embedding table); a smaller one is always an error")
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2])
    p.add_argument("--traceback", action="store_true", help="show the Python traceback of input errors too")
    return show_defaults(p, (
        "albert-pretrain --albert_config_file albert_config.json \\\n    "
        "--input_file 'records/train-*.tfrecord' --output_dir run1 --train_batch_size 256 \\\n    "
        "--max_seq_length 128 --num_train_steps 10000 --num_warmup_steps 500"))


def check_config(args, config):
    """The config against --max_seq_length and --spm_model_file, before TensorFlow is imported."""
    source = f"--albert_config_file {args.albert_config_file}"
    config.check_sequence_length(args.max_seq_length, source)
    if args.spm_model_file:
        if not os.path.exists(args.spm_model_file):
            raise FileNotFoundError(f"--spm_model_file {args.spm_model_file}: no such file.")
        check_vocabulary(config, source, args.spm_model_file, args.allow_vocab_mismatch)


def check_file_sharding(args):
    """A file per worker when a cluster shards by file, checked before TensorFlow starts.

    Local paths only: remote globs (``gs://``) need TensorFlow and are checked when the data is read.
    A malformed ``TF_CONFIG`` is left to the strategy, whose error names it.
    """
    if args.shard_input_by != "file" or args.strategy != "multi_worker" or not args.do_train:
        return
    try:
        cluster = json.loads(os.environ.get("TF_CONFIG", "")).get("cluster", {})
        workers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    except (ValueError, AttributeError, TypeError):
        return
    parts = [p.strip() for p in args.input_file.split(",") if p.strip()]
    if workers < 2 or any("://" in p for p in parts):
        return
    files = len({f for p in parts for f in glob.glob(p)})
    if 0 < files < workers:
        raise ValueError(
            f"--input_file {args.input_file}: {files} input file(s) for {workers} input pipelines (workers): each reads "
            "whole files, so write at least one shard per worker (--num_output_shards of "
            "albert-create-pretraining-data) or shard by record (--shard_input_by record).")


def locate_command(args, first: int, last: int) -> str:
    """The `albert-locate-batches` command that lists the records of steps `first`..`last` of this run."""
    if args.shard_input_by == "file" and args.strategy in ("multi_worker", "tpu"):
        return "one input pipeline per worker: rerun albert-locate-batches per worker's files"
    return (f"albert-locate-batches --input_file {shlex.quote(args.input_file)} --train_batch_size {args.train_batch_size} "
            f"--gradient_accumulation_steps {args.gradient_accumulation_steps} --max_seq_length {args.max_seq_length} "
            f"--max_predictions_per_seq {args.max_predictions_per_seq} --seed {args.seed} --steps {first}-{last}")


@cli_entry_point("albert-pretrain")
def main(argv=None):
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    from albert_tf import AlbertConfig

    config = AlbertConfig.from_json_file(args.albert_config_file)
    check_config(args, config)
    check_file_sharding(args)
    # First TensorFlow work of the process: MultiWorkerMirroredStrategy must come before any other op.
    strategy = select_strategy_from_flags(args)

    import tensorflow as tf

    from albert_tf.data import DynamicMasking, list_files, pretraining_dataset
    from albert_tf.data.checks import check_pretraining_files, find_unreadable_file
    from albert_tf.training.pretraining import PretrainingOptions, run_pretraining
    from albert_tf.training.interruption import stopped_message

    options = PretrainingOptions(
        output_dir=args.output_dir,
        train_batch_size=args.train_batch_size,
        eval_batch_size=args.eval_batch_size,
        max_seq_length=args.max_seq_length,
        max_predictions_per_seq=args.max_predictions_per_seq,
        optimizer=args.optimizer,
        learning_rate=args.learning_rate,
        poly_power=args.poly_power,
        num_train_steps=args.num_train_steps,
        num_warmup_steps=args.num_warmup_steps,
        start_warmup_step=args.start_warmup_step,
        save_checkpoints_steps=args.save_checkpoints_steps,
        keep_checkpoint_max=args.keep_checkpoint_max,
        iterations_per_loop=args.iterations_per_loop,
        max_eval_steps=args.max_eval_steps,
        init_checkpoint=args.init_checkpoint,
        init_from_group0=args.init_from_group0,
        **strategy_options(args),
        precision=args.precision,
        jit_compile=args.jit_compile,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        log_every_steps=args.log_every_steps,
        max_consecutive_bad_steps=args.max_consecutive_bad_steps,
        eval_every_steps=args.eval_every_steps,
        loss_spike_factor=args.loss_spike_factor,
        seed=args.seed,
        verbose=args.verbose,
    )
    options.validate()
    train_files = list_files(args.input_file) if args.do_train else []
    evaluates = args.do_eval or args.eval_every_steps > 0
    eval_files = list_files(args.eval_input_file or args.input_file) if evaluates else []
    corrupt = None
    originals = {}
    if args.skip_corrupt_records:
        # Before the input check, which reads the first records through TensorFlow and would stop at
        # a bad one there.
        train_files, eval_files, corrupt = repair_inputs(train_files, eval_files, args.output_dir,
                                                         chief=bool(strategy.extended.should_checkpoint))
        originals = {copy: source for source, copy in corrupt["repaired"].items() if copy}
    if args.check_input:
        report = check_pretraining_files(sorted(set(train_files + eval_files)), args.max_seq_length,
                                         args.max_predictions_per_seq, vocab_size=config.vocab_size,
                                         originals=originals)
        logging.info("input check: %s", report)

    def dataset_fn(files, is_training):
        masking = DynamicMasking(vocab_size=config.vocab_size, seed=args.seed) if args.dynamic_masking and is_training else None

        def read(batch_size, input_context=None):
            # Seeded and repeating (evaluation too, as the original's eval input), so a resumed run
            # can skip exactly the batches it already consumed.
            return pretraining_dataset(
                files,
                batch_size=batch_size,
                max_seq_length=args.max_seq_length,
                max_predictions_per_seq=args.max_predictions_per_seq,
                is_training=is_training,
                repeat=True,
                seed=args.seed,
                dynamic_masking=masking,
                input_context=input_context,
            )

        if args.shard_input_by == "record":
            return lambda batch_size: read(batch_size)
        return read

    try:
        model, results = run_pretraining(
            config,
            options,
            dataset_fn(train_files, True),
            dataset_fn(eval_files, False) if evaluates else None,
            do_train=args.do_train,
            do_eval=args.do_eval,
            strategy=strategy,
            extra_results={"corrupt_input": corrupt} if corrupt is not None else None,
            loss_spike_hint=lambda first, last: locate_command(args, first, last),
        )
    except tf.errors.DataLossError as error:
        culprit = find_unreadable_file(train_files + eval_files) or error.message.splitlines()[0]
        if args.skip_corrupt_records:
            raise ValueError(
                f"unreadable input: {culprit}; it broke after --skip_corrupt_records checked it (a check is reused "
                "while a file keeps its size and modification time): delete "
                f"{os.path.join(args.output_dir, REPAIRED_INPUT_DIR, 'index.json')} and run again to check and repair "
                "every shard anew (the last checkpoint is kept)."
            ) from None
        raise ValueError(
            f"unreadable input: {culprit}; remove or rebuild that shard, or pass --skip_corrupt_records to skip its "
            "corrupt records (the last checkpoint is kept)."
        ) from None
    if "preempted" in results:
        stop = results["preempted"]
        print(stopped_message("albert-pretrain", stop["signal"], "batch", stop["batch"], stop["checkpoint"]),
              file=sys.stderr)
        return stop["exit_code"]
    if corrupt and corrupt["shards"]:
        shards = "; ".join(f"{source} -> {copy or 'left out'}" for source, copy in corrupt["repaired"].items())
        print(f"albert-pretrain: --skip_corrupt_records: {corrupt['shards']} damaged shard(s), "
              f"{corrupt['records_skipped']} corrupt record(s) skipped, {corrupt['truncated_shards']} truncated "
              f"tail(s) dropped ({corrupt['bytes_dropped']} bytes), {corrupt['records_kept']} of their records kept: "
              f"{shards}",
              file=sys.stderr)
    if "note" in results:
        print(f"albert-pretrain: {results['note']}", file=sys.stderr)
    if args.do_train and (args.export_dir or "").lower() != "none":
        import shutil
        import tempfile

        from albert_tf.export import export_saved_model

        # Only the chief writes the SavedModel where asked; other workers export to a temporary
        # directory removed at once (TensorFlow's multi-worker saving rules).
        chief = bool(strategy.extended.should_checkpoint)
        target = args.export_dir or os.path.join(args.output_dir, "saved_model")
        scratch = None if chief else tempfile.mkdtemp(prefix="albert_tf-export-")
        exported = export_saved_model(model, target if chief else os.path.join(scratch, "saved_model"),
                                      tokenizer=args.spm_model_file, max_seq_length=args.max_seq_length)
        if chief:
            results["saved_model"] = exported
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    summary = {k: v for k, v in results.items()
               if k in ("train", "eval", "train_batches", "train_seconds", "resumed_from", "saved_model")}
    if corrupt is not None:
        summary["corrupt_input"] = {k: v for k, v in corrupt.items() if k != "repaired"}
    print(f"albert-pretrain finished: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
