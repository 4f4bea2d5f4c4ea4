"""albert-export --onnx: onnxruntime computes what Keras computes, and the shared block is stored once.

One conversion serves every check (tf2onnx takes ~10 s even for a tiny model). Without the `onnx` extra
the conversion test skips, saying what to install; the refusal test runs either way.
"""

import importlib.util
import sys

import numpy as np
import pytest

from albert_tf import AlbertBackbone, AlbertClassifier, AlbertConfig

ONNX_EXTRA_MISSING = "tf2onnx/onnxruntime not installed: pip install 'albert_tf[onnx]' to run the ONNX tests"
needs_onnx = pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in ("tf2onnx", "onnx", "onnxruntime")),
    reason=ONNX_EXTRA_MISSING,
)


def _token_features(config, batch, length, seed):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, config.vocab_size, (batch, length)).astype(np.int32)
    mask = np.ones_like(ids)
    mask[-1, length // 2:] = 0  # one padded row
    segments = (np.arange(length) >= length // 3).astype(np.int32)[None].repeat(batch, 0)
    return {"input_ids": ids, "input_mask": mask, "segment_ids": segments}


@pytest.fixture(scope="module")
def onnx_export(tmp_path_factory):
    """A classifier whose 2 layers share one group, saved as .keras and exported by the CLI with --onnx.

    Wide enough (H=128) that the weights, not the graph's nodes, make most of the file, so a second copy
    of the shared block (about 0.8 of the parameters) could not hide inside the 10% margin.
    """
    import keras

    from tools import export

    keras.utils.set_random_seed(11)
    config = AlbertConfig(vocab_size=300, embedding_size=16, hidden_size=128, num_hidden_layers=2,
                          num_hidden_groups=1, num_attention_heads=4, intermediate_size=256,
                          max_position_embeddings=64)
    model = AlbertClassifier(AlbertBackbone(config), num_classes=3)
    model(_token_features(config, 1, 8, seed=0))
    # Fresh biases are zeros and LayerNorm scales ones, which the converter folds away; noise keeps every
    # parameter in the graph, so the comparison covers them all.
    rng = np.random.default_rng(12)
    for weight in model.weights:
        weight.assign(weight.numpy() + rng.normal(0, 0.02, weight.shape).astype(weight.dtype))
    root = tmp_path_factory.mktemp("onnx")
    model.save(str(root / "model.keras"))
    export_dir = root / "exported"
    code = export.main([f"--checkpoint={root / 'model.keras'}", f"--export_dir={export_dir}",
                        "--max_seq_length=32", "--onnx"])
    return model, config, export_dir, code


@needs_onnx
def test_onnx_runs_as_keras_does(onnx_export):
    import onnxruntime

    model, config, export_dir, code = onnx_export
    onnx_file = export_dir / "model.onnx"
    assert code == 0 and onnx_file.exists()
    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    assert {i.name: i.shape for i in session.get_inputs()} == {
        key: ["batch", "sequence"] for key in ("input_ids", "input_mask", "segment_ids")}
    names = [o.name for o in session.get_outputs()]
    assert sorted(names) == ["logits", "pooled_output", "predictions", "probabilities", "sequence_output"]
    # The batch and the length are free: two shapes, neither the export's --max_seq_length.
    for batch, length, seed in ((3, 12, 1), (1, 40, 2)):
        features = _token_features(config, batch, length, seed)
        expected = model.serving_outputs(features)
        for name, got in zip(names, session.run(None, features)):
            want = expected[name].numpy()
            assert got.shape == want.shape, name
            if name == "predictions":
                np.testing.assert_array_equal(got, want)
            else:
                np.testing.assert_allclose(got, want, atol=1e-4, rtol=0, err_msg=f"{name} {batch}x{length}")


@needs_onnx
def test_onnx_stores_each_shared_weight_once(onnx_export):
    """The 2 layers read one block of weights, and the file holds each weight once: its initializers are
    within 10% of the parameter bytes (a copy of the block per layer would add ~0.8 of them; the query,
    key and value kernels tf2onnx's folding keeps a second time for a `Shape` node, ~0.3).

    Each weight is found by its values (sorted, so a transposed or reshaped copy counts too), and the
    failure names the weights stored twice.
    """
    import onnx
    from onnx import numpy_helper

    model, config, export_dir, _ = onnx_export
    parameter_bytes = sum(int(np.prod(w.shape)) * 4 for w in model.weights)
    stored = [numpy_helper.to_array(t) for t in onnx.load(str(export_dir / "model.onnx")).graph.initializer]
    stored_bytes = sum(array.nbytes for array in stored)
    assert abs(stored_bytes / parameter_bytes - 1) <= 0.1, (stored_bytes, parameter_bytes)
    by_values = {}
    for array in stored:
        if array.dtype == np.float32 and array.size >= 256:
            key = np.sort(array.ravel()).tobytes()
            by_values[key] = by_values.get(key, 0) + 1
    copies = {w.path: by_values.get(np.sort(w.numpy().ravel()).tobytes(), 0)
              for w in model.weights if w.numpy().size >= 256}
    assert all(count == 1 for count in copies.values()), copies


@needs_onnx
def test_onnx_post_passes_run_their_examples():
    import doctest

    from albert_tf import export_onnx

    result = doctest.testmod(export_onnx, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_onnx_without_the_extra_is_one_line(tmp_path, monkeypatch, capsys):
    from tools import export

    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # as if not installed: find_spec answers None
    code = export.main([f"--checkpoint={tmp_path / 'model.keras'}", f"--export_dir={tmp_path / 'out'}", "--onnx"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("albert-export: error: --onnx: tf2onnx ")  # "tf2onnx and onnx" where both are absent
    assert "not installed: pip install 'albert_tf[onnx]'" in err
    assert not (tmp_path / "out").exists()
