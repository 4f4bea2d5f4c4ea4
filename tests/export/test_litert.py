"""LiteRT export in every `--quantize` mode against the float Keras model, and shared weights kept shared.

One tiny classifier (module fixture) is converted once per mode. Its weights are random at 2.5 times the
usual init range, so that its logits are not near-ties (at 0.02 they differ by ~0.005).
"""

import glob
import os

import numpy as np
import pytest
import tensorflow as tf

from albert_tf import AlbertBackbone, AlbertConfig
from albert_tf.errors import UserInputError
from albert_tf.export import export_saved_model, export_tflite
from albert_tf.litert import QUANTIZE_MODES, representative_features
from albert_tf.models import AlbertClassifier

SEQ = 16
#: Relative error of the logits (L2 over the test batch) against the float Keras model, per mode, and the
#: arg-max agreement required. Measured on this model: none ~1e-7, float16 ~1e-3, dynamic 0.016, int8 0.07
#: (all arg-maxes agreeing); a mode whose scales were lost is off by 100% or more. Full-integer int8 grows
#: with the activations' range: 0.05 at init range 0.2 (0.33 while the attention scores were int8;
#: tools/bench_quantization.py measures a trained model).
TOLERANCE = {"none": (1e-5, 1.0), "float16": (5e-3, 1.0), "dynamic": (0.05, 0.9), "int8": (0.2, 0.8)}


def _examples(config, count, seed, length=SEQ):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        used = int(rng.integers(4, length + 1))
        ids = np.zeros((1, length), np.int32)
        ids[0, :used] = rng.integers(5, config.vocab_size, used)
        ids[0, 0], ids[0, used - 1] = 2, 3
        mask = (ids > 0).astype(np.int32)
        segments = np.zeros_like(ids)
        segments[0, used // 2:used] = 1
        out.append({"input_ids": ids, "input_mask": mask, "segment_ids": segments})
    return out


def _write_records(path, examples, length):
    """Classification records as albert-create-finetuning-data writes them, `length` tokens each."""
    with tf.io.TFRecordWriter(str(path)) as writer:
        for example in examples:
            values = {}
            for key, array in example.items():
                flat = np.zeros(length, np.int64)
                flat[: min(length, array.size)] = array.reshape(-1)[:length]
                values[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=flat))
            values["label_ids"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[0]))
            writer.write(tf.train.Example(features=tf.train.Features(feature=values)).SerializeToString())


@pytest.fixture(scope="module")
def converted(tiny_config, tmp_path_factory):
    import keras

    keras.utils.set_random_seed(7)
    config = tiny_config.replace(initializer_range=0.05)
    model = AlbertClassifier(config=config, num_classes=3)
    tmp = tmp_path_factory.mktemp("litert")
    records = tmp / "train.tfrecord"
    _write_records(records, _examples(config, 64, seed=1), length=SEQ + 4)  # cut to SEQ when read
    calibration = representative_features(str(records), [1, SEQ], count=48)
    files = {}
    for mode in QUANTIZE_MODES:
        files[mode] = str(tmp / f"{mode}.tflite")
        size = export_tflite(model, files[mode], max_seq_length=SEQ, quantize=mode,
                             representative_dataset=calibration if mode == "int8" else None)
        assert size == os.path.getsize(files[mode])
    return model, config, files


@pytest.mark.parametrize("mode", QUANTIZE_MODES)
def test_litert_mode_runs_close_to_the_float_keras_model(converted, mode):
    from ai_edge_litert.interpreter import Interpreter

    model, config, files = converted
    runner = Interpreter(model_path=files[mode]).get_signature_runner()
    tests = _examples(config, 16, seed=2)
    got = np.concatenate([runner(**example)["logits"] for example in tests])
    want = model({k: np.concatenate([e[k] for e in tests]) for k in tests[0]})["logits"].numpy()
    assert np.isfinite(got).all(), f"{mode}: NaN/inf in the logits"
    error = np.linalg.norm(got - want) / np.linalg.norm(want)
    agree = float(np.mean(got.argmax(-1) == want.argmax(-1)))
    max_error, min_agree = TOLERANCE[mode]
    assert error < max_error, f"{mode}: logits relative error {error:.3g} >= {max_error}"
    assert agree >= min_agree, f"{mode}: arg-max agrees on {agree:.0%} < {min_agree:.0%}"
    assert error > 0 or mode == "none"  # a quantized file computing exactly the float model's would be a no-op


def test_int8_keeps_attention_scores_layer_norm_statistics_mask_and_outputs_float(converted):
    """What docs/serving.md says stays float32 in a full-integer file: each attention layer's scaled
    scores, their mask add and the softmax (int8 there cost 20 points on SST-2); the lookups do not."""
    from ai_edge_litert.interpreter import Interpreter

    from albert_tf.layers.transformer import ATTENTION_SCORES_SCOPE

    _, config, files = converted
    details = Interpreter(model_path=files["int8"]).get_tensor_details()
    # Scalars aside (the scores' float scale constant).
    names = [d["name"] for d in details if np.dtype(d["dtype"]) == np.float32 and d["shape"].size]
    int8 = [d["name"] for d in details if np.dtype(d["dtype"]) == np.int8]
    assert len(int8) > 5 * len(names), (len(int8), names)
    scores = f"/{ATTENTION_SCORES_SCOPE}/"
    kept = sorted(n.rsplit("/", 1)[-1] for n in names if scores in n)
    assert kept == sorted(["mul", "add", "Softmax"] * config.num_hidden_layers), kept
    # In int8 only the probabilities' quantized copy ("Softmax1"), which feeds the int8 product with the values.
    assert sorted(n.rsplit("/", 1)[-1] for n in int8 if scores in n) == ["Softmax1"] * config.num_hidden_layers
    allowed = ("layer_norm", "tfl.dequantize", "StatefulPartitionedCall", scores)  # statistics, the float outputs
    assert [n for n in names if not any(a in n for a in allowed) and not n.endswith("/Cast")] == [], names
    assert not [n for n in names if any(op in n.lower() for op in ("word_embeddings", "gather"))], names


def test_litert_file_sizes_are_ordered(converted):
    sizes = {mode: os.path.getsize(path) for mode, path in converted[2].items()}
    assert max(sizes["int8"], sizes["dynamic"]) < sizes["float16"] < sizes["none"], sizes


def test_representative_features_cut_pad_and_refuse(converted, tmp_path):
    model, config, _ = converted
    short = tmp_path / "short.tfrecord"
    examples = _examples(config, 3, seed=4, length=8)
    _write_records(short, examples, length=8)
    read = representative_features(str(short), [1, 12])
    assert len(read) == 3 and read[0]["input_ids"].shape == (1, 12) and read[0]["input_ids"].dtype == np.int32
    np.testing.assert_array_equal(read[1]["input_ids"][0, :8], examples[1]["input_ids"][0])
    assert not read[1]["input_ids"][0, 8:].any()
    with pytest.raises(UserInputError, match=r"^--representative_records .*missing\*: no TFRecord file matches"):
        representative_features(str(tmp_path / "missing*"), [1, 12])
    with pytest.raises(UserInputError, match=r"^--quantize int8 needs representative examples"):
        export_tflite(model, str(tmp_path / "x.tflite"), max_seq_length=SEQ, quantize="int8")


def test_cli_refuses_int8_without_records_in_one_line(capsys):
    from tools import export

    from tools.export import QUANTIZE_MODES as cli_modes

    assert cli_modes == QUANTIZE_MODES
    for argv, message in [
        (["--quantize", "int8", "--tflite"], "--quantize int8 needs --representative_records PATTERN"),
        (["--quantize", "dynamic"], "--quantize dynamic applies to the LiteRT file: add --tflite"),
        (["--quantize", "int4", "--tflite"], "argument --quantize: invalid choice: 'int4'"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            export.main(["--checkpoint", "m.keras", "--export_dir", "out", *argv])
        assert exit_info.value.code == 2
        error_lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("albert-export: error")]
        assert len(error_lines) == 1 and message in error_lines[0], error_lines


def test_shared_weights_are_stored_once_in_every_format(tmp_path):
    """L=12 over one group: the shared block (H=32, I=8192: 2.1 MB) is 97% of the parameter bytes, so one
    extra copy of it would show as +95%, twelve as +1000%.

    The LiteRT file holds each kernel as one constant; beyond the weights it carries ~11 KB of graph per
    unrolled layer (ops, tensor names: 129 KB measured at L=12 whatever I is), 12% of I=4096's 1.1 MB but
    6% here and 0.1% of albert-base (docs/export_sizes.md)."""
    import keras

    keras.utils.set_random_seed(1)
    config = AlbertConfig(vocab_size=300, embedding_size=16, hidden_size=32, num_hidden_layers=12, num_hidden_groups=1,
                          num_attention_heads=4, intermediate_size=8192, max_position_embeddings=32)
    model = AlbertBackbone(config)
    rng = np.random.default_rng(0)
    for weight in model.weights:  # distinct values: identical tensors could be stored once for that reason alone
        weight.assign(rng.normal(0.0, 0.02, weight.shape).astype(np.float32))
    parameter_bytes = 4 * model.count_params()
    keras_file = tmp_path / "model.keras"
    model.save(str(keras_file))
    export_dir = export_saved_model(model, str(tmp_path / "sm"))
    variables = sum(os.path.getsize(f) for f in glob.glob(os.path.join(export_dir, "variables", "variables.data-*")))
    tflite = export_tflite(model, str(tmp_path / "model.tflite"), max_seq_length=SEQ)
    sizes = {"SavedModel variables": variables, ".keras": os.path.getsize(keras_file), "LiteRT": tflite}
    for label, size in sizes.items():
        assert abs(size / parameter_bytes - 1) < 0.10, f"{label}: {size} bytes for {parameter_bytes} parameter bytes"
