"""Generated corpora and a tiny SentencePiece model for the pretraining-data tests (no shared data)."""

from __future__ import annotations

import os
import random
from typing import List, Sequence

_SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "shi", "po", "ve", "dan", "ing", "er", "s", "ed", "the", "and"]


def make_words(rng: random.Random, count: int = 400) -> List[str]:
    return ["".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3))) for _ in range(count)]


def make_sentence(rng: random.Random, words: Sequence[str], low: int = 3, high: int = 20) -> str:
    tokens = [rng.choice(words) for _ in range(rng.randint(low, high))]
    if rng.random() < 0.2:  # digit-comma pieces exercise the tokenizer's exact path
        tokens.insert(rng.randrange(len(tokens)), f"{rng.randint(1, 999)},{rng.randint(100, 999)},")
    if rng.random() < 0.2:
        tokens.insert(rng.randrange(len(tokens)), rng.choice(words) + "'s")
    return " ".join(tokens).capitalize() + rng.choice([".", "!", "?", "."])


def random_documents(seed: int, count: int, sentences=(1, 12), words=(3, 20)) -> List[List[str]]:
    """``count`` documents of ``sentences`` (inclusive range) generated sentences each."""
    rng = random.Random(seed)
    vocabulary = make_words(rng)
    return [
        [make_sentence(rng, vocabulary, *words) for _ in range(rng.randint(*sentences))]
        for _ in range(count)
    ]


def write_documents(path, documents: Sequence[Sequence[str]]) -> str:
    """The pretraining input format: one sentence per line, a blank line between documents."""
    path = str(path)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n\n".join("\n".join(doc) for doc in documents) + "\n")
    return path


def train_tiny_model(directory, vocab_size: int = 300) -> str:
    """A unigram model with the README's options, trained on generated text."""
    import sentencepiece as spm

    text = os.path.join(str(directory), "spm_train.txt")
    write_documents(text, random_documents(12345, 400))
    prefix = os.path.join(str(directory), "tiny")
    spm.SentencePieceTrainer.train(
        input=text, model_prefix=prefix, vocab_size=vocab_size, pad_id=0, unk_id=1, bos_id=-1,
        eos_id=-1, control_symbols=["[CLS]", "[SEP]", "[MASK]"],
        user_defined_symbols=["(", ")", '"', "-", ".", "–", "£", "€"], num_threads=1, minloglevel=2,
    )
    return prefix + ".model"
