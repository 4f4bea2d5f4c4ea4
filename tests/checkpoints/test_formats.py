"""One answer to "what is at this path" (albert_tf/checkpoints/formats.py)."""

import os

import tensorflow as tf

from albert_tf.checkpoints import formats
from albert_tf.checkpoints.formats import checkpoint_format


def _touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "wb").close()


def _tf_checkpoint(prefix, **variables):
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    return tf.train.Checkpoint(**variables).write(prefix)


def _original_checkpoint(prefix):
    # The original release's names: plain TF1 variable names, as `tf.compat.v1.train.Saver` writes them.
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    with tf.Graph().as_default():
        tf.compat.v1.get_variable("bert/embeddings/word_embeddings", initializer=tf.zeros([2, 2]))
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            return saver.save(session, prefix)


def test_every_kind_is_told_apart(tmp_path):
    _touch(str(tmp_path / "m.keras"))
    _touch(str(tmp_path / "w.weights.h5"))
    for name in ("config.json", "model.safetensors"):
        _touch(str(tmp_path / "hf" / name))
    for name in ("config.json", "model.weights.h5"):
        _touch(str(tmp_path / "hub" / name))
    _touch(str(tmp_path / "run" / "model.keras"))
    ours = _tf_checkpoint(str(tmp_path / "ours" / "checkpoints" / "ckpt-4"), model_weights={"w": tf.Variable(1.0)})
    other = _tf_checkpoint(str(tmp_path / "other" / "ckpt"), step=tf.Variable(1))
    original = _original_checkpoint(str(tmp_path / "original" / "model.ckpt-best"))
    expected = {
        str(tmp_path / "m.keras"): formats.KERAS,
        str(tmp_path / "w.weights.h5"): formats.WEIGHTS_H5,
        str(tmp_path / "hf"): formats.HUGGINGFACE,
        str(tmp_path / "hub"): formats.KERAS_HUB,
        str(tmp_path / "run"): formats.KERAS,
        ours: formats.ALBERT_TF,
        ours + ".index": formats.ALBERT_TF,
        other: formats.TF_CHECKPOINT,
        original: formats.ORIGINAL,
        str(tmp_path / "missing"): formats.MISSING,
        str(tmp_path / "missing.keras"): formats.MISSING,
        str(tmp_path / "hf" / "config.json"): formats.UNREADABLE,
    }
    for path, kind in expected.items():
        assert checkpoint_format(path).kind == kind, path
    assert checkpoint_format(str(tmp_path / "run")).path == str(tmp_path / "run" / "model.keras")
    assert set(checkpoint_format(original).names) >= {"bert/embeddings/word_embeddings"}


def test_a_run_folder_with_checkpoints_is_its_newest_checkpoint(tmp_path):
    checkpoint = tf.train.Checkpoint(model_weights={"w": tf.Variable(1.0)})
    manager = tf.train.CheckpointManager(checkpoint, str(tmp_path / "checkpoints"), max_to_keep=2)
    manager.save(checkpoint_number=2)
    newest = manager.save(checkpoint_number=4)
    found = checkpoint_format(str(tmp_path))
    assert (found.kind, found.path) == (formats.ALBERT_TF, newest)


def test_a_truncated_checkpoint_is_unreadable_with_a_reason(tmp_path):
    prefix = _tf_checkpoint(str(tmp_path / "ckpt"), model_weights={"w": tf.Variable(1.0)})
    with open(prefix + ".index", "r+b") as f:
        f.truncate(8)
    found = checkpoint_format(prefix)
    assert found.kind == formats.UNREADABLE and found.reason
