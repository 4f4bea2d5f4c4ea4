"""N-gram whole-word masking (spec §5.4, pitfalls 14-15), against the specification and the reference."""

import random

import numpy as np
import pytest

from data_prep import original_algorithm as original
from data_prep.masking import (
    MaskingConfig,
    is_start_piece,
    mask_batch,
    masking_budget,
    ngram_probabilities,
    sample_ngram_lengths,
    start_piece_table,
    word_units,
)

CLS, SEP, MASK = 2, 3, 4


def config_for(table, **overrides):
    values = dict(vocab_size=len(table), cls_id=CLS, sep_id=SEP, mask_id=MASK, start_table=np.asarray(table, bool))
    values.update(overrides)
    return MaskingConfig(**values)


def test_start_piece_rule():
    starts = ["\u2581the", "'s", "12", ".", "<unk>", "é", "a1", "-", "\u2581"]
    continuations = ["s", "ing", "..", "ab.", "[MASK]", "Ab"]
    assert all(is_start_piece(p) for p in starts)
    assert not any(is_start_piece(p) for p in continuations)
    # The apostrophe and "<" alone are not in the punctuation set, "<" starts by prefix.
    assert is_start_piece("'") and is_start_piece("<")


def test_sep_does_not_close_a_word_and_token_boundary():
    # [CLS] ▁a b [SEP] c ▁d [SEP]: "c" after [SEP] joins the word "▁a b" (pitfall 15).
    pieces = ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]", "\u2581a", "b", "c", "\u2581d"]
    table = start_piece_table(pieces)
    ids = np.array([[2, 5, 6, 3, 7, 8, 3, 0]])
    candidates, boundary, unit, count = word_units(ids, np.array([7]), config_for(table))
    assert boundary.tolist() == [[1, 1, 0, 1, 0, 1, 1, 0]]
    assert unit.tolist() == [[-1, 0, 0, -1, 0, 1, -1, -1]]
    assert count.tolist() == [2]
    assert candidates.tolist() == [[False, True, True, False, True, True, False, False]]
    # Without whole-word masking every piece is its own unit; token_boundary is unchanged.
    _, boundary2, unit2, count2 = word_units(ids, np.array([7]), config_for(table, do_whole_word_mask=False))
    assert boundary2.tolist() == boundary.tolist() and unit2.tolist() == [[-1, 0, 1, -1, 2, 3, -1, -1]]


def test_budget_uses_bankers_rounding_and_counts_specials():
    assert int(masking_budget(30, 0.15, 20)) == 4  # round(4.5) = 4
    assert int(masking_budget(50, 0.15, 20)) == 8  # round(7.5) = 8
    assert int(masking_budget(3, 0.15, 20)) == 1  # at least one
    assert int(masking_budget(512, 0.15, 20)) == 20  # capped
    assert int(masking_budget(100, 0.0, 20)) == 0
    assert masking_budget(np.array([30, 50]), 0.15, 20).tolist() == [4, 8]


def test_ngram_probabilities_and_sampler():
    np.testing.assert_allclose(ngram_probabilities(3), [6 / 11, 3 / 11, 2 / 11])
    np.testing.assert_allclose(ngram_probabilities(3, favor_shorter_ngram=False), [2 / 11, 3 / 11, 6 / 11])
    draws = sample_ngram_lengths(np.random.default_rng(0), 100_000, ngram_probabilities(3))
    shares = np.bincount(draws, minlength=4)[1:] / draws.size
    np.testing.assert_allclose(shares, [6 / 11, 3 / 11, 2 / 11], atol=0.01)
    draws = sample_ngram_lengths(np.random.default_rng(1), 100_000, ngram_probabilities(3, False))
    np.testing.assert_allclose(np.bincount(draws, minlength=4)[1:] / draws.size, [2 / 11, 3 / 11, 6 / 11], atol=0.01)


def test_over_budget_ngram_falls_back_to_unigram():
    # Budget 1, single-token words, a 3-gram drawn every time: one unigram, not a skip.
    table = np.ones(50, bool)
    cfg = config_for(table, max_predictions_per_seq=1)
    ids = np.array([[CLS] + list(range(10, 20)) + [SEP]])
    out = mask_batch(ids, np.array([12]), np.random.default_rng(0), cfg,
                     ngram_sampler=lambda rng, size: np.full(size, 3))
    assert out.masked_lm_weights.sum() == 1
    assert out.stats["span_units"] == [1, 0, 0]
    assert out.stats["drawn_ngram"][2] >= 1


def test_span_cut_at_the_last_unit():
    # A 3-gram starting on the last unit covers just that unit (the original's truncated list).
    table = np.ones(50, bool)
    cfg = config_for(table, masked_lm_prob=1.0, max_predictions_per_seq=3)
    ids = np.array([[CLS, 10, 11, 12, SEP]])
    out = mask_batch(ids, np.array([5]), np.random.default_rng(3), cfg,
                     ngram_sampler=lambda rng, size: np.full(size, 3))
    assert out.masked_lm_weights.sum() == 3
    assert sum(n * c for n, c in zip((1, 2, 3), out.stats["span_units"])) == 3


def random_batch(seed, rows=200, width=64, vocab=300, start_share=0.7):
    rng = np.random.default_rng(seed)
    table = rng.random(vocab) < start_share
    ids = rng.integers(5, vocab, (rows, width)).astype(np.int32)
    lengths = rng.integers(8, width + 1, rows)
    for r, length in enumerate(lengths):
        sep = rng.integers(2, length - 2)
        ids[r, 0], ids[r, sep], ids[r, length - 1] = CLS, SEP, SEP
        ids[r, length:] = 0
    return ids, lengths, table


def test_selection_is_whole_units_never_special_and_sorted():
    ids, lengths, table = random_batch(0)
    cfg = config_for(table, max_predictions_per_seq=12)
    out = mask_batch(ids, lengths, np.random.default_rng(1), cfg)
    candidates, boundary, unit, units = word_units(ids, lengths, cfg)
    budget = masking_budget(lengths, 0.15, 12)
    for r in range(len(ids)):
        real = out.masked_lm_weights[r] > 0
        positions = out.masked_lm_positions[r][real]
        assert positions.tolist() == sorted(positions.tolist())
        assert (out.masked_lm_positions[r][~real] == 0).all() and (out.masked_lm_ids[r][~real] == 0).all()
        assert all(candidates[r, p] for p in positions)  # never [CLS], [SEP] or padding
        chosen_units = set(unit[r, positions].tolist())
        whole = {p for p in range(len(ids[r])) if unit[r, p] in chosen_units}
        assert whole == set(positions.tolist())  # unions of whole word units
        np.testing.assert_array_equal(out.masked_lm_ids[r][real], ids[r, positions])  # labels = originals
        assert real.sum() <= budget[r]
        unchanged = np.ones(ids.shape[1], bool)
        unchanged[positions] = False
        np.testing.assert_array_equal(out.input_ids[r][unchanged], ids[r][unchanged])
        assert out.token_boundary[r, lengths[r]:].sum() == 0
    # Short rows aside, every row fills its budget exactly.
    filled = out.masked_lm_weights.sum(axis=1) == budget
    assert filled.mean() > 0.95


def test_replacement_split_and_random_ids_cover_the_whole_vocabulary():
    vocab = 12  # small, so random replacements hit the special ids too
    rng = np.random.default_rng(5)
    rows, width = 3000, 40
    ids = rng.integers(5, vocab, (rows, width)).astype(np.int32)
    ids[:, 0], ids[:, -1] = CLS, SEP
    cfg = config_for(np.ones(vocab, bool), max_predictions_per_seq=6)
    out = mask_batch(ids, np.full(rows, width), np.random.default_rng(6), cfg)
    stats = out.stats
    total = stats["predictions"]
    assert total == stats["replaced_by_mask"] + stats["kept"] + stats["replaced_by_random"]
    assert abs(stats["replaced_by_mask"] / total - 0.8) < 0.01
    assert abs(stats["kept"] / total - 0.1) < 0.01
    assert abs(stats["replaced_by_random"] / total - 0.1) < 0.01
    written = np.take_along_axis(out.input_ids, out.masked_lm_positions, 1)[out.masked_lm_weights > 0]
    assert set(np.unique(written).tolist()) == set(range(vocab))  # <pad>, <unk>, [CLS] ... included


def test_zero_probability_masks_nothing():
    ids, lengths, table = random_batch(2, rows=20)
    out = mask_batch(ids, lengths, np.random.default_rng(0), config_for(table, masked_lm_prob=0.0))
    assert out.masked_lm_weights.sum() == 0
    np.testing.assert_array_equal(out.input_ids, ids)


@pytest.mark.parametrize("favor_shorter", [True, False])
def test_span_lengths_and_mask_counts_match_the_reference(favor_shorter):
    """Same token lists through both maskers: span-length and prediction-count distributions agree."""
    pieces = ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
    pieces += [f"\u2581w{i}" for i in range(60)] + [f"x{'y' * (i % 3)}" for i in range(40)]
    table = start_piece_table(pieces)
    rng = random.Random(0)
    token_lists = []
    for _ in range(1500):
        length_a, length_b = rng.randint(5, 40), rng.randint(5, 40)
        body = [rng.randrange(5, len(pieces)) for _ in range(length_a + length_b)]
        token_lists.append([2] + body[:length_a] + [3] + body[length_a:] + [3])
    flags = original.OriginalFlags(max_predictions_per_seq=20, favor_shorter_ngram=favor_shorter)
    stats = original.OriginalStats()
    numpy_rng = np.random.RandomState(0)
    reference_counts = []
    for tokens in token_lists:
        _, positions, _, _ = original.mask_tokens([pieces[t] for t in tokens], flags, pieces, rng, numpy_rng, stats)
        reference_counts.append(len(positions))

    width = max(map(len, token_lists))
    ids = np.zeros((len(token_lists), width), np.int32)
    for r, tokens in enumerate(token_lists):
        ids[r, :len(tokens)] = tokens
    lengths = np.array([len(t) for t in token_lists])
    cfg = config_for(table, max_predictions_per_seq=20, favor_shorter_ngram=favor_shorter)
    out = mask_batch(ids, lengths, np.random.default_rng(0), cfg)

    ours = np.array(out.stats["span_units"]) / sum(out.stats["span_units"])
    theirs = np.array([stats.span_units[n] for n in (1, 2, 3)]) / sum(stats.span_units.values())
    np.testing.assert_allclose(ours, theirs, atol=0.02)
    assert abs(out.masked_lm_weights.sum() / sum(reference_counts) - 1) < 0.01
    # The reference's boundaries and ours agree token by token.
    for r in range(20):
        _, _, _, boundary = original.mask_tokens([pieces[t] for t in token_lists[r]], flags, pieces, rng, numpy_rng)
        assert out.token_boundary[r, :lengths[r]].tolist() == boundary
