"""`ServingModel`: what a model serves, declared by the model so that the exporter need not know its class.

`albert_tf.export` builds every SavedModel signature from these members alone; a new model type becomes
exportable by overriding them, without touching the exporter.
"""

from albert_tf.models.inputs import INPUT_KEYS


def token_specs(shape, keys=INPUT_KEYS) -> dict:
    """Named int32 `TensorSpec`s of one shape (the names become the signature's input keys)."""
    import tensorflow as tf  # signatures are SavedModel export's, TensorFlow only; model building never gets here

    return {key: tf.TensorSpec(shape, tf.int32, name=key) for key in keys}


def backbone_serving_outputs(backbone, features) -> dict:
    """The two backbone outputs every `tokens` signature serves, in inference mode."""
    out = backbone(features, training=False)
    return {"pooled_output": out["pooled_output"], "sequence_output": out["sequence_output"]}


class ServingModel:
    """Mixin of every ALBERT model: its token-input signature and its serving outputs.

    * `serving_inputs(seq_length=None, batch_size=None)`: the int32 token inputs of the `tokens`
      signature, `[B, S]` (multiple choice: `[B, C, S]`).
    * `serving_outputs(features)`: what that signature returns for a dict of token features, computed
      in inference mode with the backbone run once: `pooled_output`, `sequence_output` and the task's
      outputs (multiple choice: the task outputs only).
    * `serving_signatures()`: further token signatures, `{name: (extra input specs, fn(features, extra))}`
      (the pretrainer's `mlm` and `sop`).
    * `serves_text`: False where one or two strings packed into `[B, S]` tokens are no valid input
      (multiple choice pairs a text with each option), so no string signature is exported.
    * `serving_classes`: how many classes the integer `predictions` index (what `label_names` must
      match), None where class names do not apply.
    * `fills_masks`: True where `masked_lm_logits(sequence_output, positions)` exists, so the string
      signatures fill in each literal `[MASK]`.

    Example:

    >>> import numpy as np
    >>> from albert_tf import AlbertBackbone, AlbertClassifier, AlbertConfig
    >>> config = AlbertConfig(vocab_size=50, embedding_size=8, hidden_size=16, num_hidden_layers=1,
    ...                       num_attention_heads=2, intermediate_size=32, max_position_embeddings=16)
    >>> model = AlbertClassifier(AlbertBackbone(config), num_classes=3)
    >>> [spec.shape for spec in model.serving_inputs(seq_length=8).values()]
    [TensorShape([None, 8]), TensorShape([None, 8]), TensorShape([None, 8])]
    >>> out = model.serving_outputs({key: np.ones((2, 8), "int32") for key in model.serving_inputs()})
    >>> sorted(out), model.serving_classes, model.serves_text, model.fills_masks
    (['logits', 'pooled_output', 'predictions', 'probabilities', 'sequence_output'], 3, True, False)
    """

    serves_text = True
    fills_masks = False
    serving_classes = None

    def serving_inputs(self, seq_length=None, batch_size=None) -> dict:
        return token_specs([batch_size, seq_length])

    def serving_outputs(self, features) -> dict:
        # Every albert_tf model overrides this; a subclass that does not cannot be exported.
        raise TypeError(f"{type(self).__name__} does not say what it serves: override serving_outputs(features).")

    def serving_signatures(self) -> dict:
        return {}
