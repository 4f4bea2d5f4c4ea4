"""Pass 2: documents → sentence-pair instances (spec §5.3), grouped into deterministic blocks.

Per document and dupe round the original:

* picks a target length: ``max_seq_length - 3``, or with probability ``short_seq_prob`` a uniform
  length in ``[2, max_seq_length - 3]``;
* accumulates sentences into a chunk until it reaches the target or the document ends, then splits
  the chunk at a random sentence into A and B;
* a one-sentence chunk (or, with ``random_next_sentence``, a coin flip) takes B from a random other
  document (label 1) and puts the unused sentences back; otherwise a coin flip swaps A and B
  (label 1, SOP) or keeps the order (label 0);
* truncates the pair to ``max_seq_length - 3`` from the longer side (ties: B), each removed token
  from the front or the back with equal probability, and lays out ``[CLS] A [SEP] B [SEP]``.

Because sentences of a document sit back to back in the token store, A and B are each one
contiguous token range; an instance is six numbers until a block is materialised in one vectorised
gather. Truncation is computed in closed form: which side loses how many tokens is deterministic,
and the number taken from the front of a side is Binomial(k, 1/2), exactly the distribution of the
original's k coin flips.

**Determinism.** The original drew everything from one ``random.Random(12345)`` stream over the
whole in-memory corpus, so its output depends on processing order. Here every (round, document)
has its own ``random.Random`` seeded from ``(random_seed, round, document)``, every round visits the
documents in its own seeded permutation, and consecutive documents of that order form *blocks* of
about ``block_tokens`` tokens whose instances are masked and shuffled with a generator seeded from
``(random_seed, block)``. Blocks are the unit of parallel work and of shuffling, so the output
depends on the seed, the corpus and the flags only — never on the number of workers.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Dict, List, Optional, Tuple

import numpy as np

from data_prep.masking import MaskingConfig, mask_batch

# Domain tags keep the seeded streams of different purposes independent.
_DOCUMENT_ORDER = 0x0D0C
_BLOCK = 0xB10C

#: Instance kinds (statistics only): A really precedes B; A/B swapped; B from another document.
IN_ORDER, SWAPPED, RANDOM_DOCUMENT = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class InstanceConfig:
    """The instance-building flags of the original script.

    Example:

    >>> InstanceConfig(max_seq_length=128).max_num_tokens
    125
    """

    max_seq_length: int = 512
    short_seq_prob: float = 0.1
    random_next_sentence: bool = False
    dupe_factor: int = 40
    random_seed: int = 12345

    def __post_init__(self):
        if self.max_seq_length < 5:
            raise ValueError(
                f"--max_seq_length={self.max_seq_length} is too small: [CLS] A [SEP] B [SEP] needs at least 5"
            )
        if not 0.0 <= self.short_seq_prob <= 1.0:
            raise ValueError(f"--short_seq_prob must be in [0, 1]; got {self.short_seq_prob}")
        if self.dupe_factor < 1:
            raise ValueError(f"--dupe_factor must be at least 1; got {self.dupe_factor}")

    @property
    def max_num_tokens(self) -> int:
        return self.max_seq_length - 3


def truncation_counts(len_a: int, len_b: int, max_num_tokens: int) -> Tuple[int, int]:
    """Tokens the original's ``truncate_seq_pair`` removes from A and from B.

    It removes one token at a time from the longer side, B on ties; only the counts matter here.

    Example:

    >>> truncation_counts(5, 5, 7), truncation_counts(3, 6, 5), truncation_counts(7, 3, 8)
    ((1, 2), (0, 4), (2, 0))
    """
    excess = len_a + len_b - max_num_tokens
    if excess <= 0:
        return 0, 0
    cut_a = cut_b = 0
    if len_a > len_b:
        cut_a = min(excess, len_a - len_b)
    elif len_b > len_a:
        cut_b = min(excess, len_b - len_a)
    excess -= cut_a + cut_b
    # From equal lengths B loses first, then A, alternately.
    return cut_a + excess // 2, cut_b + (excess + 1) // 2


def _front_cuts(rnd: random.Random, cuts: int) -> int:
    # The number of "remove from the front" coin flips among `cuts` fair flips.
    return bin(rnd.getrandbits(cuts)).count("1") if cuts else 0


def document_rng(seed: int, round_index: int, document: int) -> random.Random:
    """The per-(round, document) stream; string seeds hash with SHA-512, stable across processes."""
    return random.Random(f"albert-instances/{seed}/{round_index}/{document}")


def document_instances(store, document: int, rnd: random.Random, config: InstanceConfig) -> List[tuple]:
    """Instances of one document in one round: ``(a0, a1, b0, b1, label, kind, short, truncated)``.

    ``[a0, a1)`` and ``[b0, b1)`` are token ranges of ``store.tokens`` after truncation; ``short``
    tells whether the round drew a short target length for this document, ``truncated`` whether
    the pair lost tokens.
    """
    offsets = store.sentence_offsets
    first, last = store.document_sentences(document)
    starts = np.asarray(offsets[first:last + 1]).tolist()
    num_sentences = last - first
    num_documents = store.num_documents
    max_num_tokens = config.max_num_tokens

    target = max_num_tokens
    short = False
    if rnd.random() < config.short_seq_prob:
        target = rnd.randint(2, max_num_tokens)
        short = True

    instances = []
    chunk_begin = 0  # the chunk is sentences [chunk_begin, i] of this document
    i = 0
    while i < num_sentences:
        chunk_tokens = starts[i + 1] - starts[chunk_begin]
        if i == num_sentences - 1 or chunk_tokens >= target:
            chunk_size = i + 1 - chunk_begin
            a_end = 1 if chunk_size == 1 else rnd.randint(1, chunk_size - 1)
            a0, a1 = starts[chunk_begin], starts[chunk_begin + a_end]
            if chunk_size == 1 or (config.random_next_sentence and rnd.random() < 0.5):
                kind = RANDOM_DOCUMENT
                target_b = target - (a1 - a0)
                for _ in range(10):
                    other = rnd.randint(0, num_documents - 1)
                    if other != document:
                        break
                other_first, other_last = store.document_sentences(other)
                j = other_first + rnd.randint(0, other_last - other_first - 1)
                b0 = int(offsets[j])
                b1 = int(offsets[j + 1])
                while b1 - b0 < target_b and j + 1 < other_last:
                    j += 1
                    b1 = int(offsets[j + 1])
                # The sentences after A go back to the document for the next chunk.
                i = chunk_begin + a_end - 1
            else:
                b0, b1 = a1, starts[i + 1]
                kind = IN_ORDER
                if not config.random_next_sentence and rnd.random() < 0.5:
                    kind = SWAPPED
                    a0, a1, b0, b1 = b0, b1, a0, a1
            cut_a, cut_b = truncation_counts(a1 - a0, b1 - b0, max_num_tokens)
            front_a = _front_cuts(rnd, cut_a)
            front_b = _front_cuts(rnd, cut_b)
            a0, a1 = a0 + front_a, a1 - (cut_a - front_a)
            b0, b1 = b0 + front_b, b1 - (cut_b - front_b)
            truncated = cut_a + cut_b > 0
            instances.append((a0, a1, b0, b1, 0 if kind == IN_ORDER else 1, kind, short, truncated))
            chunk_begin = i + 1
        i += 1
    return instances


@dataclasses.dataclass(frozen=True)
class Block:
    """Documents ``order[start:end]`` of round ``round_index``; ``index`` is global and round-major.

    Example:

    >>> Block(index=7, round_index=1, start=0, end=40).end
    40
    """

    index: int
    round_index: int
    start: int
    end: int


def document_order(seed: int, round_index: int, num_documents: int) -> np.ndarray:
    """The seeded order in which round ``round_index`` visits the documents."""
    generator = np.random.default_rng(np.random.SeedSequence([seed, _DOCUMENT_ORDER, round_index]))
    return generator.permutation(num_documents)


def plan_blocks(document_tokens: np.ndarray, config: InstanceConfig, block_tokens: int) -> List[Block]:
    """Cuts each round's document order into blocks of about ``block_tokens`` tokens.

    A block closes at the first document that brings it to ``block_tokens`` or more; a document is
    never split (its instances depend on walking it in order).

    Example:

    >>> cfg = InstanceConfig(dupe_factor=2, random_seed=1)
    >>> [(b.round_index, b.end - b.start) for b in plan_blocks(np.array([5, 5, 5]), cfg, 10)]
    [(0, 2), (0, 1), (1, 2), (1, 1)]
    """
    if block_tokens < 1:
        raise ValueError(f"block_tokens must be positive; got {block_tokens}")
    blocks = []
    num_documents = len(document_tokens)
    for round_index in range(config.dupe_factor):
        order = document_order(config.random_seed, round_index, num_documents)
        before = np.cumsum(document_tokens[order]) - document_tokens[order]
        group = before // block_tokens
        cuts = np.nonzero(np.diff(group))[0] + 1
        bounds = [0] + cuts.tolist() + [num_documents]
        for start, end in zip(bounds[:-1], bounds[1:]):
            blocks.append(Block(len(blocks), round_index, start, end))
    return blocks


def empty_block_stats(ngram: int) -> Dict[str, object]:
    """Counters of :func:`build_block` with every value zero (the identity of :func:`merge_stats`)."""
    return {
        "instances": 0,
        "documents": 0,
        "tokens": 0,
        "predictions": 0,
        "budget": 0,
        "replaced_by_mask": 0,
        "kept": 0,
        "replaced_by_random": 0,
        "span_units": [0] * ngram,
        "drawn_ngram": [0] * ngram,
        "label_1": 0,
        "swapped": 0,
        "random_document": 0,
        "short_target": 0,
        "short_target_documents": 0,
        "tokens_a": 0,
        "tokens_b": 0,
        "truncated": 0,
    }


def merge_stats(total: Dict[str, object], part: Dict[str, object]) -> Dict[str, object]:
    """Adds ``part`` into ``total`` in place (lists element-wise) and returns ``total``."""
    for key, value in part.items():
        if isinstance(value, list):
            current = total.setdefault(key, [0] * len(value))
            total[key] = [x + y for x, y in zip(current, value)]
        else:
            total[key] = total.get(key, 0) + value
    return total


@dataclasses.dataclass
class BuiltBlock:
    """A block's instances as arrays (rows already in their shuffled output order).

    Example:

    >>> BuiltBlock(Block(0, 0, 0, 1), {"input_ids": np.zeros((2, 8), np.int32)}, {}).features["input_ids"].shape
    (2, 8)
    """

    block: Block
    features: Dict[str, np.ndarray]
    stats: Dict[str, object]


class BlockBuilder:
    """Builds, masks and shuffles the instances of a :class:`Block`.

    Example (a store of two documents of sentences with 6 and 5 tokens):

    >>> import tempfile
    >>> from data_prep.token_store import Chunk, ChunkResult, StoreWriter
    >>> from data_prep.masking import MaskingConfig
    >>> writer = StoreWriter(tempfile.mkdtemp(), ["x"], np.uint16)
    >>> lengths = np.array([6, 6, -1, 5, 5, 5], np.int32)
    >>> writer.add(ChunkResult(Chunk(0, 0, "x", 0, 1), np.arange(10, 37, dtype=np.uint16), lengths, [], 0))
    >>> store = writer.finish()
    >>> masking = MaskingConfig(vocab_size=40, cls_id=2, sep_id=3, mask_id=4, start_table=np.ones(40, bool))
    >>> builder = BlockBuilder(store, InstanceConfig(max_seq_length=16, dupe_factor=1), masking)
    >>> built = builder.build(plan_blocks(store.document_tokens(), builder.config, 10**6)[0])
    >>> built.features["input_ids"].shape[1], built.stats["documents"]
    (16, 2)
    """

    def __init__(self, store, config: InstanceConfig, masking: MaskingConfig):
        self.store = store
        self.config = config
        self.masking = masking
        self._order_round: Optional[int] = None
        self._order: Optional[np.ndarray] = None

    def documents_of(self, block: Block) -> np.ndarray:
        if self._order_round != block.round_index:
            self._order = document_order(self.config.random_seed, block.round_index, self.store.num_documents)
            self._order_round = block.round_index
        return self._order[block.start:block.end]

    def build(self, block: Block) -> BuiltBlock:
        config = self.config
        specs = []
        short_documents = 0
        documents = self.documents_of(block)
        for document in documents.tolist():
            rnd = document_rng(config.random_seed, block.round_index, document)
            found = document_instances(self.store, document, rnd, config)
            short_documents += found[0][6]  # every document yields at least one instance
            specs.extend(found)
        spec = np.array(specs, dtype=np.int64).reshape(-1, 8)
        a0, a1, b0, b1, labels, kinds, short, truncated = spec.T
        len_a, len_b = a1 - a0, b1 - b0
        lengths = len_a + len_b + 3
        rows, width = len(spec), config.max_seq_length

        # [CLS] A [SEP] B [SEP] for all rows in one gather from the store.
        position = np.arange(width)[None, :]
        in_a = (position >= 1) & (position <= len_a[:, None])
        b_first = len_a[:, None] + 2
        in_b = (position >= b_first) & (position < b_first + len_b[:, None])
        source = np.where(in_a, a0[:, None] + position - 1, b0[:, None] + position - b_first)
        take = in_a | in_b
        ids = np.zeros((rows, width), dtype=np.int32)
        tokens = self.store.tokens
        ids[take] = tokens[source[take]]
        ids[:, 0] = self.masking.cls_id
        ids[np.arange(rows), len_a + 1] = self.masking.sep_id
        ids[np.arange(rows), lengths - 1] = self.masking.sep_id
        input_mask = (position < lengths[:, None]).astype(np.int32)
        segment_ids = ((position >= b_first) & (position < lengths[:, None])).astype(np.int32)

        generator = np.random.default_rng(np.random.SeedSequence([config.random_seed, _BLOCK, block.index]))
        masked = mask_batch(ids, lengths, generator, self.masking)
        shuffle = generator.permutation(rows)
        features = {
            "input_ids": masked.input_ids[shuffle],
            "input_mask": input_mask[shuffle],
            "segment_ids": segment_ids[shuffle],
            "token_boundary": masked.token_boundary[shuffle],
            "masked_lm_positions": masked.masked_lm_positions[shuffle],
            "masked_lm_ids": masked.masked_lm_ids[shuffle],
            "masked_lm_weights": masked.masked_lm_weights[shuffle],
            "next_sentence_labels": labels[shuffle, None].astype(np.int32),
        }
        stats = empty_block_stats(self.masking.ngram)
        merge_stats(stats, masked.stats)
        stats.update(
            instances=rows,
            documents=len(documents),
            label_1=int(labels.sum()),
            swapped=int((kinds == SWAPPED).sum()),
            random_document=int((kinds == RANDOM_DOCUMENT).sum()),
            short_target=int(short.sum()),
            short_target_documents=int(short_documents),
            tokens_a=int(len_a.sum()),
            tokens_b=int(len_b.sum()),
            truncated=int(truncated.sum()),
        )
        return BuiltBlock(block, features, stats)
