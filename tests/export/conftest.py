"""Shared fixtures for the export tests: one tiny SentencePiece model and model config per session."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tests.text.tokenizer_corpus import make_corpus, training_lines  # noqa: E402


@pytest.fixture(scope="session")
def spm_model_file(tmp_path_factory):
    """A ~300-piece unigram model trained with the original recipe on generated text."""
    from albert_tf.text import preprocess_text
    from data_prep.vocab import train_sentencepiece

    sentences = [preprocess_text(line, lower=True) for line in training_lines(1500)]
    proto = train_sentencepiece(sentences, vocab_size=300, num_threads=1, random_seed=3)
    path = tmp_path_factory.mktemp("spm") / "tiny-clean.model"
    path.write_bytes(proto)
    return str(path)


@pytest.fixture(scope="session")
def tokenizer(spm_model_file):
    from albert_tf.text import AlbertTokenizer

    return AlbertTokenizer(spm_model_file)


@pytest.fixture(scope="session")
def tiny_config(tokenizer):
    from albert_tf import AlbertConfig

    return AlbertConfig(vocab_size=tokenizer.vocab_size, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                        num_hidden_groups=2, num_attention_heads=4, intermediate_size=64,
                        max_position_embeddings=64, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)


@pytest.fixture(scope="session")
def awkward_texts():
    """Ordinary lines plus every case that must be served without error."""
    return make_corpus(8, seed=5) + [
        "",
        "   \t\n \u3000 ",
        "ΟΔΥΣΣΕΥΣ ΚΑΙ Η ΘΑΛΑΣΣΑ",
        "日本語のテキストと中文字符",
        "مرحبا بالعالم",
        "हिन्दी भाषा",
        "emoji 👍🏽 🇫🇷",
        "the city had 1,000,000 people. " * 400,  # far longer than max_seq_length
        "x" * 20000,
    ]
