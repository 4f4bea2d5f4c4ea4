"""Task heads against independent implementations, with identical weights, to 1e-5.

The reference pipeline never runs albert_tf code: keras-hub's `AlbertBackbone` (weights ported by the
table of test_keras_hub_parity) computes the encoder, then keras-hub's `AlbertTextClassifier` (GLUE,
and RACE as one score per option), tf-models-official's `SpanLabeling` (SQuAD v1) and
`XLNetSpanLabeling` (the start/end beam and bias-free answer classifier the original SQuAD v2 head is
built like) compute the heads.
"""

import keras
import keras_hub
import numpy as np
import pytest

from albert_tf import AlbertClassifier, AlbertMultipleChoice, AlbertQuestionAnswering, AlbertTokenClassifier
from tests.conftest import tiny_config
from tests.models.task_data import inputs, perturb, squad_batch
from tests.models.test_keras_hub_parity import port_backbone

TOLERANCE = 1e-5


def keras_hub_backbone(ours, config):
    theirs = keras_hub.models.AlbertBackbone(
        vocabulary_size=config.vocab_size,
        num_layers=config.num_hidden_layers,
        num_heads=config.num_attention_heads,
        embedding_dim=config.embedding_size,
        hidden_dim=config.hidden_size,
        intermediate_dim=config.intermediate_size,
        num_groups=config.num_hidden_groups,
        num_inner_repetitions=config.inner_group_num,
        max_sequence_length=config.max_position_embeddings,
    )
    port_backbone(ours.backbone, theirs, config)
    return theirs


def hub_inputs(batch):
    return {"token_ids": batch["input_ids"], "segment_ids": batch["segment_ids"], "padding_mask": batch["input_mask"]}


def make(model_cls, *args, **kwargs):
    config = tiny_config(num_hidden_groups=2, inner_group_num=2, num_hidden_layers=4)
    keras.utils.set_random_seed(3)
    model = model_cls(config, *args, **kwargs)
    perturb(model, scale=0.1)
    return config, model, keras_hub_backbone(model, config)


def test_classifier_matches_keras_hub_text_classifier():
    config, ours, backbone = make(AlbertClassifier, 3)
    theirs = keras_hub.models.AlbertTextClassifier(backbone=backbone, num_classes=3, preprocessor=None, dropout=0.1)
    theirs.output_dense.kernel.assign(ours.classifier_head.dense.kernel.numpy())
    theirs.output_dense.bias.assign(ours.classifier_head.dense.bias.numpy())
    batch = inputs(config)
    np.testing.assert_allclose(ours(batch)["logits"], theirs.predict(hub_inputs(batch), verbose=0), atol=TOLERANCE, rtol=0)


def test_multiple_choice_matches_keras_hub_scoring_each_option():
    config, ours, backbone = make(AlbertMultipleChoice, 4)
    theirs = keras_hub.models.AlbertTextClassifier(backbone=backbone, num_classes=1, preprocessor=None)
    theirs.output_dense.kernel.assign(ours.choice_head.dense.kernel.numpy())
    theirs.output_dense.bias.assign(ours.choice_head.dense.bias.numpy())
    rows = inputs(config, batch=12, length=10)
    expected = theirs.predict(hub_inputs(rows), verbose=0).reshape(3, 4)
    batch = {key: value.reshape(3, 4, 10) for key, value in rows.items()}
    np.testing.assert_allclose(ours(batch)["logits"], expected, atol=TOLERANCE, rtol=0)
    flat = {key: value.reshape(3, 40) for key, value in rows.items()}
    np.testing.assert_allclose(ours(flat)["logits"], expected, atol=TOLERANCE, rtol=0)


def test_token_classifier_matches_a_dense_layer_on_keras_hub_sequence_output():
    config, ours, backbone = make(AlbertTokenClassifier, 5)
    batch = inputs(config)
    sequence = np.asarray(backbone(hub_inputs(batch))["sequence_output"], "float64")
    kernel, bias = (np.asarray(v, "float64") for v in ours.tagging_head.dense.weights)
    np.testing.assert_allclose(ours(batch)["logits"], sequence @ kernel + bias, atol=TOLERANCE, rtol=0)


@pytest.mark.tf_models_official
def test_squad_v1_matches_tf_models_span_labeling():
    from official.nlp.modeling.networks import span_labeling

    config, ours, backbone = make(AlbertQuestionAnswering, version=1)
    batch = squad_batch(config)
    sequence = np.asarray(backbone(hub_inputs(batch))["sequence_output"])
    theirs = span_labeling.SpanLabeling(input_width=config.hidden_size)
    theirs(sequence)
    theirs.set_weights([v.numpy() for v in ours.span_head.dense.weights])
    start, end = theirs(sequence)
    out = ours(batch)
    np.testing.assert_allclose(out["start_logits"], start, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(out["end_logits"], end, atol=TOLERANCE, rtol=0)


@pytest.mark.tf_models_official
@pytest.mark.parametrize("tops", [(5, 5), (3, 2)])
def test_squad_v2_matches_tf_models_xlnet_span_labeling(tops):
    from official.nlp.modeling.networks import span_labeling

    start_n_top, end_n_top = tops
    config, ours, backbone = make(AlbertQuestionAnswering, version=2, start_n_top=start_n_top, end_n_top=end_n_top, dropout=0.0)
    batch = squad_batch(config)
    sequence = np.asarray(backbone(hub_inputs(batch))["sequence_output"])
    theirs = span_labeling.XLNetSpanLabeling(input_width=config.hidden_size, start_n_top=start_n_top, end_n_top=end_n_top)
    paragraph = (1 - batch["p_mask"]).astype("float32")
    cls_index = np.zeros((4,), "int32")
    starts = batch["start_positions"][:, 0]
    theirs(sequence, cls_index, paragraph_mask=paragraph, start_positions=starts, training=True)
    head = ours.squad_v2_head
    pairs = [
        (theirs.start_logits_dense, head.start_dense),
        (theirs.end_logits_inner_dense, head.end_dense_0),
        (theirs.end_logits_layer_norm, head.end_layer_norm),
        (theirs.end_logits_output_dense, head.end_dense_1),
        (theirs.answer_logits_inner, head.answer_dense_0),
        (theirs.answer_logits_output, head.answer_dense_1),
    ]
    for their_layer, our_layer in pairs:
        their_layer.set_weights([v.numpy() for v in our_layer.weights])

    # Training: the end distribution is conditioned on the gold start.
    forced = theirs(sequence, cls_index, paragraph_mask=paragraph, start_positions=starts, training=True)
    train = ours(batch, training=True)
    np.testing.assert_allclose(train["start_log_probs"], forced["start_predictions"], atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(train["end_log_probs"], forced["end_predictions"], atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(train["cls_logits"], forced["class_logits"], atol=TOLERANCE, rtol=0)

    # Inference: the beam over the top starts.
    beam = theirs(sequence, cls_index, paragraph_mask=paragraph, training=False)
    infer = ours({k: v for k, v in batch.items() if k != "start_positions"})
    np.testing.assert_array_equal(infer["start_top_index"], beam["start_top_index"])
    np.testing.assert_array_equal(infer["end_top_index"], beam["end_top_index"])
    np.testing.assert_allclose(infer["start_top_log_probs"], beam["start_top_predictions"], atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(infer["end_top_log_probs"], beam["end_top_predictions"], atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(infer["cls_logits"], beam["class_logits"], atol=TOLERANCE, rtol=0)
