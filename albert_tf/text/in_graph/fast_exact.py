"""The exact segmentation at the speed of one C++ op: tensorflow-text's fast SentencePiece kernel,
fed a model rewritten so that its search *is* Python's, and the exact search only where it cannot be.

Where the time went (``docs/bench_tokenizer_cpu.txt`` has the numbers): the exact path of
:mod:`.unigram` spends about 60% of a batch-1 call and 85% of a batch-32 call in the search itself
(a ``tf.while_loop`` over characters with ~30 ops per step, run twice or more, plus the trie walk
and the binary-lifting read-back); every step is a kernel launch, so a line costs milliseconds
of launch overhead whatever its length. Normalising and pre-processing cost about 1 ms a call.

``tf_text.FastSentencepieceTokenizer`` runs the whole search as one kernel
(``EncodeNormalizedString`` in tensorflow-text's ``optimized_encoder.cc``). Compared with Python
sentencepiece 0.2.2/0.2.3 (``EncodeOptimized``, reproduced by :class:`~.unigram.UnigramSegmenter`)
its search is the same Viterbi: float32 sums ``best[start] + score`` started from 0 at the row's
first byte, candidates visited by start position, a strictly greater score needed to replace the
best (so the earliest start wins a tie), unknown pieces scored ``min_score - 10`` and adjacent ones
merged. It differs in exactly these ways, each removed or detected here:

1. user-defined symbols score ``length * max_score + 1`` instead of Python's
   ``float(0.1 * (bytes - 1))``: the rewritten model (:func:`search_model`) makes them normal
   pieces with Python's score (the normaliser that must keep them intact has already run);
2. it normalises with its own copy of the character map: the rewritten model normalises nothing,
   and the text it gets is the one tensorflow-text's exact op produced (the joined pieces of
   ``SentencepieceTokenizer``, the normalised text the existing exact path also starts from);
3. unused pieces make its model converter fail: they become control pieces, which neither search
   ever matches;
4. it steps over *bytes*, adding an unknown piece at every reachable byte: an unknown character of
   k bytes costs ``k * (min_score - 10)`` instead of once. Unknown candidates where a one-character
   piece exists are always beaten by it (same start, same end, a lower score), so only characters
   without a one-character piece matter. Multi-byte ones that occur in no piece at all are replaced
   by one ASCII byte that occurs in no piece either (same lattice, same single penalty); rows with
   a multi-byte character that occurs only inside longer pieces are **routed** to the exact search;
5. Python re-bases running scores whose magnitude passes 1e5; the kernel never does. Every running
   score is a sum of at most one piece per character, so a row of ``n`` characters never reaches
   ``n * max|score|``: rows where that bound passes 0.9e5 are **routed** too.

Normalising costs as much as the kernel's whole search (one more ``SentencepieceTokenizer`` call,
about a third of a batch-32 call), so rows that are plain printable ASCII skip it where that is
provably the identity plus the whitespace rules (:func:`ascii_normalization_is_plain`: no rule of
the model's character map is made of printable ASCII alone).

Nothing else differs, so outside the routed rows the kernel's ids are Python's, id for id; the
routed rows go through :class:`~.unigram.UnigramSegmenter`, which does not run when no row is
routed (:func:`~.gated.ragged_if`). ``tests/text/test_fast_exact.py`` checks both detectors fire and that the kernel alone is
wrong on what they catch.
"""

from __future__ import annotations

import math
import struct
from typing import Callable, Optional

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from albert_tf.text.in_graph.gated import ragged_if
from albert_tf.text.in_graph.tables import regex_class

# Python sentencepiece re-bases running scores past this magnitude (unigram_model.cc).
_REBASE_AT = 1e5


def search_model(proto: bytes) -> Optional[bytes]:
    """The model for the fast kernel whose search is Python's (points 1-3 above), or None when
    no such rewrite exists for this model (not unigram, byte fallback, no normal piece, or a
    positive minimum score, which the kernel's converter would clamp to 0)."""
    from sentencepiece import sentencepiece_model_pb2 as model_pb2

    model = model_pb2.ModelProto()
    model.ParseFromString(proto)
    kinds = model_pb2.ModelProto.SentencePiece
    spec = model.trainer_spec
    if spec.model_type != model_pb2.TrainerSpec.UNIGRAM or spec.byte_fallback:
        return None
    normal = [p.score for p in model.pieces if p.type == kinds.NORMAL]
    if not normal or min(normal) > 0:
        return None
    for piece in model.pieces:
        if piece.type == kinds.USER_DEFINED:
            piece.type = kinds.NORMAL
            # C++: float GetUserDefinedScore(int length) { return 0.1 * (length - 1); }
            piece.score = float(np.float32(0.1 * (len(piece.piece.encode("utf-8")) - 1)))
        elif piece.type == kinds.UNUSED:
            piece.type = kinds.CONTROL
        elif piece.type not in (kinds.NORMAL, kinds.CONTROL, kinds.UNKNOWN):
            return None
    normalizer = model.normalizer_spec
    normalizer.name = "identity"
    # An empty character map, spelled out: a zero-length trie and no replacement strings.
    normalizer.precompiled_charsmap = struct.pack("<I", 0)
    normalizer.add_dummy_prefix = False
    normalizer.remove_extra_whitespaces = False
    normalizer.escape_whitespaces = False
    return model.SerializeToString()


# Printable ASCII words separated by single spaces: what `preprocess_text` leaves of most text.
_PLAIN_ASCII = "[\\x21-\\x7e]+(?: [\\x21-\\x7e]+)*"


def _charsmap_has_printable_ascii_key(charsmap: bytes) -> bool:
    """Whether a SentencePiece ``precompiled_charsmap`` rewrites some string of printable ASCII.

    The map is a uint32 size, a darts-clone double-array trie of the rewritten strings (UTF-8)
    and their replacements; a walk of the trie along printable ASCII bytes only finds every such
    key. A key with any other byte never matches inside printable ASCII text.
    """
    if len(charsmap) < 4:
        return False
    (size,) = struct.unpack_from("<I", charsmap)
    units = np.frombuffer(charsmap[4:4 + size], dtype="<u4").astype(np.int64)
    if not len(units):
        return False

    def offset(unit):  # darts-clone's DoubleArrayUnit::offset
        return int((unit >> 10) << ((unit & (1 << 9)) >> 6))

    stack = [offset(units[0])]
    while stack:
        base = stack.pop()
        for byte in range(0x20, 0x7F):
            child = base ^ byte
            if child < len(units) and units[child] & ((1 << 31) | 0xFF) == byte:
                if (units[child] >> 8) & 1:  # has_leaf: a key ends here
                    return True
                stack.append(child ^ offset(units[child]))
    return False


def ascii_normalization_is_plain(proto: bytes) -> bool:
    """Whether SentencePiece normalises text matching ``_PLAIN_ASCII`` to "▁" + the text with
    spaces as "▁": the default whitespace rules (dummy prefix in front, spaces escaped, extra
    ones removed) and a character map that leaves printable ASCII alone. User-defined symbols
    are only kept from being rewritten, which changes nothing where nothing is rewritten.

    >>> import io, sentencepiece
    >>> model = io.BytesIO()
    >>> sentencepiece.SentencePieceTrainer.train(sentence_iterator=iter(["a b c"] * 10), model_writer=model,
    ...     vocab_size=8, hard_vocab_limit=False, minloglevel=2)
    >>> ascii_normalization_is_plain(model.getvalue())
    True
    """
    from sentencepiece import sentencepiece_model_pb2 as model_pb2

    model = model_pb2.ModelProto()
    model.ParseFromString(proto)
    spec = model.normalizer_spec
    return (spec.add_dummy_prefix and spec.escape_whitespaces and spec.remove_extra_whitespaces
            and not model.trainer_spec.treat_whitespace_as_suffix
            and not _charsmap_has_printable_ascii_key(spec.precompiled_charsmap))


class CharacterRoutes:
    """What point 4 needs to know about characters, from the model's pieces.

    ``swap``: an RE2 class of the multi-byte characters that occur in no matchable piece, replaced
    by ``placeholder`` (or None when no ASCII character is free, then those rows are routed);
    ``route``: an RE2 pattern matching rows that hold a multi-byte character found only inside
    longer pieces (None when there is none); ``max_chars``: the longest row that cannot reach
    Python's re-basing.
    """

    def __init__(self, proto: bytes):
        from sentencepiece import sentencepiece_model_pb2 as model_pb2

        model = model_pb2.ModelProto()
        model.ParseFromString(proto)
        kinds = model_pb2.ModelProto.SentencePiece
        matchable = [p for p in model.pieces if p.type in (kinds.NORMAL, kinds.USER_DEFINED)]
        in_pieces = {ord(c) for p in matchable for c in p.piece}
        single = {ord(p.piece) for p in matchable if len(p.piece) == 1}
        multi_only = {cp for cp in in_pieces - single if cp >= 0x80}
        free_ascii = [cp for cp in range(1, 0x80) if cp not in in_pieces]
        self.placeholder = chr(free_ascii[0]) if free_ascii else None
        # Everything that is ASCII or occurs in a piece; the negation is what gets swapped.
        kept = regex_class(set(range(0x80)) | in_pieces)
        self.swap = "[^" + kept[1:]
        route = regex_class(multi_only) if multi_only else None
        if self.placeholder is None:
            route = self.swap if route is None else "(?:" + route + "|" + self.swap + ")"
        self.route = None if route is None else "(?s).*" + route + ".*"
        normal = [np.float32(p.score) for p in model.pieces if p.type == kinds.NORMAL]
        unk_score = np.float32(min(normal) - np.float32(10.0))
        user = [0.1 * (len(p.piece.encode("utf-8")) - 1)
                for p in model.pieces if p.type == kinds.USER_DEFINED]
        largest = max([abs(float(s)) for s in normal] + [abs(float(unk_score))] + user)
        self.max_chars = math.floor(0.9 * _REBASE_AT / largest) if largest > 0 else 2 ** 31 - 1


class FastExactSegmenter:
    """Python SentencePiece's ``EncodeAsIds``/``EncodeAsPieces`` of 1-D strings through the fast
    kernel, with the rows it could get wrong sent to ``exact_ids``/``exact_pieces`` (see the
    module docstring for why that is exact).

    Built by :class:`~.pipeline.Pipeline` when :func:`search_model` accepts the model. ``normalizer``
    is tensorflow-text's ``SentencepieceTokenizer`` (strings) of the original model.
    """

    def __init__(self, proto: bytes, normalizer, exact_ids: Callable, exact_pieces: Callable):
        search = search_model(proto)
        if search is None:
            raise ValueError("search_model() does not apply to this model")
        from sentencepiece import sentencepiece_model_pb2 as model_pb2

        model = model_pb2.ModelProto()
        model.ParseFromString(proto)
        self.unk_id = int(model.trainer_spec.unk_id)
        self.pieces_table = np.array([p.piece.encode("utf-8") for p in model.pieces], dtype=object)
        self.routes = CharacterRoutes(proto)
        self.normalizer = normalizer
        self.plain_ascii = ascii_normalization_is_plain(proto)
        self.kernel = tf_text.FastSentencepieceTokenizer(search)
        self._exact_ids = exact_ids
        self._exact_pieces = exact_pieces

    def normalize(self, texts) -> tf.Tensor:
        """SentencePiece's normalised text of each row (spaces as "▁", the dummy prefix added)."""
        if not self.plain_ascii:
            return self._op_normalize(texts)
        plain = tf.strings.regex_full_match(texts, _PLAIN_ASCII)
        others = tf.where(tf.logical_not(plain))
        escaped = tf.strings.join(["\u2581", tf.strings.regex_replace(texts, " ", "\u2581")])
        return tf.tensor_scatter_nd_update(escaped, others, self._op_normalize(tf.gather_nd(texts, others)))

    def _op_normalize(self, texts) -> tf.Tensor:
        # Padded with "" and joined: two kernels, where reduce_join on the ragged pieces runs ~20.
        return tf.strings.reduce_join(self.normalizer.tokenize(texts).to_tensor(""), axis=1)

    def routed(self, normalized) -> tf.Tensor:
        """Rows of normalised text the kernel may get wrong (points 4 and 5): bool per row."""
        routes = self.routes
        long = tf.strings.length(normalized, unit="UTF8_CHAR") > routes.max_chars
        if routes.route is None:
            return long
        return long | tf.strings.regex_full_match(normalized, routes.route)

    def kernel_ids(self, normalized) -> tf.RaggedTensor:
        """The kernel's ids of normalised text, unrouted (exact only where ``routed`` is False)."""
        if self.routes.placeholder is not None:
            normalized = tf.strings.regex_replace(normalized, self.routes.swap, self.routes.placeholder)
        return self.kernel.tokenize(normalized)

    def ids(self, texts) -> tf.RaggedTensor:
        """Ragged int32 ids of raw 1-D strings, Python's ``EncodeAsIds``."""
        normalized = self.normalize(texts)
        routed = self.routed(normalized)
        return _merge(self.kernel_ids(normalized), routed, texts, self._exact_ids)

    def pieces(self, texts) -> tf.RaggedTensor:
        """Ragged piece strings of raw 1-D strings, Python's ``EncodeAsPieces``.

        The kernel gives ids only; an unknown piece's surface is not in the vocabulary, so rows
        with one go through the exact search as well."""
        normalized = self.normalize(texts)
        ids = self.kernel_ids(normalized)
        routed = self.routed(normalized) | tf.reduce_any(tf.equal(ids, self.unk_id), axis=1)
        pieces = ids.with_flat_values(tf.gather(tf.constant(self.pieces_table), ids.flat_values))
        return _merge(pieces, routed, texts, self._exact_pieces)


def _merge(fast: tf.RaggedTensor, routed, texts, exact: Callable) -> tf.RaggedTensor:
    """``fast`` with the routed rows replaced by ``exact`` of those rows (searched only when
    there are some)."""
    def search():
        found = exact(tf.gather(texts, tf.where(routed)[:, 0])).with_row_splits_dtype(tf.int64)
        rows = tf.size(routed, out_type=tf.int64)
        rank = tf.cumsum(tf.cast(routed, tf.int64), exclusive=True)
        order = tf.where(routed, rows + rank, tf.range(rows))
        return tf.gather(tf.concat([fast.with_row_splits_dtype(tf.int64), found], axis=0), order)

    return ragged_if(tf.reduce_any(routed), search, fast)
