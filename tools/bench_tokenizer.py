"""Lines per second of the Python and the in-graph ALBERT tokenizer, batch 1 and 256.

Both paths go from raw text to packed ``input_ids``/``input_mask``/
``segment_ids``; the script also checks that they produce identical ids on the
benchmark lines. An extra row, "op search", times the in-graph path with
``exact_segmentation=False`` (tensorflow-text's own SentencePiece search) and
counts the lines where that one disagrees with Python. Text comes from ``../shared/data`` (``*.txt``, ``*.tokens``)
when present, generated text otherwise; without ``--spm_model_file`` a
vocabulary is trained on that text first (not timed)::

    python tools/bench_tokenizer.py --data_dir ../shared/data --num_lines 10000
"""

from __future__ import annotations

import argparse
import os
import random
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


def run(lines: List[str], proto: bytes, sequence_length: int, batch_one_lines: int):
    """Timings as (path, batch, lines, seconds) rows, and the number of lines whose ids differ."""
    import tensorflow as tf

    from albert_tf.text import AlbertPreprocessor, AlbertTokenizer

    tokenizer = AlbertTokenizer.from_proto(proto)
    preprocessor = AlbertPreprocessor.from_tokenizer(tokenizer, sequence_length=sequence_length)
    packed = tf.function(lambda texts: preprocessor(texts))
    few = lines[:batch_one_lines]
    rows = []

    start = time.perf_counter()
    for line in few:
        tokenizer.encode(line, max_seq_length=sequence_length)
    rows.append(("python", 1, len(few), time.perf_counter() - start))

    start = time.perf_counter()
    python_ids = []
    for i in range(0, len(lines), 256):
        python_ids += [f["input_ids"] for f in
                       tokenizer.encode_batch(lines[i:i + 256], max_seq_length=sequence_length)]
    rows.append(("python", 256, len(lines), time.perf_counter() - start))

    packed(tf.constant(lines[:1]))  # trace both shapes outside the timing
    packed(tf.constant(lines[:256]))
    start = time.perf_counter()
    for line in few:
        packed(tf.constant([line]))["input_ids"].numpy()
    rows.append(("in-graph", 1, len(few), time.perf_counter() - start))

    start = time.perf_counter()
    graph_ids = []
    for i in range(0, len(lines), 256):
        graph_ids += packed(tf.constant(lines[i:i + 256]))["input_ids"].numpy().tolist()
    rows.append(("in-graph", 256, len(lines), time.perf_counter() - start))

    # For comparison: the tensorflow-text op's own search (may differ on ties).
    fast = AlbertPreprocessor.from_tokenizer(
        tokenizer, sequence_length=sequence_length, exact_segmentation=False)
    fast_packed = tf.function(lambda texts: fast(texts))
    fast_packed(tf.constant(lines[:256]))
    start = time.perf_counter()
    fast_ids = []
    for i in range(0, len(lines), 256):
        fast_ids += fast_packed(tf.constant(lines[i:i + 256]))["input_ids"].numpy().tolist()
    rows.append(("op search", 256, len(lines), time.perf_counter() - start))

    mismatches = sum(a != b for a, b in zip(python_ids, graph_ids))
    op_mismatches = sum(a != b for a, b in zip(python_ids, fast_ids))
    return rows, mismatches, op_mismatches


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", default=_DEFAULT_DATA)
    parser.add_argument("--spm_model_file", default=None,
                        help="SentencePiece model; by default one is trained on the benchmark text")
    parser.add_argument("--vocab_size", type=int, default=8000, help="for the trained vocabulary")
    parser.add_argument("--num_lines", type=int, default=10000)
    parser.add_argument("--batch_one_lines", type=int, default=1000,
                        help="lines timed one at a time (the first ones of the set)")
    parser.add_argument("--sequence_length", type=int, default=128)
    args = parser.parse_args(argv)

    lines, source = benchmark_lines(os.path.normpath(args.data_dir), args.num_lines)
    proto = vocabulary_proto(args.spm_model_file, lines, args.vocab_size,
                             f"a {args.vocab_size}-piece vocabulary on the benchmark text")
    model = args.spm_model_file or f"trained on the benchmark text, {args.vocab_size} pieces"

    rows, mismatches, op_mismatches = run(
        lines, proto, args.sequence_length, min(args.batch_one_lines, len(lines)))
    mean_chars = sum(len(line) for line in lines) / len(lines)
    print(f"text:  {source}, {mean_chars:.0f} characters per line on average")
    print(f"model: {model}; sequence length {args.sequence_length}; "
          f"{os.cpu_count()} CPU cores visible")
    print(f"{'path':<10}{'batch':>6}{'lines':>8}{'seconds':>10}{'lines/s':>12}")
    for path, batch, count, seconds in rows:
        print(f"{path:<10}{batch:>6}{count:>8}{seconds:>10.2f}{_rate(count, seconds):>12}")
    print(f"in-graph input_ids identical to Python on all {len(lines)} lines: "
          f"{'yes' if not mismatches else f'NO ({mismatches} differ)'}")
    print(f"'op search' (exact_segmentation=False) differs from Python on {op_mismatches} lines")
    return 0 if not mismatches else 1


if __name__ == "__main__":
    sys.exit(main())
