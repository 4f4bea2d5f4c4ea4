"""Task-model heads in original-release TF1 checkpoints.

The checkpoints are written here with `tf.compat.v1` variables under the names and shapes of the
original scripts (spec section 3.4, transcribed in `SPEC_HEADS` below, not taken from the converter),
beside a backbone; the loaded model's outputs are compared with NumPy computations of the original
heads from those same arrays.
"""

import numpy as np
import pytest
import tensorflow as tf

from albert_tf import AlbertBackbone, AlbertClassifier, AlbertMultipleChoice, AlbertQuestionAnswering, AlbertTokenClassifier
from albert_tf.checkpoints import load_original_checkpoint, save_original_checkpoint
from tests.conftest import tiny_config
from tests.models.task_data import perturb, race_batch, squad_batch
from tests.models.task_data import inputs as task_inputs

H = tiny_config().hidden_size


def spec_heads(kind, classes=3):
    """name -> shape of the original scripts' head variables (section 3.4)."""
    if kind in ("classifier", "tagging"):
        return {"output_weights": (classes, H), "output_bias": (classes,)}
    if kind == "race":
        return {"output_weights": (1, H), "output_bias": (1,)}
    if kind == "squad_v1":
        return {"cls/squad/output_weights": (2, H), "cls/squad/output_bias": (2,)}
    return {
        "start_logits/dense/kernel": (H, 1),
        "start_logits/dense/bias": (1,),
        "end_logits/dense_0/kernel": (2 * H, H),
        "end_logits/dense_0/bias": (H,),
        "end_logits/LayerNorm/gamma": (H,),
        "end_logits/LayerNorm/beta": (H,),
        "end_logits/dense_1/kernel": (H, 1),
        "end_logits/dense_1/bias": (1,),
        "answer_class/dense_0/kernel": (2 * H, H),
        "answer_class/dense_0/bias": (H,),
        "answer_class/dense_1/kernel": (H, 1),
    }


def backbone_arrays(config, tmp_path):
    backbone = AlbertBackbone(config)
    perturb(backbone, seed=5, scale=0.1)
    reader = tf.train.load_checkpoint(save_original_checkpoint(backbone, str(tmp_path / "backbone" / "model.ckpt")))
    return backbone, {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def write_tf1(arrays, prefix):
    with tf.Graph().as_default():
        variables = [tf.compat.v1.Variable(value, name=name) for name, value in arrays.items()]
        variables.append(tf.compat.v1.Variable(np.int64(7), name="global_step"))
        saver = tf.compat.v1.train.Saver(variables)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            return saver.save(session, prefix, write_meta_graph=False)


def fine_tuned_checkpoint(kind, tmp_path, classes=3):
    config = tiny_config()
    backbone, arrays = backbone_arrays(config, tmp_path)
    rng = np.random.default_rng(11)
    heads = {}
    for name, shape in spec_heads(kind, classes).items():
        centre = 1.0 if name.endswith("gamma") else 0.0
        heads[name] = (centre + rng.normal(0, 0.3, shape)).astype("float32")
    prefix = write_tf1({**arrays, **heads}, str(tmp_path / kind / "model.ckpt"))
    return config, backbone, heads, prefix


def _log_softmax(x):
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def _layer_norm(x, gamma, beta):
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * gamma + beta


@pytest.mark.parametrize("kind", ["classifier", "tagging", "race"])
def test_output_weights_heads_load_and_compute_the_original_logits(kind, tmp_path):
    config, backbone, heads, prefix = fine_tuned_checkpoint(kind, tmp_path)
    model = {
        "classifier": lambda: AlbertClassifier(config, 3),
        "tagging": lambda: AlbertTokenClassifier(config, 3),
        "race": lambda: AlbertMultipleChoice(config, 4),
    }[kind]()
    loaded, report = load_original_checkpoint(prefix, model=model, return_report=True)
    assert loaded is model and report.missing_heads == [] and report.ignored_unknown == []
    assert set(heads) <= set(report.loaded)
    W, b = heads["output_weights"].astype("float64"), heads["output_bias"].astype("float64")
    if kind == "race":
        batch = race_batch(config, batch=2)
        rows = {k: batch[k].reshape(8, -1) for k in ("input_ids", "input_mask", "segment_ids")}
        expected = (np.asarray(backbone(rows)["pooled_output"], "float64") @ W.T + b).reshape(2, 4)
    else:
        batch = task_inputs(config)
        key = "pooled_output" if kind == "classifier" else "sequence_output"
        expected = np.asarray(backbone(batch)[key], "float64") @ W.T + b
    np.testing.assert_allclose(model(batch)["logits"], expected, atol=1e-5, rtol=0)


def test_squad_v1_head_rows_are_start_and_end(tmp_path):
    config, backbone, heads, prefix = fine_tuned_checkpoint("squad_v1", tmp_path)
    model = load_original_checkpoint(prefix, config, model=AlbertQuestionAnswering(config, version=1))
    batch = squad_batch(config)
    sequence = np.asarray(backbone(batch)["sequence_output"], "float64")
    W, b = heads["cls/squad/output_weights"].astype("float64"), heads["cls/squad/output_bias"].astype("float64")
    out = model(batch)
    np.testing.assert_allclose(out["start_logits"], sequence @ W[0] + b[0], atol=1e-5, rtol=0)
    np.testing.assert_allclose(out["end_logits"], sequence @ W[1] + b[1], atol=1e-5, rtol=0)


def test_squad_v2_scopes_load_and_compute_the_original_head(tmp_path):
    config, backbone, heads, prefix = fine_tuned_checkpoint("squad_v2", tmp_path)
    model = load_original_checkpoint(prefix, model=AlbertQuestionAnswering(config, version=2, dropout=0.0))
    batch = squad_batch(config)
    x = np.asarray(backbone(batch)["sequence_output"], "float64")
    a = {k: v.astype("float64") for k, v in heads.items()}
    p = batch["p_mask"].astype("float64")
    start_logits = (x @ a["start_logits/dense/kernel"])[..., 0] + a["start_logits/dense/bias"][0]
    start_masked = start_logits * (1 - p) - 1e30 * p
    gold = x[np.arange(4), batch["start_positions"][:, 0]]
    end_in = np.concatenate([x, np.broadcast_to(gold[:, None, :], x.shape)], -1)
    end = np.tanh(end_in @ a["end_logits/dense_0/kernel"] + a["end_logits/dense_0/bias"])
    end = _layer_norm(end, a["end_logits/LayerNorm/gamma"], a["end_logits/LayerNorm/beta"])
    end = (end @ a["end_logits/dense_1/kernel"])[..., 0] + a["end_logits/dense_1/bias"][0]
    start_p = np.exp(_log_softmax(start_masked))
    feature = np.concatenate([np.einsum("bsh,bs->bh", x, start_p), x[:, 0]], -1)
    hidden = np.tanh(feature @ a["answer_class/dense_0/kernel"] + a["answer_class/dense_0/bias"])
    cls_logits = (hidden @ a["answer_class/dense_1/kernel"])[:, 0]
    out = model(batch, training=True)
    valid = p == 0
    np.testing.assert_allclose(np.asarray(out["start_log_probs"])[valid], _log_softmax(start_masked)[valid], atol=1e-5, rtol=0)
    np.testing.assert_allclose(
        np.asarray(out["end_log_probs"])[valid], _log_softmax(end * (1 - p) - 1e30 * p)[valid], atol=1e-5, rtol=0
    )
    np.testing.assert_allclose(out["cls_logits"], cls_logits, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", ["classifier", "race", "squad_v1", "squad_v2", "tagging"])
def test_writer_uses_the_original_names_and_round_trips(kind, tmp_path):
    config = tiny_config()
    model = {
        "classifier": lambda: AlbertClassifier(config, 3),
        "race": lambda: AlbertMultipleChoice(config, 4),
        "squad_v1": lambda: AlbertQuestionAnswering(config, version=1),
        "squad_v2": lambda: AlbertQuestionAnswering(config, version=2),
        "tagging": lambda: AlbertTokenClassifier(config, 3),
    }[kind]()
    perturb(model, seed=2, scale=0.1)
    prefix = save_original_checkpoint(model, str(tmp_path / "out" / "model.ckpt"))
    shapes = {name: tuple(shape) for name, shape in tf.train.list_variables(prefix)}
    heads = {name: shape for name, shape in shapes.items() if not name.startswith("bert/")}
    assert heads == spec_heads(kind)
    again = type(model).from_config(model.get_config())
    load_original_checkpoint(prefix, model=again)
    batch = {"race": race_batch(config), "squad_v1": squad_batch(config), "squad_v2": squad_batch(config)}.get(kind, task_inputs(config))
    expected, got = model(batch), again(batch)
    for key in expected:
        np.testing.assert_array_equal(expected[key], got[key], err_msg=key)


def test_pretraining_checkpoint_leaves_the_task_head_at_init(tmp_path):
    config = tiny_config()
    _, arrays = backbone_arrays(config, tmp_path)
    arrays["cls/seq_relationship/output_weights"] = np.zeros((2, H), "float32")
    prefix = write_tf1(arrays, str(tmp_path / "pre" / "model.ckpt"))
    model = AlbertClassifier(config, 2)
    initial = model.classifier_head.dense.kernel.numpy()
    with pytest.warns(UserWarning, match="output_weights"):
        _, report = load_original_checkpoint(prefix, model=model, return_report=True)
    assert report.missing_heads == ["output_weights", "output_bias"]
    assert report.ignored_unknown == ["cls/seq_relationship/output_weights"]
    np.testing.assert_array_equal(model.classifier_head.dense.kernel.numpy(), initial)


def test_head_shape_mismatch_and_bad_arguments_are_clear_errors(tmp_path):
    config, _, _, prefix = fine_tuned_checkpoint("classifier", tmp_path, classes=3)
    with pytest.raises(ValueError, match=r"output_weights.*\[3, 32\].*\[2, 32\]"):
        load_original_checkpoint(prefix, model=AlbertClassifier(config, 2))
    with pytest.raises(ValueError, match="differs"):
        load_original_checkpoint(prefix, tiny_config(hidden_size=64), model=AlbertClassifier(config, 3))
    with pytest.raises(ValueError, match="config"):
        load_original_checkpoint(prefix)
