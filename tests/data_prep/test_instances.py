"""Instance building (spec §5.3, pitfall 16): pairs, labels, truncation, short sequences, layout."""

import random

import numpy as np
import pytest

from data_prep import token_store
from data_prep.instances import (
    IN_ORDER,
    RANDOM_DOCUMENT,
    SWAPPED,
    BlockBuilder,
    InstanceConfig,
    document_instances,
    document_rng,
    plan_blocks,
    truncation_counts,
)
from data_prep.masking import MaskingConfig
from data_prep.original_algorithm import truncate_pair


def make_store(directory, documents):
    """A store from documents given as lists of sentence lengths; token id = 10 + its offset."""
    lengths = []
    for d, document in enumerate(documents):
        if d:
            lengths.append(-1)
        lengths.extend(document)
    lengths = np.array(lengths, np.int32)
    ids = (10 + np.arange(int(lengths[lengths > 0].sum()))).astype(np.uint16)
    writer = token_store.StoreWriter(str(directory), ["generated"], np.uint16)
    writer.add(token_store.ChunkResult(token_store.Chunk(0, 0, "generated", 0, 1), ids, lengths, [], 0))
    return writer.finish()


def test_truncation_counts_equal_the_original_loop():
    rng = random.Random(0)
    for len_a in range(0, 14):
        for len_b in range(0, 14):
            for limit in range(2, 20):
                a, b = list(range(len_a)), list(range(len_b))
                truncate_pair(a, b, limit, rng)
                assert truncation_counts(len_a, len_b, limit) == (len_a - len(a), len_b - len(b))


def test_single_sentence_documents_always_take_b_from_another_document(tmp_path):
    store = make_store(tmp_path, [[7]] * 50)
    config = InstanceConfig(max_seq_length=64, short_seq_prob=0.0)
    document_of = np.repeat(np.arange(50), 7)
    for document in range(50):
        for a0, a1, b0, b1, label, kind, short, _ in document_instances(store, document, document_rng(1, 0, document), config):
            assert label == 1 and kind == RANDOM_DOCUMENT
            assert set(document_of[a0:a1]) == {document}
            assert document not in set(document_of[b0:b1])


def test_long_documents_swap_about_half_and_swapped_b_precedes_a(tmp_path):
    store = make_store(tmp_path, [[9] * 40] * 30)
    config = InstanceConfig(max_seq_length=64, short_seq_prob=0.0)
    kinds = []
    for document in range(30):
        for round_index in range(3):
            rnd = document_rng(5, round_index, document)
            for a0, a1, b0, b1, label, kind, short, truncated in document_instances(store, document, rnd, config):
                kinds.append(kind)
                assert (a1 - a0) + (b1 - b0) <= config.max_num_tokens
                if kind == SWAPPED:
                    assert label == 1 and b1 <= a0  # B comes from before A in the document
                elif kind == IN_ORDER:
                    assert label == 0 and a1 <= b0
    kinds = np.array(kinds)
    assert (kinds == RANDOM_DOCUMENT).mean() < 0.05  # only the odd one-sentence tail chunk
    swapped = (kinds == SWAPPED).sum() / (kinds != RANDOM_DOCUMENT).sum()
    assert abs(swapped - 0.5) < 0.05


def test_random_next_sentence_is_bert_nsp(tmp_path):
    store = make_store(tmp_path, [[9] * 40] * 30)
    config = InstanceConfig(max_seq_length=64, short_seq_prob=0.0, random_next_sentence=True)
    kinds = [
        kind
        for document in range(30)
        for *_, kind, short, truncated in [i[:8] for i in document_instances(store, document, document_rng(2, 0, document), config)]
    ]
    kinds = np.array(kinds)
    assert not (kinds == SWAPPED).any()
    assert abs((kinds == RANDOM_DOCUMENT).mean() - 0.5) < 0.07


def test_short_target_probability_per_document_and_round(tmp_path):
    store = make_store(tmp_path, [[5] * 30] * 4)
    config = InstanceConfig(max_seq_length=128, short_seq_prob=0.1)
    shorts = [
        document_instances(store, d % 4, document_rng(3, d // 4, d % 4), config)[0][6]
        for d in range(8000)
    ]
    assert abs(np.mean(shorts) - 0.1) < 0.012


def test_a_sentence_longer_than_the_limit_is_truncated_not_fatal(tmp_path):
    store = make_store(tmp_path, [[500], [3, 4]])
    config = InstanceConfig(max_seq_length=32, short_seq_prob=0.0)
    (a0, a1, b0, b1, label, kind, short, truncated), = document_instances(store, 0, document_rng(0, 0, 0), config)
    assert truncated and (a1 - a0) + (b1 - b0) == 29 and b1 - b0 >= 1


def test_blocks_cover_every_document_once_per_round():
    tokens = np.random.default_rng(0).integers(1, 500, 200)
    config = InstanceConfig(dupe_factor=3, random_seed=4)
    blocks = plan_blocks(tokens, config, block_tokens=2000)
    for round_index in range(3):
        spans = [(b.start, b.end) for b in blocks if b.round_index == round_index]
        assert spans[0][0] == 0 and spans[-1][1] == 200
        assert all(x[1] == y[0] for x, y in zip(spans, spans[1:]))
    assert [b.index for b in blocks] == list(range(len(blocks)))
    with pytest.raises(ValueError, match="block_tokens"):
        plan_blocks(tokens, config, 0)


def test_block_layout_and_padding(tmp_path):
    store = make_store(tmp_path, [[4, 5, 6, 7, 8]] * 20)
    table = np.ones(60000, bool)
    masking = MaskingConfig(vocab_size=60000, cls_id=2, sep_id=3, mask_id=4, start_table=table, masked_lm_prob=0.0)
    config = InstanceConfig(max_seq_length=24, short_seq_prob=0.0)
    builder = BlockBuilder(store, config, masking)
    built = builder.build(plan_blocks(store.document_tokens(), config, 10**6)[0])
    f = built.features
    for r in range(len(f["input_ids"])):
        length = int(f["input_mask"][r].sum())
        ids = f["input_ids"][r]
        assert f["input_mask"][r, :length].all() and not f["input_mask"][r, length:].any()
        assert ids[0] == 2 and ids[length - 1] == 3 and (ids[length:] == 0).all()
        first_sep = int(np.nonzero(ids == 3)[0][0])
        segments = f["segment_ids"][r]
        assert (segments[:first_sep + 1] == 0).all() and (segments[first_sep + 1:length] == 1).all()
        assert (segments[length:] == 0).all()
        # Token ids follow their store offsets here: A and B are each one contiguous range.
        a = ids[1:first_sep].astype(int)
        b = ids[first_sep + 1:length - 1].astype(int)
        assert (np.diff(a) == 1).all() and (np.diff(b) == 1).all()
    assert built.stats["instances"] == len(f["input_ids"])
    assert built.stats["label_1"] == int(f["next_sentence_labels"].sum())
