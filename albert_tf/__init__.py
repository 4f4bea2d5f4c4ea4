"""albert_tf: ALBERT on Keras 3 / TensorFlow, faithful to Google's original release."""

from albert_tf.config import AlbertConfig
from albert_tf.layers import FactorizedEmbedding, MaskedLMHead, SentenceOrderHead, SharedEncoder
from albert_tf.models import AlbertBackbone, AlbertPretrainer

__version__ = "0.1.0"

__all__ = [
    "AlbertBackbone",
    "AlbertConfig",
    "AlbertPretrainer",
    "FactorizedEmbedding",
    "MaskedLMHead",
    "SentenceOrderHead",
    "SharedEncoder",
]
