"""No model file format read here executes code: Lambda layers and crafted pickles are refused, not run."""

import json
import os
import pickle
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class _Payload:
    """Unpickling this calls os.mkdir(marker): the directory's existence proves code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


@pytest.fixture
def lambda_keras_file(tmp_path):
    import keras

    marker = str(tmp_path / "lambda_ran")
    # The lambda would create the marker when executed (deserialised and called).
    layer = keras.layers.Lambda(lambda x: x + len(os.makedirs(marker) or ""))
    model = keras.Sequential([keras.Input((3,)), layer])
    path = tmp_path / "evil.keras"
    model.save(path)
    if os.path.exists(marker):  # Keras ran the lambda once while building the model we saved
        os.rmdir(marker)
    return str(path), marker


def test_keras_file_with_a_lambda_layer_is_refused(lambda_keras_file):
    from albert_tf.checkpoints.loading import UnsafeModelFileError, load_model

    path, marker = lambda_keras_file
    with pytest.raises(UnsafeModelFileError, match=r"evil\.keras contains serialized Python code"):
        load_model(path)
    assert not os.path.exists(marker)


def test_albert_export_refuses_a_lambda_layer(lambda_keras_file, tmp_path, capsys):
    # In this process: the refusal is albert_tf's own scan, not Keras state, and `python -m tools.export`
    # itself is started by tests/test_startup.py.
    from tools import export

    path, marker = lambda_keras_file
    returncode = export.main([f"--checkpoint={path}", f"--export_dir={tmp_path / 'out'}"])
    assert returncode != 0
    assert "evil.keras contains serialized Python code" in capsys.readouterr().err
    assert not os.path.exists(marker) and not os.path.exists(tmp_path / "out")


def test_crafted_pickle_as_pytorch_model_bin_is_never_unpickled(tmp_path):
    from albert_tf.checkpoints import load_huggingface

    marker = str(tmp_path / "pickle_ran")
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "model_type": "albert", "vocab_size": 30, "embedding_size": 8, "hidden_size": 16, "num_hidden_layers": 1,
        "num_attention_heads": 2, "intermediate_size": 32, "hidden_act": "gelu_new", "max_position_embeddings": 16,
    }))
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"albert.embeddings.word_embeddings.weight": _Payload(marker)}))
    # Without torch: a message asking for torch or safetensors; with torch: weights_only=True refuses the
    # global. Either way the payload must not run.
    with pytest.raises(Exception, match=r"pytorch_model\.bin|Weights only load failed|Unsupported global"):
        load_huggingface(str(folder))
    assert not os.path.exists(marker)


def test_no_code_executing_loaders_in_the_sources():
    """A static guard over the package sources: none of the calls that run code from data."""
    forbidden = re.compile(
        r"pickle\.loads?\(|(?<![.\w])eval\(|(?<![.\w])exec\(|safe_mode\s*=\s*False|allow_pickle\s*=\s*True|"
        r"weights_only\s*=\s*False|yaml\.load\(|marshal\.loads?\(|enable_unsafe_deserialization"
    )
    offenders = []
    for package in ("albert_tf", "data_prep", "tools"):
        for directory, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(directory, name)
                    with open(path, encoding="utf-8") as f:
                        for number, line in enumerate(f, 1):
                            if forbidden.search(line):
                                offenders.append(f"{os.path.relpath(path, ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
    # Every torch.load call (the only pickle reader allowed) refuses arbitrary globals.
    for package in ("albert_tf", "tools"):
        for directory, _, files in os.walk(os.path.join(ROOT, package)):
            for name in (n for n in files if n.endswith(".py")):
                with open(os.path.join(directory, name), encoding="utf-8") as f:
                    source = f.read()
                for arguments in re.findall(r"torch\.load\(([^)]*)\)", source):
                    assert "weights_only=True" in arguments, f"{name}: torch.load({arguments})"


def test_with_torch_the_pickle_is_refused_by_weights_only(tmp_path):
    """Where torch is installed, `pytorch_model.bin` goes through torch.load(weights_only=True), which refuses."""
    pytest.importorskip("torch")
    from albert_tf.checkpoints.huggingface import read_state_dict

    marker = str(tmp_path / "pickle_ran")
    (tmp_path / "pytorch_model.bin").write_bytes(pickle.dumps({"w": _Payload(marker)}))
    with pytest.raises(Exception, match=r"(?i)weights.only|unsupported global|pytorch_model\.bin"):
        read_state_dict(str(tmp_path))
    assert not os.path.exists(marker)
