"""Updates with a NaN/Inf loss or gradient are skipped, counted, reported, and stop a run that keeps
producing them (`OriginalUpdateOptimizer`'s guard, `NonFiniteGuard` in the engine)."""

import json
import logging
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from albert_tf.errors import UserInputError
from albert_tf.training.callbacks import NonFiniteTrainingError
from albert_tf.training.optimizers import AdamWeightDecayOptimizer, LAMBOptimizer
from albert_tf.training.pretraining import run_pretraining
from tests.conftest import tiny_config
from tests.training.test_pretraining_run import make_dataset_fn, options_for

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("optimizer_class", [LAMBOptimizer, AdamWeightDecayOptimizer])
@pytest.mark.parametrize("clip", [1.0, None])
def test_a_nonfinite_gradient_changes_no_variable_and_no_slot(optimizer_class, clip):
    variable = keras.Variable([1.0, -2.0])
    optimizer = optimizer_class(0.1, weight_decay_rate=0.01, global_clipnorm=clip)
    optimizer.build([variable])

    @tf.function(jit_compile=True)
    def step(gradient):
        optimizer.apply([gradient], [variable])

    step(tf.constant([0.5, 0.25]))
    before = [v.numpy().copy() for v in (variable, optimizer._momentums[0], optimizer._velocities[0])]
    step(tf.constant([np.nan, 1.0]))
    step(tf.constant([np.inf, 1.0]))
    after = [v.numpy() for v in (variable, optimizer._momentums[0], optimizer._velocities[0])]
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
    assert int(optimizer.nonfinite_updates_skipped.numpy()) == 2
    assert int(optimizer.consecutive_nonfinite_updates.numpy()) == 2
    # A skipped update still advances the schedule's counter.
    assert int(optimizer.iterations.numpy()) == 3
    step(tf.constant([0.5, 0.25]))
    assert not np.array_equal(variable.numpy(), before[0])
    assert int(optimizer.consecutive_nonfinite_updates.numpy()) == 0
    assert int(optimizer.nonfinite_updates_skipped.numpy()) == 2


def test_a_nonfinite_loss_with_finite_gradients_is_skipped_too():
    def loss(y_true, y_pred):
        # The second column feeds the loss but no weight: an Inf there leaves every gradient finite.
        return tf.reduce_mean(tf.square(y_pred - y_true[:, :1])) + tf.stop_gradient(tf.reduce_mean(y_true[:, 1:]))

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(LAMBOptimizer(1e-2), loss)
    y = np.zeros((6, 2), np.float32)
    y[2:4, 1] = np.inf  # the second batch
    model.fit(np.ones((6, 2), np.float32), y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    assert int(model.optimizer.nonfinite_updates_skipped.numpy()) == 1
    assert int(model.optimizer.iterations.numpy()) == 3
    assert all(np.isfinite(w.numpy()).all() for w in model.weights)


def test_the_counters_are_checkpointed_by_name(tmp_path):
    variable = keras.Variable([1.0])
    optimizer = LAMBOptimizer(0.1)
    optimizer.build([variable])
    optimizer.apply([tf.constant([np.nan])], [variable])
    path = tf.train.Checkpoint(optimizer=optimizer).save(str(tmp_path / "c"))
    restored = LAMBOptimizer(0.1)
    restored.build([keras.Variable([1.0])])
    tf.train.Checkpoint(optimizer=restored).restore(path).assert_existing_objects_matched()
    assert int(restored.nonfinite_updates_skipped.numpy()) == 1
    # By attribute name, so the slots of checkpoints written before the counters keep their positions.
    names = [name for name, _ in tf.train.list_variables(path)]
    assert "optimizer/_variables/2/.ATTRIBUTES/VARIABLE_VALUE" in names  # adam_m, as before
    assert any("_nonfinite_skipped" in name for name in names)


def _poisoned_dataset_fn(config, poisoned_batch, batch_size=8):
    """`make_dataset_fn`'s data with a NaN MLM weight in every row of batch `poisoned_batch` (the loss,
    and so every gradient, of that step is NaN)."""
    base = make_dataset_fn(config)

    def dataset_fn(batch_size):
        def poison(index, batch):
            weights = batch["masked_lm_weights"]
            nan = tf.fill(tf.shape(weights), float("nan"))
            batch = dict(batch, masked_lm_weights=tf.where(index == poisoned_batch, nan, weights))
            return batch

        return base(batch_size).enumerate().map(poison)

    return dataset_fn


def test_a_nan_batch_is_skipped_counted_and_reported(tmp_path, caplog):
    config = tiny_config()
    options = options_for(tmp_path, iterations_per_loop=1, num_train_steps=6)
    with caplog.at_level(logging.WARNING, logger="albert_tf.training.callbacks"):
        model, results = run_pretraining(config, options, _poisoned_dataset_fn(config, poisoned_batch=3))
    assert all(np.isfinite(w.numpy()).all() for w in model.weights)
    assert all(np.isfinite(v.numpy()).all() for v in model.optimizer.variables)
    assert int(model.optimizer.nonfinite_updates_skipped.numpy()) == 1
    assert results["nonfinite_steps_skipped"] == 1
    with open(tmp_path / "results.json") as f:
        assert json.load(f)["nonfinite_steps_skipped"] == 1
    assert any("step 4: 1 update(s) skipped" in r.getMessage() for r in caplog.records), caplog.text


def test_an_exploding_learning_rate_stops_after_the_consecutive_bad_steps(tmp_path):
    config = tiny_config()
    options = options_for(tmp_path, learning_rate=1e30, num_warmup_steps=0, num_train_steps=12,
                          save_checkpoints_steps=1, iterations_per_loop=1, max_consecutive_bad_steps=2)
    with pytest.raises(NonFiniteTrainingError, match=r"--max_consecutive_bad_steps 2.*--learning_rate.*came back "
                                                     r"after going back to .*ckpt-\d+ once") as caught:
        run_pretraining(config, options, make_dataset_fn(config))
    assert isinstance(caught.value, UserInputError)  # exit status 2 from the console scripts
    message = str(caught.value)
    assert "\n" not in message
    with open(tmp_path / "results.json") as f:
        results = json.load(f)
    stop = results["nonfinite_stop"]["step"]
    assert results["nonfinite_steps_skipped"] >= 2
    # The step that tripped the guard saved nothing: the newest checkpoint is from before it.
    latest = tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))
    assert int(latest.rsplit("-", 1)[-1]) == stop - 1
    assert f"step {stop}:" in message and latest in message
    assert results["nonfinite_restore"]["restored"] == latest  # the replay met the same fault, at the same step


def test_a_transient_fault_is_replayed_once_from_the_last_checkpoint(tmp_path, caplog):
    """NaN batches that a replay does not meet again (a flipped bit, a nondeterministic kernel): the run
    goes back to its last checkpoint, continues with every setting unchanged, and finishes."""
    config = tiny_config()
    base, calls = make_dataset_fn(config), []

    def dataset_fn(batch_size):
        calls.append(batch_size)
        faulty = len(calls) == 1  # the first pass only: the replay reads a new pipeline

        def poison(index, batch):
            weights = batch["masked_lm_weights"]
            bad = tf.logical_and(faulty, tf.logical_or(index == 3, index == 4))
            return dict(batch, masked_lm_weights=tf.where(bad, tf.fill(tf.shape(weights), float("nan")), weights))

        return base(batch_size).enumerate().map(poison)

    options = options_for(tmp_path, iterations_per_loop=1, num_train_steps=8, max_consecutive_bad_steps=2)
    with caplog.at_level(logging.WARNING, logger="albert_tf.training.engine"):
        model, results = run_pretraining(config, options, dataset_fn)
    assert results["nonfinite_restore"] == {"step": 5, "restored": str(tmp_path / "checkpoints" / "ckpt-3")}
    assert results["train_batches"] == 8 and all(np.isfinite(w.numpy()).all() for w in model.weights)
    assert any("Restoring" in r.getMessage() and "ckpt-3" in r.getMessage() for r in caplog.records), caplog.text
    steps = [line.split(",")[0] for line in (tmp_path / "train_metrics.csv").read_text().splitlines()[1:]]
    assert steps == ["3", "6", "8"]  # the replayed interval's row once


def test_the_stop_is_a_one_line_error_with_exit_status_2(capsys):
    from tools.flags import cli_entry_point

    @cli_entry_point("albert-example")
    def stopped(argv):
        raise NonFiniteTrainingError("step 5: 3 updates in a row skipped (--max_consecutive_bad_steps 3)")

    assert stopped([]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "--max_consecutive_bad_steps 3" in err


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np
    from albert_tf.training import create_optimizer

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    out = {}
    for accumulation in (None, 2):
        with strategy.scope():
            keras.utils.set_random_seed(0)
            model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
            model.compile(create_optimizer("lamb", 1e-2, 20, 0, gradient_accumulation_steps=accumulation), "mse")
        x = np.ones((8, 3), np.float32)
        x[5, 0] = np.nan  # one row of the first global batch: only the second replica sees it
        model.fit(x, np.zeros((8, 1), np.float32), batch_size=8 // (accumulation or 1), epochs=1, verbose=0)
        kernel = model.layers[0].kernel
        out[str(accumulation)] = {
            "replica_kernels": [v.numpy().tolist() for v in kernel.value.values],
            "finite": bool(all(np.isfinite(v.numpy()).all() for v in model.optimizer.variables)),
            "skipped": int(model.optimizer.nonfinite_updates_skipped.numpy()),
            "iterations": int(model.optimizer.iterations.numpy()),
        }
    print(json.dumps(out))
    """
)


def test_under_mirrored_strategy_every_replica_skips_the_same_update():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    completed = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT], capture_output=True, text=True,
                               env=env, cwd=REPO_ROOT, timeout=300)
    assert completed.returncode == 0, completed.stderr[-4000:]
    out = json.loads(completed.stdout.strip().splitlines()[-1])
    for accumulation, run in out.items():
        assert run["finite"], accumulation
        assert run["skipped"] == 1, (accumulation, run)
        assert run["iterations"] == 1, (accumulation, run)
        first, second = run["replica_kernels"]
        assert first == second, accumulation
