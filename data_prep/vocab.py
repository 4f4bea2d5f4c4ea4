"""Training the ALBERT SentencePiece vocabulary (the README's ``spm_train`` recipe).

The original release trained ``30k-clean.model`` with::

    spm_train --input all.txt --model_prefix=30k-clean --vocab_size=30000
      --pad_id=0 --unk_id=1 --eos_id=-1 --bos_id=-1
      --control_symbols=[CLS],[SEP],[MASK]
      --user_defined_symbols="(,),\\",-,.,–,£,€"
      --shuffle_input_sentence=true --input_sentence_size=10000000
      --character_coverage=0.99995 --model_type=unigram

:func:`train_vocab` applies the same trainer settings. Additions: input lines
are streamed through the original ``preprocess_text`` (whitespace collapse and
accent stripping always, lowercasing when asked) so the vocabulary sees text as
the tokenizer will; several files and globs; invalid UTF-8 decoded with
replacement and counted; other input encodings (``input_encoding``: latin-1,
cp1252, utf-16, ...) read strictly, a line that does not decode being an error
naming its file and line, as ``albert-prepare-corpus`` does; a fixed random
seed (the original was unseeded); progress, a summary, and atomic output files.

Memory is bounded whatever the corpus size: lines are read one at a time and
SentencePiece keeps a uniform reservoir sample of at most
``input_sentence_size`` sentences of at most ``max_sentence_length`` bytes.
"""

from __future__ import annotations

import collections
import dataclasses
import glob
import io
import os
import sys
import time
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import sentencepiece as spm

from albert_tf.io import write_bytes_atomic
from albert_tf.text.tokenizer import Utf8DecodeCounter, load_sentencepiece, preprocess_text
from data_prep import fileio
from data_prep.corpus import check_encoding, holds_nul_bytes, iter_decoded_lines

#: ``--control_symbols`` of the README recipe: ids 2, 3, 4.
ORIGINAL_CONTROL_SYMBOLS = ("[CLS]", "[SEP]", "[MASK]")
#: ``--user_defined_symbols`` of the README recipe: ids 5 to 12.
ORIGINAL_USER_DEFINED_SYMBOLS = ("(", ")", '"', "-", ".", "\u2013", "\u00a3", "\u20ac")
#: The remaining trainer settings of the README recipe.
ORIGINAL_TRAINER_OPTIONS = {
    "model_type": "unigram",
    "pad_id": 0,
    "unk_id": 1,
    "bos_id": -1,
    "eos_id": -1,
    "character_coverage": 0.99995,
    "shuffle_input_sentence": True,
    "input_sentence_size": 10_000_000,
}
#: SentencePiece's own default; longer sentences are left out of training.
DEFAULT_MAX_SENTENCE_LENGTH = 4192


@dataclasses.dataclass
class VocabSummary:
    """What :func:`train_vocab` did; ``format()`` gives the printed summary."""

    model_file: str
    vocab_file: str
    vocab_size: int
    input_files: List[str]
    lines_read: int
    sentences: int
    training_sentences: int
    too_long_sentences: int
    characters: int
    distinct_characters: int
    character_coverage: float
    uncovered_characters: str
    invalid_utf8_lines: int
    seconds: float

    def format(self) -> str:
        coverage = f"{100 * self.character_coverage:.4f}%"
        lines = [
            f"vocabulary:          {self.vocab_size} pieces -> {self.model_file}, {self.vocab_file}",
            f"input:               {len(self.input_files)} file(s), {self.lines_read} lines, "
            f"{self.sentences} non-empty sentences, {self.characters} characters",
            f"trained on:          {self.training_sentences} sentences"
            + (" (sampled)" if self.training_sentences < self.sentences else ""),
            f"character coverage:  {coverage} of the corpus characters "
            f"({self.distinct_characters} distinct)",
        ]
        if self.uncovered_characters:
            lines.append(f"not covered (<unk>): {self.uncovered_characters!r}")
        if self.too_long_sentences:
            lines.append(
                f"left out:            {self.too_long_sentences} sentences longer than "
                "max_sentence_length bytes"
            )
        if self.invalid_utf8_lines:
            lines.append(
                f"invalid UTF-8:       {self.invalid_utf8_lines} lines decoded with U+FFFD"
            )
        lines.append(f"time:                {self.seconds:.1f} s")
        return "\n".join(lines)


def expand_input_patterns(spec: Union[str, Sequence[str]], refuse_binary: bool = True) -> List[str]:
    """Files named by a comma-separated list (or a list) of paths and globs.

    Raises ``FileNotFoundError`` naming the first pattern that matches no file. With
    ``refuse_binary`` a file holding a NUL byte near its start is refused, naming it (UTF-16 and
    UTF-32 text hold NUL bytes, so their readers turn the check off).
    """
    patterns = spec.split(",") if isinstance(spec, str) else list(spec)
    patterns = [p.strip() for p in patterns if p and p.strip()]
    if not patterns:
        raise ValueError("No input files given; expected a comma-separated list of paths or globs")
    files: List[str] = []
    for pattern in patterns:
        if "://" in pattern:
            import tensorflow as tf

            matches = sorted(tf.io.gfile.glob(pattern))
        else:
            matches = sorted(m for m in glob.glob(os.path.expanduser(pattern)) if os.path.isfile(m))
        if not matches:
            raise FileNotFoundError(f"Input pattern {pattern!r} matches no file")
        files.extend(m for m in matches if m not in files)
    for path in files if refuse_binary else ():
        fileio.refuse_binary(path, "--input")
    return files


def _open_binary(path: str):
    if "://" in path:
        import tensorflow as tf

        return tf.io.gfile.GFile(path, "rb")
    return open(path, "rb")


def _file_size(path: str) -> int:
    if "://" in path:
        import tensorflow as tf

        return tf.io.gfile.stat(path).length
    return os.path.getsize(path)


class _CorpusReader:
    """Streams training sentences and keeps the counts for the summary."""

    def __init__(self, files, do_lower_case, preprocess, max_sentence_length, progress, encoding="utf-8"):
        self.files = files
        self.encoding = encoding  # a codec name, as check_encoding gives
        self.do_lower_case = do_lower_case
        self.preprocess = preprocess
        self.max_sentence_length = max_sentence_length
        self.progress = progress
        self.decoder = Utf8DecodeCounter()
        self.lines = 0
        self.sentences = 0
        self.too_long = 0
        self.char_counts: collections.Counter = collections.Counter()
        self.finished = False
        # SentencePiece turns an exception raised inside its sentence iterator into a RuntimeError
        # with the text mangled; train_vocab re-raises the original from here.
        self.error: Optional[Exception] = None

    def _clean(self, line: str) -> str:
        if self.preprocess:
            return preprocess_text(line, lower=self.do_lower_case)
        line = line.strip()
        return line.lower() if self.do_lower_case else line

    def _decoded_lines(self, f, path: str) -> Iterator[Tuple[int, str]]:
        if self.encoding == "utf-8":
            for raw in f:
                yield len(raw), self.decoder.decode(raw, source=path)
        else:
            yield from iter_decoded_lines(f, self.encoding, path)

    def __iter__(self) -> Iterator[str]:
        from tqdm.auto import tqdm

        total = sum(_file_size(f) for f in self.files)
        bar = tqdm(
            total=total, unit="B", unit_scale=True, desc="reading corpus",
            disable=not self.progress, file=sys.stderr,
        )
        pending_bytes, chunk, chunk_chars = 0, [], 0
        try:
            for path in self.files:
                with _open_binary(path) as f:
                    for size, line in self._decoded_lines(f, path):
                        pending_bytes += size
                        self.lines += 1
                        sentence = self._clean(line)
                        if sentence:
                            if len(sentence.encode("utf-8")) > self.max_sentence_length:
                                self.too_long += 1
                            else:
                                self.sentences += 1
                                chunk.append(sentence)
                                chunk_chars += len(sentence)
                                yield sentence
                        # Counting characters a chunk at a time keeps it cheap.
                        if chunk_chars > 1 << 18:
                            self.char_counts.update("".join(chunk))
                            chunk, chunk_chars = [], 0
                        if pending_bytes > 1 << 20:
                            bar.update(pending_bytes)
                            pending_bytes = 0
            self.char_counts.update("".join(chunk))
            bar.update(pending_bytes)
            self.finished = True
        except ValueError as error:
            self.error = error
            raise
        finally:
            bar.close()


def _trainer_kwargs(options: dict, verbose: bool) -> dict:
    kwargs = dict(options)
    for key in ("control_symbols", "user_defined_symbols"):
        # A list is CSV-quoted by the wrapper, so '"' survives as a symbol
        # (a bare '"' in a comma string starts a CSV quote in spm's parser).
        kwargs[key] = list(kwargs.get(key) or [])
        if not kwargs[key]:
            del kwargs[key]
    kwargs["minloglevel"] = 0 if verbose else 2
    return kwargs


def train_sentencepiece(
    sentences: Iterable[str],
    vocab_size: int = 30000,
    *,
    control_symbols: Sequence[str] = ORIGINAL_CONTROL_SYMBOLS,
    user_defined_symbols: Sequence[str] = ORIGINAL_USER_DEFINED_SYMBOLS,
    max_sentence_length: int = DEFAULT_MAX_SENTENCE_LENGTH,
    num_threads: Optional[int] = None,
    random_seed: Optional[int] = 12345,
    verbose: bool = False,
    **options,
) -> bytes:
    """Trains with the original recipe's settings on an iterable of sentences.

    Returns the serialized model (the bytes of a ``.model`` file). ``options``
    override or extend :data:`ORIGINAL_TRAINER_OPTIONS` with any SentencePiece
    trainer flag.

    Example:

    >>> proto = train_sentencepiece(
    ...     [f"In {1900 + i}, the city had {i * 1234:,} people." for i in range(100)],
    ...     vocab_size=60)
    >>> from albert_tf.text import AlbertTokenizer
    >>> AlbertTokenizer.from_proto(proto).convert_ids_to_tokens(range(6))
    ['<pad>', '<unk>', '[CLS]', '[SEP]', '[MASK]', '(']
    """
    trainer_options = dict(ORIGINAL_TRAINER_OPTIONS)
    trainer_options.update(options)
    trainer_options.update(
        vocab_size=int(vocab_size),
        control_symbols=control_symbols,
        user_defined_symbols=user_defined_symbols,
        max_sentence_length=int(max_sentence_length),
        num_threads=int(num_threads or min(16, os.cpu_count() or 1)),
    )
    if random_seed is not None:
        spm.set_random_generator_seed(int(random_seed))
    writer = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=writer,
            **_trainer_kwargs(trainer_options, verbose),
        )
    except RuntimeError as err:
        raise ValueError(
            f"SentencePiece training failed with vocab_size={vocab_size}: {str(err).rstrip('.')}. A corpus "
            "too small for the vocabulary size is the usual cause: lower vocab_size or add text."
        ) from None
    return writer.getvalue()


def _atomic_write(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_bytes_atomic(path, data, fsync=True)


def vocab_file_text(sp: spm.SentencePieceProcessor) -> str:
    """The ``.vocab`` file ``spm_train`` writes: ``piece<TAB>score`` per line."""
    # C++ streams print floats like "%g", which is what spm_train produces.
    return "".join(
        f"{sp.IdToPiece(i)}\t{sp.GetScore(i):g}\n" for i in range(sp.GetPieceSize())
    )


def _coverage(sp: spm.SentencePieceProcessor, counts: collections.Counter):
    unk = sp.unk_id()
    total = sum(counts.values())
    uncovered = {c: n for c, n in counts.items() if unk in sp.EncodeAsIds(c)}
    covered = total - sum(uncovered.values())
    ranked = "".join(sorted(uncovered, key=lambda c: (-uncovered[c], c))[:50])
    return (covered / total if total else 1.0), ranked


def _sampled(sentences: int, trainer_options: dict) -> int:
    limit = int(trainer_options.get("input_sentence_size", ORIGINAL_TRAINER_OPTIONS["input_sentence_size"]))
    return min(sentences, limit) if limit > 0 else sentences


def train_vocab(
    input_files: Union[str, Sequence[str]],
    model_prefix: str,
    vocab_size: int = 30000,
    *,
    do_lower_case: bool = False,
    preprocess: bool = True,
    max_sentence_length: int = DEFAULT_MAX_SENTENCE_LENGTH,
    progress: bool = True,
    log: Optional[Callable[[str], None]] = None,
    input_encoding: str = "utf-8",
    **trainer_options,
) -> VocabSummary:
    """Trains ``{model_prefix}.model`` and ``{model_prefix}.vocab`` from text files.

    Args:
        input_files: comma-separated paths/globs, or a list of them; one
            sentence per line.
        model_prefix: output path without extension.
        vocab_size: number of pieces (30000 as the original).
        do_lower_case: lowercase the text (after accent stripping).
        preprocess: run the original ``preprocess_text`` on each line
            (whitespace collapse, accent stripping); False feeds lines as they
            are (only stripped), like the README's raw ``spm_train`` call.
        max_sentence_length: longer sentences (UTF-8 bytes) are left out.
        progress: show a progress bar and log messages on stderr.
        log: where messages go (default: stderr when ``progress``).
        input_encoding: encoding of the input files, any Python text codec
            (latin-1, cp1252, utf-16, ...). UTF-8 is read leniently (invalid
            bytes become U+FFFD and are counted); any other encoding strictly:
            a line that does not decode raises ``CorpusError`` (a
            ``ValueError``) naming the file and line.
        trainer_options: any SentencePiece trainer flag, e.g.
            ``input_sentence_size``, ``character_coverage``, ``num_threads``,
            ``random_seed``, ``control_symbols``, ``user_defined_symbols``.

    Returns:
        A :class:`VocabSummary`. Invalid UTF-8 lines are counted and reported
        with one :class:`~albert_tf.text.tokenizer.InvalidUtf8Warning`.

    Example:

    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with open(os.path.join(folder, "a.txt"), "w") as f:
    ...     _ = f.writelines(f"In {1900 + i}, the city had {i * 1234:,} people.\\n"
    ...                      for i in range(100))
    >>> summary = train_vocab(os.path.join(folder, "*.txt"), os.path.join(folder, "toy"),
    ...                       vocab_size=60, do_lower_case=True, progress=False)
    >>> summary.vocab_size, summary.sentences, sorted(os.listdir(folder))
    (60, 100, ['a.txt', 'toy.model', 'toy.vocab'])
    """
    started = time.monotonic()
    if log is None:
        log = (lambda message: print(message, file=sys.stderr)) if progress else (lambda _: None)
    encoding = check_encoding(input_encoding)
    files = expand_input_patterns(input_files, refuse_binary=not holds_nul_bytes(encoding))
    reader = _CorpusReader(files, do_lower_case, preprocess, max_sentence_length, progress, encoding)

    def sentences():
        yield from reader
        log(
            f"read {reader.sentences} sentences from {len(files)} file(s); training a "
            f"{trainer_options.get('model_type', 'unigram')} model with {vocab_size} pieces..."
        )

    peek = iter(sentences())
    try:
        first = next(peek)
    except StopIteration:
        raise ValueError(
            f"No non-empty lines in {', '.join(files)}; expected text with one sentence per line"
        ) from None

    def chained():
        yield first
        yield from peek

    try:
        proto = train_sentencepiece(
            chained(), vocab_size, max_sentence_length=max_sentence_length, **trainer_options
        )
    except ValueError:
        if reader.error is not None:
            raise reader.error from None
        raise
    reader.decoder.warn("lines", stacklevel=2)
    sp = load_sentencepiece(proto, f"trained model for {model_prefix}")
    model_file, vocab_file = model_prefix + ".model", model_prefix + ".vocab"
    _atomic_write(model_file, proto)
    _atomic_write(vocab_file, vocab_file_text(sp).encode("utf-8"))
    coverage, uncovered = _coverage(sp, reader.char_counts)
    summary = VocabSummary(
        model_file=model_file,
        vocab_file=vocab_file,
        vocab_size=sp.GetPieceSize(),
        input_files=files,
        lines_read=reader.lines,
        sentences=reader.sentences,
        training_sentences=_sampled(reader.sentences, trainer_options),
        too_long_sentences=reader.too_long,
        characters=sum(reader.char_counts.values()),
        distinct_characters=len(reader.char_counts),
        character_coverage=coverage,
        uncovered_characters=uncovered,
        invalid_utf8_lines=reader.decoder.bad_texts,
        seconds=time.monotonic() - started,
    )
    return summary
