"""Checkpoint converters: the original TF1 release, HuggingFace transformers and keras-hub.

Importing this package needs no TensorFlow, Keras or keras-hub; each converter imports them when called.
"""

from albert_tf.checkpoints.huggingface import huggingface_tokenizer, load_huggingface, save_huggingface
from albert_tf.checkpoints.keras_hub import from_keras_hub, load_keras_hub_preset, save_keras_hub_preset, to_keras_hub
from albert_tf.checkpoints.loading import UnsafeModelFileError, load_keras_file, load_model
from albert_tf.checkpoints.original import load_original_checkpoint, save_original_checkpoint
from albert_tf.checkpoints.report import ConversionReport

__all__ = [
    "ConversionReport",
    "UnsafeModelFileError",
    "from_keras_hub",
    "huggingface_tokenizer",
    "load_huggingface",
    "load_keras_file",
    "load_keras_hub_preset",
    "load_model",
    "load_original_checkpoint",
    "save_huggingface",
    "save_keras_hub_preset",
    "save_original_checkpoint",
    "to_keras_hub",
]
