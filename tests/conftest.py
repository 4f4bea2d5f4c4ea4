import os

# Quiet TensorFlow's start-up banners in test output; keep determinism of CPU kernels.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from albert_tf import AlbertConfig  # noqa: E402


def tiny_config(**overrides):
    """H=32, L=2, V=300: big enough to exercise every code path, small enough for 2 CPU cores."""
    values = dict(
        vocab_size=300,
        embedding_size=16,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    values.update(overrides)
    return AlbertConfig(**values)


def random_batch(config, batch=3, length=12, predictions=4, seed=0, pad=(0, 4, 7)):
    """Inputs with padding (row i has pad[i] padded positions) and random MLM targets."""
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, length), "int32")
    for row, count in enumerate(pad[:batch]):
        if count:
            mask[row, length - count:] = 0
    segments = np.zeros((batch, length), "int32")
    segments[:, length // 2:] = 1
    positions = np.stack([np.sort(rng.choice(length - max(pad), predictions, replace=False)) for _ in range(batch)])
    return {
        "input_ids": rng.integers(0, config.vocab_size, (batch, length)).astype("int32"),
        "input_mask": mask,
        "segment_ids": segments * mask,
        "masked_lm_positions": positions.astype("int32"),
        "masked_lm_ids": rng.integers(0, config.vocab_size, (batch, predictions)).astype("int32"),
        "masked_lm_weights": np.ones((batch, predictions), "float32"),
        "next_sentence_labels": rng.integers(0, 2, (batch, 1)).astype("int32"),
    }


@pytest.fixture
def config():
    return tiny_config()
