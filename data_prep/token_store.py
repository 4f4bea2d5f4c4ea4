"""Pass 1 of pretraining-data creation: tokenize the corpus once into a memory-mapped store.

The original kept every tokenized document of the corpus in a Python list so that any instance
could draw its B segment from a random other document. Here the corpus is tokenized once, in
parallel chunks, into a flat id file plus two offset arrays on disk:

* ``tokens.bin``: the ids of every kept sentence, in input order (``uint16`` when the vocabulary
  fits, else ``int32``);
* ``sentence_offsets.npy``: token offset of every sentence (``n_sentences + 1`` entries);
* ``document_offsets.npy``: first sentence of every document (``n_documents + 1`` entries).

A document is then two array slices away, whoever asks for it, and the memory a worker uses is
what the OS pages in, not the corpus. Input format (the original's): one sentence per line, a line
that is empty after ``preprocess_text`` ends a document; lines that tokenize to nothing are dropped;
empty documents vanish. Unlike the original, the end of an input file also ends a document (the
original let the last document of one file run on into the next file).

Files are cut into byte ranges ("chunks"); a chunk owns the lines that *start* inside its range, so
chunks can be read independently and the store does not depend on how the corpus was cut. The
cut is on ``\n`` bytes, so the corpus must be UTF-8 or another encoding that writes a newline as the
byte 0x0A (latin-1, cp1252, gb18030, ...); :func:`decode_lines` reads those strictly.
"""

from __future__ import annotations

import codecs
import dataclasses
import hashlib
import itertools
import json
import os
import re
import shutil
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from albert_tf.errors import UserInputError

STORE_FORMAT_VERSION = 1
_LONG_COMMA_PIECE = re.compile("[^\x00],\x00")
CHUNK_BYTES = 8 << 20  # the largest chunk; smaller ones spread small corpora over the workers
MIN_CHUNK_BYTES = 1 << 20
_META = "store.json"


@dataclasses.dataclass(frozen=True)
class Chunk:
    """Lines of ``path`` that start in the byte range ``[start, end)``.

    Example:

    >>> import io
    >>> read_chunk_lines(io.BytesIO(b"ab\\ncd\\nef\\n"), Chunk(0, 0, "mem", 1, 5))
    [b'cd']
    """

    index: int
    file_index: int
    path: str
    start: int
    end: int


def plan_chunks(paths: Sequence[str], sizes: Sequence[int], chunk_bytes: int = CHUNK_BYTES) -> List[Chunk]:
    """Cuts every file into ranges of about ``chunk_bytes`` (empty files give no chunk).

    Example:

    >>> [(c.path, c.start, c.end) for c in plan_chunks(["a", "b"], [10, 0], chunk_bytes=4)]
    [('a', 0, 4), ('a', 4, 8), ('a', 8, 10)]
    """
    chunks = []
    for file_index, (path, size) in enumerate(zip(paths, sizes)):
        for start in range(0, size, chunk_bytes):
            chunks.append(Chunk(len(chunks), file_index, path, start, min(size, start + chunk_bytes)))
    return chunks


def read_chunk_lines(fileobj, chunk: Chunk) -> List[bytes]:
    """The raw lines (without ``\\n``) that start in ``[chunk.start, chunk.end)``.

    ``fileobj`` is a seekable binary file. A chunk that starts mid-line leaves that line to the
    previous chunk; its last line is read to its end even past ``chunk.end``.
    """
    if chunk.start > 0:
        fileobj.seek(chunk.start - 1)
        # Skip the tail of the line that began in the previous chunk; if byte start-1 is "\n" this
        # consumes just that byte and the chunk's first line starts exactly at `start`.
        fileobj.readline()
    else:
        fileobj.seek(0)
    position = fileobj.tell()
    if position >= chunk.end:
        return []
    data = fileobj.read(chunk.end - position)
    if not data.endswith(b"\n"):
        data += fileobj.readline()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


@dataclasses.dataclass
class ChunkResult:
    """Pass-1 output for one chunk.

    ``line_lengths[i]`` is the token count of line i, -1 for a line that is empty after
    pre-processing (a document break). ``ids`` holds the tokens of all lines back to back.
    ``decode_error`` is ``(line index in the chunk, encoding, reason)`` when a line is not valid in a
    non-UTF-8 input encoding; the chunk then has no lines, and :meth:`StoreWriter.add` raises. (The
    worker cannot name the line: its number in the file depends on the chunks before.)

    Example:

    >>> ids, lengths = np.array([7, 8], np.uint16), np.array([2, -1], np.int32)
    >>> result = ChunkResult(Chunk(0, 0, "a.txt", 0, 9), ids, lengths, [], 0)
    >>> int(result.line_lengths[0])
    2
    """

    chunk: Chunk
    ids: np.ndarray
    line_lengths: np.ndarray
    invalid_utf8_lines: List[int]
    invalid_utf8_count: int
    decode_error: Optional[Tuple[int, str, str]] = None


class ChunkTokenizer:
    """Tokenizes chunks as the original did per line, but in batches.

    Each line goes through ``preprocess_text`` and ``encode_pieces`` of the original. SentencePiece
    runs once per chunk through its C++ batch API, straight to ids. The digit-comma rule of
    ``encode_pieces`` and out-of-vocabulary pieces need the piece text, so the few lines holding an
    id whose piece matches the rule, or the unknown id, are re-tokenized through the exact
    per-line path of :class:`albert_tf.text.tokenizer.AlbertTokenizer`. ``encoding`` is the input's
    (see :func:`decode_lines`).

    Example:

    >>> from albert_tf.text.tokenizer import AlbertTokenizer
    >>> chunker = ChunkTokenizer(AlbertTokenizer("30k-clean.model"))  # doctest: +SKIP
    >>> chunker.tokenize_lines(["Hello world.", "", "Bye."])[1].tolist()  # doctest: +SKIP
    [3, -1, 2]
    """

    def __init__(self, tokenizer, encoding: str = "utf-8"):
        self.tokenizer = tokenizer
        self.encoding = codecs.lookup(encoding).name
        self.sp = tokenizer.sp_model
        vocab_size = tokenizer.vocab_size
        needs_exact = np.zeros(vocab_size, dtype=bool)
        for piece_id in range(vocab_size):
            piece = self.sp.IdToPiece(piece_id)
            if len(piece) > 1 and piece[-1] == "," and piece[-2].isdigit():
                needs_exact[piece_id] = True
        self.digit_comma = needs_exact.copy()
        needs_exact[tokenizer.unk_id] = True
        self.needs_exact = needs_exact
        self.dtype = np.uint16 if vocab_size <= np.iinfo(np.uint16).max + 1 else np.int32

    def tokenize_lines(self, lines: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
        """``(ids, line_lengths)`` for decoded lines (see :class:`ChunkResult`)."""
        preprocess = self.tokenizer.preprocess
        texts = [preprocess(line) for line in lines]
        kept = [i for i, text in enumerate(texts) if text]
        kept_texts = [texts[i] for i in kept]
        encoded = self.sp.Encode(kept_texts, out_type=int, num_threads=1) if kept else []
        flat, counts = _flatten(encoded)
        hits = np.nonzero(self.needs_exact[flat])[0]
        if hits.size:
            ends = np.cumsum(counts)
            lines_hit = np.unique(np.searchsorted(ends, hits, side="right"))
            exact = self._lines_needing_exact_path(kept_texts, encoded, lines_hit)
            for k in exact:
                pieces = self.tokenizer.tokenize(kept_texts[k], preprocess=False)
                encoded[k] = self.tokenizer.convert_tokens_to_ids(pieces)
            if exact:
                flat, counts = _flatten(encoded)
        line_lengths = np.full(len(lines), -1, dtype=np.int32)
        line_lengths[np.asarray(kept, dtype=np.int64)] = counts
        return flat.astype(self.dtype), line_lengths

    def _lines_needing_exact_path(self, texts: Sequence[str], encoded, candidates: np.ndarray) -> List[int]:
        # A digit-comma piece always needs the re-encoding. An unknown piece only matters if its
        # surface text (which the id hides) matches the rule, which the pieces as text tell.
        candidates = candidates.tolist()
        lines_ids = [np.asarray(encoded[k], dtype=np.int64) for k in candidates]
        exact = [k for k, ids in zip(candidates, lines_ids) if self.digit_comma[ids].any()]
        unknown_only = sorted(set(candidates) - set(exact))
        if unknown_only:
            as_pieces = self.sp.Encode([texts[k] for k in unknown_only], out_type=str, num_threads=1)
            for k, pieces in zip(unknown_only, as_pieces):
                # Cheap screen first: some piece longer than one character ends with ",".
                if _LONG_COMMA_PIECE.search("\x00".join(pieces) + "\x00") and any(
                    len(p) > 1 and p[-1] == "," and p[-2].isdigit() for p in pieces
                ):
                    exact.append(k)
        return sorted(exact)

    def tokenize_chunk(self, chunk: Chunk, fileobj=None) -> ChunkResult:
        """Reads ``chunk`` (from ``fileobj`` or by opening its path) and tokenizes its lines."""
        if fileobj is None:
            with open(chunk.path, "rb") as f:
                raw_lines = read_chunk_lines(f, chunk)
        else:
            raw_lines = read_chunk_lines(fileobj, chunk)
        try:
            lines, bad = decode_lines(raw_lines, self.encoding)
        except LineDecodeError as error:
            empty = np.zeros(0, dtype=np.int32)
            return ChunkResult(chunk, empty.astype(self.dtype), empty, [], 0,
                               decode_error=(error.index, error.encoding, error.reason))
        ids, line_lengths = self.tokenize_lines(lines)
        return ChunkResult(chunk, ids, line_lengths, bad[:10], len(bad))


def _flatten(encoded) -> Tuple[np.ndarray, np.ndarray]:
    counts = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    flat = np.fromiter(itertools.chain.from_iterable(encoded), dtype=np.int64, count=int(counts.sum()))
    return flat, counts


class LineDecodeError(ValueError):
    """Line ``index`` of the lines given to :func:`decode_lines` is not valid ``encoding``.

    Example:

    >>> str(LineDecodeError(2, "cp1252", "character maps to <undefined>"))
    'line 3 is not valid cp1252 (character maps to <undefined>)'
    """

    def __init__(self, index: int, encoding: str, reason: str):
        super().__init__(index, encoding, reason)  # all of them, so that it pickles
        self.index, self.encoding, self.reason = index, encoding, reason

    def __str__(self) -> str:
        return f"line {self.index + 1} is not valid {self.encoding} ({self.reason})"


def decode_lines(raw_lines: Sequence[bytes], encoding: str = "utf-8") -> Tuple[List[str], List[int]]:
    """Decodes lines; returns (lines, indices of the lines that had invalid bytes).

    UTF-8 replaces invalid bytes by U+FFFD. Any other ``encoding`` (one that writes a newline as the
    byte 0x0A) is read strictly, as ``albert-prepare-corpus`` reads it: the first line that does not
    decode raises :class:`LineDecodeError`, so the list of bad lines is always empty.

    Example:

    >>> decode_lines([b"caf\\xe9", b"ok"], "latin-1")
    (['café', 'ok'], [])
    >>> decode_lines([b"caf\\xe9", b"ok"])
    (['caf\ufffd', 'ok'], [0])
    """
    if not raw_lines:
        return [], []
    if encoding != "utf-8" and codecs.lookup(encoding).name != "utf-8":
        return _decode_strictly(raw_lines, encoding), []
    try:
        # Fast path: one C call for the whole chunk; "\n" never occurs inside a UTF-8 sequence.
        return b"\n".join(raw_lines).decode("utf-8").split("\n"), []
    except UnicodeDecodeError:
        pass
    lines, bad = [], []
    for i, raw in enumerate(raw_lines):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            bad.append(i)
            lines.append(raw.decode("utf-8", errors="replace"))
    return lines, bad


def _decode_strictly(raw_lines: Sequence[bytes], encoding: str) -> List[str]:
    try:
        lines = b"\n".join(raw_lines).decode(encoding).split("\n")
        # A codec can also decode an escape to "\n" (utf-7's "+AAo-"): then count lines one by one.
        if len(lines) == len(raw_lines):
            return lines
    except UnicodeDecodeError:
        pass
    lines = []
    for i, raw in enumerate(raw_lines):
        try:
            lines.append(raw.decode(encoding))
        except UnicodeDecodeError as error:
            raise LineDecodeError(i, encoding, error.reason) from None
    return lines


@dataclasses.dataclass
class StoreReport:
    """What pass 1 saw, for messages and the summary.

    Example:

    >>> StoreReport(["a.txt"]).location(0, 41)
    'a.txt:42'
    """

    files: List[str]
    lines: int = 0
    sentences: int = 0
    documents: int = 0
    tokens: int = 0
    lines_without_tokens: int = 0
    invalid_utf8_lines: int = 0
    first_invalid_utf8: Optional[str] = None
    first_lines: Dict[int, int] = dataclasses.field(default_factory=dict)
    longest_sentence: List = dataclasses.field(default_factory=lambda: [0, ""])

    def location(self, file_index: int, line_in_file: int) -> str:
        return f"{self.files[file_index]}:{line_in_file + 1}"


class StoreWriter:
    """Appends :class:`ChunkResult` s, in chunk order, into a store directory.

    Example:

    >>> import tempfile
    >>> writer = StoreWriter(tempfile.mkdtemp(), ["a.txt"], np.uint16)
    >>> chunk = Chunk(0, 0, "a.txt", 0, 9)
    >>> writer.add(ChunkResult(chunk, np.array([5, 6, 7], np.uint16), np.array([2, -1, 1], np.int32), [], 0))
    >>> store = writer.finish(); store.num_documents, store.document_tokens().tolist()
    (2, [2, 1])
    """

    def __init__(self, directory: str, files: Sequence[str], dtype):
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        self.dtype = np.dtype(dtype)
        self._tokens = open(os.path.join(directory, "tokens.bin.tmp"), "wb")
        self._sentence_lengths: List[np.ndarray] = []
        self._new_document: List[np.ndarray] = []
        self._pending_break = True
        self._file_lines: Dict[int, int] = {}
        self.report = StoreReport(list(files))

    def add(self, result: ChunkResult) -> None:
        """Appends the next chunk; ``UserInputError`` naming the file and line for a ``decode_error``."""
        chunk, lengths = result.chunk, result.line_lengths
        line_base = self._file_lines.get(chunk.file_index)
        if result.decode_error is not None:
            index, encoding, reason = result.decode_error
            raise UserInputError(
                f"{self.report.files[chunk.file_index]}: line {(line_base or 0) + index + 1} is not valid "
                f"{encoding} ({reason})"
            )
        if line_base is None:
            line_base = 0
            self._pending_break = True  # a new file always starts a new document
        self._file_lines[chunk.file_index] = line_base + len(lengths)
        self.report.first_lines[chunk.index] = line_base
        report = self.report
        report.lines += len(lengths)
        report.lines_without_tokens += int((lengths == 0).sum())
        if result.invalid_utf8_count:
            report.invalid_utf8_lines += result.invalid_utf8_count
            if report.first_invalid_utf8 is None:
                report.first_invalid_utf8 = report.location(
                    chunk.file_index, line_base + result.invalid_utf8_lines[0]
                )
        if lengths.size:
            longest = int(np.argmax(lengths))
            if lengths[longest] > report.longest_sentence[0]:
                where = report.location(chunk.file_index, line_base + longest)
                report.longest_sentence = [int(lengths[longest]), where]
        self._tokens.write(np.ascontiguousarray(result.ids, dtype=self.dtype).tobytes())

        events = lengths[lengths != 0]  # -1 = document break, > 0 = a sentence
        is_break = events < 0
        breaks_before = np.cumsum(is_break)
        sentence_at = np.nonzero(~is_break)[0]
        if sentence_at.size:
            seen = breaks_before[sentence_at]
            new_document = np.empty(sentence_at.size, dtype=bool)
            new_document[0] = self._pending_break or seen[0] > 0
            new_document[1:] = seen[1:] > seen[:-1]
            self._sentence_lengths.append(events[sentence_at].astype(np.int64))
            self._new_document.append(new_document)
            self._pending_break = bool(breaks_before[-1] > seen[-1])
        elif is_break.any():
            self._pending_break = True

    def abort(self) -> None:
        """Closes and removes the unfinished store."""
        self._tokens.close()
        remove_store(self.directory)

    def finish(self, meta: Optional[dict] = None) -> "TokenStore":
        """Writes the offsets and ``store.json`` (the completion marker) and opens the store."""
        self._tokens.close()
        lengths = np.concatenate(self._sentence_lengths) if self._sentence_lengths else np.zeros(0, np.int64)
        new_document = np.concatenate(self._new_document) if self._new_document else np.zeros(0, bool)
        sentence_offsets = np.zeros(lengths.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=sentence_offsets[1:])
        document_offsets = np.append(np.nonzero(new_document)[0], lengths.size).astype(np.int64)
        directory = self.directory
        np.save(os.path.join(directory, "sentence_offsets.npy"), sentence_offsets)
        np.save(os.path.join(directory, "document_offsets.npy"), document_offsets)
        os.replace(os.path.join(directory, "tokens.bin.tmp"), os.path.join(directory, "tokens.bin"))
        report = self.report
        report.sentences = int(lengths.size)
        report.documents = int(document_offsets.size - 1)
        report.tokens = int(sentence_offsets[-1])
        content = {
            "format_version": STORE_FORMAT_VERSION,
            "dtype": self.dtype.name,
            "report": dataclasses.asdict(report),
            **(meta or {}),
        }
        tmp = os.path.join(directory, _META + ".tmp")
        with open(tmp, "w") as f:
            json.dump(content, f, indent=1)
        os.replace(tmp, os.path.join(directory, _META))
        return TokenStore(directory)


class TokenStore:
    """Read-only, memory-mapped view of a finished store.

    Example:

    >>> import tempfile
    >>> writer = StoreWriter(tempfile.mkdtemp(), ["a.txt"], np.uint16)
    >>> ids, lengths = np.array([5, 6, 7], np.uint16), np.array([2, 1], np.int32)
    >>> writer.add(ChunkResult(Chunk(0, 0, "a.txt", 0, 9), ids, lengths, [], 0))
    >>> store = TokenStore(writer.finish().directory)
    >>> first, last = store.document_sentences(0)
    >>> store.tokens[store.sentence_offsets[first]:store.sentence_offsets[last]].tolist()
    [5, 6, 7]
    """

    def __init__(self, directory: str):
        self.directory = directory
        with open(os.path.join(directory, _META)) as f:
            self.meta = json.load(f)
        if self.meta.get("format_version") != STORE_FORMAT_VERSION:
            raise ValueError(f"{directory} holds a token store of another format version; delete it")
        path = os.path.join(directory, "tokens.bin")
        dtype = np.dtype(self.meta["dtype"])
        if os.path.getsize(path):
            self.tokens = np.memmap(path, dtype=dtype, mode="r")
        else:  # np.memmap refuses empty files
            self.tokens = np.zeros(0, dtype=dtype)
        self.sentence_offsets = np.load(os.path.join(directory, "sentence_offsets.npy"), mmap_mode="r")
        self.document_offsets = np.load(os.path.join(directory, "document_offsets.npy"), mmap_mode="r")
        self.report = StoreReport(**self.meta["report"])

    @property
    def num_documents(self) -> int:
        return len(self.document_offsets) - 1

    @property
    def num_sentences(self) -> int:
        return len(self.sentence_offsets) - 1

    def document_sentences(self, document: int) -> Tuple[int, int]:
        return int(self.document_offsets[document]), int(self.document_offsets[document + 1])

    def document_tokens(self) -> np.ndarray:
        """Token count of every document."""
        starts = np.asarray(self.sentence_offsets)[np.asarray(self.document_offsets)]
        return np.diff(starts)

    def sentences_per_document(self) -> np.ndarray:
        return np.diff(np.asarray(self.document_offsets))

    def sentence_lengths(self) -> np.ndarray:
        return np.diff(np.asarray(self.sentence_offsets))


def is_complete_store(directory: str) -> bool:
    return os.path.exists(os.path.join(directory, _META))


def remove_store(directory: str) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def store_fingerprint(files: Iterable[Tuple[str, int, float]], tokenizer_proto: bytes, do_lower_case: bool,
                      encoding: str = "utf-8") -> str:
    """Identifies a store by its inputs (path, size, mtime), vocabulary, casing and input encoding."""
    digest = hashlib.sha256()
    digest.update(f"store-v{STORE_FORMAT_VERSION}|lower={bool(do_lower_case)}|".encode())
    encoding = codecs.lookup(encoding).name
    if encoding != "utf-8":
        # Only then, so that stores and shards made before there was a choice keep their fingerprint.
        digest.update(f"encoding={encoding}|".encode())
    digest.update(hashlib.sha256(tokenizer_proto).digest())
    for path, size, mtime in files:
        digest.update(f"|{os.path.abspath(path)}|{size}|{mtime!r}".encode())
    return digest.hexdigest()[:20]
