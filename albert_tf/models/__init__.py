"""ALBERT models: the backbone and the models that wrap it."""

from albert_tf.models.backbone import AlbertBackbone
from albert_tf.models.classifier import AlbertClassifier
from albert_tf.models.pretrainer import AlbertPretrainer

__all__ = ["AlbertBackbone", "AlbertClassifier", "AlbertPretrainer"]
