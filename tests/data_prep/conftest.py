"""Session fixtures for the pretraining-data tests: a tiny vocabulary trained on generated text."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def spm_model(tmp_path_factory):
    from tests.data_prep.generated_text import train_tiny_model

    return train_tiny_model(tmp_path_factory.mktemp("pretraining_spm"))


@pytest.fixture(scope="session")
def tokenizer(spm_model):
    from albert_tf.text.tokenizer import AlbertTokenizer

    return AlbertTokenizer(spm_model)


@pytest.fixture(scope="session")
def ft_spm_model(tmp_path_factory):
    """A ~260-piece model (original recipe) trained on text with accents, quotes and digit commas."""
    from tests.data_prep.finetuning_fixtures import train_model

    return train_model(str(tmp_path_factory.mktemp("finetuning_spm")))


@pytest.fixture(scope="session")
def ft_tokenizer(ft_spm_model):
    from albert_tf.text.tokenizer import AlbertTokenizer

    return AlbertTokenizer(ft_spm_model)
