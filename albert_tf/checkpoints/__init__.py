"""Checkpoint converters: the original TF1 release and HuggingFace transformers."""

from albert_tf.checkpoints.huggingface import load_huggingface, save_huggingface
from albert_tf.checkpoints.loading import UnsafeModelFileError, load_keras_file, load_model
from albert_tf.checkpoints.original import ConversionReport, load_original_checkpoint, save_original_checkpoint

__all__ = [
    "ConversionReport",
    "UnsafeModelFileError",
    "load_huggingface",
    "load_keras_file",
    "load_model",
    "load_original_checkpoint",
    "save_huggingface",
    "save_original_checkpoint",
]
