"""``albert-prepare-corpus``: raw text → one sentence per line, a blank line between documents.

That is the input format of ``albert-create-pretraining-data`` (and of the original script)::

    albert-prepare-corpus --input wiki.train.tokens --format wikitext --output wiki.txt
    albert-prepare-corpus --input books/ --format wrapped --output books.txt

Sentences are split with NLTK's Punkt, trained on the input itself (no download); the work is in
:mod:`data_prep.corpus`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import List, Optional

from .flags import cli_entry_point, show_defaults


def build_parser() -> argparse.ArgumentParser:
    from data_prep.corpus import DEFAULT_ABBREVIATIONS, DEFAULT_TRAIN_CHARS

    parser = argparse.ArgumentParser(
        prog="albert-prepare-corpus",
        description=__doc__.split("\n\n")[0].split(": ", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="formats:\n"
               "  lines     one paragraph per line; a blank line or the end of a file ends a document\n"
               "  wikitext  ' = Title = ' starts a document, deeper headings are dropped, @-@ @,@ @.@ joined\n"
               "  wrapped   hard-wrapped text (Gutenberg); paragraphs end at blank lines, one document per file",
    )
    parser.add_argument("--input", required=True, action="append",
                        help="files, globs or folders (every .txt below); comma lists and repeats allowed")
    parser.add_argument("--output", required=True, help="the sentence-per-line file to write")
    parser.add_argument("--format", default="lines", choices=["lines", "wikitext", "wrapped"])
    parser.add_argument("--num_workers", type=int, default=1, help="processes for sentence splitting")
    parser.add_argument("--train_chars", type=int, default=DEFAULT_TRAIN_CHARS,
                        help="characters of the input Punkt learns from (default: %(default)s)")
    parser.add_argument("--abbreviations", default=",".join(DEFAULT_ABBREVIATIONS),
                        help="comma list added to the learned abbreviations ('' for none)")
    parser.add_argument("--min_sentences", type=int, default=1,
                        help="drop documents with fewer sentences (default: 1, keep all)")
    parser.add_argument("--input_encoding", default="utf-8",
                        help="encoding of the input files (latin-1, cp1252, utf-16, ...); the output is UTF-8")
    parser.add_argument("--progress", action="store_true", help="show a progress bar")
    return show_defaults(parser, (
        "albert-prepare-corpus --input 'books/*.txt' --format wrapped --output corpus.txt"))


@cli_entry_point("albert-prepare-corpus")
def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from data_prep.corpus import CorpusError, prepare_corpus

    try:
        report = prepare_corpus(
            args.input, args.output, fmt=args.format, num_workers=args.num_workers,
            train_chars=args.train_chars, min_sentences=args.min_sentences,
            abbreviations=[a for a in args.abbreviations.split(",") if a.strip()],
            progress=True if args.progress else None, input_encoding=args.input_encoding,
        )
    except CorpusError as err:
        print(f"albert-prepare-corpus: error: {err}", file=sys.stderr)
        return 2
    print(f"{args.output}: {report.documents} documents, {report.sentences} sentences from {report.files} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
