"""Raw text → the pretraining input format: one sentence per line, a blank line between documents.

``albert-create-pretraining-data`` (like the original) expects sentences, not paragraphs: a line
is a sentence, and the sentence boundaries are where A/B splits and the sentence-order task live.
This module turns common raw layouts into that format:

* ``lines``: one paragraph per line; a blank line (or the end of a file) ends a document;
* ``wikitext``: WikiText files; a `` = Title = `` line starts a document, deeper headings
  (`` = = Section = = ``) are dropped, every other non-blank line is a paragraph, and the
  tokenized release's ``@-@``, ``@,@`` and ``@.@`` are joined back;
* ``wrapped``: hard-wrapped text such as Project Gutenberg books; lines join into paragraphs at blank
  lines, and each file is one document.

``input`` may be files, globs or a folder (every ``*.txt`` below it, sorted).

**Sentence splitter: NLTK's Punkt, trained unsupervised on the input itself.** Nothing can be
downloaded at run time, which rules out NLTK's pre-trained ``punkt`` tables and model-based
splitters (spaCy, Stanza). Punkt is a published, language-independent algorithm (Kiss & Strunk,
2006) maintained in NLTK; it learns the corpus's abbreviations, collocations and frequent sentence
starters from raw text, so training it on the first few million characters of the corpus is
exactly its intended use and needs no data files. (pysbd and blingfire also work offline but have
not been released since 2021; pysbd's rules are English-only.) Training is deterministic, so the
same input always gives the same output.
"""

from __future__ import annotations

import codecs
import dataclasses
import glob
import logging
import itertools
import os
import re
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

from albert_tf.text.tokenizer import Utf8DecodeCounter, iter_text_lines
from data_prep import fileio, pools

logger = logging.getLogger("albert_tf.data_prep.corpus")

FORMATS = ("lines", "wikitext", "wrapped")
DEFAULT_TRAIN_CHARS = 5_000_000
#: Added to what Punkt learns: unsupervised training misses some frequent titles on mixed corpora
#: (e.g. "Mr." on the Gutenberg selection), and splitting after them is the most visible error.
DEFAULT_ABBREVIATIONS = (
    "mr", "mrs", "ms", "messrs", "dr", "prof", "st", "jr", "sr", "capt", "col", "gen", "lt", "sgt",
    "rev", "hon", "mme", "mlle", "vs", "etc", "cf", "e.g", "i.e",
)

_WIKI_TITLE = re.compile(r"^\s*=\s+(?!=)(.*?[^=\s])\s+=\s*$")
_WIKI_SECTION = re.compile(r"^\s*=(\s+=)+\s+.*?\s+=(\s+=)+\s*$")
# Punkt's orthographic-context flags for "seen in lower case" (sentence-initial, internal, unknown).
_ORTHO_LOWER_CASE = (1 << 4) | (1 << 5) | (1 << 6)
_ORTHO_MID_UPPER_CASE = 1 << 2
_WIKI_JOINS = ((" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", "."))


class CorpusError(ValueError):
    """The input cannot be turned into documents (missing files, nothing left, bad flags).

    Example:

    >>> str(CorpusError("--input: nothing matches 'x*.txt'"))
    "--input: nothing matches 'x*.txt'"
    """


def expand_inputs(inputs: Sequence[str], refuse_binary: bool = True) -> List[str]:
    """Files, globs and folders (every ``*.txt`` below them, sorted) as a list of files.

    With ``refuse_binary`` a file holding a NUL byte near its start is refused, naming it (UTF-16
    and UTF-32 text hold NUL bytes: read those with ``input_encoding``, which skips the check).

    Example:

    >>> expand_inputs(["/nonexistent/*.txt"])
    Traceback (most recent call last):
    ...
    data_prep.corpus.CorpusError: --input: nothing matches '/nonexistent/*.txt'
    """
    files = []
    for item in inputs:
        for part in [p.strip() for p in str(item).split(",") if p.strip()]:
            if os.path.isdir(part):
                found = sorted(glob.glob(os.path.join(part, "**", "*.txt"), recursive=True))
                if not found:
                    raise CorpusError(f"--input: folder {part} has no .txt file")
                files.extend(found)
                continue
            matches = sorted(glob.glob(part))
            if not matches:
                raise CorpusError(f"--input: nothing matches {part!r}")
            files.extend(m for m in matches if os.path.isfile(m))
    if not files:
        raise CorpusError("--input names no file")
    for path in files if refuse_binary else ():
        try:
            fileio.refuse_binary(path, "--input")
        except ValueError as error:
            raise CorpusError(str(error)) from None
    return files


def _is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name == "utf-8"


def check_encoding(encoding: str) -> str:
    """The codec name of ``encoding``; ``CorpusError`` for one Python does not know as a text encoding."""
    try:
        name = codecs.lookup(encoding).name
        # codecs also knows bytes-to-bytes (base64, zlib) and str-to-str (rot13) codecs, which
        # cannot read a file; encoding a str is what tells them apart.
        "".encode(name)
    except LookupError:
        raise CorpusError(f"--input_encoding {encoding!r} is not a known text encoding (e.g. utf-8, latin-1, utf-16)") from None
    return name


def holds_nul_bytes(encoding: str) -> bool:
    """Whether text in ``encoding`` holds NUL bytes (UTF-16, UTF-32), which the binary-file check refuses.

    Example:

    >>> holds_nul_bytes("utf-16"), holds_nul_bytes("latin-1")
    (True, False)
    """
    return b"\0" in "\n".encode(encoding)


def newline_is_one_byte(encoding: str) -> bool:
    """Whether ``encoding`` writes a newline as the byte 0x0A, so that lines can be found in the raw bytes.

    True for the ASCII-compatible encodings (latin-1, cp1252, gb18030, shift_jis, ...), false for
    UTF-16 and UTF-32.

    Example:

    >>> newline_is_one_byte("cp1252"), newline_is_one_byte("utf-16-le")
    (True, False)
    """
    return "\n".encode(encoding) == b"\n"


def _not_valid(path: str, number: int, encoding: str, error: UnicodeDecodeError) -> CorpusError:
    return CorpusError(f"{path}: line {number} is not valid {encoding} ({error.reason})")


def iter_decoded_lines(fileobj, encoding: str, path: str) -> Iterator[Tuple[int, str]]:
    """``(bytes read, line)`` for every line of the binary ``fileobj``, decoded strictly as ``encoding``.

    Lines end at "\\n" only and keep it, as UTF-8 lines read as bytes do, so a corpus splits into
    the same lines whatever its encoding. A line that does not decode is a ``CorpusError`` naming
    ``path`` and the line number. The byte counts add up to what was read (for progress bars).

    Example:

    >>> import io
    >>> list(iter_decoded_lines(io.BytesIO("caf\\xe9\\nna\\xefve".encode("cp1252")), "cp1252", "a.txt"))
    [(5, 'café\\n'), (5, 'naïve')]
    >>> list(iter_decoded_lines(io.BytesIO(b"ok\\n\\x81\\n"), "cp1252", "a.txt"))
    Traceback (most recent call last):
    ...
    data_prep.corpus.CorpusError: a.txt: line 2 is not valid cp1252 (character maps to <undefined>)
    """
    if newline_is_one_byte(encoding):
        # Line by line, so that the line number of an error is exact.
        for number, raw in enumerate(fileobj, 1):
            try:
                yield len(raw), raw.decode(encoding)
            except UnicodeDecodeError as error:
                raise _not_valid(path, number, encoding, error) from None
        return
    # A newline of several bytes (UTF-16, UTF-32): decode blocks and split the text.
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    lines_before, unreported = 0, 0
    pending: List[str] = []  # the start of a line, in pieces: a long line must not be copied per block
    while True:
        block = fileobj.read(1 << 16)
        final = not block
        unreported += len(block)
        state = decoder.getstate()
        try:
            text = decoder.decode(block, final)
        except UnicodeDecodeError as error:
            bad = lines_before + _newlines_before_error(decoder, state, block, final) + 1
            raise _not_valid(path, bad, encoding, error) from None
        if "\n" in text:
            lines = ("".join(pending) + text).split("\n")
            pending = [lines.pop()]
            for line in lines:
                yield unreported, line + "\n"
                unreported = 0
            lines_before += len(lines)
        elif text:
            pending.append(text)
        if final:
            break
    if "".join(pending):
        yield unreported, "".join(pending)


def _newlines_before_error(decoder, state, block: bytes, final: bool) -> int:
    # A block decodes all at once or not at all; byte by byte from the state before it tells how
    # many of its lines were complete before the first invalid sequence.
    decoder.setstate(state)
    decoded = []
    try:
        for i in range(len(block)):
            decoded.append(decoder.decode(block[i:i + 1]))
        decoder.decode(b"", final)
    except UnicodeDecodeError:
        pass
    return "".join(decoded).count("\n")


def _iter_lines(path: str, counter: Utf8DecodeCounter, encoding: str) -> Iterator[str]:
    if _is_utf8(encoding):
        yield from iter_text_lines(path, counter)
        return
    with open(path, "rb") as f:
        for _, line in iter_decoded_lines(f, encoding, path):
            yield line.rstrip("\r\n")


def wikitext_detokenize(text: str) -> str:
    """Joins WikiText's ``@-@``, ``@,@`` and ``@.@`` split markers.

    Example:

    >>> wikitext_detokenize("a well @-@ known 1 @,@ 000 @.@ 5")
    'a well-known 1,000.5'
    """
    for marker, joined in _WIKI_JOINS:
        text = text.replace(marker, joined)
    return text


def iter_documents(files: Sequence[str], fmt: str, counter: Optional[Utf8DecodeCounter] = None,
                   encoding: str = "utf-8") -> Iterator[List[str]]:
    """Yields documents as lists of paragraphs (whitespace-collapsed, non-empty), reading ``encoding``."""
    if fmt not in FORMATS:
        raise CorpusError(f"--format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    counter = counter or Utf8DecodeCounter()
    for path in files:
        document: List[str] = []
        paragraph: List[str] = []
        for line in _iter_lines(path, counter, encoding):
            text = " ".join(line.split())
            if fmt == "lines":
                if text:
                    document.append(text)
                elif document:
                    yield document
                    document = []
            elif fmt == "wikitext":
                if not text:
                    continue
                if _WIKI_TITLE.match(text):
                    if document:
                        yield document
                    document = []
                elif not _WIKI_SECTION.match(text):
                    document.append(wikitext_detokenize(text))
            else:  # wrapped
                if text:
                    paragraph.append(text)
                elif paragraph:
                    document.append(" ".join(paragraph))
                    paragraph = []
        if paragraph:
            document.append(" ".join(paragraph))
        if document:
            yield document


def train_sentence_splitter(paragraphs: Iterable[str], max_chars: int = DEFAULT_TRAIN_CHARS,
                            abbreviations: Sequence[str] = DEFAULT_ABBREVIATIONS):
    """Punkt parameters learned from up to ``max_chars`` characters of ``paragraphs``.

    ``abbreviations`` (lowercase, without the final period) are added to the learned ones.

    Example:

    >>> params = train_sentence_splitter(["Dr. Smith met Mr. Jones at noon. They talked."])
    >>> split_sentences(params, "Dr. Smith met Mr. Jones at noon. They talked.")
    ['Dr. Smith met Mr. Jones at noon.', 'They talked.']
    """
    try:
        from nltk.tokenize.punkt import PunktTrainer
    except ImportError as err:
        raise CorpusError(f"sentence splitting needs NLTK ({err}); pip install 'nltk>=3.9'") from None

    trainer = PunktTrainer()
    extra = {a.lower().rstrip(".") for a in abbreviations if a.strip(".")}
    # Seeded before training too, so that the sentence starters Punkt learns are not the words that
    # follow a missed abbreviation ("Mr. Woodhouse" would make "Woodhouse" a sentence starter).
    trainer.get_params().abbrev_types.update(extra)
    taken, size = [], 0
    for paragraph in paragraphs:
        taken.append(paragraph)
        size += len(paragraph) + 1
        if size >= max_chars:
            break
    trainer.train("\n\n".join(taken), finalize=False)
    trainer.finalize_training()
    params = trainer.get_params()
    # Training may drop a seeded abbreviation the corpus also writes without a period ("Mr").
    params.abbrev_types.update(extra)
    # A learned sentence starter seen capitalised inside sentences, or never in lower case, is a
    # name that followed an abbreviation ("Mr. Woodhouse", "Mr. Frank"); kept as a starter it would
    # split after every later "Mr." before that name. Real starters ("he", "but") are kept.
    params.sent_starters = {
        word
        for word in params.sent_starters
        if params.ortho_context.get(word, 0) & _ORTHO_LOWER_CASE
        and not params.ortho_context.get(word, 0) & _ORTHO_MID_UPPER_CASE
    }
    return params


_SPLITTER = {}


def _splitter(params):
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    key = id(params)
    if _SPLITTER.get("key") != key:
        _SPLITTER["key"] = key
        _SPLITTER["tokenizer"] = PunktSentenceTokenizer(params)
    return _SPLITTER["tokenizer"]


def split_sentences(params, paragraph: str) -> List[str]:
    """Sentences of one paragraph, whitespace-collapsed, empty ones dropped."""
    sentences = (" ".join(s.split()) for s in _splitter(params).tokenize(paragraph))
    return [s for s in sentences if s]


def _init_split_worker(params) -> None:
    _SPLITTER.clear()
    _SPLITTER["params"] = params


def _split_document(document: List[str]) -> List[str]:
    params = _SPLITTER["params"]
    return [s for paragraph in document for s in split_sentences(params, paragraph)]


def _split_documents(documents: List[List[str]]) -> List[List[str]]:
    return [_split_document(document) for document in documents]


def _batches(items, size: int):
    """Lists of ``size`` consecutive items (the last one shorter): one pool task each."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


@dataclasses.dataclass
class CorpusReport:
    """Counts of a :func:`prepare_corpus` run.

    Example:

    >>> CorpusReport(files=1, documents=2, sentences=9).sentences
    9
    """

    files: int = 0
    documents: int = 0
    sentences: int = 0
    single_sentence_documents: int = 0
    dropped_documents: int = 0
    invalid_utf8_lines: int = 0


def prepare_corpus(inputs: Sequence[str], output: str, fmt: str = "lines", num_workers: int = 1,
                   train_chars: int = DEFAULT_TRAIN_CHARS, min_sentences: int = 1,
                   abbreviations: Sequence[str] = DEFAULT_ABBREVIATIONS,
                   progress: Optional[bool] = None, input_encoding: str = "utf-8") -> CorpusReport:
    """Writes ``output`` in the pretraining format (atomically, UTF-8) and returns what it counted.

    ``input_encoding`` reads corpora that are not UTF-8 (latin-1, cp1252, utf-16, ...); a line that is
    not valid in it is an error naming the file and line. UTF-8 input keeps the lenient reading: an
    invalid line is decoded with replacement and counted.

    Example:

    >>> report = prepare_corpus(["wiki.test.tokens"], "wiki.sentences.txt", fmt="wikitext")  # doctest: +SKIP
    >>> report.documents  # doctest: +SKIP
    62
    """
    from tqdm.auto import tqdm

    if min_sentences < 1:
        raise CorpusError(f"--min_sentences must be at least 1; got {min_sentences}")
    encoding = check_encoding(input_encoding)
    files = expand_inputs(inputs, refuse_binary=not holds_nul_bytes(encoding))
    counter = Utf8DecodeCounter()
    params = train_sentence_splitter(
        (p for document in iter_documents(files, fmt, counter, encoding) for p in document), train_chars, abbreviations
    )
    report = CorpusReport(files=len(files))
    counter = Utf8DecodeCounter()
    documents = iter_documents(files, fmt, counter, encoding)
    tmp = output + ".incomplete"
    directory = os.path.dirname(output)
    if directory:
        os.makedirs(directory, exist_ok=True)
    pool = None
    if num_workers > 1:
        pool = pools.start_pool(num_workers, _init_split_worker, (params,))
    else:
        _init_split_worker(params)

    def broken(what: str) -> CorpusError:
        return CorpusError(f"{output}: {what}; run again, or pass --num_workers 1 to split in this process")

    split = pools.ordered_map(pool, _split_documents, _batches(documents, 16), 4 * num_workers, broken)
    try:
        with open(tmp, "w", encoding="utf-8") as out, tqdm(
            disable=None if progress is None else not progress, unit="doc", desc="split"
        ) as bar:
            first = True
            for sentences in itertools.chain.from_iterable(split):
                bar.update(1)
                if len(sentences) < min_sentences:
                    report.dropped_documents += 1
                    continue
                if not first:
                    out.write("\n")
                out.write("\n".join(sentences) + "\n")
                first = False
                report.documents += 1
                report.sentences += len(sentences)
                report.single_sentence_documents += len(sentences) == 1
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    finally:
        pools.stop_pool(pool)
    report.invalid_utf8_lines = counter.bad_texts
    if report.documents == 0:
        os.remove(tmp)
        raise CorpusError(
            f"--input ({len(files)} file(s)) gave no document with at least {min_sentences} sentence(s) "
            f"in --format={fmt}; nothing was written"
        )
    os.replace(tmp, output)
    if counter.bad_texts:
        logger.warning(
            "%d lines were not valid UTF-8 (%s); invalid bytes became U+FFFD",
            counter.bad_texts, ", ".join(f"{k}: {v}" for k, v in sorted(counter.bad_sources.items())),
        )
    if report.single_sentence_documents:
        logger.warning(
            "%d of %d documents have a single sentence; pretraining pairs them with random documents",
            report.single_sentence_documents, report.documents,
        )
    return report
