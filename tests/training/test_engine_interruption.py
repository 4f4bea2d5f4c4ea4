"""A signal outside `fit` (a resumed checkpoint's evaluation, the final evaluation, the export) stops the
run at once, and results.json still says the run was preempted, by which signal, with which exit status;
a run killed while writing its first checkpoint starts again without a duplicate row."""

import json

import keras
import pytest
import tensorflow as tf

from albert_tf.training.engine import RunSpec, TrainingEngine
from tools.flags import Terminated  # what a console script raises on SIGTERM


def _spec(output_dir, total_steps=2):
    def build(dtype):
        inputs = keras.Input((2,), name="x")
        model = keras.Model(inputs, keras.layers.Dense(1, dtype=dtype)(inputs))
        model.compile(loss="mse")
        return model

    def data(batch_size):
        return tf.data.Dataset.from_tensors((tf.ones([2]), tf.ones([1]))).repeat().batch(batch_size)

    return RunSpec(output_dir=str(output_dir), settings={"kind": "test"}, build_model=build,
                   make_optimizer=lambda: keras.optimizers.SGD(0.1), train_dataset_fn=data, batch_size=4,
                   total_steps=total_steps, save_every=2, keep_checkpoints=1, precision="fp32", verbose=0)


@pytest.mark.parametrize("error, signal_name, status", [(Terminated, "SIGTERM", 143), (KeyboardInterrupt, "SIGINT", 130)])
def test_a_signal_after_training_is_recorded_as_preempted(tmp_path, error, signal_name, status):
    with pytest.raises(error):
        with TrainingEngine(_spec(tmp_path), tf.distribute.OneDeviceStrategy("/cpu:0")) as engine:
            engine.start()
            engine.train()
            raise error()  # what the SIGTERM handler raises during the final evaluation or export
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["preempted"] == {"signal": signal_name, "exit_code": status, "step": 2, "outside_training": True}


def test_a_kill_during_the_first_checkpoint_leaves_no_duplicate_row(tmp_path):
    # Found by a user-style rerun: SIGKILL once ckpt-20.index existed but before the checkpoint state file
    # was written, so the rerun started from step 0 and appended a second row for step 20.
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    for output_dir in (straight, killed):
        with TrainingEngine(_spec(output_dir, total_steps=4), tf.distribute.OneDeviceStrategy("/cpu:0")) as engine:
            engine.start()
            engine.train()
    # What the kill leaves: the first interval's row and checkpoint files, but no state file naming them.
    rows = (killed / "train_metrics.csv").read_text().splitlines()
    (killed / "train_metrics.csv").write_text("\n".join(rows[:2]) + "\n")
    for path in (killed / "checkpoints").iterdir():
        path.unlink()
    (killed / "checkpoints" / "ckpt-2.index").write_bytes(b"")
    with TrainingEngine(_spec(killed, total_steps=4), tf.distribute.OneDeviceStrategy("/cpu:0")) as engine:
        engine.start()
        engine.train()
    assert (killed / "train_metrics.csv").read_text() == (straight / "train_metrics.csv").read_text()
