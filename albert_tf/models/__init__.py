"""ALBERT models: the backbone and the models that wrap it."""

from albert_tf.models.backbone import AlbertBackbone
from albert_tf.models.classifier import AlbertClassifier
from albert_tf.models.multiple_choice import AlbertMultipleChoice
from albert_tf.models.pretrainer import AlbertPretrainer
from albert_tf.models.question_answering import AlbertQuestionAnswering
from albert_tf.models.token_classifier import AlbertTokenClassifier

__all__ = [
    "AlbertBackbone",
    "AlbertClassifier",
    "AlbertMultipleChoice",
    "AlbertPretrainer",
    "AlbertQuestionAnswering",
    "AlbertTokenClassifier",
]
