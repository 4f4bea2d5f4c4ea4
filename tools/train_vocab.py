"""``albert-train-vocab``: the README's ``spm_train`` recipe as one command.

Flags keep ``spm_train``'s names and the recipe's values as defaults, so::

    albert-train-vocab --input=all.txt --model_prefix=30k-clean --vocab_size=30000

trains what the original README trained (see :mod:`data_prep.vocab`), and
``--do_lower_case`` additionally lowercases the text first.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from .flags import cli_entry_point, show_defaults, str_to_bool





def _symbols(value: str) -> List[str]:
    # Plain comma split: '"' is a symbol here, not a CSV quote.
    return [s for s in value.split(",") if s]


def build_parser() -> argparse.ArgumentParser:
    from data_prep import vocab

    defaults = vocab.ORIGINAL_TRAINER_OPTIONS
    p = argparse.ArgumentParser(
        prog="albert-train-vocab",
        description="Train an ALBERT SentencePiece vocabulary with the original release's settings.",
    )
    flag = p.add_argument
    flag("--input", required=True, help="comma-separated text files or globs, one sentence per line")
    flag("--model_prefix", required=True, help="writes PREFIX.model and PREFIX.vocab")
    flag("--vocab_size", type=int, default=30000)
    flag("--do_lower_case", type=str_to_bool, nargs="?", const=True, default=False,
         help="lowercase the text before training (after accent stripping)")
    flag("--preprocess", type=str_to_bool, nargs="?", const=True, default=True,
         help="apply the original preprocess_text (whitespace collapse, accent stripping) to each "
              "line, as the tokenizer will; false feeds raw lines like the README")
    flag("--model_type", default=defaults["model_type"], choices=["unigram", "bpe", "char", "word"])
    flag("--character_coverage", type=float, default=defaults["character_coverage"])
    flag("--input_sentence_size", type=int, default=defaults["input_sentence_size"],
         help="sample at most this many sentences (0: all)")
    flag("--shuffle_input_sentence", type=str_to_bool, nargs="?", const=True,
         default=defaults["shuffle_input_sentence"])
    flag("--max_sentence_length", type=int, default=vocab.DEFAULT_MAX_SENTENCE_LENGTH,
         help="sentences longer than this many UTF-8 bytes are left out")
    flag("--input_encoding", default="utf-8",
         help="encoding of the input files: any Python codec (latin-1, cp1252, utf-16, ...). UTF-8 is "
              "read leniently (invalid bytes become U+FFFD and are counted); any other encoding "
              "strictly, as albert-prepare-corpus does: a line that does not decode stops the job, "
              "naming the file and line")
    flag("--pad_id", type=int, default=defaults["pad_id"])
    flag("--unk_id", type=int, default=defaults["unk_id"])
    flag("--bos_id", type=int, default=defaults["bos_id"])
    flag("--eos_id", type=int, default=defaults["eos_id"])
    flag("--control_symbols", type=_symbols, default=list(vocab.ORIGINAL_CONTROL_SYMBOLS))
    flag("--user_defined_symbols", type=_symbols, default=list(vocab.ORIGINAL_USER_DEFINED_SYMBOLS))
    flag("--num_threads", type=int, default=None, help="trainer threads (default: cores, at most 16)")
    flag("--random_seed", type=int, default=12345,
         help="seed of the sentence sampling (the original was unseeded); negative: unseeded")
    flag("--quiet", action="store_true", help="no progress bar and no summary")
    flag("--verbose", action="store_true", help="show SentencePiece's own training log")
    return show_defaults(p, (
        'albert-train-vocab --input corpus.txt --model_prefix spm --vocab_size 30000 \\\n    '
        '--do_lower_case true'))


@cli_entry_point("albert-train-vocab")
def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    from data_prep.vocab import train_vocab

    try:
        summary = train_vocab(
            args.input,
            args.model_prefix,
            args.vocab_size,
            do_lower_case=args.do_lower_case,
            preprocess=args.preprocess,
            max_sentence_length=args.max_sentence_length,
            progress=not args.quiet,
            input_encoding=args.input_encoding,
            model_type=args.model_type,
            character_coverage=args.character_coverage,
            input_sentence_size=args.input_sentence_size,
            shuffle_input_sentence=args.shuffle_input_sentence,
            pad_id=args.pad_id,
            unk_id=args.unk_id,
            bos_id=args.bos_id,
            eos_id=args.eos_id,
            control_symbols=args.control_symbols,
            user_defined_symbols=args.user_defined_symbols,
            num_threads=args.num_threads,
            random_seed=None if args.random_seed < 0 else args.random_seed,
            verbose=args.verbose,
        )
    except (FileNotFoundError, ValueError) as err:
        print(f"albert-train-vocab: error: {err}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(summary.format())
    return 0


if __name__ == "__main__":
    sys.exit(main())
