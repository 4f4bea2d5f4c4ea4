"""The original digit-comma rule in the graph: re-encode pieces such as "1990," and splice them back.

``encode_pieces`` replaces every piece longer than one character that ends in
"," after a ``str.isdigit`` character by the SentencePiece encoding of its body
(without the comma and without any "▁") followed by a "," piece. Here the
matching pieces are found with an RE2 class of every ``str.isdigit`` character
(or, on ids, per-piece flags computed with the same Python test), the bodies
are re-encoded by the same search as the text, and the results are spliced
back with ragged gathers.
"""

from __future__ import annotations

import functools
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from albert_tf.text.in_graph.gated import ragged_if
from albert_tf.text.in_graph.tables import code_points, regex_class
from albert_tf.text.tokenizer import SPIECE_UNDERLINE, is_digit_comma_piece


@functools.lru_cache(maxsize=None)
def digit_comma_regex() -> str:
    """An RE2 pattern matching exactly the pieces :func:`is_digit_comma_piece` accepts."""
    # encode_pieces: len(piece) > 1 and piece[-1] == "," and piece[-2].isdigit()
    return "(?s).*" + regex_class(cp for cp in code_points() if chr(cp).isdigit()) + ","


class VocabTables:
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
        self.digit_comma = np.array([is_digit_comma_piece(p) for p in pieces], dtype=bool)
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
    def build(sp) -> Optional["VocabTables"]:
        def own_piece(text):
            piece_id = sp.PieceToId(text)
            return sp.IdToPiece(piece_id) == text and not (
                sp.IsUnknown(piece_id) or sp.IsControl(piece_id) or sp.IsUnused(piece_id))

        return VocabTables(sp) if own_piece(",") and own_piece(SPIECE_UNDERLINE) else None


def split_digit_comma_pieces(
    pieces: tf.RaggedTensor, encode: Callable, keep_spurious_underline: bool
) -> tf.RaggedTensor:
    """The rule on ragged piece strings; ``encode`` is the raw SentencePiece of 1-D strings."""
    flat = pieces.flat_values
    match = tf.strings.regex_full_match(flat, digit_comma_regex())

    def split():
        matched = tf.gather(flat, tf.where(match)[:, 0])
        # The comma is one byte, so a byte-wise cut is a character-wise cut.
        lengths = tf.strings.length(matched)
        body = tf.strings.substr(matched, tf.zeros_like(lengths), lengths - 1)
        body = tf.strings.regex_replace(body, SPIECE_UNDERLINE, "")
        sub = encode(body)
        if not keep_spurious_underline:
            sub = _strip_reencoded_underline(matched, sub)
        commas = tf.fill(tf.stack([tf.size(matched), 1]), ",")
        return _splice(pieces, match, tf.concat([sub, commas], axis=1))

    return ragged_if(tf.reduce_any(match), split, pieces)


def split_digit_comma_ids(
    ids: tf.RaggedTensor, encode: Callable, keep_spurious_underline: bool, tables: VocabTables
) -> tf.RaggedTensor:
    """The rule on ragged ids (exact when ``VocabTables.build`` gave tables); ``encode`` as above, on ids."""
    flat = ids.flat_values
    match = tf.gather(tf.constant(tables.digit_comma), flat)

    def split():
        matched = tf.gather(flat, tf.where(match)[:, 0])
        sub = encode(tf.gather(tf.constant(tables.bodies), matched))
        if not keep_spurious_underline:
            sub = _strip_reencoded_underline_ids(matched, sub, tables)
        commas = tf.fill(tf.stack([tf.size(matched), 1]), tf.constant(tables.comma_id, tf.int32))
        return _splice(ids, match, tf.concat([sub, commas], axis=1))

    return ragged_if(tf.reduce_any(match), split, ids)


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


def _splice(rows: tf.RaggedTensor, match, replacements: tf.RaggedTensor) -> tf.RaggedTensor:
    """Replaces each matched element of ``rows`` by the next row of ``replacements``."""
    flat = rows.flat_values
    # Row j of `bank` is element j itself for j < P, else a replacement.
    bank = tf.concat([tf.RaggedTensor.from_tensor(tf.expand_dims(flat, -1)), replacements], axis=0)
    rank = tf.cumsum(tf.cast(match, tf.int64), exclusive=True)
    count = tf.size(flat, out_type=tf.int64)
    choice = tf.where(match, count + rank, tf.range(count))
    return rows.with_flat_values(tf.gather(bank, choice)).merge_dims(1, 2)


def _strip_reencoded_underline_ids(matched, sub, tables: VocabTables):
    # Same rule as _strip_reencoded_underline, on ids via per-piece flags.
    flat = sub.flat_values
    rowids = sub.value_rowids()
    is_first = tf.equal(tf.range(tf.size(flat, out_type=tf.int64)), tf.gather(sub.row_starts(), rowids))
    row_cond = tf.logical_not(tf.gather(tf.constant(tables.marked), matched))
    cond = is_first & tf.gather(row_cond, rowids) & tf.gather(tf.constant(tables.marked), flat)
    lone = cond & tf.gather(tf.constant(tables.lone_marker), flat)
    stripped = tf.where(cond, tf.gather(tf.constant(tables.unmarked_id), flat), flat)
    return tf.ragged.boolean_mask(sub.with_flat_values(stripped), sub.with_flat_values(~lone))
