"""The original ALBERT tokenization as TensorFlow ops, id-for-id equal to Python.

Serving raw strings needs the tokenizer inside the graph, and a model only
behaves as trained if the ids are *exactly* those of the Python pipeline in
:mod:`albert_tf.text.tokenizer`. Close is not enough, so each Python step gets
a formulation that is exact by construction:

* Whitespace: Python's ``str.split()`` set (``str.isspace``: 29 code points,
  including ``\\x1c-\\x1f``, NEL, NBSP, U+3000 ...) as an explicit RE2 class.
* NFKD + dropping combining-class != 0: both act character by character once
  reordering is ignored (canonical reordering only permutes characters of
  non-zero class, which are dropped anyway), so a per-code-point table built
  from :mod:`unicodedata` at import time is exact. ICU's NFKD and ``\\p{Mn}``
  are not: 25 characters have a non-zero class without being Mn, 1,063 Mn
  characters have class 0, and ICU may carry another Unicode version.
* ``str.lower()``: full per-character mappings from Python itself (``İ``
  becomes two characters, ``ß`` stays, unlike ``case_fold_utf8``), plus the
  one context rule Python applies, the final sigma, computed with vectorised
  "previous/next non-case-ignorable character" arithmetic. The case-ignorable
  and cased classes are probed from ``str.lower`` itself, so they match the
  running Python exactly.
* SentencePiece itself: tensorflow-text's op bundles an older SentencePiece
  whose search rounds and breaks ties differently from Python's sentencepiece
  0.2.x (e.g. "-11111" as ``1 11 11`` versus ``11 11 1``; a few lines in ten
  thousand of ordinary text, many more in numbers and repeated characters).
  So the op only normalises, and :class:`_UnigramSegmenter` redoes the search
  with Python's exact float32 arithmetic.
* The digit-comma rule: an RE2 class of every ``str.isdigit`` character (or,
  on ids, per-piece flags computed with the same Python test), the
  re-encoding done by the same search, and the resulting pieces spliced back
  with ragged gathers.

Rows that are pure ASCII after the whitespace step take a fast path (ASCII
lowering only) because the character tables are the identity on ASCII.
"""

from __future__ import annotations

import base64
import functools
import os
import unicodedata
import warnings
from typing import Optional

import keras
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from albert_tf.text.tokenizer import (
    SPIECE_UNDERLINE,
    AlbertTokenizer,
    _is_digit_comma_piece,
    model_source,
    load_sentencepiece,
    SpecialIdsMixin,
    special_ids,
)

_SIGMA = "\u03a3"
_SKIP, _CASED, _OTHER = 0, 1, 2  # classes of one character for the final-sigma rule
_MAX_CODE_POINT = 0x110000


def _code_points():
    # Surrogates cannot occur in valid UTF-8, which is all the graph ever sees.
    return (cp for cp in range(_MAX_CODE_POINT) if not 0xD800 <= cp <= 0xDFFF)


def _regex_class(code_points) -> str:
    """An RE2 character class matching exactly ``code_points``."""
    cps = sorted(code_points)
    parts, start, prev = [], cps[0], cps[0]
    for cp in cps[1:] + [None]:
        if cp is not None and cp == prev + 1:
            prev = cp
            continue
        parts.append(f"\\x{{{start:x}}}" if start == prev else f"\\x{{{start:x}}}-\\x{{{prev:x}}}")
        if cp is not None:
            start = prev = cp
    return "[" + "".join(parts) + "]"


@functools.lru_cache(maxsize=None)
def _whitespace_run_regex() -> str:
    return _regex_class(cp for cp in _code_points() if chr(cp).isspace()) + "+"


@functools.lru_cache(maxsize=None)
def _digit_comma_regex() -> str:
    # encode_pieces: len(piece) > 1 and piece[-1] == "," and piece[-2].isdigit()
    return "(?s).*" + _regex_class(cp for cp in _code_points() if chr(cp).isdigit()) + ","


@functools.lru_cache(maxsize=None)
def _accent_strip_map() -> dict:
    """code point -> NFKD without combining marks, where that differs from the char."""
    combining = unicodedata.combining
    table = {}
    for cp in _code_points():
        c = chr(cp)
        d = unicodedata.normalize("NFKD", c)
        if d == c and not combining(c):
            continue
        table[cp] = "".join(x for x in d if not combining(x))
    return table


@functools.lru_cache(maxsize=None)
def _case_classes() -> bytearray:
    """For every code point: how ``str.lower`` sees it when deciding a final sigma.

    CPython's rule: Σ becomes ς when the nearest non-case-ignorable character
    before it is cased and the nearest one after it is not (or there is none).
    Probing ``str.lower`` gives the two properties exactly as this Python has
    them: ``x + "Σ"`` ends in ς iff x is cased and not case-ignorable;
    ``"A" + x + "Σ"`` ends in ς iff x is cased or case-ignorable.
    """
    classes = bytearray([_OTHER]) * _MAX_CODE_POINT
    for cp in _code_points():
        x = chr(cp)
        if (x + _SIGMA).lower()[-1] == "\u03c2":
            classes[cp] = _CASED
        elif ("A" + x + _SIGMA).lower()[-1] == "\u03c2":
            classes[cp] = _SKIP
    return classes


class _Tables:
    """Numpy tables for one ``lower`` setting; turned into graph constants on use."""

    def __init__(self, lower: bool):
        strip = _accent_strip_map()
        mapping = {}
        if lower:
            classes = _case_classes()
            sigma_producers = []
            for cp in _code_points():
                c = chr(cp)
                stripped = strip.get(cp, c)
                if _SIGMA in stripped:
                    if stripped != _SIGMA:
                        # Never true up to Unicode 15; the context rule below
                        # assumes a producer contributes exactly one Σ.
                        raise RuntimeError(
                            f"U+{cp:04X} decomposes to {stripped!r}, which mixes Σ with other "
                            "characters; the in-graph final-sigma rule does not cover that"
                        )
                    sigma_producers.append(cp)
                lowered = "".join(u if u == _SIGMA else u.lower() for u in stripped)
                if lowered != c:
                    mapping[cp] = lowered
            # Per code point, how its stripped text looks to the final-sigma
            # scan: bit 0 all case-ignorable (or empty), bit 1 first
            # non-ignorable char is cased, bit 2 last one is cased.
            codes = np.zeros(_MAX_CODE_POINT, dtype=np.int8)
            for cp in range(_MAX_CODE_POINT):
                stripped = strip.get(cp)
                if stripped is None:
                    cls = classes[cp]
                    codes[cp] = 1 if cls == _SKIP else (6 if cls == _CASED else 0)
                    continue
                stops = [classes[ord(u)] for u in stripped if classes[ord(u)] != _SKIP]
                if not stops:
                    codes[cp] = 1
                else:
                    codes[cp] = (2 if stops[0] == _CASED else 0) | (4 if stops[-1] == _CASED else 0)
            change = np.flatnonzero(np.diff(codes)) + 1
            self.class_starts = np.concatenate([[0], change]).astype(np.int32)
            self.class_codes = codes[self.class_starts].astype(np.int32)
            self.sigma_producers = np.array(sigma_producers, dtype=np.int32)
        else:
            mapping = strip
        keys = sorted(mapping)
        self.keys = np.array(keys, dtype=np.int32)
        # Replacement texts as a ragged table of code points: row k is mapping[keys[k]].
        lengths = [len(mapping[k]) for k in keys]
        self.value_splits = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self.value_code_points = np.array(
            [ord(c) for k in keys for c in mapping[k]], dtype=np.int32
        )
        self.lower = lower


@functools.lru_cache(maxsize=None)
def _tables(lower: bool) -> _Tables:
    return _Tables(lower)


def _collapse_whitespace(texts: tf.Tensor) -> tf.Tensor:
    texts = tf.strings.regex_replace(texts, _whitespace_run_regex(), " ")
    return tf.strings.regex_replace(texts, "^ | $", "")


def _map_characters(texts: tf.Tensor, tables: _Tables) -> tf.Tensor:
    """Accent stripping (and lowering) of valid UTF-8 strings via code-point tables.

    Works on code points throughout: each one becomes a row (itself, its table
    replacement, or ς/σ), rows are gathered from one ragged "bank" and the
    result is encoded back to UTF-8 in one op.
    """
    cps = tf.strings.unicode_decode(texts, "UTF-8")
    flat = cps.flat_values
    n = tf.size(flat, out_type=tf.int64)
    keys = tf.constant(tables.keys)
    num_keys = tf.size(keys, out_type=tf.int64)
    idx = tf.minimum(tf.searchsorted(keys, flat, side="left", out_type=tf.int64), num_keys - 1)
    found = tf.equal(tf.gather(keys, idx), flat)
    # Bank rows: [0, K) replacements, [K, K+N) the characters themselves, then ς and σ.
    bank = tf.concat(
        [
            tf.RaggedTensor.from_row_splits(
                tf.constant(tables.value_code_points), tf.constant(tables.value_splits)
            ),
            tf.RaggedTensor.from_tensor(tf.expand_dims(flat, -1)),
            tf.RaggedTensor.from_tensor(tf.constant([[0x3C2], [0x3C3]], tf.int32)),
        ],
        axis=0,
    )
    choice = tf.where(found, idx, num_keys + tf.range(n))
    if tables.lower:
        is_sigma = tf.reduce_any(
            tf.equal(tf.expand_dims(flat, -1), tf.constant(tables.sigma_producers)[tf.newaxis, :]),
            axis=-1,
        )

        def with_sigmas():
            final = _final_sigma(cps, flat, tables)
            return tf.where(is_sigma, num_keys + n + tf.cast(tf.logical_not(final), tf.int64), choice)

        # The context scan costs more than everything else here; Σ is rare.
        choice = tf.cond(tf.reduce_any(is_sigma), with_sigmas, lambda: choice)
    mapped = cps.with_flat_values(tf.gather(bank, choice)).merge_dims(1, 2)
    return tf.strings.unicode_encode(mapped, "UTF-8")


def _final_sigma(cps, flat, tables: _Tables) -> tf.Tensor:
    """For every position: would ``str.lower`` turn a Σ here into ς (final form)?"""
    starts = tf.constant(tables.class_starts)
    code = tf.gather(tf.constant(tables.class_codes), tf.searchsorted(starts, flat, side="right") - 1)
    transparent = tf.equal(tf.bitwise.bitwise_and(code, 1), 1)
    first_cased = tf.equal(tf.bitwise.bitwise_and(code, 2), 2)
    last_cased = tf.equal(tf.bitwise.bitwise_and(code, 4), 4)

    n = tf.size(flat, out_type=tf.int64)
    rowids = cps.value_rowids()
    row_start = tf.gather(cps.row_splits, rowids)
    row_end = tf.gather(cps.row_splits, rowids + 1)
    stop = tf.cast(tf.logical_not(transparent), tf.int64)
    before = tf.cumsum(stop, exclusive=True)  # stops strictly before each position
    stop_positions = tf.where(tf.logical_not(transparent))[:, 0]
    prev = tf.gather(tf.concat([tf.constant([-1], tf.int64), stop_positions], 0), before)
    nxt = tf.gather(tf.concat([stop_positions, [n]], 0), before + stop)
    has_prev = prev >= row_start
    has_next = nxt < row_end
    prev_cased = has_prev & tf.gather(last_cased, tf.where(has_prev, prev, 0))
    next_cased = has_next & tf.gather(first_cased, tf.where(has_next, nxt, 0))
    return prev_cased & tf.logical_not(next_cased)


def preprocess_text_graph(texts, lower: bool = False) -> tf.Tensor:
    """In-graph ``preprocess_text`` for a 1-D string tensor (bytes that are not
    UTF-8 become U+FFFD, as ``bytes.decode("utf-8", "replace")`` does)."""
    texts = tf.convert_to_tensor(texts, dtype=tf.string)
    texts = tf.strings.unicode_transcode(
        texts, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD
    )
    texts = _collapse_whitespace(texts)
    ascii_rows = tf.strings.regex_full_match(texts, "[\\x00-\\x7f]*")
    fast_idx = tf.cast(tf.where(ascii_rows)[:, 0], tf.int32)
    slow_idx = tf.cast(tf.where(tf.logical_not(ascii_rows))[:, 0], tf.int32)
    fast = tf.gather(texts, fast_idx)
    if lower:
        fast = tf.strings.lower(fast)  # encoding "" lowers ASCII bytes only
    slow = _map_characters(tf.gather(texts, slow_idx), _tables(bool(lower)))
    return tf.dynamic_stitch([fast_idx, slow_idx], [fast, slow])


def _decode_proto(proto) -> bytes:
    if isinstance(proto, (bytes, bytearray)):
        return bytes(proto)
    if isinstance(proto, str):  # as stored by get_config
        return base64.b64decode(proto.encode("ascii"))
    raise TypeError(f"proto must be bytes or a base64 string, got {type(proto).__name__}")


def _as_batch(inputs) -> tuple:
    """1-D string tensor plus a flag saying whether the input was a scalar."""
    x = tf.convert_to_tensor(inputs, dtype=tf.string)
    if x.shape.rank == 0:
        return tf.reshape(x, [1]), True
    if x.shape.rank == 2 and x.shape[-1] == 1:
        return tf.squeeze(x, -1), False
    if x.shape.rank != 1:
        raise ValueError(f"Expected a string tensor of shape [batch] or [batch, 1], got {x.shape}")
    return x, False


def _installed_sentencepiece_is_emulated() -> bool:
    import sentencepiece

    try:
        version = tuple(int(part) for part in sentencepiece.__version__.split(".")[:3])
    except ValueError:
        return False
    return (0, 2, 2) <= version < (0, 3, 0)


class _UnigramSegmenter:
    """SentencePiece's unigram search (``EncodeOptimized`` of sentencepiece
    0.2.2/0.2.3) in TensorFlow ops, so that ties come out as in Python.

    The tensorflow-text op is used only to normalise (its pieces, joined, are
    the normalised text); the search is redone with Python's arithmetic:
    float32 sums, a strict ``>`` so that the earliest start wins a tie,
    user-defined symbols scored ``float(0.1 * (bytes - 1))``, unknown
    characters ``min_score - 10`` (only where no one-character piece
    matches), scores re-based once they pass +-1e5, and runs of unknown
    pieces merged into one.

    Layout: candidates come from a character trie walked from every position
    at once. Every "▁" starts a *lane* (no piece holds an inner "▁", so none
    crosses it) and all lanes of the batch advance together in a
    ``tf.while_loop`` that carries the scores of the next ``max_length`` end
    positions; the best path is read back with binary lifting. A lane's result
    depends on the score it starts from only through rounding, so lanes start
    from the sums along a first pass's paths and passes repeat until each lane
    starts exactly where the previous one ended (one extra pass in practice);
    rows whose scores pass 1e5 are searched whole, left to right.
    """

    _CP_BITS = 21  # code points fit in 21 bits: trie keys are node << 21 | cp

    def __init__(self, proto: bytes, op):
        from sentencepiece import sentencepiece_model_pb2 as model_pb2

        model = model_pb2.ModelProto()
        model.ParseFromString(proto)
        kinds = model_pb2.ModelProto.SentencePiece
        self.op = op
        self.unk_id = int(model.trainer_spec.unk_id)
        normal = [np.float32(p.score) for p in model.pieces if p.type == kinds.NORMAL]
        min_score = min(normal) if normal else np.float32(np.finfo(np.float32).max)
        self.unk_score = np.float32(min_score - np.float32(10.0))
        scores = np.zeros(len(model.pieces), dtype=np.float32)
        children = [{}]
        terminal = [-1]
        for piece_id, piece in enumerate(model.pieces):
            if piece.type not in (kinds.NORMAL, kinds.USER_DEFINED, kinds.UNUSED):
                continue  # control and unknown pieces are never matched in text
            if piece.type == kinds.USER_DEFINED:
                # C++: float GetUserDefinedScore(int length) { return 0.1 * (length - 1); }
                scores[piece_id] = np.float32(0.1 * (len(piece.piece.encode("utf-8")) - 1))
            else:
                scores[piece_id] = np.float32(piece.score)
            node = 0
            for char in piece.piece:
                nxt = children[node].get(ord(char))
                if nxt is None:
                    nxt = len(children)
                    children[node][ord(char)] = nxt
                    children.append({})
                    terminal.append(-1)
                node = nxt
            # Unused pieces stay in the trie (the walk goes through them) but never match.
            terminal[node] = -1 if piece.type == kinds.UNUSED else piece_id
        edges = sorted(
            ((parent << self._CP_BITS) | cp, child)
            for parent, table in enumerate(children)
            for cp, child in table.items()
        )
        self.edge_keys = np.array([k for k, _ in edges], dtype=np.int64)
        self.edge_children = np.array([c for _, c in edges], dtype=np.int32)
        self.terminal = np.array(terminal, dtype=np.int32)
        self.scores = scores
        # Words can be searched separately only if no piece carries "▁" inside.
        self.split_words = not any(
            SPIECE_UNDERLINE in p.piece[1:] for p in model.pieces
            if p.type in (kinds.NORMAL, kinds.USER_DEFINED, kinds.UNUSED))
        spec = [tf.TensorSpec([None], tf.string)]
        self._segment_fn = tf.function(
            self._segment, input_signature=spec, autograph=False, reduce_retracing=True,
            experimental_attributes={"_noinline": True})
        self._pass_fns = {
            flag: tf.function(
                functools.partial(self._pass_impl, rebase=flag), autograph=False,
                reduce_retracing=True, experimental_attributes={"_noinline": True})
            for flag in (False, True)
        }
        self.max_length = max(
            (len(p.piece) for p in model.pieces
             if p.type in (kinds.NORMAL, kinds.USER_DEFINED, kinds.UNUSED)),
            default=1,
        )

    @staticmethod
    def applies_to(proto: bytes) -> bool:
        from sentencepiece import sentencepiece_model_pb2 as model_pb2

        model = model_pb2.ModelProto()
        model.ParseFromString(proto)
        spec = model.trainer_spec
        return spec.model_type == model_pb2.TrainerSpec.UNIGRAM and not spec.byte_fallback

    def code_points(self, texts) -> tf.RaggedTensor:
        """The normalised text of each row as code points (SentencePiece's normaliser)."""
        pieces = self.op.tokenize(texts)
        chars = tf.strings.unicode_decode(pieces.flat_values, "UTF-8")
        return pieces.with_flat_values(chars).merge_dims(1, 2)

    def segment(self, texts):
        """Pieces of each text: ragged ids and character spans in the normalised text.

        Returns ``(ids, starts, ends, code_points)``. Traced once per segmenter
        and called as a function, so its large graph is built and optimised once.
        """
        return self._segment_fn(texts)

    def _segment(self, texts):
        cps = self.code_points(texts)
        if self.split_words:
            by_words = self._solve(cps, words=True)
            # Scores past +-1e5 make SentencePiece re-base them mid-sentence; only
            # a left-to-right scan over whole rows reproduces that. A loop run 0 or 1
            # times, not tf.cond: a TF1 session (saved_model_cli, TF Serving) lowers a
            # cond whose branch holds loops into frames that can fail to match.
            def scan_rows(i, *_):
                return (i + 1,) + tuple(self._solve(cps, words=False)[:-1])

            flat = tf.while_loop(
                lambda i, *_: i < tf.cast(by_words[-1], tf.int32),
                scan_rows,
                (tf.constant(0),) + tuple(by_words[:-1]),
                shape_invariants=(tf.TensorShape([]),) + (tf.TensorShape([None]),) * 4,
            )[1:]
        else:
            flat = self._solve(cps, words=False)[:-1]
        ids, starts, ends, rowids = flat
        nrows = cps.nrows()

        def ragged(values):
            return tf.RaggedTensor.from_value_rowids(values, tf.cast(rowids, tf.int64), nrows)

        ids, starts, ends = ragged(ids), ragged(starts), ragged(ends)
        # Runs of unknown pieces become one piece, as the processor merges them.
        is_unk = tf.equal(ids, self.unk_id)
        next_unk = tf.concat([is_unk[:, 1:], tf.zeros_like(is_unk[:, :1])], axis=1)
        keep = tf.logical_not(is_unk & next_unk)
        ids = tf.ragged.boolean_mask(ids, keep)
        ends = tf.ragged.boolean_mask(ends, keep)
        starts = tf.concat([tf.zeros_like(ends[:, :1]), ends[:, :-1]], axis=1)
        return ids, starts, ends, cps

    def _solve(self, cps, words: bool):
        """Flat piece ids, starts, ends and row ids, plus "needs the row scan" (words only).

        With ``words``, every "▁" starts a lane (no piece has an inner "▁", so
        no piece crosses it) and all lanes are searched in parallel. A lane's
        search depends on the score reached before it only through float
        rounding, so the starting scores are first guessed from a pass that
        assumes 0, then the passes repeat until every lane starts exactly
        where the previous one ended: then each lane saw the same numbers as
        the sequential search, and the result is the same, bit for bit.
        """
        layout = self._layout(cps, words)
        candidates = self._candidates(layout)
        zeros = tf.zeros(tf.stack([layout["lanes"]]), tf.float32)
        first = self._pass(layout, candidates, zeros, rebase=not words)
        if not words:
            return first[:4] + (tf.constant(False),)

        def consistent(out, prefix):
            return tf.reduce_all(tf.equal(self._chained(layout, out), prefix))

        # Usually the second pass, started from the sums along the first
        # pass's paths, is already consistent.
        prefix = self._summed(layout, first)
        second = self._pass(layout, candidates, prefix, rebase=False)

        def body(k, prefix, done, *out):
            summed = self._summed(layout, out)
            # Prefer the sums along the new paths; chaining lane ends instead
            # fixes at least one more lane per pass, whatever happens.
            stuck = (k >= 3) | tf.reduce_all(tf.equal(summed, prefix))
            prefix = tf.where(stuck, self._chained(layout, out), summed)
            out = self._pass(layout, candidates, prefix, rebase=False)
            return (k + 1, prefix, consistent(out, prefix)) + tuple(out)

        # Zero iterations when the second pass is consistent (no tf.cond around the
        # loop, for the TF1-session reason given in _segment).
        settled = tf.while_loop(
            lambda k, prefix, done, *out: tf.logical_not(done),
            body,
            (tf.constant(0), prefix, consistent(second, prefix)) + tuple(second),
        )
        prefix, out = settled[1], settled[3:]
        threshold = tf.constant(100000.0, tf.float32)
        risky = tf.reduce_any(tf.abs(out[5]) > threshold) | tf.reduce_any(tf.abs(prefix) > threshold)
        return tuple(out[:4]) + (risky,)

    def _layout(self, cps, words: bool) -> dict:
        """Lanes (rows, or words) and the order in which the search visits them.

        Lanes are sorted longest first, so at step i the lanes still running
        are a prefix of that order and their data a contiguous block.
        """
        flat = cps.flat_values
        total = tf.size(flat)
        rowids = tf.cast(cps.value_rowids(), tf.int32)
        row_starts = tf.cast(cps.row_starts(), tf.int32)
        index = tf.range(total)
        is_start = tf.equal(index, tf.gather(row_starts, rowids))
        if words:
            is_start |= tf.equal(flat, ord(SPIECE_UNDERLINE))
        lane_of = tf.cumsum(tf.cast(is_start, tf.int32)) - 1
        lane_begin = tf.cast(tf.where(is_start)[:, 0], tf.int32)
        lanes = tf.size(lane_begin)
        lane_len = tf.concat([lane_begin[1:], [total]], 0)[:lanes] - lane_begin
        lane_row = tf.gather(rowids, lane_begin)
        order = tf.argsort(-lane_len, stable=True)
        rank = tf.math.invert_permutation(order)
        sorted_len = tf.gather(lane_len, order)
        width = tf.reduce_max(tf.concat([lane_len, [0]], 0))
        active = tf.searchsorted(-sorted_len, -tf.range(width), side="left", out_type=tf.int32)
        offsets = tf.cumsum(active, exclusive=True)
        in_lane = index - tf.gather(lane_begin, lane_of)
        return {
            "flat": flat, "total": total, "rowids": rowids, "lanes": lanes,
            "lane_of": lane_of, "lane_begin": lane_begin, "lane_len": lane_len,
            "lane_row": lane_row, "lane_offset": lane_begin - tf.gather(row_starts, lane_row),
            "order": order, "width": width, "active": active, "offsets": offsets,
            "in_lane": in_lane,
            # Where the data of (lane, i) lives in visiting order.
            "visit": tf.gather(offsets, in_lane) + tf.gather(rank, lane_of),
        }

    def _candidates(self, layout):
        """Ids, scores and "has a one-character piece" per (lane, i), in visiting order."""
        span = self.max_length
        total, lane_of = layout["total"], layout["lane_of"]
        # One -1 after every lane: a walk reaching it finds no trie edge.
        slot = tf.range(total) + lane_of
        padded = tf.scatter_nd(
            tf.expand_dims(slot, 1), layout["flat"] + 1, tf.stack([total + layout["lanes"] + span])) - 1
        keys = tf.constant(self.edge_keys)
        children = tf.constant(self.edge_children)
        terminal = tf.constant(self.terminal)
        last_key = tf.size(keys) - 1
        origin = tf.range(total)
        node = tf.zeros_like(origin, dtype=tf.int64)
        found_at, found_length, found_id = [], [], []
        for step in range(span):  # walk the trie from every position at once
            cp = tf.cast(tf.gather(padded, tf.gather(slot, origin) + step), tf.int64)
            key = tf.bitwise.left_shift(node, self._CP_BITS) | cp
            j = tf.minimum(tf.searchsorted(keys, key, out_type=tf.int32), last_key)
            ok = tf.where(tf.equal(tf.gather(keys, j), key))[:, 0]
            origin = tf.gather(origin, ok)
            child = tf.gather(children, tf.gather(j, ok))
            node = tf.cast(child, tf.int64)
            piece = tf.gather(terminal, child)
            hit = tf.where(piece >= 0)[:, 0]
            found_at.append(tf.gather(origin, hit))
            found_length.append(tf.fill(tf.shape(hit), step))
            found_id.append(tf.gather(piece, hit))
        where_ = tf.stack(
            [tf.gather(layout["visit"], tf.concat(found_at, 0)), tf.concat(found_length, 0)], axis=1)
        ids = tf.tensor_scatter_nd_update(
            tf.fill(tf.stack([total, span]), -1), where_, tf.concat(found_id, 0))
        scores = tf.gather(tf.constant(self.scores), tf.maximum(ids, 0))
        return ids, scores, ids[:, 0] >= 0

    def _pass(self, layout, candidates, prefix, rebase: bool):
        return self._pass_fns[rebase](layout, candidates, prefix)

    def _pass_impl(self, layout, candidates, prefix, rebase: bool):
        """One search of every lane from the given starting scores.

        Returns, for the pieces of the best paths in text order: ids, start and
        end characters within the row, row and lane; then the best score at
        every position (word-major) and the score each path piece added.
        """
        cand_ids, cand_scores, single = candidates
        span = self.max_length
        active, offsets, order = layout["active"], layout["offsets"], layout["order"]
        unk_score = tf.constant(self.unk_score, tf.float32)
        threshold = tf.constant(100000.0, tf.float32)
        lanes = layout["lanes"]

        def new_ta(dtype):
            # Element 0 is an empty placeholder so that concat() works for empty batches.
            ta = tf.TensorArray(dtype, size=1, dynamic_size=True, infer_shape=False,
                                element_shape=tf.TensorShape([None]))
            return ta.write(0, tf.zeros([0], dtype))

        def step(i, best, window, window_start, window_id, starts_ta, ids_ta, values_ta):
            count, begin = active[i], offsets[i]
            best, window = best[:count], window[:count]
            window_start, window_id = window_start[:count], window_id[:count]
            if rebase:  # sentencepiece 0.2.2+: re-base scores that drift past +-1e5
                drifted = (best < -threshold) | (best > threshold)
                window = tf.where(
                    drifted[:, None] & (window_start != -1), window - best[:, None], window)
                best = tf.where(drifted, tf.zeros_like(best), best)
            cand_id = cand_ids[begin:begin + count]
            cand = cand_scores[begin:begin + count] + best[:, None]
            update = (cand_id >= 0) & ((window_start == -1) | (cand > window))
            window = tf.where(update, cand, window)
            window_start = tf.where(update, i, window_start)
            window_id = tf.where(update, cand_id, window_id)
            # An unknown character is a candidate only where no one-character piece matches.
            unk = unk_score + best
            take_unk = tf.logical_not(single[begin:begin + count]) & (
                (window_start[:, 0] == -1) | (unk > window[:, 0]))
            first = tf.where(take_unk, unk, window[:, 0])
            first_start = tf.where(take_unk, i, window_start[:, 0])
            first_id = tf.where(take_unk, self.unk_id, window_id[:, 0])
            pad_f = tf.zeros_like(window[:, :1])
            pad_i = tf.fill(tf.shape(pad_f), -1)
            return (
                i + 1, first,
                tf.concat([window[:, 1:], pad_f], 1),
                tf.concat([window_start[:, 1:], pad_i], 1),
                tf.concat([window_id[:, 1:], pad_i], 1),
                starts_ta.write(i + 1, first_start),
                ids_ta.write(i + 1, first_id),
                values_ta.write(i + 1, first),
            )

        unset = tf.fill(tf.stack([lanes, span]), -1)
        loop_vars = (
            tf.constant(0), tf.gather(prefix, order), tf.zeros(tf.stack([lanes, span]), tf.float32),
            unset, unset, new_ta(tf.int32), new_ta(tf.int32), new_ta(tf.float32),
        )
        # The lane count is dynamic, so the shrinking lane dimension needs no invariants.
        *_, starts_ta, ids_ta, values_ta = tf.while_loop(
            lambda i, *_: i < layout["width"], step, loop_vars)
        visit = layout["visit"]
        # Back to word-major order: node g is the end after character in_lane[g] of its lane.
        start = tf.gather(starts_ta.concat(), visit)
        piece_id = tf.gather(ids_ta.concat(), visit)
        values = tf.gather(values_ta.concat(), visit)
        on_path = self._on_path(layout, start)
        lane_of = layout["lane_of"]
        offset = tf.gather(layout["lane_offset"], lane_of)
        keep = tf.where(on_path)[:, 0]
        path_ids = tf.gather(piece_id, keep)
        path_scores = tf.where(
            tf.equal(path_ids, self.unk_id), tf.fill(tf.shape(path_ids), self.unk_score),
            tf.gather(tf.constant(self.scores), tf.maximum(path_ids, 0)))
        return (
            path_ids,
            tf.gather(offset + start, keep),
            tf.gather(offset + layout["in_lane"] + 1, keep),
            tf.gather(layout["rowids"], keep),
            tf.gather(lane_of, keep),
            values,
            path_scores,
        )

    def _on_path(self, layout, start):
        """Which positions end a piece of their lane's best path (binary lifting).

        Node g ends after character in_lane[g]; its parent is the node ending
        where its piece starts, or the root. With jumps of 2**k parents, the
        lowest node of the path at or after g is found in log(width) steps
        for every g at once; g is on the path exactly when that node is g.
        """
        total = layout["total"]
        lane_begin = tf.gather(layout["lane_begin"], layout["lane_of"])
        root = total
        parent = tf.concat([tf.where(start > 0, lane_begin + start - 1, root), [root]], 0)
        position = tf.concat([layout["in_lane"] + 1, [0]], 0)
        lane_last = layout["lane_begin"] + layout["lane_len"] - 1
        top = tf.gather(lane_last, layout["lane_of"])
        levels = tf.TensorArray(tf.int32, size=0, dynamic_size=True, clear_after_read=False,
                                element_shape=tf.TensorShape([None]))
        levels = levels.write(0, parent)

        def build(k, jump, levels):
            jump = tf.gather(jump, jump)
            return k + 1, jump, levels.write(k, jump)

        count, _, levels = tf.while_loop(
            lambda k, jump, levels: tf.bitwise.left_shift(1, k - 1) <= layout["width"],
            build, (tf.constant(1), parent, levels))
        target = position[:-1]

        def lift(k, node):
            jumped = tf.gather(levels.read(k), node)
            return k - 1, tf.where(tf.gather(position, jumped) >= target, jumped, node)

        _, lowest = tf.while_loop(lambda k, _: k >= 0, lift, (count - 1, top))
        return tf.equal(lowest, tf.range(total))

    def _chained(self, layout, out):
        """Each lane's start score if the previous lane of its row ended where it claims."""
        lane_values = tf.gather(out[5], layout["lane_begin"] + layout["lane_len"] - 1)
        previous = tf.concat([[0.0], lane_values[:-1]], 0)
        same_row = tf.concat([[False], tf.equal(layout["lane_row"][1:], layout["lane_row"][:-1])], 0)
        return tf.where(same_row, previous, tf.zeros_like(previous))

    def _summed(self, layout, out):
        """Each lane's start score as the float sum, left to right, of the path before it."""
        path_rows, path_lanes, path_scores = out[3], out[4], out[6]
        nrows = tf.reduce_max(tf.concat([layout["rowids"] + 1, [0]], 0))
        per_row = tf.RaggedTensor.from_value_rowids(path_scores, path_rows, nrows)
        # tf.cumsum adds strictly left to right, as the C++ loop does.
        before = tf.cumsum(per_row.to_tensor(), axis=1, exclusive=True)
        flat_before = tf.RaggedTensor.from_tensor(before, lengths=per_row.row_lengths()).flat_values
        first_piece = tf.math.unsorted_segment_min(
            tf.range(tf.size(path_lanes)), path_lanes, layout["lanes"])
        return tf.gather(flat_before, first_piece)


_SEGMENTERS: dict = {}


def _segmenter_for(proto: bytes) -> _UnigramSegmenter:
    """One segmenter (and one traced search) per model and process, when built eagerly."""
    if not tf.executing_eagerly():
        return _UnigramSegmenter(
            proto, tf_text.SentencepieceTokenizer(model=proto, out_type=tf.string))
    segmenter = _SEGMENTERS.get(proto)
    if segmenter is None:
        if len(_SEGMENTERS) >= 8:
            _SEGMENTERS.pop(next(iter(_SEGMENTERS)))
        segmenter = _UnigramSegmenter(
            proto, tf_text.SentencepieceTokenizer(model=proto, out_type=tf.string))
        _SEGMENTERS[proto] = segmenter
    return segmenter


class _VocabTables:
    """Per-piece facts for running the digit-comma rule on ids instead of strings.

    SentencePiece's id output loses the surface text of unknown pieces, which is
    harmless exactly when "," and "▁" are pieces of their own: an unknown run
    can then contain neither, so it can never end in a digit and a comma, nor
    start with "▁". Models where that fails fall back to the string path.
    """

    def __init__(self, sp):
        size = sp.GetPieceSize()
        pieces = [sp.IdToPiece(i) for i in range(size)]
        self.comma_id = sp.PieceToId(",")
        self.digit_comma = np.array([_is_digit_comma_piece(p) for p in pieces], dtype=bool)
        self.bodies = np.array(
            [p[:-1].replace(SPIECE_UNDERLINE, "").encode("utf-8") if self.digit_comma[i] else b""
             for i, p in enumerate(pieces)],
            dtype=object,
        )
        self.marked = np.array([p.startswith(SPIECE_UNDERLINE) for p in pieces], dtype=bool)
        self.lone_marker = np.array([p == SPIECE_UNDERLINE for p in pieces], dtype=bool)
        self.unmarked_id = np.array(
            [sp.PieceToId(p[1:]) if len(p) > 1 and p.startswith(SPIECE_UNDERLINE) else i
             for i, p in enumerate(pieces)],
            dtype=np.int32,
        )

    @staticmethod
    def build(sp) -> Optional["_VocabTables"]:
        def own_piece(text):
            piece_id = sp.PieceToId(text)
            return sp.IdToPiece(piece_id) == text and not (
                sp.IsUnknown(piece_id) or sp.IsControl(piece_id) or sp.IsUnused(piece_id))

        return _VocabTables(sp) if own_piece(",") and own_piece(SPIECE_UNDERLINE) else None


class _Pipeline:
    """Everything between raw strings and ids, for one model and one setting.

    Shared by the layers with the same model and settings (see
    :func:`_pipeline_for`): its functions are traced and optimised once per
    process instead of once per layer.
    """

    def __init__(self, proto: bytes, source: str, do_lower_case: bool,
                 keep_spurious_underline: bool, exact_segmentation: bool):
        sp = load_sentencepiece(proto, source)  # validates before TF sees the bytes
        self.special_ids = special_ids(sp, source)
        self.vocabulary_size = sp.GetPieceSize()
        self.do_lower_case = do_lower_case
        self.keep_spurious_underline = keep_spurious_underline
        self._vocab_tables = _VocabTables.build(sp)
        self._segmenter = None
        if exact_segmentation and not _UnigramSegmenter.applies_to(proto):
            warnings.warn(
                f"{source} is not a unigram model without byte fallback; the in-graph "
                "tokenizer uses the tensorflow-text op's own search, whose ties may "
                "differ from Python SentencePiece",
                stacklevel=4,
            )
        elif exact_segmentation:
            if not _installed_sentencepiece_is_emulated():
                import sentencepiece

                warnings.warn(
                    f"sentencepiece {sentencepiece.__version__} is installed; the in-graph "
                    "search reproduces 0.2.2/0.2.3, so tied segmentations may differ from "
                    "this Python path (install sentencepiece>=0.2.2,<0.3)",
                    stacklevel=4,
                )
            self._segmenter = _segmenter_for(proto)
        if self._segmenter is not None:
            self.op_strings = self._segmenter.op
        else:
            self.op_strings = tf_text.SentencepieceTokenizer(model=proto, out_type=tf.string)
        self.op_ids = tf_text.SentencepieceTokenizer(model=proto, out_type=tf.int32)
        # Eagerly run, the search loops would crawl op by op: always go through these.
        spec = [tf.TensorSpec([None], tf.string)]
        self.ids_fn = tf.function(
            lambda texts: self.encode_ids(self.preprocess(texts)),
            input_signature=spec, autograph=False, reduce_retracing=True)
        self.pieces_fn = tf.function(
            lambda texts: self.encode_pieces(self.preprocess(texts)),
            input_signature=spec, autograph=False, reduce_retracing=True)

    def preprocess(self, texts) -> tf.Tensor:
        """In-graph ``preprocess_text(text, lower=do_lower_case)`` of a 1-D batch."""
        return preprocess_text_graph(texts, self.do_lower_case)

    def _raw_pieces(self, texts) -> tf.RaggedTensor:
        """SentencePiece ``EncodeAsPieces`` of 1-D strings (no digit-comma rule)."""
        if self._segmenter is None:
            return self.op_strings.tokenize(texts)
        _, starts, ends, cps = self._segmenter.segment(texts)
        normalized = tf.strings.unicode_encode(cps, "UTF-8")
        rows = starts.value_rowids()
        pieces = tf.strings.substr(
            tf.gather(normalized, rows), starts.flat_values, ends.flat_values - starts.flat_values,
            unit="UTF8_CHAR")
        return starts.with_flat_values(pieces)

    def _raw_ids(self, texts) -> tf.RaggedTensor:
        """SentencePiece ``EncodeAsIds`` of 1-D strings (no digit-comma rule)."""
        if self._segmenter is None:
            return self.op_ids.tokenize(texts)
        return self._segmenter.segment(texts)[0]

    def encode_pieces(self, texts) -> tf.RaggedTensor:
        """In-graph ``encode_pieces`` of pre-processed 1-D strings: ragged pieces."""
        pieces = self._raw_pieces(texts)
        flat = pieces.flat_values
        match = tf.strings.regex_full_match(flat, _digit_comma_regex())
        match_idx = tf.where(match)[:, 0]
        matched = tf.gather(flat, match_idx)
        # The comma is one byte, so a byte-wise cut is a character-wise cut.
        lengths = tf.strings.length(matched)
        body = tf.strings.substr(matched, tf.zeros_like(lengths), lengths - 1)
        body = tf.strings.regex_replace(body, SPIECE_UNDERLINE, "")
        sub = self._raw_pieces(body)
        if not self.keep_spurious_underline:
            sub = self._strip_reencoded_underline(matched, sub)
        commas = tf.fill(tf.stack([tf.size(matched), 1]), ",")
        return self._splice(pieces, match, tf.concat([sub, commas], axis=1))

    @staticmethod
    def _strip_reencoded_underline(matched, sub):
        # What the original meant: drop the "▁" SentencePiece prepends to the
        # re-encoding when the original piece did not start with "▁".
        starts_marked = tf.strings.regex_full_match(matched, "\u2581.*")
        first = sub.row_starts()
        flat = sub.flat_values
        positions = tf.range(tf.size(flat, out_type=tf.int64))
        is_first = tf.equal(positions, tf.gather(first, sub.value_rowids()))
        row_cond = tf.logical_not(starts_marked)
        cond = is_first & tf.gather(row_cond, sub.value_rowids()) & tf.strings.regex_full_match(
            flat, "\u2581.*"
        )
        lone = cond & tf.equal(flat, SPIECE_UNDERLINE)
        stripped = tf.where(cond, tf.strings.regex_replace(flat, "^\u2581", ""), flat)
        return tf.ragged.boolean_mask(sub.with_flat_values(stripped), sub.with_flat_values(~lone))

    def encode_ids(self, texts) -> tf.RaggedTensor:
        """In-graph ``encode_ids`` of pre-processed 1-D strings: ragged int32 ids."""
        tables = self._vocab_tables
        if tables is None:  # see _VocabTables.build: only exact on piece strings
            pieces = self.encode_pieces(texts)
            return pieces.with_flat_values(
                tf.cast(self.op_strings.string_to_id(pieces.flat_values), tf.int32)
            )
        ids = self._raw_ids(texts)
        flat = ids.flat_values
        match = tf.gather(tf.constant(tables.digit_comma), flat)
        matched = tf.gather(flat, tf.where(match)[:, 0])
        sub = self._raw_ids(tf.gather(tf.constant(tables.bodies), matched))
        if not self.keep_spurious_underline:
            sub = self._strip_reencoded_underline_ids(matched, sub, tables)
        commas = tf.fill(tf.stack([tf.size(matched), 1]), tf.constant(tables.comma_id, tf.int32))
        sub = tf.concat([sub, commas], axis=1)
        return self._splice(ids, match, sub)

    @staticmethod
    def _splice(rows: tf.RaggedTensor, match, replacements: tf.RaggedTensor) -> tf.RaggedTensor:
        """Replaces each matched element of ``rows`` by the next row of ``replacements``."""
        flat = rows.flat_values
        # Row j of `bank` is element j itself for j < P, else a replacement.
        bank = tf.concat([tf.RaggedTensor.from_tensor(tf.expand_dims(flat, -1)), replacements], axis=0)
        rank = tf.cumsum(tf.cast(match, tf.int64), exclusive=True)
        count = tf.size(flat, out_type=tf.int64)
        choice = tf.where(match, count + rank, tf.range(count))
        return rows.with_flat_values(tf.gather(bank, choice)).merge_dims(1, 2)

    @staticmethod
    def _strip_reencoded_underline_ids(matched, sub, tables):
        # Same rule as _strip_reencoded_underline, on ids via per-piece flags.
        flat = sub.flat_values
        rowids = sub.value_rowids()
        is_first = tf.equal(tf.range(tf.size(flat, out_type=tf.int64)), tf.gather(sub.row_starts(), rowids))
        row_cond = tf.logical_not(tf.gather(tf.constant(tables.marked), matched))
        cond = is_first & tf.gather(row_cond, rowids) & tf.gather(tf.constant(tables.marked), flat)
        lone = cond & tf.gather(tf.constant(tables.lone_marker), flat)
        stripped = tf.where(cond, tf.gather(tf.constant(tables.unmarked_id), flat), flat)
        return tf.ragged.boolean_mask(sub.with_flat_values(stripped), sub.with_flat_values(~lone))



_PIPELINES: dict = {}


def _pipeline_for(proto: bytes, source: str, do_lower_case: bool,
                  keep_spurious_underline: bool, exact_segmentation: bool) -> _Pipeline:
    key = (proto, do_lower_case, keep_spurious_underline, exact_segmentation)
    if not tf.executing_eagerly():  # graph-bound resources must not outlive their graph
        return _Pipeline(proto, source, *key[1:])
    if key not in _PIPELINES:
        if len(_PIPELINES) >= 16:
            _PIPELINES.pop(next(iter(_PIPELINES)))
        _PIPELINES[key] = _Pipeline(proto, source, *key[1:])
    return _PIPELINES[key]


@keras.saving.register_keras_serializable(package="albert_tf")
class AlbertInGraphTokenizer(SpecialIdsMixin, keras.layers.Layer):
    """Raw strings to ALBERT ids inside the graph, equal to :class:`AlbertTokenizer`.

    The SentencePiece model travels in ``get_config`` (base64), so ``.keras``
    files and SavedModels are self-contained. Output: int32 ``RaggedTensor``
    ``[batch, None]`` (a 1-D tensor for a scalar input). Works in ``tf.data``.

    Args:
        spm_model_file: path of the ``.model`` file; or pass ``proto``.
        proto: serialized model bytes (or the base64 string from a config).
        do_lower_case: as :class:`AlbertTokenizer`.
        keep_spurious_underline: reproduce the original digit-comma quirk.
        exact_segmentation: search the segmentation with Python SentencePiece's
            own arithmetic (see ``_UnigramSegmenter``), so that tied scores are
            broken the same way; False uses the tensorflow-text op's search,
            about twice as fast but it may pick another of two equally scored
            segmentations (a few lines in ten thousand of ordinary text).

    Example:

    >>> from data_prep.vocab import train_sentencepiece
    >>> proto = train_sentencepiece(
    ...     [f"In {1900 + i}, the city had {i * 1234:,} people." for i in range(100)],
    ...     vocab_size=60)
    >>> layer = AlbertInGraphTokenizer(proto=proto)  # or spm_model_file="30k-clean.model"
    >>> ids = layer(tf.constant(["In 1990, the CAFÉ!", ""]))
    >>> python = AlbertTokenizer.from_proto(proto)
    >>> ids.to_list() == [python.convert_tokens_to_ids(python.tokenize(t))
    ...                   for t in ["In 1990, the CAFÉ!", ""]]
    True
    """

    def __init__(
        self,
        spm_model_file: Optional[str] = None,
        proto=None,
        do_lower_case: bool = True,
        keep_spurious_underline: bool = True,
        exact_segmentation: bool = True,
        **kwargs,
    ):
        kwargs.setdefault("dtype", "int32")
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        # A config read back from a `.keras` file carries the bytes base64-encoded.
        proto, source = model_source(spm_model_file, None if proto is None else _decode_proto(proto))
        self.proto = proto
        self.do_lower_case = bool(do_lower_case)
        self.keep_spurious_underline = bool(keep_spurious_underline)
        self.exact_segmentation = bool(exact_segmentation)
        pipeline = _pipeline_for(
            proto, source, self.do_lower_case, self.keep_spurious_underline, self.exact_segmentation)
        self.special_ids = dict(pipeline.special_ids)
        self.vocabulary_size = pipeline.vocabulary_size
        # The pipeline (and its traced functions) is shared by every layer with
        # the same model and settings; kept out of Keras' tracking on purpose.
        object.__setattr__(self, "_pipeline", pipeline)
        # Its SentencePiece ops hold the model as a resource: tracked here so
        # that SavedModels of this layer export it.
        self._sentencepiece = pipeline.op_strings
        self._sentencepiece_ids = pipeline.op_ids
        # Strings in, ints out: keep Keras from converting or casting inputs.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

    @classmethod
    def from_tokenizer(cls, tokenizer: AlbertTokenizer, **kwargs) -> "AlbertInGraphTokenizer":
        """The in-graph twin of a Python :class:`AlbertTokenizer` (kwargs override)."""
        settings = {
            "do_lower_case": tokenizer.do_lower_case,
            "keep_spurious_underline": tokenizer.keep_spurious_underline,
        }
        settings.update(kwargs)
        return cls(proto=tokenizer.proto, **settings)


    def preprocess(self, texts) -> tf.Tensor:
        """In-graph ``preprocess_text(text, lower=do_lower_case)`` of a 1-D batch."""
        return self._pipeline.preprocess(texts)

    def encode_pieces(self, texts) -> tf.RaggedTensor:
        """In-graph ``encode_pieces`` of pre-processed 1-D strings: ragged pieces."""
        return self._pipeline.encode_pieces(texts)

    def encode_ids(self, texts) -> tf.RaggedTensor:
        """In-graph ``encode_ids`` of pre-processed 1-D strings: ragged int32 ids."""
        return self._pipeline.encode_ids(texts)

    def tokenize(self, texts) -> tf.RaggedTensor:
        """Ragged pieces (strings) of raw 1-D texts, pre-processing included."""
        texts, _ = _as_batch(texts)
        return self._pipeline.pieces_fn(texts)

    def call(self, inputs):
        texts, scalar = _as_batch(inputs)
        ids = self._pipeline.ids_fn(texts)
        return ids[0] if scalar else ids

    def compute_output_spec(self, inputs):
        shape = tuple(inputs.shape)
        if len(shape) == 2 and shape[-1] == 1:
            shape = shape[:1]
        return keras.KerasTensor(shape + (None,), dtype="int32", ragged=True)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "proto": base64.b64encode(self.proto).decode("ascii"),
                "do_lower_case": self.do_lower_case,
                "keep_spurious_underline": self.keep_spurious_underline,
                "exact_segmentation": self.exact_segmentation,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="albert_tf")
class AlbertPreprocessor(keras.layers.Layer):
    """Raw strings to the backbone's ``input_ids``/``input_mask``/``segment_ids``.

    Same ids as ``AlbertTokenizer.encode(text_a, text_b, max_seq_length=
    sequence_length)``: ``[CLS] A [SEP] (B [SEP])``, the original pair
    truncation (longer side first, ties cut B; keras-hub's round-robin packer
    gives exactly that), padding with the ``<pad>`` id to ``sequence_length``.

    ``exact_segmentation`` as in :class:`AlbertInGraphTokenizer`.

    Inputs: a string tensor ``[batch]`` (one segment), a tuple ``(text_a,
    text_b)``, or a dict with ``"text"`` (or ``"text_a"``) and optional
    ``"text_b"``. Outputs: dict of int32 ``[batch, sequence_length]``.

    Example:

    >>> from data_prep.vocab import train_sentencepiece
    >>> proto = train_sentencepiece(
    ...     [f"In {1900 + i}, the city had {i * 1234:,} people." for i in range(100)],
    ...     vocab_size=60)
    >>> pre = AlbertPreprocessor(proto=proto, sequence_length=10)
    >>> out = pre({"text": tf.constant(["the city"]), "text_b": tf.constant(["1,000"])})
    >>> out["segment_ids"].numpy().tolist()
    [[0, 0, 0, 0, 0, 0, 1, 1, 1, 1]]
    >>> expected = AlbertTokenizer.from_proto(proto).encode("the city", "1,000", max_seq_length=10)
    >>> {name: tensor.numpy()[0].tolist() for name, tensor in out.items()} == expected
    True
    """

    def __init__(
        self,
        spm_model_file: Optional[str] = None,
        proto=None,
        do_lower_case: bool = True,
        sequence_length: int = 512,
        keep_spurious_underline: bool = True,
        exact_segmentation: bool = True,
        **kwargs,
    ):
        kwargs.setdefault("dtype", "int32")
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        if int(sequence_length) < 3:
            raise ValueError(
                f"sequence_length={sequence_length} leaves no room for [CLS] A [SEP] B [SEP]; "
                "expected at least 3"
            )
        self.sequence_length = int(sequence_length)
        self.tokenizer = AlbertInGraphTokenizer(
            spm_model_file=spm_model_file,
            proto=proto,
            do_lower_case=do_lower_case,
            keep_spurious_underline=keep_spurious_underline,
            exact_segmentation=exact_segmentation,
            name="tokenizer",
        )
        from keras_hub.layers import MultiSegmentPacker  # heavy import, only when packing

        # Padding with -1 marks padded slots, so the mask does not rely on the
        # pad id never occurring in text.
        self.packer = MultiSegmentPacker(
            sequence_length=self.sequence_length,
            start_value=self.tokenizer.cls_id,
            end_value=self.tokenizer.sep_id,
            pad_value=-1,
            truncate="round_robin",
            name="packer",
        )
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

    @classmethod
    def from_tokenizer(cls, tokenizer: AlbertTokenizer, sequence_length: int = 512, **kwargs):
        """Packs exactly like ``tokenizer.encode(..., max_seq_length=sequence_length)``."""
        settings = {
            "do_lower_case": tokenizer.do_lower_case,
            "keep_spurious_underline": tokenizer.keep_spurious_underline,
        }
        settings.update(kwargs)
        return cls(proto=tokenizer.proto, sequence_length=sequence_length, **settings)

    @staticmethod
    def _segments(inputs) -> list:
        if isinstance(inputs, dict):
            unknown = set(inputs) - {"text", "text_a", "text_b"}
            if unknown or not ({"text", "text_a"} & set(inputs)):
                raise ValueError(
                    f"Expected a dict with 'text' (or 'text_a') and optional 'text_b', got keys "
                    f"{sorted(inputs)}"
                )
            first = inputs["text"] if "text" in inputs else inputs["text_a"]
            return [first] + ([inputs["text_b"]] if "text_b" in inputs else [])
        if isinstance(inputs, (list, tuple)):
            if not 1 <= len(inputs) <= 2:
                raise ValueError(f"Expected one or two text segments, got {len(inputs)}")
            return list(inputs)
        return [inputs]

    def call(self, inputs):
        segments = [_as_batch(x) for x in self._segments(inputs)]
        scalar = segments[0][1]
        outputs = self.pack(tuple(self.tokenizer(texts) for texts, _ in segments))
        if scalar:
            outputs = {k: v[0] for k, v in outputs.items()}
        return outputs

    def pack(self, ids) -> dict:
        """Packs one or two ragged id batches ``[batch, None]`` (from ``self.tokenizer``) as ``call`` does."""
        token_ids, segment_ids = self.packer(tuple(ids))
        input_mask = tf.cast(tf.not_equal(token_ids, -1), tf.int32)
        token_ids = tf.where(token_ids < 0, tf.cast(self.tokenizer.pad_id, token_ids.dtype), token_ids)
        outputs = {
            "input_ids": tf.cast(token_ids, tf.int32),
            "input_mask": input_mask,
            "segment_ids": tf.cast(segment_ids, tf.int32),
        }
        return outputs

    def compute_output_spec(self, inputs):
        first = self._segments(inputs)[0]
        shape = tuple(first.shape)
        if len(shape) == 2 and shape[-1] == 1:
            shape = shape[:1]
        return {
            name: keras.KerasTensor(shape + (self.sequence_length,), dtype="int32")
            for name in ("input_ids", "input_mask", "segment_ids")
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "proto": base64.b64encode(self.tokenizer.proto).decode("ascii"),
                "do_lower_case": self.tokenizer.do_lower_case,
                "sequence_length": self.sequence_length,
                "keep_spurious_underline": self.tokenizer.keep_spurious_underline,
                "exact_segmentation": self.tokenizer.exact_segmentation,
            }
        )
        return config
