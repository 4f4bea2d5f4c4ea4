"""``albert-create-finetuning-data``: GLUE, SQuAD and RACE records as the original scripts wrote them.

::

    albert-create-finetuning-data --task=sst-2 --data_dir=glue_data/SST-2 --split=train \\
        --output_file=sst2_train.tfrecord --spm_model_file=30k-clean.model --max_seq_length=128
    albert-create-finetuning-data --task=squad_v1 --input_file=dev-v1.1.json --split=dev \\
        --output_file=squad_dev.tfrecord --spm_model_file=30k-clean.model
    albert-create-finetuning-data --task=race --data_dir=. --split=dev --output_file=race_dev.tfrecord \\
        --spm_model_file=30k-clean.model

The work is in :mod:`data_prep.finetuning`; this module only parses flags. Neither imports
TensorFlow.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional

from .flags import add_bool, cli_entry_point, refuse_or_warn, show_defaults, str_to_bool

EPILOG = """\
records:
  GLUE and RACE: input_ids, input_mask, segment_ids, label_ids (float for sts-b), is_real_example;
  RACE sequences are the 4 choices concatenated (4 * max_seq_length values). SQuAD: unique_ids,
  input_ids, input_mask, segment_ids, p_mask, and with --split=train start_positions,
  end_positions, is_impossible (examples shuffled with random.Random(12345) first, as the original
  runner). SQuAD evaluation records get OUTPUT.meta.json beside them (pieces, character offsets,
  max-context flags, question ids) for post-processing. A JSON summary goes to OUTPUT.summary.json.
  The records are the same for any --num_workers.

defaults:
  --max_seq_length is 512 for GLUE and RACE, 384 for SQuAD (the original scripts' defaults).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="albert-create-finetuning-data",
        description="Create ALBERT fine-tuning TFRecords (GLUE, SQuAD v1.1/v2.0, RACE) with the original's "
                    "processors and feature conversion.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    flag = parser.add_argument
    flag("--task", required=True,
         help="cola, sst-2, mrpc, sts-b, qqp, mnli, mismnli, qnli, rte, wnli, ax, squad_v1, squad_v2, race "
              "(case-insensitive)")
    flag("--data_dir", default=None,
         help="GLUE: the task folder (glue_data/SST-2) or the folder holding it; RACE: the folder holding RACE/")
    flag("--input_file", default=None, help="SQuAD: the JSON file (train-v1.1.json, dev-v2.0.json, ...)")
    flag("--split", default="train", choices=("train", "dev", "test"),
         help="which split to convert; for SQuAD, train means training features with answer positions "
              "(default: train)")
    flag("--output_file", required=True, help="the TFRecord file to write")
    flag("--spm_model_file", required=True, help="SentencePiece model, e.g. 30k-clean.model")
    add_bool(parser, "do_lower_case", True, "lowercase the text (after accent stripping)")
    flag("--max_seq_length", type=int, default=None, help="sequence length (default: 512; SQuAD 384)")
    flag("--doc_stride", type=int, default=128, help="SQuAD window stride in pieces (default: 128)")
    flag("--max_query_length", type=int, default=64, help="SQuAD question pieces kept (default: 64)")
    flag("--max_qa_length", type=int, default=128, help="RACE question+option pieces kept (default: 128)")
    add_bool(parser, "high_only", False, "RACE: only the high-school questions")
    add_bool(parser, "middle_only", False, "RACE: only the middle-school questions")
    new = parser.add_argument_group("additions")
    new.add_argument("--pad_to_batch_size", type=int, default=0,
                     help="append all-zero padding examples (is_real_example 0) up to a multiple of this "
                          "batch size, as the original on TPU for evaluation and prediction (default: 0, none)")
    new.add_argument("--num_workers", type=int, default=None,
                     help="processes (default: every core); the records do not depend on it")
    new.add_argument("--summary_file", default=None, help="JSON summary (default: OUTPUT.summary.json)")
    new.add_argument("--meta_file", default=None, help="SQuAD evaluation metadata (default: OUTPUT.meta.json)")
    add_bool(new, "strict", False, "exit with an error (records kept) when --max_seq_length cut more than 10%% of "
             "the examples; otherwise a warning")
    new.add_argument("--progress", type=str_to_bool, nargs="?", const=True, default=None,
                     help="show a progress bar (default: only on a terminal)")
    return show_defaults(parser, (
        'albert-create-finetuning-data --task sst-2 --data_dir glue_data/SST-2 --split train \\\n    '
        '--output_file sst2_train.tfrecord --spm_model_file 30k-clean.model --max_seq_length 128'))


def config_from_args(args: argparse.Namespace):
    from data_prep.finetuning import FinetuningDataConfig

    return FinetuningDataConfig(
        task=args.task, output_file=args.output_file, spm_model_file=args.spm_model_file, split=args.split,
        data_dir=args.data_dir, input_file=args.input_file, do_lower_case=args.do_lower_case,
        max_seq_length=args.max_seq_length, doc_stride=args.doc_stride, max_query_length=args.max_query_length,
        max_qa_length=args.max_qa_length, high_only=args.high_only, middle_only=args.middle_only,
        pad_to_batch_size=args.pad_to_batch_size, num_workers=args.num_workers,
        summary_file=args.summary_file, meta_file=args.meta_file, progress=args.progress,
    )


@cli_entry_point("albert-create-finetuning-data")
def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    from data_prep.finetuning import create_finetuning_data, default_summary_path, truncation_warning

    config = config_from_args(args)
    summary = create_finetuning_data(config)
    print(
        f"{summary['examples']} examples -> {summary['records']} records "
        f"({summary['truncated_share']:.1%} truncated) in {summary['seconds']['total']:.1f} s; summary in "
        f"{config.summary_file or default_summary_path(config.output_file)}"
    )
    refuse_or_warn(truncation_warning(summary, config.output_file), args.strict, "raise --max_seq_length")
    return 0


if __name__ == "__main__":
    sys.exit(main())
