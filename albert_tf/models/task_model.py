"""`AlbertTaskModel`: what every fine-tuning model shares (one backbone, serialisation, input checks).

A task model is built either around an existing `AlbertBackbone` (the usual fine-tuning path: load a
pretrained backbone, wrap it) or from an `AlbertConfig` (how `.keras` files are loaded back). Its loss is
computed inside the model (`compute_loss`), so `fit` runs directly on the feature dicts read from the
original's TFRecords, labels included; extra keys in a batch are ignored.
"""

import keras
from keras import ops

from albert_tf.backend import argmax
from albert_tf.config import AlbertConfig
from albert_tf.models.backbone import AlbertBackbone, as_config, deserialize_model, serialize_model
from albert_tf.models.inputs import select_inputs
from albert_tf.models.quantization import QuantizableModel
from albert_tf.models.serving import ServingModel


def resolve_backbone(owner, backbone, config, dtype):
    """The backbone to wrap: `backbone` itself, or a new one from `config` (an AlbertConfig may also be
    passed as `backbone`)."""
    if isinstance(backbone, (AlbertConfig, dict)):
        if config is not None:
            raise ValueError(f"{owner} got a config both as `backbone` and as `config`.")
        backbone, config = None, backbone
    if backbone is None:
        if config is None:
            raise ValueError(f"{owner} needs a `backbone` (AlbertBackbone) or a `config` (AlbertConfig).")
        return AlbertBackbone(as_config(config), dtype=dtype)
    if not isinstance(backbone, AlbertBackbone):
        raise TypeError(f"{owner} expects an AlbertBackbone as `backbone`, got {type(backbone).__name__}.")
    if config is not None and as_config(config).to_dict() != backbone.config.to_dict():
        raise ValueError(f"{owner} got both `config` and a `backbone` built from another config.")
    return backbone


class AlbertTaskModel(ServingModel, QuantizableModel, keras.Model):
    """Base of the task models; subclasses set `input_keys`, build their head and define
    `call`, `compute_loss`, `task_config` (their own constructor arguments) and `serving_outputs`."""

    input_keys = ("input_ids", "input_mask", "segment_ids")
    optional_input_keys = ()

    def __init__(self, backbone=None, config=None, dtype=None, **kwargs):
        backbone = resolve_backbone(type(self).__name__, backbone, config, dtype)
        # The functional backbone reports float32 whatever its layers use; its layers carry the policy.
        super().__init__(dtype=dtype if dtype is not None else backbone.embeddings.dtype_policy, **kwargs)
        self.backbone = backbone
        self.config = backbone.config

    def __call__(self, inputs, *args, **kwargs):
        selected = select_inputs(inputs, self.input_keys, type(self).__name__)
        selected.update({key: inputs[key] for key in self.optional_input_keys if key in inputs})
        return super().__call__(selected, *args, **kwargs)

    @staticmethod
    def class_outputs(logits):
        """`logits` [..., C] with their softmax and arg-max class, the outputs of every class-scoring head."""
        return {
            "logits": logits,
            "probabilities": ops.softmax(logits, axis=-1),
            "predictions": argmax(logits),
        }

    def labels(self, x, y, keys, integer_keys=()):
        """The label tensors, from `y` when given, else from the features dict `x`."""
        return select_inputs(y if y is not None else x, keys, f"{type(self).__name__} labels", integer_keys=integer_keys)

    @property
    def metrics(self):
        own = self.task_metrics()
        return [m for m in super().metrics if m not in own] + own

    def task_metrics(self):
        return []

    def task_config(self):
        return {}

    def get_config(self):
        values = serialize_model(self)
        values.update(self.task_config())
        return values

    @classmethod
    def from_config(cls, config):
        return deserialize_model(cls, config)
