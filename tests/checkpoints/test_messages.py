"""Messages that help (issue 17, item 5) about model files: a truncated `.keras` says it is truncated, a
checkpoint of another shape names the weight and both shapes, albert-convert says what it wrote and what
not, and a HuggingFace export of a GLUE classifier names the task's labels."""

import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf

from albert_tf import AlbertBackbone, AlbertClassifier
from albert_tf.checkpoints import formats
from albert_tf.checkpoints.initialisation import initialise_weights, model_weights
from albert_tf.checkpoints.loading import load_keras_file
from albert_tf.errors import UserInputError
from tests.conftest import tiny_config
from tests.data_prep.generated_text import train_tiny_model
from tools import convert

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("messages")
    backbone = AlbertBackbone(tiny_config(vocab_size=300))
    backbone.save(str(root / "whole.keras"))
    data = (root / "whole.keras").read_bytes()
    (root / "truncated.keras").write_bytes(data[: len(data) // 2])
    (root / "text.keras").write_text("not a model\n")
    prefix = tf.train.Checkpoint(model_weights=model_weights(backbone)).write(str(root / "ckpt" / "ckpt-1"))
    classifier = AlbertClassifier(AlbertBackbone(tiny_config(vocab_size=300)), num_classes=2)
    run = root / "run"
    run.mkdir()
    classifier.save(str(run / "model.keras"))
    (run / "run_config.json").write_text(json.dumps({"task": "mrpc"}))
    return {"root": root, "prefix": prefix, "run": run, "spm": train_tiny_model(root)}


def test_a_truncated_keras_file_is_named_truncated(model_files):
    root = model_files["root"]
    found = formats.checkpoint_format(str(root / "truncated.keras"))
    assert found.kind == formats.KERAS and found.reason.startswith("truncated")
    assert formats.checkpoint_format(str(root / "whole.keras")).reason == ""
    assert "not a zip archive" in formats.checkpoint_format(str(root / "text.keras")).reason
    with pytest.raises(UserInputError, match=r"--init_checkpoint .*truncated\.keras is truncated \(\d+ bytes"):
        initialise_weights(AlbertBackbone(tiny_config(vocab_size=300)), str(root / "truncated.keras"))
    with pytest.raises(UserInputError, match="--input .*truncated.keras is truncated"):
        load_keras_file(str(root / "truncated.keras"))


def test_albert_finetune_says_truncated_not_file_not_found(model_files, tmp_path):
    (tmp_path / "none.tfrecord").write_bytes(b"")
    args = [sys.executable, "-m", "tools.finetune", "--task=mrpc", "--do_eval", f"--output_dir={tmp_path}/out",
            f"--init_checkpoint={model_files['root']}/truncated.keras", f"--eval_records={tmp_path}/none.tfrecord"]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode == 2, done.stderr[-3000:]
    assert "truncated.keras is truncated" in done.stderr and "File not found" not in done.stderr, done.stderr[-3000:]


@pytest.mark.parametrize("source", ["keras", "tf"])
def test_a_checkpoint_of_another_shape_names_the_weight_and_both_shapes(model_files, source):
    path = str(model_files["root"] / "whole.keras") if source == "keras" else model_files["prefix"]
    with pytest.raises(UserInputError) as refused:
        initialise_weights(AlbertBackbone(tiny_config(vocab_size=200)), path)
    message = str(refused.value)
    assert "\n" not in message
    assert "weight embeddings/word_embeddings/embeddings is (300, 16) in the checkpoint but (200, 16) in this model" in message


def test_convert_says_what_was_written_and_what_was_not(model_files, tmp_path, capsys):
    whole = str(model_files["root"] / "whole.keras")
    assert convert.main(["--from", "keras", "--to", "keras", "--input", whole, "--output", str(tmp_path / "o.keras"),
                         "--spm_model_file", model_files["spm"], "--quiet"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "tokenizer not written: a .keras file holds no SentencePiece model" in line, line
    assert "tokenizer included" not in line and "not written: 1" not in line, line
    assert convert.main(["--from", "keras", "--to", "huggingface", "--input", whole, "--output", str(tmp_path / "hf"),
                         "--spm_model_file", model_files["spm"], "--quiet"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.endswith("; tokenizer included") and "not written" not in line, line


def test_a_huggingface_export_of_a_glue_classifier_names_the_task_labels(model_files, tmp_path, capsys):
    keras_file = str(model_files["run"] / "model.keras")
    # The task comes from the fine-tuning run's run_config.json, or from --task.
    for name, extra in (("from_run", []), ("from_flag", ["--task", "rte"])):
        assert convert.main(["--from", "keras", "--to", "huggingface", "--input", keras_file,
                             "--output", str(tmp_path / name), "--quiet", *extra]) == 0
    mrpc = json.loads((tmp_path / "from_run" / "config.json").read_text())
    assert mrpc["id2label"] == {"0": "0", "1": "1"} and mrpc["label2id"] == {"0": 0, "1": 1}
    rte = json.loads((tmp_path / "from_flag" / "config.json").read_text())
    assert rte["id2label"] == {"0": "entailment", "1": "not_entailment"}
    assert rte["label2id"] == {"entailment": 0, "not_entailment": 1}
    assert convert.main(["--from", "keras", "--to", "huggingface", "--input", keras_file, "--output",
                         str(tmp_path / "mnli"), "--task", "mnli", "--quiet"]) == 2
    assert "--task mnli has 3 labels" in capsys.readouterr().err
