"""Every HuggingFace ALBERT head against the golden files of tools/make_hf_golden.py (<= 1e-5), the
`architectures` dispatch, ours -> HF -> ours exactness, the gelu / gelu_new naming, and HF tokenizer folders.
"""

import json
import os
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from albert_tf import AlbertBackbone, AlbertPretrainer, AlbertTokenizer
from albert_tf.checkpoints import huggingface_tokenizer, load_huggingface, save_huggingface
from tests.checkpoints.test_huggingface_parity import FIXTURES, TOLERANCE, load_case

BACKBONE_KEYS = ("input_ids", "input_mask", "segment_ids")


def close(ours, theirs, what):
    np.testing.assert_allclose(np.asarray(ours), theirs, atol=TOLERANCE, rtol=0, err_msg=what)


def check_backbone(backbone, inputs, expected):
    flat = {k: inputs[k].reshape(-1, inputs[k].shape[-1]) for k in BACKBONE_KEYS}
    out = backbone(flat)
    assert len(out["encoder_outputs"]) == len(expected["encoder_outputs"])
    for index, block in enumerate(out["encoder_outputs"]):
        close(block, expected["encoder_outputs"][index], f"encoder_outputs[{index}]")
    close(out["sequence_output"], expected["sequence_output"], "sequence_output")
    if "pooled_output" in expected:
        close(out["pooled_output"], expected["pooled_output"], "pooled_output")


def assert_same_weights(a, b, skip=()):
    assert len(a.weights) == len(b.weights)
    for x, y in zip(a.weights, b.weights):
        if not x.path.startswith(skip):
            np.testing.assert_array_equal(x.numpy(), y.numpy(), err_msg=x.path)


def test_masked_lm_matches_huggingface_and_reports_what_it_lacks():
    directory, inputs, expected = load_case("masked_lm")
    model, report = load_huggingface(directory, return_report=True)
    assert isinstance(model, AlbertPretrainer)
    check_backbone(model.backbone, inputs, expected)
    close(model(inputs)["mlm_logits"], expected["mlm_logits"], "mlm_logits")
    # HF's AlbertForMaskedLM has no pooler and no SOP head: both stay at init and say so.
    assert sorted(k.rsplit("/", 1)[-1] for k in report.left_at_init if "pooler" in k) == ["bias", "kernel"]
    assert len([k for k in report.left_at_init if "sentence_order_head" in k]) == 2
    assert report.missing_heads == [] and report.ignored_unknown == []
    assert len(report.mapped) == len(load_file(os.path.join(directory, "model.safetensors")))


def test_masked_lm_round_trip_is_hf_s_own_file(tmp_path):
    directory, inputs, expected = load_case("masked_lm")
    model = load_huggingface(directory)
    save_huggingface(model, tmp_path, architecture="AlbertForMaskedLM")
    theirs = load_file(os.path.join(directory, "model.safetensors"))
    ours = load_file(os.path.join(tmp_path, "model.safetensors"))
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
    with open(tmp_path / "config.json") as f:
        assert json.load(f)["architectures"] == ["AlbertForMaskedLM"]
    reloaded = load_huggingface(tmp_path)
    close(reloaded(inputs)["mlm_logits"], expected["mlm_logits"], "mlm_logits after the round trip")


def test_hf_gelu_is_erf_only_with_exact_gelu():
    directory, inputs, expected = load_case("pretraining_gelu_erf")
    exact = load_huggingface(directory, exact_gelu=True)
    assert exact.config.hidden_act == "gelu_exact"
    check_backbone(exact.backbone, inputs, expected)
    out = exact(inputs)
    close(out["mlm_logits"], expected["mlm_logits"], "mlm_logits")
    close(out["sop_logits"], expected["sop_logits"], "sop_logits")
    # By default HF's "gelu" means the original's tanh GELU (what v1 weights were trained with): not HF's numbers.
    tanh = load_huggingface(directory)
    assert tanh.config.hidden_act == "gelu"
    gap = np.max(np.abs(np.asarray(tanh.backbone({k: inputs[k] for k in BACKBONE_KEYS})["sequence_output"]) - expected["sequence_output"]))
    assert gap > 1e-4


@pytest.mark.parametrize("case, hf_act", [("g1_k1", "gelu_new"), ("pretraining_gelu_erf", "gelu")])
def test_activation_name_round_trips(case, hf_act, tmp_path):
    directory, _, _ = load_case(case)
    model = load_huggingface(directory, exact_gelu=True)
    save_huggingface(model, tmp_path)
    with open(tmp_path / "config.json") as f:
        assert json.load(f)["hidden_act"] == hf_act
    assert load_huggingface(tmp_path, exact_gelu=True).config.hidden_act == model.config.hidden_act


def bare_model_folder(tmp_path):
    """An AlbertModel folder (keys without `albert.`, no heads), cut from the AlbertForPreTraining fixture."""
    directory, inputs, expected = load_case("g1_k1")
    state = load_file(os.path.join(directory, "model.safetensors"))
    bare = {k[len("albert."):]: v for k, v in state.items() if k.startswith("albert.")}
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    config["architectures"] = ["AlbertModel"]
    folder = tmp_path / "bare"
    folder.mkdir()
    save_file(bare, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(config))
    return folder, bare, inputs, expected


def test_bare_model_loads_as_backbone_and_round_trips(tmp_path):
    folder, bare, inputs, expected = bare_model_folder(tmp_path)
    backbone = load_huggingface(folder)
    assert isinstance(backbone, AlbertBackbone)
    check_backbone(backbone, inputs, expected)
    out = tmp_path / "out"
    save_huggingface(backbone, out)
    written = load_file(str(out / "model.safetensors"))
    assert sorted(written) == sorted(bare)
    for key, value in bare.items():
        np.testing.assert_array_equal(written[key], value, err_msg=key)
    assert_same_weights(backbone, load_huggingface(out))


def test_architecture_override_loads_a_bare_model_into_a_pretrainer(tmp_path):
    folder, _, inputs, expected = bare_model_folder(tmp_path)
    with pytest.warns(UserWarning, match="predictions"):
        model, report = load_huggingface(folder, architecture="AlbertForPreTraining", return_report=True)
    assert isinstance(model, AlbertPretrainer)
    close(model.backbone({k: inputs[k] for k in BACKBONE_KEYS})["pooled_output"], expected["pooled_output"], "pooled")
    assert "sop_classifier.classifier.weight" in report.missing_heads


def test_pretraining_round_trip_is_exact_in_both_directions(tmp_path):
    directory, _, _ = load_case("g2_k1_l3")
    model = load_huggingface(directory)
    save_huggingface(model, tmp_path / "hf")
    assert_same_weights(model, load_huggingface(tmp_path / "hf"))


def test_unknown_architecture_is_a_clear_error(tmp_path):
    directory, _, _ = load_case("g1_k1")
    shutil.copy(os.path.join(directory, "model.safetensors"), tmp_path / "model.safetensors")
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    config["architectures"] = ["BertForMaskedLM"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"config.json: architectures \['BertForMaskedLM'\]"):
        load_huggingface(tmp_path)


def test_shape_mismatch_names_the_key_and_both_shapes(tmp_path):
    directory, _, _ = load_case("g1_k1")
    state = load_file(os.path.join(directory, "model.safetensors"))
    state["albert.pooler.weight"] = np.zeros((32, 31), np.float32)
    save_file(state, str(tmp_path / "model.safetensors"))
    shutil.copy(os.path.join(directory, "config.json"), tmp_path / "config.json")
    with pytest.raises(ValueError, match=r"'albert.pooler.weight' has shape \[32, 31\].*of shape \[32, 32\]"):
        load_huggingface(tmp_path)


# --------------------------------------------------------------------------- tokenizer folders
TOKENIZER_DIR = os.path.join(FIXTURES, "tokenizer")


def hf_ids():
    with open(os.path.join(TOKENIZER_DIR, "hf_input_ids.json"), encoding="utf-8") as f:
        return json.load(f)["input_ids"]


def test_spiece_model_folder_gives_the_original_tokenizer():
    tokenizer = huggingface_tokenizer(TOKENIZER_DIR)
    reference = AlbertTokenizer(os.path.join(TOKENIZER_DIR, "spiece.model"))
    for text in hf_ids():
        assert tokenizer.encode(text, max_seq_length=64) == reference.encode(text, max_seq_length=64)


def test_tokenizer_json_only_folder_rebuilds_the_same_model(tmp_path):
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(TOKENIZER_DIR, name), tmp_path / name)
    rebuilt = huggingface_tokenizer(tmp_path)
    reference = AlbertTokenizer(os.path.join(TOKENIZER_DIR, "spiece.model"))
    assert rebuilt.vocab_size == reference.vocab_size
    assert rebuilt.convert_ids_to_tokens(range(reference.vocab_size)) == reference.convert_ids_to_tokens(range(reference.vocab_size))
    texts = list(hf_ids()) + ["Café  au lait: ½ price, “quotes”, ① ﬁ!", "1990, 2000, 3,000 pieces", ""]
    for text in texts:
        assert rebuilt.tokenize(text) == reference.tokenize(text), text
    # HF's own ids agree with the original's except where HF's rules differ: no digit-comma split ("1990,"),
    # and its Unigram puts user-defined symbols such as "(" or "-" before the word-boundary piece.
    compared = 0
    for text, ids in hf_ids().items():
        if not set(text) & set(",()-"):
            compared += 1
            assert rebuilt.encode(text, max_seq_length=64)["input_ids"][: len(ids)] == ids, text
    assert compared == 2


def test_folder_without_a_tokenizer_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="spiece.model or tokenizer.json"):
        huggingface_tokenizer(tmp_path)


# --------------------------------------------------------------------------- task heads
def task_inputs(inputs):
    return {k: inputs[k] for k in BACKBONE_KEYS}


@pytest.mark.parametrize("case, num_classes", [("seq_classification", 3), ("seq_regression", 1)])
def test_sequence_classification_matches_huggingface(case, num_classes, tmp_path):
    from albert_tf.models import AlbertClassifier

    directory, inputs, expected = load_case(case)
    model = load_huggingface(directory)
    assert isinstance(model, AlbertClassifier) and model.num_classes == num_classes
    check_backbone(model.backbone, inputs, expected)
    close(model(task_inputs(inputs))["logits"], expected["logits"], "logits")
    save_huggingface(model, tmp_path)
    theirs = load_file(os.path.join(directory, "model.safetensors"))
    ours = load_file(str(tmp_path / "model.safetensors"))
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
    with open(tmp_path / "config.json") as f:
        written = json.load(f)
    assert written["architectures"] == ["AlbertForSequenceClassification"]
    assert len(written["id2label"]) == num_classes and (written.get("problem_type") == "regression") == (num_classes == 1)
    assert_same_weights(model, load_huggingface(tmp_path))


def round_trip_equals_hf_file(model, directory, tmp_path, architecture):
    save_huggingface(model, tmp_path)
    theirs = load_file(os.path.join(directory, "model.safetensors"))
    ours = load_file(str(tmp_path / "model.safetensors"))
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
    with open(tmp_path / "config.json") as f:
        assert json.load(f)["architectures"] == [architecture]


def test_question_answering_matches_huggingface(tmp_path):
    from albert_tf.models import AlbertQuestionAnswering

    directory, inputs, expected = load_case("question_answering")
    model, report = load_huggingface(directory, return_report=True)
    assert isinstance(model, AlbertQuestionAnswering) and model.version == 1
    assert sorted(k.rsplit("/", 1)[-1] for k in report.left_at_init) == ["bias", "kernel"]  # HF's QA has no pooler
    check_backbone(model.backbone, inputs, expected)
    out = model(task_inputs(inputs))
    close(out["start_logits"], expected["start_logits"], "start_logits")
    close(out["end_logits"], expected["end_logits"], "end_logits")
    round_trip_equals_hf_file(model, directory, tmp_path, "AlbertForQuestionAnswering")


def test_squad_v2_head_has_no_huggingface_counterpart(tmp_path):
    from albert_tf.models import AlbertQuestionAnswering
    from tests.conftest import tiny_config

    model = AlbertQuestionAnswering(config=tiny_config(), version=2)
    with pytest.raises(ValueError, match="version=2.*no class"):
        save_huggingface(model, tmp_path)


def test_multiple_choice_matches_huggingface(tmp_path):
    from albert_tf.models import AlbertMultipleChoice

    directory, inputs, expected = load_case("multiple_choice")
    assert inputs["input_ids"].shape == (2, 3, 12)
    model = load_huggingface(directory, num_choices=3)
    assert isinstance(model, AlbertMultipleChoice) and model.num_choices == 3
    check_backbone(model.backbone, inputs, expected)
    close(model(task_inputs(inputs))["logits"], expected["logits"], "logits")
    round_trip_equals_hf_file(model, directory, tmp_path, "AlbertForMultipleChoice")
    with open(tmp_path / "config.json") as f:
        assert json.load(f)["num_choices"] == 3
    assert load_huggingface(tmp_path).num_choices == 3


def test_token_classification_matches_huggingface(tmp_path):
    from albert_tf.models import AlbertTokenClassifier

    directory, inputs, expected = load_case("token_classification")
    model = load_huggingface(directory)
    assert isinstance(model, AlbertTokenClassifier)
    check_backbone(model.backbone, inputs, expected)
    close(model(task_inputs(inputs))["logits"], expected["logits"], "logits")
    round_trip_equals_hf_file(model, directory, tmp_path, "AlbertForTokenClassification")
    # HF's token classifier has no pooler, so ours stays at its (random) initial value on each load.
    assert_same_weights(model, load_huggingface(tmp_path), skip=("pooler/",))
