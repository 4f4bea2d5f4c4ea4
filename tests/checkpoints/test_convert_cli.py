"""albert-convert (tools/convert.py): every format in and out, the report table, refusals.

The TF1 reference checkpoint is built independently of albert_tf from the HuggingFace golden fixture with
the HF->TF1 rules of anchors.md (tests/checkpoints/test_original.py), plus optimizer slots and global_step.
"""

import json
import os
import pickle
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from safetensors.numpy import load_file

from albert_tf import AlbertConfig
from albert_tf.checkpoints import load_huggingface, load_original_checkpoint
from tests.checkpoints.test_huggingface_parity import FIXTURES, TOLERANCE, load_case
from tests.checkpoints.test_original import hf_to_tf1, write_tf1_checkpoint
from tools import convert

CASE = "g2_k2"
SPM = os.path.join(FIXTURES, "tokenizer", "spiece.model")


@pytest.fixture
def tf1_checkpoint(tmp_path):
    directory, inputs, expected = load_case(CASE)
    arrays = hf_to_tf1(load_file(os.path.join(directory, "model.safetensors")))
    source = tmp_path / "source"
    source.mkdir()
    prefix = write_tf1_checkpoint(arrays, str(source / "model.ckpt"))
    load_huggingface(directory).config.to_json_file(str(source / "albert_config.json"))
    return prefix, arrays, inputs, expected


def run_cli(argv, capsys):
    assert convert.main(argv) == 0
    return capsys.readouterr().out


def read_tf1(prefix):
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def test_help_does_not_import_tensorflow():
    code = (
        "import sys\n"
        "sys.argv = ['albert-convert', '--help']\n"
        "import tools.convert as c\n"
        "try:\n    c.main()\nexcept SystemExit:\n    pass\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'albert_tf', 'keras_hub'}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--from" in result.stdout and "saved_model" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_original_round_trips_through_the_command(tf1_checkpoint, tmp_path, capsys):
    prefix, arrays, inputs, expected = tf1_checkpoint
    out = run_cli(["--from", "original", "--to", "original", "--input", os.path.dirname(prefix), "--output", str(tmp_path / "out" / "model.ckpt")], capsys)
    assert "global_step" in out and "training step counter" in out and "optimizer slot" in out
    assert "mapped   bert/encoder/transformer/group_1/inner_group_1/ffn_1/intermediate/dense/kernel" in out
    written = read_tf1(str(tmp_path / "out" / "model.ckpt"))
    # Exactly the original code's names, shapes and values (optimizer state is not carried).
    assert sorted(written) == sorted(arrays)
    for name, value in arrays.items():
        np.testing.assert_array_equal(written[name], value, err_msg=name)
    assert os.path.exists(tmp_path / "out" / "albert_config.json")
    config = AlbertConfig.from_json_file(str(tmp_path / "out" / "albert_config.json"))
    model = load_original_checkpoint(str(tmp_path / "out" / "model.ckpt"), config)
    np.testing.assert_allclose(model(inputs)["mlm_logits"], expected["mlm_logits"], atol=TOLERANCE, rtol=0)


def test_original_to_huggingface_to_original(tf1_checkpoint, tmp_path, capsys):
    prefix, arrays, _, _ = tf1_checkpoint
    hf_dir = tmp_path / "hf"
    run_cli(["--from", "original", "--to", "huggingface", "--input", prefix, "--output", str(hf_dir), "--quiet"], capsys)
    theirs = load_file(os.path.join(load_case(CASE)[0], "model.safetensors"))
    ours = load_file(str(hf_dir / "model.safetensors"))
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
    with open(hf_dir / "config.json") as f:
        assert json.load(f)["architectures"] == ["AlbertForPreTraining"]
    out = run_cli(["--from", "huggingface", "--to", "original", "--input", str(hf_dir), "--output", str(tmp_path / "back" / "model.ckpt")], capsys)
    written = read_tf1(str(tmp_path / "back" / "model.ckpt"))
    assert sorted(written) == sorted(arrays)
    for name, value in arrays.items():
        np.testing.assert_array_equal(written[name], value, err_msg=name)


def test_keras_and_keras_hub_legs(tf1_checkpoint, tmp_path, capsys):
    prefix, arrays, inputs, expected = tf1_checkpoint
    keras_file = str(tmp_path / "model.keras")
    run_cli(["--from", "original", "--to", "keras", "--input", prefix, "--output", keras_file, "--quiet"], capsys)
    out = run_cli(["--from", "keras", "--to", "keras-hub", "--input", keras_file, "--output", str(tmp_path / "preset")], capsys)
    # keras-hub's backbone has no place for the pretraining heads: the table says so for each.
    assert "cls/" not in out and "pretraining head; keras-hub's backbone has none" in out
    run_cli(["--from", "keras-hub", "--to", "original", "--input", str(tmp_path / "preset"), "--output", str(tmp_path / "o" / "model.ckpt"), "--quiet"], capsys)
    written = read_tf1(str(tmp_path / "o" / "model.ckpt"))
    backbone_names = [n for n in arrays if n.startswith("bert/")]
    assert sorted(written) == sorted(backbone_names)
    for name in backbone_names:
        np.testing.assert_array_equal(written[name], arrays[name], err_msg=name)


def test_shape_mismatch_names_the_variable_and_both_shapes(tf1_checkpoint, tmp_path, capsys):
    prefix, _, _, _ = tf1_checkpoint
    config = json.load(open(os.path.join(os.path.dirname(prefix), "albert_config.json")))
    config["intermediate_size"] = 128
    wrong = tmp_path / "wrong_config.json"
    wrong.write_text(json.dumps(config))
    assert convert.main(["--from", "original", "--to", "huggingface", "--input", prefix, "--albert_config_file", str(wrong), "--output", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "ffn_1/intermediate/dense/kernel' has shape [32, 64]" in err and "[32, 128]" in err


def test_keras_file_with_a_lambda_is_refused(tmp_path, capsys):
    marker = tmp_path / "ran"
    model = keras.Sequential([keras.Input((2,)), keras.layers.Lambda(lambda x: x * 2)])
    path = str(tmp_path / "lambda.keras")
    model.save(path)
    assert convert.main(["--from", "keras", "--to", "huggingface", "--input", path, "--output", str(tmp_path / "x")]) == 2
    assert "refused" in capsys.readouterr().err
    assert not marker.exists()


class _Payload:
    """Unpickling this runs `open(marker, "w")`: the code a crafted pytorch_model.bin would run."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_crafted_pickle_as_pytorch_model_bin_is_refused_not_run(tmp_path, capsys, monkeypatch):
    directory, _, _ = load_case(CASE)
    folder = tmp_path / "evil"
    folder.mkdir()
    (folder / "config.json").write_text(open(os.path.join(directory, "config.json")).read())
    marker = tmp_path / "pwned"
    with open(folder / "pytorch_model.bin", "wb") as f:
        pickle.dump({"albert.pooler.weight": _Payload(str(marker))}, f)

    def no_plain_unpickling(*args, **kwargs):
        raise AssertionError("plain pickle was used")

    monkeypatch.setattr(pickle, "load", no_plain_unpickling)
    monkeypatch.setattr(pickle, "loads", no_plain_unpickling)
    assert convert.main(["--from", "huggingface", "--to", "original", "--input", str(folder), "--output", str(tmp_path / "o" / "model.ckpt")]) == 2
    err = capsys.readouterr().err
    try:
        import torch  # noqa: F401

        assert "Refused to load" in err  # torch.load(weights_only=True) rejects the `open` global
    except ImportError:
        assert "weights_only=True" in err and "needs torch" in err
    assert not marker.exists(), "the pickle's payload ran"


def test_saved_model_is_export_only(capsys):
    with pytest.raises(SystemExit) as exit_info:
        convert.main(["--from", "saved_model", "--to", "keras", "--input", "x", "--output", "y.keras"])
    assert exit_info.value.code == 2 and "invalid choice: 'saved_model'" in capsys.readouterr().err


def test_tokenizer_of_another_vocabulary_is_refused(tf1_checkpoint, tmp_path, capsys):
    prefix, _, _, _ = tf1_checkpoint
    assert convert.main(["--from", "original", "--to", "huggingface", "--input", prefix, "--spm_model_file", SPM, "--output", str(tmp_path / "x")]) == 2
    assert "has 300 pieces but the model's vocab_size is 120" in capsys.readouterr().err


def test_tokenizer_travels_through_every_format(tmp_path, capsys):
    from albert_tf import AlbertBackbone, AlbertTokenizer
    from albert_tf.checkpoints import huggingface_tokenizer
    from tests.conftest import tiny_config
    from tests.models.test_keras_hub_parity import perturb

    config = tiny_config(vocab_size=300)
    model = AlbertBackbone(config)
    perturb(model, seed=2)
    keras_file = str(tmp_path / "backbone.keras")
    model.save(keras_file)
    hf_dir, preset = str(tmp_path / "hf"), str(tmp_path / "preset")
    run_cli(["--from", "keras", "--to", "huggingface", "--input", keras_file, "--spm_model_file", SPM, "--output", hf_dir, "--quiet"], capsys)
    assert open(os.path.join(hf_dir, "spiece.model"), "rb").read() == open(SPM, "rb").read()
    assert huggingface_tokenizer(hf_dir).do_lower_case is True
    run_cli(["--from", "huggingface", "--to", "keras-hub", "--input", hf_dir, "--output", preset, "--quiet"], capsys)
    assert os.path.exists(os.path.join(preset, "tokenizer.json"))
    out = run_cli(["--from", "keras-hub", "--to", "original", "--input", preset, "--output", str(tmp_path / "o" / "model.ckpt")], capsys)
    assert "tokenizer included" in out
    assert open(tmp_path / "o" / "spiece.model", "rb").read() == open(SPM, "rb").read()
    assert AlbertTokenizer(str(tmp_path / "o" / "spiece.model")).vocab_size == 300
    back = load_original_checkpoint(
        str(tmp_path / "o" / "model.ckpt"), model=AlbertBackbone(AlbertConfig.from_json_file(str(tmp_path / "o" / "albert_config.json")))
    )
    batch = {k: np.array([v], "int32") for k, v in AlbertTokenizer(SPM).encode("The quick brown fox, in 1990.", max_seq_length=16).items()}
    np.testing.assert_allclose(back(batch)["pooled_output"], model(batch)["pooled_output"], atol=1e-6, rtol=0)


def test_saved_model_export(tf1_checkpoint, tmp_path, capsys):
    prefix, _, inputs, expected = tf1_checkpoint
    export_dir = str(tmp_path / "saved")
    # The backbone alone keeps the export small (a pretrainer adds the mlm and sop signatures).
    out = run_cli(["--from", "original", "--to", "saved_model", "--original_head", "backbone", "--input", prefix,
                   "--output", export_dir, "--quiet"], capsys)
    assert "no tokenizer" in out
    loaded = tf.saved_model.load(export_dir)
    got = loaded.signatures["tokens"](**{k: tf.constant(inputs[k]) for k in ("input_ids", "input_mask", "segment_ids")})
    np.testing.assert_allclose(got["pooled_output"], expected["pooled_output"], atol=TOLERANCE, rtol=0)


def test_fine_tuned_heads_cross_between_original_and_huggingface(tmp_path, capsys):
    from albert_tf.models import AlbertClassifier

    directory, inputs, expected = load_case("seq_classification")
    hf_in, original, hf_out = str(tmp_path / "in"), str(tmp_path / "tf1" / "model.ckpt"), str(tmp_path / "out")
    shutil.copytree(directory, hf_in)
    out = run_cli(["--from", "huggingface", "--to", "original", "--input", hf_in, "--output", original], capsys)
    assert "classifier.weight" in out and "output_weights" in out
    names = tf.train.load_checkpoint(original).get_variable_to_shape_map()
    assert names["output_weights"] == [3, 32] and names["output_bias"] == [3]  # run_classifier.py's layout
    run_cli(["--from", "original", "--to", "huggingface", "--original_head", "classifier", "--num_labels", "3",
             "--input", original, "--output", hf_out, "--quiet"], capsys)
    theirs, ours = load_file(os.path.join(directory, "model.safetensors")), load_file(os.path.join(hf_out, "model.safetensors"))
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
    model = load_huggingface(hf_out)
    assert isinstance(model, AlbertClassifier)
    np.testing.assert_allclose(model({k: inputs[k] for k in ("input_ids", "input_mask", "segment_ids")})["logits"], expected["logits"], atol=TOLERANCE, rtol=0)
