"""Checkpoint converters: the original TF1 release, HuggingFace transformers and keras-hub."""

from albert_tf.checkpoints.huggingface import huggingface_tokenizer, load_huggingface, save_huggingface
from albert_tf.checkpoints.loading import UnsafeModelFileError, load_keras_file, load_model
from albert_tf.checkpoints.original import load_original_checkpoint, save_original_checkpoint
from albert_tf.checkpoints.report import ConversionReport

__all__ = [
    "ConversionReport",
    "UnsafeModelFileError",
    "huggingface_tokenizer",
    "load_huggingface",
    "load_keras_file",
    "load_model",
    "load_original_checkpoint",
    "save_huggingface",
    "save_original_checkpoint",
]
