"""SentencePiece tokenization exactly as the original ALBERT release does it.

The original pipeline has two halves that callers must run in order:

* :func:`preprocess_text` collapses whitespace, strips accents (NFKD, then every
  character whose canonical combining class is non-zero is dropped) and, last,
  lowercases. There is no quote replacement.
* :func:`encode_pieces` runs SentencePiece and then re-encodes pieces such as
  ``"1990,"`` so that the comma becomes its own piece (see its docstring for the
  quirk this inherits).

:class:`AlbertTokenizer` bundles both with the special ids and the original
``[CLS] A [SEP] B [SEP]`` packing. The in-graph twin lives in
:mod:`albert_tf.text.in_graph` and produces the same ids.
"""

from __future__ import annotations

import os
import unicodedata
import warnings
from typing import Iterable, Iterator, List, Optional, Sequence, Union

import sentencepiece as spm

SPIECE_UNDERLINE = "\u2581"

#: Pieces every ALBERT SentencePiece model carries (README ``spm_train`` recipe).
SPECIAL_PIECES = ("<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]")

TextLike = Union[str, bytes]


class InvalidUtf8Warning(UserWarning):
    """Some input bytes were not valid UTF-8 and were decoded with U+FFFD."""


class Utf8DecodeCounter:
    """Counts the texts that needed replacement characters while decoding.

    Corpus readers decode every line with :meth:`decode` and call :meth:`warn`
    once at the end, so a stray Latin-1 byte never stops a long job halfway.

    Example:

    >>> counter = Utf8DecodeCounter()
    >>> counter.decode(b"caf\\xe9")
    'caf\\ufffd'
    >>> counter.bad_texts
    1
    """

    def __init__(self):
        self.texts = 0
        self.bad_texts = 0
        self.bad_sources = {}

    def decode(self, raw: TextLike, source: Optional[str] = None) -> str:
        self.texts += 1
        if isinstance(raw, str):
            return raw
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.bad_texts += 1
            if source is not None:
                self.bad_sources[source] = self.bad_sources.get(source, 0) + 1
            return raw.decode("utf-8", errors="replace")

    def warn(self, what: str = "texts", stacklevel: int = 2) -> None:
        """Emits one :class:`InvalidUtf8Warning` if anything was replaced."""
        if not self.bad_texts:
            return
        where = ""
        if self.bad_sources:
            where = " (" + ", ".join(
                f"{name}: {count}" for name, count in sorted(self.bad_sources.items())
            ) + ")"
        warnings.warn(
            f"{self.bad_texts} of {self.texts} {what} contained bytes that are not "
            f"valid UTF-8{where}; they were decoded with U+FFFD replacement characters.",
            InvalidUtf8Warning,
            stacklevel=stacklevel + 1,
        )


def convert_to_unicode(text: TextLike) -> str:
    """Returns ``text`` as ``str``; invalid UTF-8 becomes U+FFFD (with a warning).

    The original used ``errors="ignore"`` and silently dropped such bytes. We
    keep a visible replacement character instead, because the in-graph path
    (``tf.strings.unicode_transcode``) replaces exactly the same byte ranges.
    """
    if isinstance(text, str):
        return text
    if isinstance(text, (bytes, bytearray)):
        counter = Utf8DecodeCounter()
        decoded = counter.decode(bytes(text))
        counter.warn("texts", stacklevel=2)
        return decoded
    raise TypeError(f"Expected str or bytes, got {type(text).__name__}: {text!r}")


def iter_text_lines(path: str, counter: Optional[Utf8DecodeCounter] = None) -> Iterator[str]:
    """Yields the lines of a text file (without the newline) decoded as UTF-8.

    Lines that are not valid UTF-8 are decoded with replacement and counted in
    ``counter``; when no counter is passed, one warning is emitted at the end
    of the file. Memory use is one line at a time.
    """
    own_counter = counter is None
    counter = counter or Utf8DecodeCounter()
    with open(path, "rb") as f:
        for raw in f:
            yield counter.decode(raw.rstrip(b"\r\n"), source=path)
    if own_counter:
        counter.warn(f"lines of {path}")


def _strip_accents(text: str) -> str:
    # ASCII is NFKD-stable and has no combining characters: skip the work.
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c))


def preprocess_text(inputs: TextLike, remove_space: bool = True, lower: bool = False) -> str:
    """The original ``tokenization.preprocess_text``.

    In order: collapse every run of Python ``str.split()`` whitespace to one
    space and trim the ends; NFKD-normalise and drop every character whose
    canonical combining class is non-zero (accents go even when ``lower`` is
    False); then ``str.lower()`` if ``lower``. Unlike XLNet and HuggingFace,
    "``" and "''" are *not* turned into '"'.

    Example:

    >>> preprocess_text("Café  NAÏVE\\t“quoted” ﬁ ½ …", lower=True)
    'cafe naive “quoted” fi 1⁄2 ...'
    """
    outputs = convert_to_unicode(inputs)
    if remove_space:
        outputs = " ".join(outputs.split())
    outputs = _strip_accents(outputs)
    if lower:
        outputs = outputs.lower()
    return outputs


def is_digit_comma_piece(piece: str) -> bool:
    """Whether :func:`encode_pieces` re-encodes ``piece``: longer than one character, "," after a digit."""
    return len(piece) > 1 and piece[-1] == "," and piece[-2].isdigit()


def _split_digit_comma(
    sp_model: spm.SentencePieceProcessor,
    pieces: Sequence[Union[str, bytes]],
    keep_spurious_underline: bool,
) -> List[str]:
    new_pieces = []
    for piece in pieces:
        if isinstance(piece, bytes):  # older sentencepiece releases
            piece = piece.decode("utf-8", errors="replace")
        if not is_digit_comma_piece(piece):
            new_pieces.append(piece)
            continue
        cur_pieces = [
            p.decode("utf-8", errors="replace") if isinstance(p, bytes) else p
            for p in sp_model.EncodeAsPieces(piece[:-1].replace(SPIECE_UNDERLINE, ""))
        ]
        if (
            not keep_spurious_underline
            and piece[0] != SPIECE_UNDERLINE
            and cur_pieces[0][0] == SPIECE_UNDERLINE
        ):
            if len(cur_pieces[0]) == 1:
                cur_pieces = cur_pieces[1:]
            else:
                cur_pieces[0] = cur_pieces[0][1:]
        cur_pieces.append(piece[-1])
        new_pieces.extend(cur_pieces)
    return new_pieces


def encode_pieces(
    sp_model: spm.SentencePieceProcessor,
    text: TextLike,
    sample: bool = False,
    keep_spurious_underline: bool = True,
) -> List[str]:
    """The original ``tokenization.encode_pieces`` (text must be pre-processed).

    SentencePiece first; then every piece longer than one character that ends
    in "," after a digit (``str.isdigit``) is replaced by the SentencePiece
    encoding of the piece without its comma and with every "▁" removed,
    followed by a separate "," piece.

    **Quirk kept on purpose** (``keep_spurious_underline=True``): the original
    meant to drop the "▁" that SentencePiece prepends to that re-encoding when
    the original piece did not start with "▁", but it compared text with a byte
    string, so the branch never fires. "in 1990," can therefore come out as
    ``▁in ▁ ▁1 99 0 ,`` with a doubled "▁". Pass ``False`` for what the code
    intended, which is what tf-models-official and HuggingFace's slow tokenizer
    do.

    ``sample=True`` uses ``SampleEncodeAsPieces(text, 64, 0.1)`` as the original
    did; no released script used it.

    With a model whose best segmentation of "in 1990, the year" is
    ``▁in ▁ 1990, ▁the ▁year`` and of "1990" is ``▁1 99 0``, the result is
    ``▁in ▁ ▁1 99 0 , ▁the ▁year`` here and ``▁in ▁ 1 99 0 , ▁the ▁year`` with
    ``keep_spurious_underline=False`` (``tests/text/test_tokenizer.py`` builds
    exactly such a model).
    """
    text = convert_to_unicode(text)
    if sample:
        pieces = sp_model.SampleEncodeAsPieces(text, 64, 0.1)
    else:
        pieces = sp_model.EncodeAsPieces(text)
    return _split_digit_comma(sp_model, pieces, keep_spurious_underline)


def encode_ids(
    sp_model: spm.SentencePieceProcessor,
    text: TextLike,
    sample: bool = False,
    keep_spurious_underline: bool = True,
) -> List[int]:
    """``encode_pieces`` followed by ``PieceToId`` (unknown pieces give the unk id)."""
    pieces = encode_pieces(sp_model, text, sample, keep_spurious_underline)
    return [sp_model.PieceToId(piece) for piece in pieces]


def truncate_seq_pair(tokens_a: list, tokens_b: list, max_length: int) -> None:
    """The original ``_truncate_seq_pair``, in place: pop the end of the longer
    list (``tokens_b`` on ties) until the pair fits in ``max_length``."""
    while len(tokens_a) + len(tokens_b) > max_length:
        if len(tokens_a) > len(tokens_b):
            tokens_a.pop()
        else:
            tokens_b.pop()


def model_source(spm_model_file, proto):
    """`(model bytes, a name for error messages)` from exactly one of a `.model` path or its bytes."""
    if (spm_model_file is None) == (proto is None):
        raise ValueError("Pass exactly one of spm_model_file or proto")
    if proto is None:
        return _read_model_bytes(spm_model_file), os.fspath(spm_model_file)
    return proto, "<SentencePiece proto bytes>"


def _read_model_bytes(path: str) -> bytes:
    path = os.fspath(path)
    if "://" in path:  # gs://, s3://, ... as the original's gfile did
        import tensorflow as tf

        if not tf.io.gfile.exists(path):
            raise FileNotFoundError(f"SentencePiece model file not found: {path}")
        with tf.io.gfile.GFile(path, "rb") as f:
            return f.read()
    if not os.path.exists(path):
        raise FileNotFoundError(f"SentencePiece model file not found: {path}")
    if os.path.isdir(path):
        raise IsADirectoryError(
            f"{path} is a directory; expected a SentencePiece .model file such as 30k-clean.model"
        )
    with open(path, "rb") as f:
        return f.read()


def load_sentencepiece(proto: bytes, source: str = "<bytes>") -> spm.SentencePieceProcessor:
    """Loads a serialized SentencePiece ``ModelProto``; errors name ``source``."""
    if not proto:
        raise ValueError(f"{source} is empty; expected a serialized SentencePiece model")
    sp = spm.SentencePieceProcessor()
    try:
        sp.LoadFromSerializedProto(proto)
    except (RuntimeError, OSError) as err:
        hint = ""
        if proto[:64].lstrip().startswith((b"<pad>", b"<unk>", b"\xe2\x96\x81")):
            hint = " It looks like a .vocab text file; pass the .model file instead."
        raise ValueError(
            f"{source} is not a valid SentencePiece model (expected a serialized "
            f"ModelProto such as 30k-clean.model).{hint} SentencePiece said: {err}"
        ) from None
    return sp


def special_ids(sp: spm.SentencePieceProcessor, source: str = "<bytes>") -> dict:
    """Ids of ``<pad> <unk> [CLS] [SEP] [MASK]`` read from the model itself."""
    ids, missing = {}, []
    for piece in SPECIAL_PIECES:
        piece_id = sp.PieceToId(piece)
        # PieceToId answers the unk id for absent pieces: check the round trip.
        if sp.IdToPiece(piece_id) != piece:
            missing.append(piece)
        ids[piece] = piece_id
    if missing:
        raise ValueError(
            f"{source} lacks the ALBERT special pieces {missing}; expected all of "
            f"{list(SPECIAL_PIECES)} (train it with albert-train-vocab, or spm_train with "
            "--pad_id=0 --unk_id=1 --control_symbols=[CLS],[SEP],[MASK])"
        )
    return ids


class SpecialIdsMixin:
    """`pad_id` ... `mask_id` from a `special_ids` dict read from the SentencePiece model."""

    special_ids: dict

    @property
    def pad_id(self) -> int:
        return self.special_ids["<pad>"]

    @property
    def unk_id(self) -> int:
        return self.special_ids["<unk>"]

    @property
    def cls_id(self) -> int:
        return self.special_ids["[CLS]"]

    @property
    def sep_id(self) -> int:
        return self.special_ids["[SEP]"]

    @property
    def mask_id(self) -> int:
        return self.special_ids["[MASK]"]


class AlbertTokenizer(SpecialIdsMixin):
    """The original ALBERT tokenizer: ``preprocess_text`` + ``encode_pieces``.

    Produces the ids of the original ``FullTokenizer(spm_model_file=...)`` fed
    with ``preprocess_text(text, lower=do_lower_case)``, which is what every
    original data script did. ``tokenize`` pre-processes by default (the
    original ``FullTokenizer.tokenize`` did not; pass ``preprocess=False`` for
    that). The digit-comma rule keeps the original's spurious "▁" (see
    :func:`encode_pieces`); ``keep_spurious_underline=False`` gives the
    tf-models-official / HuggingFace-slow behaviour.

    Args:
        spm_model_file: path of the SentencePiece ``.model`` (local or gfile URL).
        do_lower_case: lowercase after accent stripping (True for the released
            English models).
        keep_spurious_underline: reproduce the original digit-comma quirk.

    Example (a toy vocabulary; with ``30k-clean.model`` the pieces are words):

    >>> import io
    >>> model = io.BytesIO()
    >>> spm.SentencePieceTrainer.train(  # the README's spm_train recipe, on toy sentences
    ...     sentence_iterator=iter([f"In {1900 + i}, the city had {i * 1234:,} people." for i in range(100)]),
    ...     model_writer=model, vocab_size=60, pad_id=0, unk_id=1, bos_id=-1, eos_id=-1,
    ...     control_symbols=["[CLS]", "[SEP]", "[MASK]"],
    ...     user_defined_symbols=["(", ")", '"', "-", ".", "\u2013", "\u00a3", "\u20ac"], minloglevel=2)
    >>> proto = model.getvalue()
    >>> tok = AlbertTokenizer.from_proto(proto)  # or AlbertTokenizer("30k-clean.model")
    >>> tok.tokenize("In 1990, the CAFÉ!")
    ['▁', 'i', 'n', '▁', '1', '9', '9', '0', ',', '▁', 't', 'h', 'e', '▁', 'c', 'a', 'f', 'e', '!']
    >>> features = tok.encode("the", "1,000", max_seq_length=15)
    >>> tok.convert_ids_to_tokens(features["input_ids"])
    ['[CLS]', '▁', 't', 'h', 'e', '[SEP]', '▁', '1', ',', '0', '0', '0', '[SEP]', '<pad>', '<pad>']
    >>> features["segment_ids"]
    [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0]
    >>> features["input_mask"]
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]
    """

    def __init__(
        self,
        spm_model_file: Optional[str],
        do_lower_case: bool = True,
        *,
        keep_spurious_underline: bool = True,
        proto: Optional[bytes] = None,
    ):
        proto, source = model_source(spm_model_file, proto)
        self.spm_model_file = None if spm_model_file is None else os.fspath(spm_model_file)
        self.proto = bytes(proto)
        self.do_lower_case = bool(do_lower_case)
        self.keep_spurious_underline = bool(keep_spurious_underline)
        self.sp_model = load_sentencepiece(self.proto, source)
        self.special_ids = special_ids(self.sp_model, source)
        self.vocab = {self.sp_model.IdToPiece(i): i for i in range(self.sp_model.GetPieceSize())}
        self.inv_vocab = {i: piece for piece, i in self.vocab.items()}

    @classmethod
    def from_proto(cls, proto: bytes, do_lower_case: bool = True, **kwargs) -> "AlbertTokenizer":
        """Builds the tokenizer from serialized model bytes (e.g. keras-hub's ``proto``)."""
        return cls(None, do_lower_case, proto=proto, **kwargs)

    # Special ids, read from the model rather than assumed.
    @property
    def vocab_size(self) -> int:
        return self.sp_model.GetPieceSize()


    def preprocess(self, text: TextLike) -> str:
        return preprocess_text(text, lower=self.do_lower_case)

    def tokenize(self, text: TextLike, preprocess: bool = True) -> List[str]:
        """Pieces of ``text``: ``encode_pieces(preprocess_text(text, lower=...))``."""
        if preprocess:
            text = self.preprocess(text)
        return encode_pieces(
            self.sp_model, text, keep_spurious_underline=self.keep_spurious_underline
        )

    def tokenize_batch(self, texts: Iterable[TextLike], preprocess: bool = True) -> List[List[str]]:
        """``tokenize`` over many texts; SentencePiece runs once, multi-threaded."""
        texts = [self.preprocess(t) if preprocess else convert_to_unicode(t) for t in texts]
        batches = self.sp_model.Encode(texts, out_type=str)
        return [
            _split_digit_comma(self.sp_model, pieces, self.keep_spurious_underline)
            for pieces in batches
        ]

    def convert_tokens_to_ids(self, tokens: Iterable[str]) -> List[int]:
        return [self.sp_model.PieceToId(token) for token in tokens]

    def convert_ids_to_tokens(self, ids: Iterable[int]) -> List[str]:
        return [self.sp_model.IdToPiece(int(i)) for i in ids]

    def encode(
        self,
        text_a: TextLike,
        text_b: Optional[TextLike] = None,
        max_seq_length: int = 512,
        pad: bool = True,
    ) -> dict:
        """``[CLS] A [SEP]`` or ``[CLS] A [SEP] B [SEP]`` as the original feature writers.

        A single text is cut to ``max_seq_length - 2`` pieces; a pair is cut
        with the original ``_truncate_seq_pair`` to ``max_seq_length - 3``.
        Segment ids are 0 up to and including the first ``[SEP]``, 1 after.
        ``text_b=None`` means one segment; an empty string is an empty second
        segment (the original GLUE code tested ``if text_b``, so pass None for
        empty ones to match it). With ``pad`` the three lists are padded with 0
        to ``max_seq_length``.
        """
        tokens_a = self.convert_tokens_to_ids(self.tokenize(text_a))
        tokens_b = None if text_b is None else self.convert_tokens_to_ids(self.tokenize(text_b))
        return self._pack(tokens_a, tokens_b, max_seq_length, pad)

    def encode_batch(
        self,
        texts_a: Sequence[TextLike],
        texts_b: Optional[Sequence[TextLike]] = None,
        max_seq_length: int = 512,
        pad: bool = True,
    ) -> List[dict]:
        """``encode`` over many examples, with one multi-threaded SentencePiece call per side."""
        for name, texts in (("texts_a", texts_a), ("texts_b", texts_b)):
            if isinstance(texts, (str, bytes)):
                # A bare string would be encoded one character per example.
                raise TypeError(f"encode_batch: {name} must be a list of texts, got a single string (use encode)")
        ids_a = [self.convert_tokens_to_ids(p) for p in self.tokenize_batch(texts_a)]
        if texts_b is None:
            return [self._pack(a, None, max_seq_length, pad) for a in ids_a]
        ids_b = [self.convert_tokens_to_ids(p) for p in self.tokenize_batch(texts_b)]
        if len(ids_a) != len(ids_b):
            raise ValueError(f"Got {len(ids_a)} texts_a but {len(ids_b)} texts_b; expected as many")
        return [self._pack(a, b, max_seq_length, pad) for a, b in zip(ids_a, ids_b)]

    def _pack(self, tokens_a, tokens_b, max_seq_length, pad) -> dict:
        minimum = 2 if tokens_b is None else 3
        if max_seq_length < minimum:
            raise ValueError(
                f"max_seq_length={max_seq_length} leaves no room for the special tokens; "
                f"expected at least {minimum}"
            )
        # Room for one piece of every non-empty segment, or the text would vanish into [CLS][SEP][SEP].
        needed = minimum + (1 if tokens_a else 0) + (1 if tokens_b else 0)
        if max_seq_length < needed:
            layout = "[CLS] A [SEP]" if tokens_b is None else "[CLS] A [SEP] B [SEP]"
            raise ValueError(
                f"max_seq_length={max_seq_length} is too small: {layout} with non-empty text needs at least {needed}"
            )
        if tokens_b is not None:
            truncate_seq_pair(tokens_a, tokens_b, max_seq_length - 3)
        else:
            tokens_a = tokens_a[: max_seq_length - 2]
        input_ids = [self.cls_id] + tokens_a + [self.sep_id]
        segment_ids = [0] * len(input_ids)
        if tokens_b is not None:
            input_ids += tokens_b + [self.sep_id]
            segment_ids += [1] * (len(tokens_b) + 1)
        input_mask = [1] * len(input_ids)
        if pad:
            padding = max_seq_length - len(input_ids)
            input_ids += [self.pad_id] * padding
            input_mask += [0] * padding
            segment_ids += [0] * padding
        return {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids}

    def __repr__(self):
        source = self.spm_model_file or "<proto>"
        return (
            f"AlbertTokenizer({source!r}, do_lower_case={self.do_lower_case}, "
            f"vocab_size={self.vocab_size})"
        )
