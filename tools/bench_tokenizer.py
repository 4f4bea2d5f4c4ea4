"""Lines per second of the Python and the in-graph ALBERT tokenizers, batch 1 and 32, one run, same lines.

Every path goes from raw text to packed ``input_ids``/``input_mask``/``segment_ids``:

* ``python``: :class:`AlbertTokenizer` (SentencePiece's C++ search, called from Python);
* ``exact``: :class:`AlbertPreprocessor` as built by default: tensorflow-text's fast kernel on a
  rewritten model, the in-graph exact search only for the rows it may get wrong
  (``albert_tf/text/in_graph/fast_exact.py``);
* ``old exact``: the whole search in the graph (``UnigramSegmenter``), the default before;
* ``op search``: ``exact_segmentation=False`` (tensorflow-text's ``SentencepieceTokenizer`` search,
  which may pick another of two tied segmentations).

The script checks that both exact paths give Python's ids on every line, counts the lines where
``op search`` does not, and says whether the targets are met: exact at least Python's lines/s at
batch 32 and at least 10x the old exact at batch 1. Text comes from ``../shared/data`` (``*.txt``,
``*.tokens``) when present, generated text otherwise; without ``--spm_model_file`` a vocabulary
is trained on that text first (not timed).

example:
  python -m tools.bench_tokenizer --data_dir ../shared/data --num_lines 2048 --batch_one_lines 256 \\
      --note "shared machine, load average 9"
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from typing import List, Optional, Tuple

_DEFAULT_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
_TEXT_SUFFIXES = (".txt", ".tokens", ".raw")


def load_lines(data_dir: str, num_lines: int) -> List[str]:
    """Non-empty lines spread over every text file under ``data_dir``."""
    from albert_tf.text import Utf8DecodeCounter, iter_text_lines

    files = sorted(
        os.path.join(root, name)
        for root, _, names in os.walk(data_dir)
        for name in names
        if name.endswith(_TEXT_SUFFIXES) and not name.upper().startswith(("LICENSE", "README"))
    )
    files = [path for path in files if _is_prose(path)]
    if not files:
        return []
    per_file = max(1, num_lines // len(files))
    counter = Utf8DecodeCounter()
    lines: List[str] = []
    for path in files:
        taken = 0
        for line in iter_text_lines(path, counter):
            if line.strip():
                lines.append(line)
                taken += 1
                if taken >= per_file:
                    break
    counter.warn("lines")
    # Mixed sources in every slice, so the batch-1 subset looks like the whole.
    random.Random(0).shuffle(lines)
    return lines[:num_lines]


def _is_prose(path: str) -> bool:
    # RACE ships JSON in .txt files; those are not lines of text.
    with open(path, "rb") as f:
        head = f.read(2048).lstrip()
    return bool(head) and not head.startswith((b"{", b"["))


def generated_lines(num_lines: int, seed: int = 0) -> List[str]:
    rng = random.Random(seed)
    words = ("the of and to in a is was for on that with as by at from it an were are which this be or has "
             "had not but also first one Café naïve “quoted” Σίσυφος 中文 😀").split()
    lines = []
    for _ in range(num_lines):
        parts = [rng.choice(words) if rng.random() < 0.85 else f"{rng.randint(0, 10 ** 7):,}"
                 for _ in range(rng.randint(5, 40))]
        lines.append(" ".join(parts))
    return lines


def benchmark_lines(data_dir: str, num_lines: int) -> Tuple[List[str], str]:
    """``(lines, source)``: ``load_lines`` of ``data_dir`` or, where it holds none, ``generated_lines``;
    ``source`` says which, for the report."""
    lines = load_lines(data_dir, num_lines) if os.path.isdir(data_dir) else []
    if lines:
        return lines, f"{len(lines)} lines from {data_dir}"
    lines = generated_lines(num_lines)
    return lines, f"{len(lines)} generated lines ({data_dir} not found)"


def vocabulary_proto(spm_model_file: Optional[str], training_lines, vocab_size: int, what: str) -> bytes:
    """The serialized SentencePiece model of ``spm_model_file``, or one trained (not timed) on
    ``training_lines`` with at most ``vocab_size`` pieces; ``what`` names it in the progress line."""
    if spm_model_file:
        with open(spm_model_file, "rb") as f:
            return f.read()
    from albert_tf.text import preprocess_text
    from data_prep.vocab import train_sentencepiece

    print(f"training {what} ...", file=sys.stderr)
    return train_sentencepiece((preprocess_text(line, lower=True) for line in training_lines),
                               vocab_size=vocab_size, hard_vocab_limit=False)


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}"


PATHS = ("python", "exact", "old exact", "op search")
BATCHES = (1, 32)


def run(lines: List[str], proto: bytes, sequence_length: int, batch_one_lines: int):
    """Timings as (path, batch, lines, seconds, median ms a call) rows, in :data:`PATHS` order, and per path the
    number of lines whose ``input_ids`` differ from Python's.

    The paths take turns batch by batch, so that a load that comes and goes on a shared machine
    falls on all of them alike."""
    import tensorflow as tf

    from albert_tf.text import AlbertPreprocessor, AlbertTokenizer
    from albert_tf.text.in_graph.pipeline import pipeline_for

    tokenizer = AlbertTokenizer.from_proto(proto)
    exact = AlbertPreprocessor.from_tokenizer(tokenizer, sequence_length=sequence_length)
    op_search = AlbertPreprocessor.from_tokenizer(
        tokenizer, sequence_length=sequence_length, exact_segmentation=False)
    whole_search = pipeline_for(tokenizer.proto, "benchmark model", tokenizer.do_lower_case,
                                tokenizer.keep_spurious_underline, True, fast_exact=False)

    def python(batch):
        return [f["input_ids"] for f in tokenizer.encode_batch(batch, max_seq_length=sequence_length)]

    def graph(fn):
        # A concrete function, as a SavedModel signature calls it: a plain tf.function around a
        # Keras layer adds ~0.3 ms of Python dispatch to every call, a third of a batch-1 call.
        compiled = tf.function(fn, input_signature=[tf.TensorSpec([None], tf.string)]).get_concrete_function()
        return lambda batch: compiled(tf.constant(batch))["input_ids"].numpy().tolist()

    encoders = {
        "python": python,
        "exact": graph(exact),
        "old exact": graph(lambda texts: exact.pack((whole_search.ids_fn(texts),))),
        "op search": graph(op_search),
    }
    rows, ids = [], {path: [] for path in PATHS}
    for batch_size in BATCHES:
        subset = lines[:batch_one_lines] if batch_size == 1 else lines
        batches = [subset[i:i + batch_size] for i in range(0, len(subset), batch_size)]
        for encode in encoders.values():  # trace every shape outside the timing
            encode(batches[0])
            encode(batches[-1])
        calls = {path: [] for path in PATHS}
        for batch in batches:
            for path, encode in encoders.items():
                start = time.perf_counter()
                out = encode(batch)
                calls[path].append(time.perf_counter() - start)
                if batch_size == 32:
                    ids[path] += out
        rows += [(path, batch_size, len(subset), sum(calls[path]), 1000 * statistics.median(calls[path]))
                 for path in PATHS]
    mismatches = {path: sum(a != b for a, b in zip(ids["python"], ids[path])) for path in PATHS[1:]}
    return rows, mismatches


def targets(rows) -> List[Tuple[str, bool]]:
    """The issue's targets as (description, met) from ``run``'s rows."""
    rate = {(path, batch): count / seconds for path, batch, count, seconds, _ in rows}
    return [
        (f"exact >= python at batch 32 ({rate['exact', 32]:,.0f} vs {rate['python', 32]:,.0f} lines/s)",
         rate["exact", 32] >= rate["python", 32]),
        (f"exact >= 10x old exact at batch 1 ({rate['exact', 1]:,.0f} vs 10 x {rate['old exact', 1]:,.0f} "
         "lines/s)", rate["exact", 1] >= 10 * rate["old exact", 1]),
    ]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="example:\n" + __doc__.split("example:\n")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", default=_DEFAULT_DATA, help="text files to read lines from (default: %(default)s)")
    parser.add_argument("--spm_model_file", default=None,
                        help="SentencePiece model; by default one is trained on the benchmark text")
    parser.add_argument("--vocab_size", type=int, default=8000,
                        help="for the trained vocabulary (default: %(default)s)")
    parser.add_argument("--num_lines", type=int, default=2048, help="lines timed at batch 32 (default: %(default)s)")
    parser.add_argument("--batch_one_lines", type=int, default=256,
                        help="lines timed one at a time, the first ones of the set (default: %(default)s)")
    parser.add_argument("--sequence_length", type=int, default=128, help="packed length (default: %(default)s)")
    parser.add_argument("--note", default="",
                        help='a line printed with the results, e.g. "shared machine, load average 9" (default: none)')
    args = parser.parse_args(argv)

    from tools.bench_finetune import cpu_vector_extensions

    lines, source = benchmark_lines(os.path.normpath(args.data_dir), args.num_lines)
    proto = vocabulary_proto(args.spm_model_file, lines, args.vocab_size,
                             f"a {args.vocab_size}-piece vocabulary on the benchmark text")
    model = args.spm_model_file or f"trained on the benchmark text, {args.vocab_size} pieces"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    rows, mismatches = run(lines, proto, args.sequence_length, min(args.batch_one_lines, len(lines)))
    mean_chars = sum(len(line) for line in lines) / len(lines)
    print(f"text:  {source}, {mean_chars:.0f} characters per line on average")
    print(f"model: {model}; sequence length {args.sequence_length}")
    print(f"CPU:   {os.cpu_count()} cores visible; vector extensions: {cpu_vector_extensions()}; "
          f"load average {load:.2f} at start, {os.getloadavg()[0]:.2f} at the end")
    if args.note:
        print(f"note:  {args.note}")
    print(f"{'path':<11}{'batch':>6}{'lines':>8}{'seconds':>10}{'lines/s':>12}{'median ms/call':>16}")
    for path, batch, count, seconds, median in rows:
        print(f"{path:<11}{batch:>6}{count:>8}{seconds:>10.2f}{_rate(count, seconds):>12}{median:>16.3f}")
    for path in ("exact", "old exact"):
        print(f"{path} input_ids identical to Python on all {len(lines)} lines: "
              f"{'yes' if not mismatches[path] else f'NO ({mismatches[path]} differ)'}")
    print(f"'op search' (exact_segmentation=False) differs from Python on {mismatches['op search']} lines")
    for description, met in targets(rows):
        print(f"target: {description}: {'met' if met else 'NOT met'}")
    # Load that comes and goes stretches some calls many times over; the median call shows the rest.
    median = {(path, batch): ms for path, batch, _, _, ms in rows}
    print(f"(not a target) median call, old exact / exact at batch 1: "
          f"{median['old exact', 1] / median['exact', 1]:.1f}x; python / exact at batch 32: "
          f"{median['python', 32] / median['exact', 32]:.2f}x")
    return 0 if not (mismatches["exact"] or mismatches["old exact"]) else 1


if __name__ == "__main__":
    sys.exit(main())
