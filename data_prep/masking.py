"""The original n-gram whole-word masking, vectorised over a batch of instances with NumPy.

Specification: ``create_masked_lm_predictions`` of the original ``create_pretraining_data.py``
(spec §5.4, pitfalls 14-15). Per instance:

* word units: ``[CLS]``/``[SEP]`` are never candidates; with whole-word masking a continuation piece
  joins the last unit (``[SEP]`` is skipped, not a unit end, so a continuation right after ``[SEP]``
  joins the word before it); ``token_boundary`` is 1 for word starts and ``[CLS]``/``[SEP]``;
* budget ``min(max_predictions_per_seq, max(1, round(len * masked_lm_prob)))`` with banker's rounding;
* every unit starts an n-gram candidate; candidates are visited in random order; for each one an
  n in 1..ngram is drawn with p ∝ 1/n (reversed without ``favor_shorter_ngram``), an n-gram running
  past the last unit is cut there, a span over budget falls back to n-1 ... 1 and is skipped if even
  the unigram does not fit, and a span touching a covered unit is skipped;
* each selected token is replaced by ``[MASK]`` (80%), kept (10%) or a uniformly random id of the
  whole vocabulary, special ids included (10%); labels are the original ids, sorted by position.

The candidate loop is sequential per instance but runs for all instances of a batch at once: step
``j`` handles the ``j``-th candidate of every row, and the loop ends when every row has filled its
budget or run out of candidates. Draws are independent per decision, so the distributions equal the
original's; the random stream is a seeded ``numpy.random.Generator`` (the original drew n from the
unseeded global NumPy RNG, so its output could not be reproduced at all).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Optional, Sequence

import numpy as np

SPIECE_UNDERLINE = "\u2581"

# The original's single-character punctuation pieces. The apostrophe is not in it, and the "€"/"£"
# it meant to add were stored as bytes and never matched (spec §5.4).
_PUNCTUATION = frozenset('!"#$%&()*+,-./:;?@[\\]^_`{|}~')
_ASCII_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz")
_WORD_INTERNAL = _ASCII_LETTERS | _PUNCTUATION


def is_start_piece(piece: str) -> bool:
    """The original's SentencePiece start-piece rule (pitfall 15).

    A piece starts a word if it begins with "▁" or "<", is one listed punctuation character, or
    contains any character that is neither an ASCII letter nor listed punctuation (digits,
    apostrophes, non-Latin letters ...). "s", "ing" and ".." continue the previous word.

    Example:

    >>> [is_start_piece(p) for p in ["\u2581the", "s", "'s", "12", "..", "."]]
    [True, False, True, True, False, True]
    """
    if piece.startswith((SPIECE_UNDERLINE, "<")) or piece in _PUNCTUATION:
        return True
    return not all(ch.lower() in _WORD_INTERNAL for ch in piece)


def start_piece_table(pieces: Sequence[str]) -> np.ndarray:
    """``is_start_piece`` for every id of a vocabulary, as a boolean lookup table."""
    return np.fromiter((is_start_piece(p) for p in pieces), dtype=bool, count=len(pieces))


def masking_budget(num_tokens, masked_lm_prob: float, max_predictions_per_seq: int):
    """``min(max_predictions, max(1, round(num_tokens * prob)))``; 0 when ``prob`` is 0.

    ``num_tokens`` counts ``[CLS]`` and ``[SEP]``. Rounding is Python 3's half-to-even, as the
    original's ``round``: 30 tokens at 0.15 give 4, 50 give 8. Works on ints and arrays.

    Example:

    >>> int(masking_budget(30, 0.15, 20)), int(masking_budget(50, 0.15, 20))
    (4, 8)
    """
    num_tokens = np.asarray(num_tokens)
    if masked_lm_prob == 0:
        return np.zeros_like(num_tokens)
    # np.rint rounds half to even on the same float64 product Python's round() sees.
    wanted = np.rint(num_tokens * float(masked_lm_prob)).astype(np.int64)
    return np.minimum(int(max_predictions_per_seq), np.maximum(1, wanted))


def ngram_probabilities(ngram: int, favor_shorter_ngram: bool = True) -> np.ndarray:
    """P(n) for n = 1..ngram: ∝ 1/n, or the reverse order without ``favor_shorter_ngram``.

    Example:

    >>> np.round(ngram_probabilities(3), 3).tolist()
    [0.545, 0.273, 0.182]
    """
    if ngram < 1:
        raise ValueError(f"ngram must be at least 1; got {ngram}")
    weights = 1.0 / np.arange(1, ngram + 1)
    if not favor_shorter_ngram:
        weights = weights[::-1]
    return weights / weights.sum()


def sample_ngram_lengths(rng: np.random.Generator, size, probabilities: np.ndarray) -> np.ndarray:
    """Draws n-gram lengths (1-based) with the given probabilities."""
    cdf = np.cumsum(probabilities)
    cdf[-1] = 1.0
    return np.searchsorted(cdf, rng.random(size), side="right") + 1


@dataclasses.dataclass(frozen=True)
class MaskingConfig:
    """Flags and vocabulary facts the masker needs.

    Example:

    >>> cfg = MaskingConfig(vocab_size=300, cls_id=2, sep_id=3, mask_id=4,
    ...                     start_table=np.ones(300, bool))
    >>> cfg.max_predictions_per_seq, cfg.ngram
    (20, 3)
    """

    vocab_size: int
    cls_id: int
    sep_id: int
    mask_id: int
    start_table: np.ndarray
    masked_lm_prob: float = 0.15
    max_predictions_per_seq: int = 20
    ngram: int = 3
    favor_shorter_ngram: bool = True
    do_whole_word_mask: bool = True

    def __post_init__(self):
        if not 0.0 <= self.masked_lm_prob <= 1.0:
            raise ValueError(f"masked_lm_prob must be in [0, 1]; got {self.masked_lm_prob}")
        if self.max_predictions_per_seq < 1:
            raise ValueError(
                f"max_predictions_per_seq must be at least 1; got {self.max_predictions_per_seq}"
            )
        if len(self.start_table) != self.vocab_size:
            raise ValueError(
                f"start_table has {len(self.start_table)} entries for a vocabulary of {self.vocab_size}"
            )
        ngram_probabilities(self.ngram)  # validates ngram


@dataclasses.dataclass
class MaskedBatch:
    """Output of :func:`mask_batch`; arrays are ``[R, S]`` or ``[R, max_predictions_per_seq]``.

    Example:

    >>> cfg = MaskingConfig(vocab_size=20, cls_id=2, sep_id=3, mask_id=4, start_table=np.ones(20, bool))
    >>> out = mask_batch(np.array([[2, 10, 11, 12, 3]]), np.array([5]), np.random.default_rng(0), cfg)
    >>> out.masked_lm_positions.shape, out.stats["predictions"]
    ((1, 20), 1)
    """

    input_ids: np.ndarray
    token_boundary: np.ndarray
    masked_lm_positions: np.ndarray
    masked_lm_ids: np.ndarray
    masked_lm_weights: np.ndarray
    stats: Dict[str, object]


def word_units(ids: np.ndarray, lengths: np.ndarray, config: MaskingConfig):
    """Candidate tokens, ``token_boundary`` and the word unit of every candidate token.

    Returns ``(candidates, token_boundary, unit_of_token, num_units)``; ``unit_of_token`` is -1 for
    non-candidates. Units are numbered left to right per row, and a unit may straddle ``[SEP]``.

    Example (the pitfall-15 case, ``[CLS] ▁a b [SEP] c ▁d [SEP]`` with ids 2 10 11 3 12 13 3):

    >>> table = np.zeros(20, bool); table[[10, 13]] = True
    >>> cfg = MaskingConfig(vocab_size=20, cls_id=2, sep_id=3, mask_id=4, start_table=table)
    >>> cand, boundary, unit, n = word_units(np.array([[2, 10, 11, 3, 12, 13, 3]]), np.array([7]), cfg)
    >>> boundary.tolist(), unit.tolist(), n.tolist()
    ([[1, 1, 0, 1, 0, 1, 1]], [[-1, 0, 0, -1, 0, 1, -1]], [2])
    """
    rows, width = ids.shape
    valid = np.arange(width)[None, :] < lengths[:, None]
    special = (ids == config.cls_id) | (ids == config.sep_id)
    candidates = valid & ~special
    starts_word = config.start_table[ids]
    token_boundary = (valid & (special | starts_word)).astype(np.int32)
    if config.do_whole_word_mask:
        # The first candidate opens a unit even when it is a continuation piece.
        earlier = np.cumsum(candidates, axis=1) - candidates
        unit_start = candidates & (starts_word | (earlier == 0))
    else:
        unit_start = candidates
    unit_of_token = np.where(candidates, np.cumsum(unit_start, axis=1) - 1, -1)
    return candidates, token_boundary, unit_of_token, unit_start.sum(axis=1)


def mask_batch(
    ids: np.ndarray,
    lengths: np.ndarray,
    rng: np.random.Generator,
    config: MaskingConfig,
    ngram_sampler: Optional[Callable[[np.random.Generator, int], np.ndarray]] = None,
) -> MaskedBatch:
    """Masks every row of ``ids`` (``[R, S]``, real tokens first, then padding).

    ``lengths[r]`` is the number of real tokens of row r (``[CLS] A [SEP] B [SEP]``).
    ``ngram_sampler(rng, size)`` replaces the n-gram length draw (tests use it to force an n).

    Example:

    >>> table = np.ones(50, bool)
    >>> cfg = MaskingConfig(vocab_size=50, cls_id=2, sep_id=3, mask_id=4, start_table=table,
    ...                     max_predictions_per_seq=4)
    >>> ids = np.array([[2] + list(range(10, 40)) + [3]])
    >>> out = mask_batch(ids, np.array([32]), np.random.default_rng(0), cfg)
    >>> int(out.masked_lm_weights.sum())  # round(32 * 0.15) = 5, capped at 4
    4
    """
    ids = np.asarray(ids, dtype=np.int32)
    lengths = np.asarray(lengths, dtype=np.int64)
    rows, width = ids.shape
    max_pred = config.max_predictions_per_seq
    probabilities = ngram_probabilities(config.ngram, config.favor_shorter_ngram)
    if ngram_sampler is None:
        ngram_sampler = lambda generator, size: sample_ngram_lengths(generator, size, probabilities)

    candidates, token_boundary, unit_of_token, num_units = word_units(ids, lengths, config)
    budget = masking_budget(lengths, config.masked_lm_prob, max_pred)

    # Tokens per unit and their prefix sums: the size of units [u, v) is csum[v] - csum[u].
    cand_rows, cand_cols = np.nonzero(candidates)
    flat_unit = cand_rows * width + unit_of_token[cand_rows, cand_cols]
    unit_sizes = np.bincount(flat_unit, minlength=rows * width).reshape(rows, width)
    csum = np.zeros((rows, width + 1), dtype=np.int64)
    np.cumsum(unit_sizes, axis=1, out=csum[:, 1:])

    # A random visiting order of each row's units (padding units sort last).
    keys = rng.random((rows, width))
    keys[np.arange(width)[None, :] >= num_units[:, None]] = 2.0
    order = np.argsort(keys, axis=1)  # float64 keys do not tie; quicksort is 3x faster than stable

    covered = np.zeros((rows, width + config.ngram), dtype=bool)
    count = np.zeros(rows, dtype=np.int64)
    span_hist = np.zeros(config.ngram + 1, dtype=np.int64)
    drawn_hist = np.zeros(config.ngram + 1, dtype=np.int64)
    offsets = np.arange(config.ngram)
    for j in range(int(num_units.max(initial=0))):
        active = np.nonzero((j < num_units) & (count < budget))[0]
        if active.size == 0:
            break
        unit = order[active, j]
        total_units = num_units[active]
        drawn = np.asarray(ngram_sampler(rng, active.size), dtype=np.int64)
        np.add.at(drawn_hist, drawn, 1)
        room = budget[active] - count[active]
        start_tokens = csum[active, unit]
        # Largest n' <= drawn whose (end-truncated) span fits the remaining budget; 0 = skip.
        chosen = np.zeros(active.size, dtype=np.int64)
        chosen_size = np.zeros(active.size, dtype=np.int64)
        for n in range(config.ngram, 0, -1):
            end = np.minimum(unit + n, total_units)
            size = csum[active, end] - start_tokens
            take = (chosen == 0) & (n <= drawn) & (size <= room)
            chosen[take] = n
            chosen_size[take] = size[take]
        span_end = np.minimum(unit + chosen, total_units)
        span_units = span_end - unit
        in_span = offsets[None, :] < span_units[:, None]
        unit_index = unit[:, None] + offsets[None, :]
        overlap = (covered[active[:, None], unit_index] & in_span).any(axis=1)
        accept = (chosen > 0) & ~overlap
        if not accept.any():
            continue
        acc_rows = active[accept]
        acc_in_span = in_span[accept]
        covered[np.repeat(acc_rows, acc_in_span.sum(axis=1)), unit_index[accept][acc_in_span]] = True
        count[acc_rows] += chosen_size[accept]
        np.add.at(span_hist, span_units[accept], 1)

    selected = candidates & covered[np.arange(rows)[:, None], np.maximum(unit_of_token, 0)]
    sel_rows, sel_cols = np.nonzero(selected)  # row-major: positions come out sorted per row
    labels = ids[sel_rows, sel_cols]
    decision = rng.random(sel_rows.size)
    random_ids = rng.integers(0, config.vocab_size, sel_rows.size, dtype=np.int64)
    replacement = np.where(decision < 0.8, config.mask_id, np.where(decision < 0.9, labels, random_ids))
    masked_ids = ids.copy()
    masked_ids[sel_rows, sel_cols] = replacement

    per_row = np.bincount(sel_rows, minlength=rows)
    first = np.concatenate([[0], np.cumsum(per_row)[:-1]])
    rank = np.arange(sel_rows.size) - first[sel_rows]
    positions = np.zeros((rows, max_pred), dtype=np.int32)
    label_ids = np.zeros((rows, max_pred), dtype=np.int32)
    weights = np.zeros((rows, max_pred), dtype=np.float32)
    positions[sel_rows, rank] = sel_cols
    label_ids[sel_rows, rank] = labels
    weights[sel_rows, rank] = 1.0

    stats = {
        "tokens": int(lengths.sum()),
        "predictions": int(sel_rows.size),
        "budget": int(budget.sum()),
        "replaced_by_mask": int((decision < 0.8).sum()),
        "kept": int(((decision >= 0.8) & (decision < 0.9)).sum()),
        "replaced_by_random": int((decision >= 0.9).sum()),
        "span_units": span_hist[1:].tolist(),
        "drawn_ngram": drawn_hist[1:].tolist(),
    }
    return MaskedBatch(masked_ids, token_boundary, positions, label_ids, weights, stats)
