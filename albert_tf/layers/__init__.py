"""Keras layers of ALBERT."""

from albert_tf.layers.activations import gelu_tanh, get_activation
from albert_tf.layers.embedding import FactorizedEmbedding
from albert_tf.layers.encoder import SharedEncoder, layer_to_group
from albert_tf.layers.heads import ClassificationHead, MaskedLMHead, SentenceOrderHead, SpanHead, SquadV2Head
from albert_tf.layers.transformer import FeedForwardSublayer, SelfAttentionSublayer

__all__ = [
    "ClassificationHead",
    "FactorizedEmbedding",
    "FeedForwardSublayer",
    "MaskedLMHead",
    "SelfAttentionSublayer",
    "SentenceOrderHead",
    "SharedEncoder",
    "SpanHead",
    "SquadV2Head",
    "gelu_tanh",
    "get_activation",
    "layer_to_group",
]
