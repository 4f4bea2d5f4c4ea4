import keras
import numpy as np
import pytest

from albert_tf import AlbertQuestionAnswering
from tests.conftest import tiny_config
from tests.models.task_data import perturb, squad_batch


def log_softmax(x):
    x = np.asarray(x, "float64")
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def test_v1_loss_is_half_the_start_and_end_cross_entropies_over_all_positions():
    config = tiny_config()
    model = AlbertQuestionAnswering(config, version=1)
    batch = squad_batch(config)
    out = model(batch)
    assert tuple(out["start_logits"].shape) == (4, 12) and out["end_logits"].dtype == "float32"
    rows = np.arange(4)
    start = -log_softmax(out["start_logits"])[rows, batch["start_positions"][:, 0]]
    end = -log_softmax(out["end_logits"])[rows, batch["end_positions"][:, 0]]
    np.testing.assert_allclose(float(model.compute_loss(x=batch, y_pred=out)), 0.5 * (start + end).mean(), rtol=1e-5)


def test_v2_masks_start_and_end_and_beams_from_the_top_starts():
    config = tiny_config()
    keras.utils.set_random_seed(2)
    model = AlbertQuestionAnswering(config, version=2, start_n_top=3, end_n_top=2)
    perturb(model, scale=0.1)
    batch = squad_batch(config)
    out = {k: np.asarray(v) for k, v in model(batch).items()}
    p_mask = batch["p_mask"].astype(bool)
    assert (out["start_log_probs"][p_mask] < -1e29).all()
    np.testing.assert_allclose(np.exp(out["start_log_probs"]).sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(out["start_top_index"], np.argsort(-out["start_log_probs"], -1)[:, :3])
    np.testing.assert_allclose(out["start_top_log_probs"], np.sort(out["start_log_probs"], -1)[:, ::-1][:, :3], rtol=1e-6)
    for row in range(4):
        assert not p_mask[row, out["end_top_index"][row]].any()
    # The beam's end distribution for each top start equals the teacher-forced one from that start.
    for k in range(3):
        forced = dict(batch, start_positions=out["start_top_index"][:, k])
        end = np.asarray(model(forced)["end_log_probs"])
        np.testing.assert_array_equal(out["end_top_index"][:, 2 * k : 2 * k + 2], np.argsort(-end, -1, kind="stable")[:, :2])
        np.testing.assert_allclose(out["end_top_log_probs"][:, 2 * k : 2 * k + 2], np.sort(end, -1)[:, ::-1][:, :2], rtol=1e-5)


def test_v2_training_is_teacher_forced_and_the_answer_classifier_has_no_bias():
    config = tiny_config()
    model = AlbertQuestionAnswering(config, version=2, dropout=0.0)
    head = model.squad_v2_head
    assert head.answer_dense_1.bias is None and head.start_dense.bias is not None
    shapes = sorted(tuple(v.shape) for v in head.weights)
    H = config.hidden_size
    assert shapes == sorted([(H, 1), (1,), (2 * H, H), (H,), (H,), (H,), (H, 1), (1,), (2 * H, H), (H,), (H, 1)])
    batch = squad_batch(config)
    train = model(batch, training=True)
    assert sorted(train) == ["cls_logits", "end_log_probs", "start_log_probs"]
    infer = model(batch)
    np.testing.assert_allclose(train["end_log_probs"], infer["end_log_probs"], atol=1e-6)
    # Loss = 1/2 (start + end NLL) + 1/2 sigmoid cross-entropy of cls_logits against is_impossible.
    rows = np.arange(4)
    nll = -np.asarray(train["start_log_probs"])[rows, batch["start_positions"][:, 0]]
    nll -= np.asarray(train["end_log_probs"])[rows, batch["end_positions"][:, 0]]
    z, t = np.asarray(train["cls_logits"], "float64"), batch["is_impossible"][:, 0]
    bce = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
    expected = 0.5 * nll.mean() + 0.5 * bce.mean()
    np.testing.assert_allclose(float(model.compute_loss(x=batch, y_pred=train)), expected, rtol=1e-5)
    with pytest.raises(KeyError, match="start_positions"):
        model.compute_loss(x=batch, y_pred=model({k: v for k, v in batch.items() if k != "start_positions"}))


def test_v2_needs_p_mask_and_versions_are_checked():
    config = tiny_config()
    batch = squad_batch(config)
    with pytest.raises(KeyError, match="p_mask"):
        AlbertQuestionAnswering(config, version=2)({k: v for k, v in batch.items() if k != "p_mask"})
    with pytest.raises(ValueError, match="version"):
        AlbertQuestionAnswering(config, version=3)
