"""albert_tf <-> keras-hub (`AlbertBackbone`, `AlbertMaskedLM`, presets, tokenizer), live.

The reference is keras-hub's own forward pass on the converted weights; weights are perturbed away from
their initial values so that any misplaced variable shows.
"""

import os

import keras
import keras_hub
import numpy as np
import pytest

from albert_tf import AlbertBackbone, AlbertPretrainer, AlbertTokenizer
from albert_tf.checkpoints.keras_hub import from_keras_hub, load_keras_hub_preset, save_keras_hub_preset, to_keras_hub
from tests.checkpoints.test_huggingface_parity import FIXTURES
from tests.conftest import random_batch, tiny_config
from tests.models.test_keras_hub_parity import perturb

TOLERANCE = 1e-5
SPM = os.path.join(FIXTURES, "tokenizer", "spiece.model")


def kh_inputs(batch):
    return {"token_ids": batch["input_ids"], "segment_ids": batch["segment_ids"], "padding_mask": batch["input_mask"]}


def assert_same_weights(a, b):
    assert len(a.weights) == len(b.weights)
    for x, y in zip(a.weights, b.weights):
        np.testing.assert_array_equal(x.numpy(), y.numpy(), err_msg=x.path)


def perturbed(model_cls, **layout):
    config = tiny_config(vocab_size=300, **layout)
    keras.utils.set_random_seed(3)
    model = model_cls(config)
    perturb(model, seed=5)
    return model, config


@pytest.mark.parametrize(
    "layout", [dict(num_hidden_groups=2, inner_group_num=2, num_hidden_layers=4), dict(embedding_size=32)], ids=["g2_k2", "e_equals_h"]
)
def test_backbone_to_keras_hub_and_back(layout):
    ours, config = perturbed(AlbertBackbone, **layout)
    theirs, report = to_keras_hub(ours, return_report=True)
    assert isinstance(theirs, keras_hub.models.AlbertBackbone)
    batch = random_batch(config)
    expected = ours(batch)
    got = theirs(kh_inputs(batch))
    np.testing.assert_allclose(got["sequence_output"], expected["sequence_output"], atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(got["pooled_output"], expected["pooled_output"], atol=TOLERANCE, rtol=0)
    assert len(report.mapped) == len(ours.weights)
    back = from_keras_hub(theirs)
    assert back.config.to_dict() == config.to_dict()
    assert_same_weights(ours, back)


def test_layers_not_a_multiple_of_groups_cannot_be_represented():
    ours, _ = perturbed(AlbertBackbone, num_hidden_layers=3, num_hidden_groups=2)
    with pytest.raises(ValueError, match=r"num_layers % num_groups == 0.*num_hidden_layers=3 and num_hidden_groups=2"):
        to_keras_hub(ours)


def test_exact_gelu_cannot_be_represented():
    ours, _ = perturbed(AlbertBackbone, hidden_act="gelu_exact")
    with pytest.raises(ValueError, match="tanh GELU.*gelu_exact"):
        to_keras_hub(ours)


def test_masked_lm_epsilon_is_refused_then_reported():
    ours, config = perturbed(AlbertPretrainer)
    with pytest.raises(ValueError, match=r"epsilon 1e-05.*1e-12"):
        to_keras_hub(ours, task="masked_lm")
    with pytest.warns(UserWarning, match="1e-05 instead of 1e-12"):
        theirs, report = to_keras_hub(ours, task="masked_lm", accept_mlm_epsilon=True, return_report=True)
    assert isinstance(theirs, keras_hub.models.AlbertMaskedLM)
    assert sorted(report.ignored) == sorted(v.path for v in ours.sentence_order_head.weights)
    batch = random_batch(config)
    kh_logits = np.asarray(theirs({**kh_inputs(batch), "mask_positions": batch["masked_lm_positions"]}))
    ours_logits = np.asarray(ours(batch)["mlm_logits"])
    # Same weights, different epsilon: close, but not float32-equal.
    gap = np.max(np.abs(kh_logits - ours_logits))
    assert 1e-6 < gap < 1e-2, gap
    with pytest.warns(UserWarning, match="epsilon 1e-05"):
        back = from_keras_hub(theirs)
    assert isinstance(back, AlbertPretrainer)
    assert_same_weights(ours.backbone, back.backbone)
    assert_same_weights(ours.masked_lm_head, back.masked_lm_head)


def test_our_preset_loads_in_keras_hub(tmp_path):
    ours, config = perturbed(AlbertBackbone, num_hidden_groups=2, num_hidden_layers=2)
    tokenizer = AlbertTokenizer(SPM)
    save_keras_hub_preset(ours, str(tmp_path), tokenizer=tokenizer)
    for name in ("config.json", "model.weights.h5", "tokenizer.json", "assets/tokenizer/vocabulary.spm"):
        assert (tmp_path / name).exists(), name
    assert (tmp_path / "assets" / "tokenizer" / "vocabulary.spm").read_bytes() == open(SPM, "rb").read()
    theirs = keras_hub.models.AlbertBackbone.from_preset(str(tmp_path))
    batch = random_batch(config)
    np.testing.assert_allclose(
        theirs(kh_inputs(batch))["sequence_output"], ours(batch)["sequence_output"], atol=TOLERANCE, rtol=0
    )
    kh_tokenizer = keras_hub.tokenizers.AlbertTokenizer.from_preset(str(tmp_path))
    text = tokenizer.preprocess("The quick brown fox, in 1990.")
    assert np.asarray(kh_tokenizer(text)).tolist() == tokenizer.sp_model.encode(text)


def test_keras_hub_preset_loads_in_albert_tf(tmp_path):
    theirs = keras_hub.models.AlbertBackbone(
        vocabulary_size=300, num_layers=4, num_heads=4, num_groups=2, num_inner_repetitions=1,
        embedding_dim=16, hidden_dim=32, intermediate_dim=64, max_sequence_length=64,
    )
    perturb(theirs, seed=9)
    theirs.save_to_preset(str(tmp_path))
    with open(SPM, "rb") as f:
        keras_hub.tokenizers.AlbertTokenizer(proto=f.read()).save_to_preset(str(tmp_path))
    ours, tokenizer = load_keras_hub_preset(str(tmp_path))
    assert isinstance(ours, AlbertBackbone) and isinstance(tokenizer, AlbertTokenizer)
    assert tokenizer.convert_ids_to_tokens(range(20)) == AlbertTokenizer(SPM).convert_ids_to_tokens(range(20))
    batch = random_batch(ours.config)
    np.testing.assert_allclose(ours(batch)["pooled_output"], theirs(kh_inputs(batch))["pooled_output"], atol=TOLERANCE, rtol=0)


def test_missing_preset_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_keras_hub_preset(str(tmp_path))


@pytest.mark.parametrize("num_classes", [3, 1])
def test_classifier_preset_both_ways(num_classes, tmp_path):
    from albert_tf.models import AlbertClassifier

    backbone, config = perturbed(AlbertBackbone)
    ours = AlbertClassifier(backbone, num_classes=num_classes)
    perturb(ours.classifier_head, seed=11)
    save_keras_hub_preset(ours, str(tmp_path / "ours"), tokenizer=AlbertTokenizer(SPM))
    assert (tmp_path / "ours" / "task.json").exists()
    theirs = keras_hub.models.AlbertTextClassifier.from_preset(str(tmp_path / "ours"))
    assert theirs.num_classes == num_classes
    batch = random_batch(config)
    assert theirs.preprocessor is not None  # the tokenizer travelled with the task
    theirs.preprocessor = None  # feed token ids directly
    kh_logits = np.asarray(theirs(kh_inputs(batch)))
    np.testing.assert_allclose(kh_logits, ours({k: batch[k] for k in ("input_ids", "input_mask", "segment_ids")})["logits"], atol=TOLERANCE, rtol=0)
    # ... and a preset keras-hub wrote itself loads back as an AlbertClassifier.
    theirs.save_to_preset(str(tmp_path / "theirs"))
    back, _ = load_keras_hub_preset(str(tmp_path / "theirs"))
    assert isinstance(back, AlbertClassifier) and back.num_classes == num_classes
    assert_same_weights(ours, back)


def test_masked_lm_preset_loads_back_as_a_pretrainer(tmp_path):
    ours, _ = perturbed(AlbertPretrainer)
    with pytest.warns(UserWarning, match="epsilon"):
        save_keras_hub_preset(ours, str(tmp_path), tokenizer=AlbertTokenizer(SPM), task="masked_lm", accept_mlm_epsilon=True)
    assert (tmp_path / "task.json").exists()
    assert isinstance(keras_hub.models.AlbertMaskedLM.from_preset(str(tmp_path)), keras_hub.models.AlbertMaskedLM)
    with pytest.warns(UserWarning, match="epsilon 1e-05"):
        back, tokenizer, report = load_keras_hub_preset(str(tmp_path), return_report=True)
    assert isinstance(back, AlbertPretrainer) and tokenizer.vocab_size == 300
    assert sorted(report.left_at_init) == sorted(v.path for v in back.sentence_order_head.weights)
    assert_same_weights(ours.backbone, back.backbone)
    assert_same_weights(ours.masked_lm_head, back.masked_lm_head)
