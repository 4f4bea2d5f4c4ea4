"""``albert-create-pretraining-data``: the original ``create_pretraining_data.py``, fast and resumable.

Same flags and defaults as the original (boolean flags also accept ``--flag=false`` and
``--noflag``, as absl did)::

    albert-create-pretraining-data --input_file=corpus/*.txt --output_file=out-{shard}.tfrecord \\
        --spm_model_file=30k-clean.model --num_output_shards=64

The work is in :mod:`data_prep.pretraining` (processes) and :mod:`data_prep.pretraining_beam`
(``--runner``, Apache Beam); this module only parses flags.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import List, Optional

from .flags import add_bool, cli_entry_point, show_defaults, str_to_bool

EPILOG = """\
reproducibility:
  The same --random_seed gives byte-identical output for any --num_workers, and with --runner.
  The original could not: it drew n-gram lengths from NumPy's global RNG, which it never seeded, and
  its other draws depended on processing the whole corpus in one order. Here every draw comes from
  a stream seeded by --random_seed and the position of the work in the corpus (dupe round,
  document, block of documents). The output has the original's statistics (masking rate, n-gram
  lengths, 80/10/10 replacement, swapped and random-document pairs, short sequences), not its bytes.

other differences from the original:
  * instances are shuffled within blocks of --block_tokens tokens and blocks are dealt round-robin
    to the shards, instead of one in-memory shuffle of the whole output; every round visits the
    documents in its own seeded order;
  * the end of an input file ends a document; invalid UTF-8 becomes U+FFFD with a warning;
  * --do_permutation (unreadable by the original trainer) and WordPiece --vocab_file are rejected;
    --input_file_mode is accepted and ignored.

output:
  --output_file is a comma list of files or a pattern with {shard} (--num_output_shards files,
  default %(shards)d). Shards are written as NAME.incomplete and renamed when complete; a re-run
  skips complete shards (--overwrite redoes them) and reuses the tokenized corpus kept in
  --work_dir. A JSON summary (instances, tokens, mask rate, SOP balance, seconds) is written next to
  the output.
"""

def build_parser() -> argparse.ArgumentParser:
    from data_prep.pretraining import DEFAULT_BLOCK_TOKENS, DEFAULT_PATTERN_SHARDS

    parser = argparse.ArgumentParser(
        prog="albert-create-pretraining-data",
        description="Create ALBERT pretraining TFRecords (masked LM + sentence order) from text with "
                    "one sentence per line and a blank line between documents.",
        epilog=EPILOG % {"shards": DEFAULT_PATTERN_SHARDS},
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    flag = parser.add_argument
    flag("--input_file", required=True, help="comma-separated input files or globs")
    flag("--output_file", required=True,
         help="comma-separated output files, or a pattern with {shard} such as out-{shard}.tfrecord")
    flag("--vocab_file", default=None, help="accepted for compatibility; ALBERT uses --spm_model_file")
    flag("--spm_model_file", default=None, help="SentencePiece model, e.g. 30k-clean.model (required)")
    flag("--input_file_mode", default="r", help="accepted for compatibility and ignored")
    add_bool(parser, "do_lower_case", True, "lowercase the input (after accent stripping)")
    add_bool(parser, "do_whole_word_mask", True, "mask whole words (word units) rather than pieces")
    add_bool(parser, "do_permutation", False, "not supported (the original trainer could not read it)")
    add_bool(parser, "favor_shorter_ngram", True, "n-gram length n drawn with p ∝ 1/n (else reversed)")
    add_bool(parser, "random_next_sentence", False,
              "false: sentence-order prediction (swap A and B); true: BERT's random next sentence")
    flag("--max_seq_length", type=int, default=512, help="maximum sequence length (default: 512)")
    flag("--ngram", type=int, default=3, help="maximum n-gram length in words (default: 3)")
    flag("--max_predictions_per_seq", type=int, default=20,
         help="maximum masked LM predictions per sequence (default: 20)")
    flag("--random_seed", type=int, default=12345, help="seed of every random draw (default: 12345)")
    flag("--dupe_factor", type=int, default=40,
         help="number of times the corpus is used, each with fresh masks (default: 40)")
    flag("--masked_lm_prob", type=float, default=0.15, help="masked LM probability (default: 0.15)")
    flag("--short_seq_prob", type=float, default=0.1,
         help="probability of a shorter target length per document and round (default: 0.1)")
    new = parser.add_argument_group("additions")
    new.add_argument("--num_workers", type=int, default=None,
                     help="processes (default: every core); the output does not depend on it")
    new.add_argument("--num_output_shards", type=int, default=None,
                     help="shards for a {shard} pattern (default: %d, fewer if the corpus is small)"
                          % DEFAULT_PATTERN_SHARDS)
    new.add_argument("--overwrite", action="store_true", help="redo shards that are already complete")
    new.add_argument("--block_tokens", type=int, default=DEFAULT_BLOCK_TOKENS,
                     help="documents are processed and shuffled in blocks of about this many tokens "
                          "(default: %d); changes the output" % DEFAULT_BLOCK_TOKENS)
    new.add_argument("--work_dir", default=None,
                     help="where the tokenized corpus is kept between runs (default: "
                          ".albert_pretraining_work next to the output); removed when the job completes")
    new.add_argument("--keep_work_dir", action="store_true", help="keep the tokenized corpus after the job")
    new.add_argument("--summary_file", default=None,
                     help="JSON summary path (default: the output name with .summary.json)")
    new.add_argument("--progress", type=str_to_bool, nargs="?", const=True, default=None,
                     help="show progress bars (default: only on a terminal)")
    new.add_argument("--input_encoding", default="utf-8",
                     help="encoding of the input files: utf-8 or one that writes a newline as the byte "
                          "0x0A (latin-1, cp1252, iso-8859-*, gb18030, shift_jis, euc-*, ...). UTF-8 is "
                          "read leniently (invalid bytes become U+FFFD, with a warning); any other "
                          "encoding strictly, as albert-prepare-corpus does: a line that does not decode "
                          "stops the job, naming the file and line. UTF-16 and UTF-32 are refused: "
                          "convert them with albert-prepare-corpus --input_encoding utf-16, which writes "
                          "UTF-8")
    new.add_argument("--runner", default=None,
                     help="run as an Apache Beam pipeline on this runner (DirectRunner, DataflowRunner, "
                          "FlinkRunner, SparkRunner, ...); other unknown flags go to Beam's "
                          "PipelineOptions. Needs the 'beam' extra.")
    return show_defaults(parser, (
        "albert-create-pretraining-data --input_file corpus.txt \\\n    "
        "--output_file 'records/train-{shard}.tfrecord' --spm_model_file spm.model \\\n    "
        "--max_seq_length 128 --dupe_factor 10"))

def config_from_args(args: argparse.Namespace):
    """The :class:`~data_prep.pretraining.PretrainingDataConfig` of parsed flags."""
    from data_prep.pretraining import PretrainingDataConfig

    return PretrainingDataConfig(
        input_file=args.input_file,
        output_file=args.output_file,
        spm_model_file=args.spm_model_file,
        vocab_file=args.vocab_file,
        do_lower_case=args.do_lower_case,
        do_whole_word_mask=args.do_whole_word_mask,
        do_permutation=args.do_permutation,
        favor_shorter_ngram=args.favor_shorter_ngram,
        random_next_sentence=args.random_next_sentence,
        max_seq_length=args.max_seq_length,
        ngram=args.ngram,
        max_predictions_per_seq=args.max_predictions_per_seq,
        random_seed=args.random_seed,
        dupe_factor=args.dupe_factor,
        masked_lm_prob=args.masked_lm_prob,
        short_seq_prob=args.short_seq_prob,
        num_workers=args.num_workers,
        num_output_shards=args.num_output_shards,
        overwrite=args.overwrite,
        block_tokens=args.block_tokens,
        work_dir=args.work_dir,
        keep_work_dir=args.keep_work_dir,
        summary_file=args.summary_file,
        progress=args.progress,
        input_encoding=args.input_encoding,
    )

@cli_entry_point("albert-create-pretraining-data")
def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not args.runner:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    from data_prep.pretraining import PretrainingDataError

    config = config_from_args(args)
    try:
        if args.runner:
            from data_prep.pretraining_beam import run_beam

            summary = run_beam(config, ["--runner", args.runner] + extra)
        else:
            from data_prep.pretraining import create_pretraining_data

            summary = create_pretraining_data(config)
    except (PretrainingDataError, FileNotFoundError, IsADirectoryError) as err:
        print(f"albert-create-pretraining-data: error: {err}", file=sys.stderr)
        return 2
    totals = summary.get("totals", {})
    print(
        f"{totals.get('instances', 0)} instances, mask rate {totals.get('mask_rate', 0):.4f}, "
        f"label-1 share {totals.get('label_1_share', 0):.3f}; summary in "
        f"{config.summary_file or _summary_path(config)}"
    )
    return 0

def _summary_path(config) -> str:
    from data_prep.pretraining import default_summary_path

    return default_summary_path(config.output_file)

if __name__ == "__main__":
    sys.exit(main())
