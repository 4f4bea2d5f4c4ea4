"""The pretraining run: checkpoints, loss falling, init from checkpoints (an exact resume after a kill at
every point: tests/tools/test_resume_after_kill.py)."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from albert_tf.checkpoints import save_original_checkpoint
from albert_tf.training.pretraining import PretrainingOptions, run_pretraining
from tests.conftest import random_batch, tiny_config


def make_dataset_fn(config, examples=64, seed=0, length=16, predictions=4):
    data = random_batch(config, batch=examples, length=length, predictions=predictions, seed=seed, pad=(0,) * examples)
    # A learnable signal: the SOP label is whether the first token is even, the MLM target a function
    # of the token before the masked position.
    data["next_sentence_labels"] = (data["input_ids"][:, :1] % 2).astype("int32")
    before = np.take_along_axis(data["input_ids"], np.maximum(data["masked_lm_positions"] - 1, 0), axis=1)
    data["masked_lm_ids"] = ((before * 7) % 50).astype("int32")

    def dataset_fn(batch_size):
        return tf.data.Dataset.from_tensor_slices(data).repeat().batch(batch_size, drop_remainder=True)

    return dataset_fn


def options_for(tmp_path, **overrides):
    values = dict(
        output_dir=str(tmp_path),
        train_batch_size=8,
        eval_batch_size=8,
        max_seq_length=16,
        max_predictions_per_seq=4,
        optimizer="lamb",
        learning_rate=5e-3,
        num_train_steps=8,
        num_warmup_steps=2,
        save_checkpoints_steps=3,
        iterations_per_loop=3,
        max_eval_steps=2,
        strategy="one_device",
        precision="fp32",
        verbose=0,
    )
    values.update(overrides)
    return PretrainingOptions(**values)


def test_loss_falls_and_outputs_are_written(tmp_path):
    config = tiny_config()
    options = options_for(tmp_path, num_train_steps=100, num_warmup_steps=10, save_checkpoints_steps=20,
                          iterations_per_loop=10, learning_rate=2e-2, jit_compile=True)
    model, results = run_pretraining(config, options, make_dataset_fn(config), eval_dataset_fn=make_dataset_fn(config),
                                     do_eval=True)
    rows = open(tmp_path / "train_metrics.csv").read().splitlines()
    header = rows[0].split(",")
    first = dict(zip(header, rows[1].split(",")))
    last = dict(zip(header, rows[-1].split(",")))
    # Each row averages one 20-step checkpoint interval.
    assert float(last["loss"]) < 0.85 * float(first["loss"]), (first, last)
    assert float(last["masked_lm_accuracy"]) > float(first["masked_lm_accuracy"])
    assert results["eval"]["global_step"] == 100
    assert {"masked_lm_accuracy", "sentence_order_accuracy", "masked_lm_loss", "sentence_order_loss"} <= set(results["eval"])
    assert "masked_lm_accuracy = " in open(tmp_path / "eval_results.txt").read()
    saved = json.load(open(tmp_path / "results.json"))
    assert saved["train_batches"] == 100
    # LAMB at 2e-2 for a batch of 8: the departure from the recipe is kept beside the results.
    assert [w.split(":")[0] for w in saved["recipe_warnings"]] == ["--learning_rate 0.02 with LAMB at --train_batch_size 8"]
    assert os.path.exists(tmp_path / "model.keras")
    assert os.listdir(tmp_path / "tensorboard")
    kept = [n for n in os.listdir(tmp_path / "checkpoints") if n.endswith(".index")]
    assert sorted(kept) == ["ckpt-100.index", "ckpt-20.index", "ckpt-40.index", "ckpt-60.index", "ckpt-80.index"]


def test_init_checkpoint_from_an_original_tf1_checkpoint(tmp_path):
    config = tiny_config()
    keras.utils.set_random_seed(3)
    from albert_tf import AlbertPretrainer

    source = AlbertPretrainer(config)
    prefix = save_original_checkpoint(source, str(tmp_path / "orig" / "model.ckpt"))
    options = options_for(tmp_path / "run", init_checkpoint=prefix, learning_rate=0.0, num_train_steps=1,
                          save_checkpoints_steps=1, iterations_per_loop=1)
    model, results = run_pretraining(config, options, make_dataset_fn(config))
    assert "original checkpoint" in results["initialised_from"]
    for a, b in zip(source.weights, model.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=0, err_msg=a.path)


def test_bad_options_are_clear_errors(tmp_path):
    config = tiny_config()
    with pytest.raises(ValueError, match="--gradient_accumulation_steps"):
        run_pretraining(config, options_for(tmp_path, gradient_accumulation_steps=3), make_dataset_fn(config))
    with pytest.raises(ValueError, match="--precision"):
        run_pretraining(config, options_for(tmp_path, precision="fp8"), make_dataset_fn(config))
    with pytest.raises(FileNotFoundError, match="--init_checkpoint"):
        run_pretraining(config, options_for(tmp_path, init_checkpoint=str(tmp_path / "missing")), make_dataset_fn(config))


def test_gradient_accumulation_gives_the_update_of_the_larger_batch(tmp_path):
    config = tiny_config()
    dataset_fn = make_dataset_fn(config)
    common = dict(num_train_steps=3, num_warmup_steps=1, save_checkpoints_steps=100, iterations_per_loop=1)
    full, _ = run_pretraining(config, options_for(tmp_path / "full", **common), dataset_fn)
    accumulated, results = run_pretraining(
        config, options_for(tmp_path / "accumulated", gradient_accumulation_steps=2, **common), dataset_fn
    )
    assert results["train_batches"] == 6
    for a, b in zip(full.weights, accumulated.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5, err_msg=a.path)


@pytest.mark.parametrize("precision, policy", [("bf16", "mixed_bfloat16"), ("fp16", "mixed_float16")])
def test_mixed_precision_runs(tmp_path, precision, policy):
    config = tiny_config()
    model, results = run_pretraining(
        config, options_for(tmp_path, precision=precision, num_train_steps=4, save_checkpoints_steps=2, iterations_per_loop=2),
        make_dataset_fn(config),
    )
    assert results["precision"] == policy == model.dtype_policy.name
    assert np.isfinite(results["train"]["loss"])
    assert all(v.dtype == "float32" for v in model.trainable_weights)
    if precision == "fp16":
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert keras.mixed_precision.global_policy().name == "float32", "a run must not change the global policy"


def test_held_out_evaluation_every_n_steps_and_loss_spikes(tmp_path, caplog):
    config = tiny_config()
    # A spike factor this small calls every execution after the first five a spike: the wiring is the point.
    options = options_for(tmp_path, num_train_steps=8, save_checkpoints_steps=2, iterations_per_loop=1,
                          eval_every_steps=4, loss_spike_factor=1e-6)
    with caplog.at_level("WARNING", logger="albert_tf.training.callbacks"):
        _, results = run_pretraining(config, options, make_dataset_fn(config), eval_dataset_fn=make_dataset_fn(config, seed=1),
                                     loss_spike_hint=lambda first, last: f"locate --steps {first}-{last}")
    assert [spike["steps"] for spike in results["loss_spikes"]] == [[6, 6], [7, 7], [8, 8]]
    assert "loss spike at step 6" in caplog.text and "its batches: locate --steps 6-6" in caplog.text
    assert json.load(open(tmp_path / "results.json"))["loss_spikes"] == results["loss_spikes"]
    history = json.load(open(tmp_path / "eval_history.json"))
    assert [entry["global_step"] for entry in history] == [4, 8]
    assert all({"masked_lm_accuracy", "sentence_order_accuracy", "loss"} <= set(entry) for entry in history)
    logged = {}
    for path in (tmp_path / "tensorboard" / "eval").iterdir():
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                logged.setdefault(value.tag, []).append(event.step)
    assert logged["masked_lm_accuracy"] == [4, 8] and logged["loss"] == [4, 8]
    best = max(history, key=lambda e: (e["masked_lm_accuracy"], -e["global_step"]))["global_step"]
    assert tf.train.latest_checkpoint(str(tmp_path / "best")).endswith(f"model.ckpt-best-{best}")


@pytest.mark.parametrize("every, message", [(3, "--eval_every_steps 3 must be a multiple of --save_checkpoints_steps 2"),
                                            (-2, "--eval_every_steps must be >= 0")])
def test_eval_every_steps_off_the_checkpoints_is_refused(tmp_path, every, message):
    with pytest.raises(ValueError, match=message):
        options_for(tmp_path, save_checkpoints_steps=2, eval_every_steps=every).validate()


def test_eval_every_steps_needs_held_out_data(tmp_path):
    config = tiny_config()
    with pytest.raises(ValueError, match="needs held-out data"):
        run_pretraining(config, options_for(tmp_path, save_checkpoints_steps=2, eval_every_steps=2), make_dataset_fn(config))
