"""A plain, single-process transcription of the original ``create_pretraining_data.py`` algorithm.

Written from the specification (spec §5) for two uses: the baseline that
``tools/bench_pretraining_data.py`` measures the fast implementation against, and the reference
whose statistics the tests compare with :mod:`data_prep.pretraining`. It keeps the original's
structure and costs on purpose: every line tokenized on its own into piece strings, all documents
in one list, one ``random.Random`` stream, instances as lists of strings, masking over strings,
the whole output shuffled in memory and written with ``tf.train.Example`` protos round-robin.

One knob the original lacks: ``numpy_rng`` draws the n-gram lengths (the original used the
unseeded global NumPy RNG, which is what ``None`` still means here).
"""

from __future__ import annotations

import collections
import dataclasses
import random
from typing import List, Optional, Sequence

import numpy as np

from data_prep.masking import is_start_piece, ngram_probabilities


@dataclasses.dataclass
class OriginalInstance:
    """One training instance as the original held it: piece strings and labels.

    Example:

    >>> OriginalInstance(["[CLS]", "\u2581a", "[SEP]", "\u2581b", "[SEP]"], [0, 0, 0, 1, 1], False,
    ...                  [1, 1, 1, 1, 1], [1], ["\u2581a"]).masked_lm_positions
    [1]
    """

    tokens: List[str]
    segment_ids: List[int]
    is_random_next: bool
    token_boundary: List[int]
    masked_lm_positions: List[int]
    masked_lm_labels: List[str]
    kind: str = ""
    short_target: bool = False


@dataclasses.dataclass
class OriginalFlags:
    """The original flags that shape instances and masks (its defaults).

    Example:

    >>> OriginalFlags().max_seq_length, OriginalFlags().dupe_factor
    (512, 40)
    """

    max_seq_length: int = 512
    dupe_factor: int = 40
    short_seq_prob: float = 0.1
    masked_lm_prob: float = 0.15
    max_predictions_per_seq: int = 20
    ngram: int = 3
    do_whole_word_mask: bool = True
    favor_shorter_ngram: bool = True
    random_next_sentence: bool = False
    random_seed: int = 12345


@dataclasses.dataclass
class OriginalStats:
    """Counters the original did not keep, gathered for the statistics tests.

    Example:

    >>> OriginalStats().document_rounds
    0
    """

    span_units: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    short_target_documents: int = 0
    document_rounds: int = 0


def read_documents(input_files: Sequence[str], tokenizer, rng: random.Random) -> List[List[List[str]]]:
    """All documents of all files as lists of tokenized sentences, shuffled with ``rng``.

    A line that is empty after pre-processing opens a new document; a line that tokenizes to
    nothing is dropped. As in the original, a new file does not open a new document.
    """
    documents = [[]]
    for path in input_files:
        with open(path, "rb") as f:
            for raw in f:
                line = tokenizer.preprocess(raw.decode("utf-8", errors="ignore"))
                if not line:
                    documents.append([])
                    continue
                pieces = tokenizer.tokenize(line, preprocess=False)
                if pieces:
                    documents[-1].append(pieces)
    documents = [d for d in documents if d]
    rng.shuffle(documents)
    return documents


def truncate_pair(tokens_a: list, tokens_b: list, max_num_tokens: int, rng: random.Random) -> None:
    """Drops tokens from the longer list (B on ties), front or back at random, until they fit."""
    while len(tokens_a) + len(tokens_b) > max_num_tokens:
        longer = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        if rng.random() < 0.5:
            del longer[0]
        else:
            longer.pop()


def mask_tokens(tokens: List[str], flags: OriginalFlags, vocab_words: List[str], rng: random.Random,
                numpy_rng, stats: Optional[OriginalStats] = None):
    """The original n-gram masking over piece strings: ``(output, positions, labels, boundary)``."""
    units: List[List[int]] = []
    boundary = [0] * len(tokens)
    for i, token in enumerate(tokens):
        if token in ("[CLS]", "[SEP]"):
            boundary[i] = 1
            continue
        if flags.do_whole_word_mask and units and not is_start_piece(token):
            units[-1].append(i)
        else:
            units.append([i])
            if is_start_piece(token):
                boundary[i] = 1
    output = list(tokens)
    if flags.masked_lm_prob == 0:
        return output, [], [], boundary
    budget = min(flags.max_predictions_per_seq, max(1, int(round(len(tokens) * flags.masked_lm_prob))))
    lengths = list(range(1, flags.ngram + 1))
    probabilities = ngram_probabilities(flags.ngram, flags.favor_shorter_ngram)
    candidates = [[units[u:u + n] for n in lengths] for u in range(len(units))]
    rng.shuffle(candidates)

    draw = numpy_rng if numpy_rng is not None else np.random
    masked = []
    covered = set()
    for options in candidates:
        if len(masked) >= budget:
            break
        n = int(draw.choice(lengths, p=probabilities))
        span = [i for unit in options[n - 1] for i in unit]
        n -= 1
        while len(masked) + len(span) > budget and n > 0:
            span = [i for unit in options[n - 1] for i in unit]
            n -= 1
        if len(masked) + len(span) > budget:
            continue
        if any(i in covered for i in span):
            continue
        if stats is not None:
            # After the fall-back loop, options[n] is the n-gram taken (cut short near the end).
            stats.span_units[len(options[n])] += 1
        for i in span:
            covered.add(i)
            if rng.random() < 0.8:
                replacement = "[MASK]"
            elif rng.random() < 0.5:
                replacement = tokens[i]
            else:
                replacement = vocab_words[rng.randint(0, len(vocab_words) - 1)]
            output[i] = replacement
            masked.append((i, tokens[i]))
    rng.shuffle(candidates)  # the original shuffles again, unconditionally
    masked.sort()
    return output, [i for i, _ in masked], [label for _, label in masked], boundary


def document_instances(documents, index: int, flags: OriginalFlags, vocab_words, rng: random.Random,
                       numpy_rng, stats: Optional[OriginalStats] = None) -> List[OriginalInstance]:
    """Instances of one document, the original's way (chunks, A/B split, SOP or NSP)."""
    document = documents[index]
    max_num_tokens = flags.max_seq_length - 3
    target = max_num_tokens
    short = False
    if rng.random() < flags.short_seq_prob:
        target = rng.randint(2, max_num_tokens)
        short = True
    if stats is not None:
        stats.document_rounds += 1
        stats.short_target_documents += short

    instances = []
    chunk: List[List[str]] = []
    chunk_length = 0
    i = 0
    while i < len(document):
        chunk.append(document[i])
        chunk_length += len(document[i])
        if i == len(document) - 1 or chunk_length >= target:
            if chunk:
                a_end = 1 if len(chunk) < 2 else rng.randint(1, len(chunk) - 1)
                tokens_a = [t for sentence in chunk[:a_end] for t in sentence]
                tokens_b: List[str] = []
                if len(chunk) == 1 or (flags.random_next_sentence and rng.random() < 0.5):
                    is_random_next, kind = True, "random_document"
                    wanted = target - len(tokens_a)
                    for _ in range(10):
                        other = rng.randint(0, len(documents) - 1)
                        if other != index:
                            break
                    other_document = documents[other]
                    for j in range(rng.randint(0, len(other_document) - 1), len(other_document)):
                        tokens_b.extend(other_document[j])
                        if len(tokens_b) >= wanted:
                            break
                    i -= len(chunk) - a_end
                elif not flags.random_next_sentence and rng.random() < 0.5:
                    is_random_next, kind = True, "swapped"
                    tokens_b = [t for sentence in chunk[a_end:] for t in sentence]
                    tokens_a, tokens_b = tokens_b, tokens_a
                else:
                    is_random_next, kind = False, "in_order"
                    tokens_b = [t for sentence in chunk[a_end:] for t in sentence]
                truncate_pair(tokens_a, tokens_b, max_num_tokens, rng)
                tokens = ["[CLS]"] + tokens_a + ["[SEP]"] + tokens_b + ["[SEP]"]
                segment_ids = [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1)
                output, positions, labels, boundary = mask_tokens(tokens, flags, vocab_words, rng, numpy_rng, stats)
                instances.append(OriginalInstance(output, segment_ids, is_random_next, boundary, positions,
                                                  labels, kind, short))
            chunk = []
            chunk_length = 0
        i += 1
    return instances


def create_instances(input_files: Sequence[str], tokenizer, flags: OriginalFlags, numpy_rng=None,
                     stats: Optional[OriginalStats] = None) -> List[OriginalInstance]:
    """Reads, builds ``dupe_factor`` rounds and shuffles, as the original's ``main``."""
    rng = random.Random(flags.random_seed)
    documents = read_documents(input_files, tokenizer, rng)
    vocab_words = list(tokenizer.vocab.keys())
    instances = []
    for _ in range(flags.dupe_factor):
        for index in range(len(documents)):
            instances.extend(document_instances(documents, index, flags, vocab_words, rng, numpy_rng, stats))
    rng.shuffle(instances)
    return instances


def write_instances(instances: Sequence[OriginalInstance], tokenizer, flags: OriginalFlags,
                    output_files: Sequence[str]) -> int:
    """Writes ``tf.train.Example`` records round-robin over ``output_files``; returns the count."""
    import tensorflow as tf

    def int_feature(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

    writers = [tf.io.TFRecordWriter(path) for path in output_files]
    seq, preds = flags.max_seq_length, flags.max_predictions_per_seq
    for n, instance in enumerate(instances):
        input_ids = tokenizer.convert_tokens_to_ids(instance.tokens)
        mask = [1] * len(input_ids)
        padding = seq - len(input_ids)
        positions = list(instance.masked_lm_positions)
        label_ids = tokenizer.convert_tokens_to_ids(instance.masked_lm_labels)
        weights = [1.0] * len(label_ids)
        extra = preds - len(positions)
        features = collections.OrderedDict()
        features["input_ids"] = int_feature(input_ids + [0] * padding)
        features["input_mask"] = int_feature(mask + [0] * padding)
        features["segment_ids"] = int_feature(list(instance.segment_ids) + [0] * padding)
        features["token_boundary"] = int_feature(list(instance.token_boundary) + [0] * padding)
        features["masked_lm_positions"] = int_feature(positions + [0] * extra)
        features["masked_lm_ids"] = int_feature(label_ids + [0] * extra)
        features["masked_lm_weights"] = tf.train.Feature(float_list=tf.train.FloatList(value=weights + [0.0] * extra))
        features["next_sentence_labels"] = int_feature([1 if instance.is_random_next else 0])
        example = tf.train.Example(features=tf.train.Features(feature=features))
        writers[n % len(writers)].write(example.SerializeToString())
    for writer in writers:
        writer.close()
    return len(instances)
