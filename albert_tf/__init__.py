"""albert_tf: ALBERT on Keras 3 / TensorFlow, faithful to Google's original release.

Importing the package registers every layer, model, optimizer and schedule with Keras, so `.keras`
files written by albert_tf load with `keras.saving.load_model` after `import albert_tf`.
"""

from albert_tf import checkpoints, data
from albert_tf.config import AlbertConfig
from albert_tf.layers import ClassificationHead, FactorizedEmbedding, MaskedLMHead, SentenceOrderHead, SharedEncoder
from albert_tf.models import AlbertBackbone, AlbertClassifier, AlbertPretrainer
from albert_tf.text import AlbertInGraphTokenizer, AlbertPreprocessor, AlbertTokenizer
from albert_tf.training import (
    AdamWeightDecayOptimizer,
    LAMBOptimizer,
    WarmupPolynomialDecay,
    create_optimizer,
    select_strategy,
)

__version__ = "0.1.0"

__all__ = [
    "AdamWeightDecayOptimizer",
    "AlbertBackbone",
    "AlbertClassifier",
    "AlbertConfig",
    "AlbertInGraphTokenizer",
    "AlbertPreprocessor",
    "AlbertPretrainer",
    "AlbertTokenizer",
    "ClassificationHead",
    "FactorizedEmbedding",
    "LAMBOptimizer",
    "MaskedLMHead",
    "SentenceOrderHead",
    "SharedEncoder",
    "WarmupPolynomialDecay",
    "checkpoints",
    "create_optimizer",
    "data",
    "select_strategy",
]
