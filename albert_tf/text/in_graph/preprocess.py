"""In-graph ``preprocess_text``: whitespace, accents and ``str.lower``, exact by construction.

Characters are mapped through the code-point tables of :mod:`.tables`; the one
context rule ``str.lower`` applies, the final sigma, is computed with vectorised
"previous/next non-case-ignorable character" arithmetic. Rows that are pure
ASCII after the whitespace step take a fast path (ASCII lowering only) because
the character tables are the identity on ASCII.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from albert_tf.text.in_graph.tables import CharacterTables, character_tables, whitespace_run_regex


def _collapse_whitespace(texts: tf.Tensor) -> tf.Tensor:
    texts = tf.strings.regex_replace(texts, whitespace_run_regex(), " ")
    return tf.strings.regex_replace(texts, "^ | $", "")


def _map_characters(texts: tf.Tensor, tables: CharacterTables) -> tf.Tensor:
    """Accent stripping (and lowering) of valid UTF-8 strings via code-point tables.

    Works on code points throughout: each one becomes a row (its table
    replacement or ς/σ, gathered from a constant ragged "bank", or itself) and
    the result is encoded back to UTF-8 in one op. The bank is never
    concatenated with the batch: that copied the whole table (about 0.1 ms a
    call at batch 1, 0.5 ms at batch 32, docs/bench_tokenizer_cpu.txt).
    """
    cps = tf.strings.unicode_decode(texts, "UTF-8")
    flat = cps.flat_values
    n = tf.size(flat, out_type=tf.int64)
    keys = tf.constant(tables.keys)
    num_keys = tf.size(keys, out_type=tf.int64)
    idx = tf.minimum(tf.searchsorted(keys, flat, side="left", out_type=tf.int64), num_keys - 1)
    found = tf.equal(tf.gather(keys, idx), flat)
    # Bank rows: [0, K) replacements, then ς and σ.
    value_splits = tables.value_splits
    bank = tf.RaggedTensor.from_row_splits(
        tf.constant(np.concatenate([tables.value_code_points, np.array([0x3C2, 0x3C3], np.int32)])),
        tf.constant(np.concatenate([value_splits, value_splits[-1:] + np.array([1, 2], value_splits.dtype)])),
        validate=False,
    )
    choice = tf.where(found, idx, -1)
    if tables.lower:
        is_sigma = tf.reduce_any(
            tf.equal(tf.expand_dims(flat, -1), tf.constant(tables.sigma_producers)[tf.newaxis, :]),
            axis=-1,
        )

        def with_sigmas():
            final = _final_sigma(cps, flat, tables)
            return tf.where(is_sigma, num_keys + tf.cast(tf.logical_not(final), tf.int64), choice)

        # The context scan costs more than everything else here; Σ is rare.
        choice = tf.cond(tf.reduce_any(is_sigma), with_sigmas, lambda: choice)
    # Rows [0, n): from the bank; [n, 2n): the characters themselves.
    rows = tf.concat([tf.gather(bank, tf.maximum(choice, 0)),
                      tf.RaggedTensor.from_uniform_row_length(flat, 1, validate=False)], axis=0)
    position = tf.range(n)
    picked = tf.gather(rows, tf.where(choice >= 0, position, n + position))
    return tf.strings.unicode_encode(cps.with_flat_values(picked).merge_dims(1, 2), "UTF-8")


def _final_sigma(cps, flat, tables: CharacterTables) -> tf.Tensor:
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
    slow = tf.gather(texts, slow_idx)
    # Skipped when every row is ASCII (most batch-1 calls): its ~30 kernels cost more than the rest.
    slow = tf.cond(tf.size(slow_idx) > 0,
                   lambda: _map_characters(slow, character_tables(bool(lower))), lambda: slow)
    return tf.dynamic_stitch([fast_idx, slow_idx], [fast, slow])
