"""`AlbertBackbone`: the functional ALBERT encoder (factorized embedding, shared encoder, pooler)."""

import keras

from albert_tf.config import AlbertConfig
from albert_tf.layers.embedding import FactorizedEmbedding, truncated_normal
from albert_tf.layers.encoder import SharedEncoder
from albert_tf.models.inputs import INPUT_KEYS, select_inputs
from albert_tf.models.quantization import QuantizableModel, quantized_layers, restore_quantization
from albert_tf.models.serving import ServingModel, backbone_serving_outputs


def serialize_model(model):
    """`get_config` of a model defined by an `AlbertConfig`: the config keys, the name and the dtype policy
    (and, after `model.quantize`, which layers are quantized)."""
    values = {"config": model.config.to_dict(), "name": model.name, "dtype": keras.dtype_policies.serialize(model.dtype_policy)}
    quantized = quantized_layers(model)
    if quantized:
        values["quantized_layers"] = quantized
    return values


def deserialize_model(cls, values):
    """The inverse of `serialize_model`."""
    values = dict(values)
    dtype = values.pop("dtype", None)
    if isinstance(dtype, dict):
        dtype = keras.dtype_policies.deserialize(dtype)
    quantized = values.pop("quantized_layers", None)
    model = cls(config=AlbertConfig.from_dict(values.pop("config")), dtype=dtype, **values)
    if quantized:
        restore_quantization(model, quantized)
    return model


def as_config(config):
    if isinstance(config, AlbertConfig):
        return config
    if isinstance(config, dict):
        return AlbertConfig.from_dict(config)
    raise TypeError(f"Expected an AlbertConfig or a dict of its keys, got {type(config).__name__}.")


@keras.saving.register_keras_serializable(package="albert_tf")
class AlbertBackbone(ServingModel, QuantizableModel, keras.Model):
    """The ALBERT encoder, computing the original release's forward pass.

    Inputs: a dict of int32 `[batch, seq]` tensors `input_ids`, `input_mask` (1 = token, 0 = padding)
    and `segment_ids`. Outputs: a dict with `sequence_output` `[B, S, H]`, `pooled_output` `[B, H]`
    (tanh dense on the first token), `encoder_outputs` (one `[B, S, H]` tensor per applied block,
    `num_hidden_layers * inner_group_num` of them, as the original's `all_encoder_layers`) and
    `embedding_output` `[B, S, E]` (after the embedding LayerNorm and dropout, before the projection).

    Dropout follows the config when called with `training=True`; inference never drops out, as the
    original's `is_training=False`.

    Example:

    >>> import numpy as np
    >>> config = AlbertConfig(vocab_size=100, embedding_size=8, hidden_size=16, num_hidden_layers=2,
    ...                       num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)
    >>> backbone = AlbertBackbone(config)
    >>> ids = np.array([[2, 15, 27, 3, 0]], "int32")
    >>> outputs = backbone({"input_ids": ids, "input_mask": np.array([[1, 1, 1, 1, 0]], "int32"),
    ...                     "segment_ids": np.zeros_like(ids)})
    >>> tuple(outputs["sequence_output"].shape), tuple(outputs["pooled_output"].shape)
    ((1, 5, 16), (1, 16))
    """

    def __init__(self, config, dtype=None, **kwargs):
        config = as_config(config)

        # === Layers ===
        self.embeddings = FactorizedEmbedding(
            vocab_size=config.vocab_size,
            embedding_size=config.embedding_size,
            hidden_size=config.hidden_size,
            max_position_embeddings=config.max_position_embeddings,
            type_vocab_size=config.type_vocab_size,
            dropout=config.hidden_dropout_prob,
            initializer_range=config.initializer_range,
            dtype=dtype,
            name="embeddings",
        )
        self.encoder = SharedEncoder(
            num_hidden_layers=config.num_hidden_layers,
            hidden_size=config.hidden_size,
            num_attention_heads=config.num_attention_heads,
            intermediate_size=config.intermediate_size,
            num_hidden_groups=config.num_hidden_groups,
            inner_group_num=config.inner_group_num,
            sharing=config.sharing,
            hidden_act=config.hidden_act,
            hidden_dropout=config.hidden_dropout_prob,
            attention_dropout=config.attention_probs_dropout_prob,
            initializer_range=config.initializer_range,
            dtype=dtype,
            name="encoder",
        )
        self.pooler = keras.layers.Dense(
            config.hidden_size,
            activation="tanh",
            kernel_initializer=truncated_normal(config.initializer_range),
            dtype=dtype,
            name="pooler",
        )

        # === Functional graph ===
        inputs = {key: keras.Input(shape=(None,), dtype="int32", name=key) for key in INPUT_KEYS}
        embedding_output, hidden = self.embeddings(inputs["input_ids"], inputs["segment_ids"])
        encoder_outputs = self.encoder(hidden, inputs["input_mask"])
        sequence_output = encoder_outputs[-1]
        pooled_output = self.pooler(sequence_output[:, 0, :])
        super().__init__(
            inputs=inputs,
            outputs={
                "sequence_output": sequence_output,
                "pooled_output": pooled_output,
                "encoder_outputs": encoder_outputs,
                "embedding_output": embedding_output,
            },
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.config = config

    @property
    def embedding_table(self):
        """The [V, E] word-embedding table, shared with the masked-LM decoder (see
        `FactorizedEmbedding.embedding_table`)."""
        return self.embeddings.embedding_table

    def serving_outputs(self, features):
        return backbone_serving_outputs(self, features)

    def __call__(self, inputs, *args, **kwargs):
        # Checked before Keras' own input matching, whose error neither hints at renames nor allows extras.
        return super().__call__(select_inputs(inputs, INPUT_KEYS, "AlbertBackbone"), *args, **kwargs)

    def get_config(self):
        return serialize_model(self)

    @classmethod
    def from_config(cls, config):
        return deserialize_model(cls, config)
