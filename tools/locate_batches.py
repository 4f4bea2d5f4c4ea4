"""albert-locate-batches: which records of which shards a pretraining run read at given steps.

`albert-pretrain` reads its records in an order fixed by `--seed`, so the batches of any step can be read
again: give this command the pretraining run's own input flags and the steps (as a loss-spike warning
prints them) and it lists, per step, the shard and the 0-based record index of every example, and
optionally writes those records to a TFRecord file to look at or to replay. The run's `--input_file`
order, `--seed`, `--train_batch_size` and `--gradient_accumulation_steps` must be those of the run (one
input pipeline: the `one_device`, `mirrored` and `--shard_input_by record` runs).
"""

import argparse
import json
import os
import sys

from .flags import cli_entry_point, show_defaults


def build_parser():
    p = argparse.ArgumentParser(prog="albert-locate-batches", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input_file", required=True, help="the run's --input_file (comma-separated list and/or globs)")
    p.add_argument("--steps", required=True, help="a step (1-based, as the logs count) or a range A-B")
    p.add_argument("--train_batch_size", type=int, required=True, help="the run's --train_batch_size")
    p.add_argument("--gradient_accumulation_steps", type=int, default=1, help="the run's value")
    p.add_argument("--max_seq_length", type=int, default=512, help="the run's value")
    p.add_argument("--max_predictions_per_seq", type=int, default=20, help="the run's value")
    p.add_argument("--seed", type=int, default=12345, help="the run's --seed")
    p.add_argument("--output_file", default=None, help="also write the located records, in order, to this TFRecord file")
    return show_defaults(p, "albert-locate-batches --input_file 'records/train-*.tfrecord' --train_batch_size 64 "
                            "--max_seq_length 128 --steps 1201-1210")


def parse_steps(text: str):
    first, _, last = text.partition("-")
    try:
        first, last = int(first), int(last or first)
    except ValueError:
        raise ValueError(f"--steps {text!r}: expected a step or a range A-B of positive integers") from None
    if not 1 <= first <= last:
        raise ValueError(f"--steps {text!r}: expected 1 <= A <= B")
    return first, last


def locate(files, first: int, last: int, batch_size: int, max_seq_length: int, max_predictions_per_seq: int,
           seed: int):
    """`[(step, [(file, record), ...]), ...]` for steps `first`..`last` (1-based) of the run's input."""
    from albert_tf.data.pretraining import pretraining_dataset

    dataset = pretraining_dataset(files, batch_size, max_seq_length, max_predictions_per_seq, is_training=True,
                                  repeat=True, seed=seed, include_position=True)
    found = []
    for step, batch in enumerate(dataset.skip(first - 1).take(last - first + 1), start=first):
        names = [name.decode() for name in batch["source_file"].numpy()]
        found.append((step, list(zip(names, batch["source_record"].numpy().tolist()))))
    return found


@cli_entry_point("albert-locate-batches")
def main(argv=None):
    args = build_parser().parse_args(argv)
    first, last = parse_steps(args.steps)
    if args.train_batch_size % args.gradient_accumulation_steps:
        raise ValueError(f"--train_batch_size {args.train_batch_size} must be divisible by "
                         f"--gradient_accumulation_steps {args.gradient_accumulation_steps}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from albert_tf.data.checks import find_unreadable_file
    from albert_tf.data.pretraining import list_files

    micro_batch = args.train_batch_size // args.gradient_accumulation_steps
    files = list_files(args.input_file)
    try:
        found = locate(files, first, last, micro_batch, args.max_seq_length, args.max_predictions_per_seq, args.seed)
    except tf.errors.DataLossError:
        culprit = find_unreadable_file(files) or "one of --input_file"
        raise ValueError(f"unreadable input: {culprit}; if the run read it with --skip_corrupt_records, give the "
                         "repaired copies in <output_dir>/repaired_input instead") from None
    for step, positions in found:
        print(json.dumps({"step": step, "records": [[name, index] for name, index in positions]}))
    if args.output_file:
        write_records(found, args.output_file)
        print(f"albert-locate-batches: {sum(len(p) for _, p in found)} records written to {args.output_file}",
              file=sys.stderr)
    return 0


def write_records(found, output_file):
    """The located records, in the order the run read them, as one TFRecord file (written atomically)."""
    from data_prep.tfrecord import TFRecordWriter, read_records

    wanted = {}
    for _, positions in found:
        for name, index in positions:
            wanted.setdefault(name, set()).add(index)
    records = {}
    for name, indices in wanted.items():
        for index, record in enumerate(read_records(name)):
            if index in indices:
                records[(name, index)] = record
            if index >= max(indices):
                break
    with TFRecordWriter(output_file) as writer:
        for _, positions in found:
            for position in positions:
                writer.write(records[position])


if __name__ == "__main__":
    sys.exit(main())
