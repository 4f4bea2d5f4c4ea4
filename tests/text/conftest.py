"""Session fixtures for the tokenizer tests (data is generated, see tokenizer_corpus.py)."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tests.text.tokenizer_corpus import handmade_model_proto, make_corpus, training_lines  # noqa: E402


@pytest.fixture(scope="session")
def corpus():
    return make_corpus()


@pytest.fixture(scope="session")
def spm_model_file(tmp_path_factory):
    """A ~400-piece unigram model trained with the original recipe on generated text."""
    from data_prep.vocab import train_sentencepiece
    from albert_tf.text import preprocess_text

    sentences = [preprocess_text(line, lower=True) for line in training_lines()]
    proto = train_sentencepiece(sentences, vocab_size=400, num_threads=1, random_seed=7)
    path = tmp_path_factory.mktemp("spm") / "tiny.model"
    path.write_bytes(proto)
    return str(path)


@pytest.fixture(scope="session")
def spm_proto(spm_model_file):
    with open(spm_model_file, "rb") as f:
        return f.read()


@pytest.fixture(scope="session")
def tokenizer(spm_model_file):
    from albert_tf.text import AlbertTokenizer

    return AlbertTokenizer(spm_model_file)


@pytest.fixture(scope="session")
def handmade_proto():
    return handmade_model_proto()
