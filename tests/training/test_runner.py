"""Init and resume that mean what they say, and logs that tell the truth (albert_tf/training/runner.py)."""

import csv
import glob
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from albert_tf import AlbertPretrainer
from albert_tf.errors import UserInputError
from albert_tf.training.pretraining import run_pretraining
from albert_tf.training.runner import TrainingCheckpoint, model_weights, plan_fit_calls
from tests.conftest import tiny_config
from tests.training.test_pretraining_run import make_dataset_fn, options_for


class _Snapshot(keras.callbacks.Callback):
    """Remembers the weights and the optimizer step when training starts."""

    def on_train_begin(self, logs=None):
        if not hasattr(self, "weights"):
            self.weights = {w.path: w.numpy().copy() for w in self.model.weights}
            self.iterations = int(self.model.optimizer.iterations.numpy())


def test_a_checkpoint_restores_every_weight_into_a_fresh_uncompiled_model(tmp_path):
    config = tiny_config(hidden_dropout_prob=0.1)
    keras.utils.set_random_seed(1)
    source = AlbertPretrainer(config)
    source.compile(optimizer=keras.optimizers.Adam())
    source.optimizer.build(source.trainable_variables)
    saved = TrainingCheckpoint(source, source.optimizer, str(tmp_path), str(tmp_path), max_to_keep=1)
    saved.save()

    keras.utils.set_random_seed(2)
    fresh = AlbertPretrainer(config)
    before = {w.path: w.numpy().copy() for w in fresh.weights}
    restored = tf.train.Checkpoint(model_weights=model_weights(fresh))
    restored.restore(tf.train.latest_checkpoint(str(tmp_path))).expect_partial().assert_existing_objects_matched()
    assert len(fresh.weights) == len(source.weights) > 20
    for a, b in zip(source.weights, fresh.weights):
        assert a.path == b.path
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    # The test is not vacuous: the fresh model's own initialisation differed from the source's.
    encoder = [p for p in before if "encoder" in p]
    assert encoder and all(not np.array_equal(before[p], dict((w.path, w.numpy()) for w in source.weights)[p])
                           for p in encoder if before[p].std() > 0)


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    """A 4-step run, so a 2-step run initialised from it would end before it starts if the step came too."""
    directory = tmp_path_factory.mktemp("source")
    config = tiny_config()
    model, _ = run_pretraining(config, options_for(directory, num_train_steps=4, save_checkpoints_steps=4,
                                                   iterations_per_loop=4), make_dataset_fn(config))
    model.save_weights(str(directory / "only.weights.h5"))
    return config, directory, {w.path: w.numpy() for w in model.weights}


@pytest.mark.parametrize("source", ["checkpoint", "output_dir", "keras", "weights_h5"])
def test_init_checkpoint_loads_weights_only_from_every_format(source_run, tmp_path, source):
    config, directory, source_weights = source_run
    path = {"checkpoint": str(directory / "checkpoints" / "ckpt-4"), "output_dir": str(directory),
            "keras": str(directory / "model.keras"), "weights_h5": str(directory / "only.weights.h5")}[source]
    snapshot = _Snapshot()
    model, results = run_pretraining(
        config, options_for(tmp_path, init_checkpoint=path, num_train_steps=2, num_warmup_steps=0,
                            save_checkpoints_steps=2, iterations_per_loop=1),
        make_dataset_fn(config), callbacks=[snapshot],
    )
    assert results["initialised_from"]
    assert snapshot.iterations == 0, "the source run's step came along"
    assert set(snapshot.weights) == set(source_weights)
    for name, value in source_weights.items():
        np.testing.assert_array_equal(snapshot.weights[name], value, err_msg=name)
    assert int(model.optimizer.iterations.numpy()) == 2
    changed = [w.path for w in model.trainable_weights if not np.allclose(w.numpy(), source_weights[w.path])]
    assert any("encoder" in name for name in changed), "the init run trained nothing"


def test_resume_refuses_another_model_shape_naming_both_values(tmp_path):
    config = tiny_config()
    run_pretraining(config, options_for(tmp_path, num_train_steps=2, save_checkpoints_steps=2), make_dataset_fn(config))
    with pytest.raises(UserInputError, match=r"num_hidden_layers=2.*this run has.*num_hidden_layers=3"):
        run_pretraining(tiny_config(num_hidden_layers=3), options_for(tmp_path, num_train_steps=4),
                        make_dataset_fn(config))
    with pytest.raises(UserInputError, match=r"max_seq_length=16.*this run has max_seq_length=12"):
        run_pretraining(config, options_for(tmp_path, num_train_steps=4, max_seq_length=12), make_dataset_fn(config))
    stored = json.loads((tmp_path / "run_config.json").read_text())
    assert stored["albert_config"]["num_hidden_layers"] == 2


def test_num_train_steps_at_or_below_the_checkpoint_says_so_and_keeps_results(tmp_path):
    config = tiny_config()
    run_pretraining(config, options_for(tmp_path, num_train_steps=4, save_checkpoints_steps=2), make_dataset_fn(config))
    before = json.loads((tmp_path / "results.json").read_text())
    _, results = run_pretraining(config, options_for(tmp_path, num_train_steps=3), make_dataset_fn(config))
    assert "nothing to train" in results["note"] and "--num_train_steps 3" in results["note"]
    after = json.loads((tmp_path / "results.json").read_text())
    assert after["train"] == before["train"] and after["train_batches"] == 4
    assert after["resumed_from"].endswith("ckpt-4")


def _scalar_steps(log_dir, tag):
    steps = []
    for path in glob.glob(os.path.join(log_dir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            steps += [event.step for value in event.summary.value if value.tag == tag]
    return sorted(steps)


def test_tensorboard_every_log_step_and_csv_appended_across_fit_calls_and_resume(tmp_path):
    config = tiny_config()
    # 7 steps, a checkpoint every 3: fit calls of 2 x 3 steps and 1; iterations_per_loop is larger.
    common = dict(save_checkpoints_steps=3, iterations_per_loop=1000, log_every_steps=2)
    run_pretraining(config, options_for(tmp_path, num_train_steps=7, **common), make_dataset_fn(config))
    run_pretraining(config, options_for(tmp_path, num_train_steps=10, **common), make_dataset_fn(config))
    with open(tmp_path / "train_metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [3, 6, 7, 9, 10]
    assert all(float(r["loss"]) > 0 for r in rows) and "masked_lm_accuracy" in rows[0]
    log_dir = str(tmp_path / "tensorboard" / "train")
    assert _scalar_steps(log_dir, "loss") == [2, 3, 4, 6, 7, 8, 9, 10]
    assert _scalar_steps(log_dir, "learning_rate") == [2, 3, 4, 6, 7, 8, 9, 10]


def test_a_truncated_checkpoint_is_reported_and_the_previous_one_used(tmp_path, caplog):
    config = tiny_config()
    run_pretraining(config, options_for(tmp_path, num_train_steps=4, save_checkpoints_steps=2), make_dataset_fn(config))
    data = glob.glob(str(tmp_path / "checkpoints" / "ckpt-4.data-*"))[0]
    with open(data, "r+b") as f:
        f.truncate(os.path.getsize(data) // 2)
    with caplog.at_level("WARNING"):
        _, results = run_pretraining(config, options_for(tmp_path, num_train_steps=4, save_checkpoints_steps=2),
                                     make_dataset_fn(config))
    assert results["resumed_from"].endswith("ckpt-2")
    assert "ckpt-4" in caplog.text and "previous" in caplog.text
    assert results["train_batches"] == 4


def test_plan_fit_calls_end_executions_on_every_checkpoint():
    assert plan_fit_calls(0, 8, 3, 3) == [
        plan_fit_calls(0, 6, 3, 3)[0], plan_fit_calls(6, 8, 3, 3)[0]]
    for done, total, every, spe in [(0, 23, 4, 4), (5, 23, 4, 2), (7, 100, 10, 5), (0, 6, 6, 3)]:
        calls = plan_fit_calls(done, total, every, spe)
        assert calls[0].start == done and calls[-1].end == total
        for call, following in zip(calls, calls[1:]):
            assert call.end == following.start
        for call in calls:
            assert call.start % call.steps_per_execution == 0 and spe % call.steps_per_execution == 0
            assert call.steps_per_epoch % call.steps_per_execution == 0
            assert call.end % every == 0 or call.end == total
