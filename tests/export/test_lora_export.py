"""Exports of a LoRA model: merged (the default) holds no adapter variables, `--merge_lora false` keeps them;
both serve the adapted model's outputs; `--merge_lora false` without an adapters file is a one-line error."""

import numpy as np
import pytest
import tensorflow as tf

from albert_tf import AlbertClassifier
from albert_tf.export import export_saved_model
from albert_tf.models.lora import adapters_path, enable_lora, save_lora_weights
from tests.conftest import tiny_config
from tools import export as export_cli


@pytest.fixture(scope="module")
def lora_model():
    model = AlbertClassifier(config=tiny_config(), num_classes=2)
    enable_lora(model, rank=2, alpha=4, targets=("query", "value", "ffn_intermediate"))
    rng = np.random.default_rng(0)
    for variable in model.trainable_variables:
        variable.assign(rng.normal(0, 0.3, variable.shape).astype("float32"))
    return model


def served_logits(export_dir, model):
    rng = np.random.default_rng(1)
    ids = rng.integers(5, 300, (2, 16)).astype("int32")
    mask = np.ones_like(ids)
    mask[1, 9:] = 0
    features = {"input_ids": ids * mask, "input_mask": mask, "segment_ids": np.zeros_like(ids)}
    served = tf.saved_model.load(str(export_dir)).signatures["tokens"](**{k: tf.constant(v) for k, v in features.items()})
    return served["logits"].numpy(), model(features)["logits"].numpy()


def lora_variables(export_dir):
    # The SavedModel keeps each variable once, under `captured_variables/<i>` in its checkpoint; the
    # variables' own names (`query/lora_kernel_a`, ...) come back on loading.
    return [v.name for v in tf.saved_model.load(str(export_dir)).captured_variables if "lora" in v.name]


def test_merged_export_serves_the_adapted_model_without_adapters(lora_model, tmp_path):
    export_saved_model(lora_model, str(tmp_path / "merged"), max_seq_length=16)
    assert lora_variables(tmp_path / "merged") == []
    served, expected = served_logits(tmp_path / "merged", lora_model)
    assert np.abs(expected).max() > 1e-3  # the adapters matter here
    np.testing.assert_allclose(served, expected, atol=1e-5)


def test_export_cli_keeps_the_adapters_separate_or_refuses_without_them(lora_model, tmp_path, capsys):
    model_file = str(tmp_path / "run" / "model.keras")
    (tmp_path / "run").mkdir()
    lora_model.save(model_file)
    args = ["--checkpoint", model_file, "--max_seq_length", "16", "--merge_lora", "false"]
    assert export_cli.main(args + ["--export_dir", str(tmp_path / "none")]) == 2
    error = capsys.readouterr().err
    assert error.strip() == (f"albert-export: error: --merge_lora false: --checkpoint {model_file} has no LoRA adapters "
                             "(no model.lora.npz beside it; they are written by albert-finetune --lora_rank).")
    save_lora_weights(lora_model, adapters_path(model_file))
    assert export_cli.main(args + ["--export_dir", str(tmp_path / "separate")]) == 0
    # A and B of query, value and ffn_intermediate of the one shared block.
    assert len(lora_variables(tmp_path / "separate")) == 6
    served, expected = served_logits(tmp_path / "separate", lora_model)
    np.testing.assert_allclose(served, expected, atol=1e-5)


def test_merge_lora_false_names_what_the_checkpoint_lacks(tmp_path, capsys):
    """A checkpoint that is not a `.keras` file cannot carry adapters; a missing one is reported as missing."""
    huggingface = tmp_path / "hf"
    huggingface.mkdir()
    for name in ("config.json", "model.safetensors"):
        (huggingface / name).write_text("{}")
    missing = tmp_path / "run" / "model.keras"
    for checkpoint, fragment in ((huggingface, "has no LoRA adapters (it is not a .keras model;"),
                                 (missing, str(missing))):
        code = export_cli.main(["--checkpoint", str(checkpoint), "--merge_lora", "false",
                                "--export_dir", str(tmp_path / "out")])
        error = capsys.readouterr().err
        assert code == 2 and error.count("\n") == 1 and fragment in error, error
        assert checkpoint != missing or "LoRA" not in error, error
    assert not (tmp_path / "out").exists()
