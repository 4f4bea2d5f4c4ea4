"""Checkpoint converters: HuggingFace transformers (more formats join here: original TF1, keras-hub)."""

from albert_tf.checkpoints.huggingface import load_huggingface, save_huggingface

__all__ = ["load_huggingface", "save_huggingface"]
