"""albert-export end to end, `load_model` over every checkpoint format, and TFLite against Keras."""

import os

import numpy as np
import pytest

from albert_tf import AlbertPretrainer
from albert_tf.checkpoints import load_model, save_huggingface, save_original_checkpoint


@pytest.fixture(scope="module")
def pretrainer(tiny_config):
    import keras

    keras.utils.set_random_seed(5)
    return AlbertPretrainer(tiny_config)


def _features(config, length=16):
    rng = np.random.default_rng(3)
    ids = rng.integers(5, config.vocab_size, (2, length)).astype(np.int32)
    mask = np.ones_like(ids)
    mask[1, 10:] = 0
    return {"input_ids": ids, "input_mask": mask, "segment_ids": (np.arange(length) >= 8).astype(np.int32)[None].repeat(2, 0)}


def test_load_model_reads_every_format(pretrainer, tiny_config, tmp_path):
    import tensorflow as tf

    features = _features(tiny_config)
    expected = pretrainer.backbone(features)["pooled_output"].numpy()
    keras_file = str(tmp_path / "model.keras")
    pretrainer.save(keras_file)
    os.makedirs(tmp_path / "ours")
    tiny_config.to_json_file(str(tmp_path / "ours" / "albert_config.json"))  # found beside the checkpoint
    from albert_tf.training.runner import model_weights

    ours = tf.train.Checkpoint(model_weights=model_weights(pretrainer)).save(str(tmp_path / "ours" / "ckpt"))
    save_original_checkpoint(pretrainer, str(tmp_path / "original" / "model.ckpt-best"))
    save_huggingface(pretrainer, str(tmp_path / "hf"))
    from albert_tf.checkpoints import save_keras_hub_preset

    save_keras_hub_preset(pretrainer.backbone, str(tmp_path / "keras_hub"))
    sources = {
        ".keras file": (keras_file, None),
        "directory with model.keras": (str(tmp_path), None),
        "albert_tf checkpoint": (ours, None),
        "original TF1 checkpoint": (str(tmp_path / "original" / "model.ckpt-best"), tiny_config),
        "HuggingFace directory": (str(tmp_path / "hf"), None),
        "keras-hub preset": (str(tmp_path / "keras_hub"), None),
    }
    for label, (path, config) in sources.items():
        model = load_model(path, config=config)
        backbone = getattr(model, "backbone", model)
        got = backbone(features)["pooled_output"].numpy()
        np.testing.assert_allclose(got, expected, atol=1e-6, err_msg=label)
    with pytest.raises(ValueError, match="carries no config; pass --albert_config_file"):
        load_model(str(tmp_path / "original" / "model.ckpt-best"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(str(tmp_path / "missing"))


def test_albert_export_cli_with_tflite(pretrainer, tiny_config, spm_model_file, tmp_path, capsys):
    from ai_edge_litert.interpreter import Interpreter

    from tools import export

    keras_file = str(tmp_path / "model.keras")
    pretrainer.save(keras_file)
    export_dir = tmp_path / "exported" / "1"
    code = export.main([f"--checkpoint={keras_file}", f"--spm_model_file={spm_model_file}",
                        f"--export_dir={export_dir}", "--max_seq_length=16", "--tflite"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "serving_default(text) -> " in printed and "mlm(input_ids, input_mask, mlm_positions, segment_ids)" in printed
    tflite_file = export_dir / "albert_model.tflite"
    assert (export_dir / "saved_model.pb").exists() and f"TFLite: {tflite_file}" in printed
    runner = Interpreter(model_path=str(tflite_file)).get_signature_runner()
    features = _features(tiny_config)
    for row in range(2):
        one = {k: v[row:row + 1] for k, v in features.items()}
        got = runner(**one)
        keras_out = pretrainer.backbone(one)
        for key in ("pooled_output", "sequence_output"):
            np.testing.assert_allclose(got[key], keras_out[key].numpy(), atol=1e-4, rtol=0, err_msg=key)
    assert code == 0 and export.main([f"--checkpoint={keras_file}", f"--export_dir={export_dir}",
                                      "--max_seq_length=1000"]) == 2
    assert "max_seq_length=1000" in capsys.readouterr().err
