"""Two `albert-pretrain` workers on 127.0.0.1 (MultiWorkerMirroredStrategy through TF_CONFIG): both finish,
follow the one-process loss trajectory on the same global batches, only the chief writes, and a run with
a worker killed resumes from the last checkpoint once the workers are restarted."""

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.tools.test_pretrain_cli import ROOT, final_weights, records  # noqa: F401  (records: a fixture)

STEPS = 8


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def command(records, output_dir, *extra):
    # No dropout: each worker draws masks for its half batch, which one process cannot reproduce.
    return [
        sys.executable, "-m", "tools.pretrain",
        f"--albert_config_file={records}/albert_config_nodrop.json", f"--input_file={records}/train-*.tfrecord",
        f"--output_dir={output_dir}", "--train_batch_size=8", "--max_seq_length=32", "--max_predictions_per_seq=5",
        f"--num_train_steps={STEPS}", "--num_warmup_steps=2", "--save_checkpoints_steps=4", "--iterations_per_loop=2",
        "--log_every_steps=2", "--precision=fp32", "--verbose=0", *extra,
    ]


def worker_env(ports, index, temp_dir):
    tf_config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
    return dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3", TF_CONFIG=json.dumps(tf_config),
                TMPDIR=str(temp_dir))


def start_workers(records, output_dir, temp_dir, *extra):
    ports = free_ports(2)
    return [
        subprocess.Popen(command(records, output_dir, "--strategy=multi_worker", *extra), cwd=ROOT,
                         env=worker_env(ports, index, temp_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
        for index in range(2)
    ]


def finish(processes, timeout=600):
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=timeout)
        outputs.append((process.returncode, out, err))
    return outputs


def loss_by_step(output_dir):
    losses = {}
    for path in glob.glob(os.path.join(output_dir, "tensorboard", "train", "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == "loss":
                    losses[event.step] = float(tf.make_ndarray(value.tensor))
    return losses


@pytest.fixture(scope="module")
def nodrop(records, tmp_path_factory):
    """The shared records beside a config without dropout, in a folder of this module's own."""
    folder = tmp_path_factory.mktemp("nodrop")
    for path in records.glob("train-*"):
        shutil.copy(path, folder)
    config = json.loads((records / "albert_config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "albert_config_nodrop.json").write_text(json.dumps(config))
    return folder


def test_two_workers_finish_follow_one_process_and_only_the_chief_writes(nodrop, tmp_path):
    one = tmp_path / "one"
    # The reference run's SavedModel is never read: not exported.
    done = subprocess.run(command(nodrop, one, "--strategy=one_device", "--export_dir=none"), cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3"), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    two = tmp_path / "two"
    temp_dir = tmp_path / "tmp"
    temp_dir.mkdir()
    for code, out, err in finish(start_workers(nodrop, two, temp_dir, "--shard_input_by=record")):
        assert code == 0, err[-4000:]
        assert "albert-pretrain finished" in out
    results = json.loads((two / "results.json").read_text())
    assert results["replicas"] == 2 and results["train_batches"] == STEPS

    one_loss, two_loss = loss_by_step(one), loss_by_step(two)
    assert sorted(one_loss) == sorted(two_loss) == list(range(2, STEPS + 1, 2))
    for step in one_loss:
        assert abs(one_loss[step] - two_loss[step]) <= 1e-5, (step, one_loss, two_loss)
    for a, b in zip(final_weights(one), final_weights(two)):
        np.testing.assert_allclose(a, b, atol=1e-5)

    # Only the chief wrote into --output_dir: one event file, one CSV with one row per checkpoint;
    # the other worker's temporary directory is gone.
    assert len(glob.glob(str(two / "tensorboard" / "train" / "events.out.tfevents.*"))) == 1
    assert [r.split(",")[0] for r in (two / "train_metrics.csv").read_text().splitlines()] == ["step", "4", "8"]
    assert sorted(os.listdir(two / "checkpoints")) == sorted(os.listdir(one / "checkpoints"))
    assert (two / "saved_model" / "saved_model.pb").exists()
    assert not glob.glob(str(temp_dir / "albert_tf-*"))


def test_file_sharding_needs_a_file_per_worker(nodrop, tmp_path):
    # Two shards for two workers is fine; one file for two workers is a clear error on both.
    temp_dir = tmp_path / "tmp"
    temp_dir.mkdir()
    single = [p for p in sorted(glob.glob(str(nodrop / "train-*.tfrecord")))][0]
    outputs = finish(start_workers(nodrop, tmp_path / "out", temp_dir, f"--input_file={single}"))
    for code, _, err in outputs:
        assert code == 2, err[-3000:]
        assert "1 input file(s) for 2 input pipelines" in err and "Traceback" not in err


def test_a_killed_worker_resumes_from_the_last_checkpoint_once_restarted(nodrop, tmp_path):
    output_dir = tmp_path / "run"
    temp_dir = tmp_path / "tmp"
    temp_dir.mkdir()
    workers = start_workers(nodrop, output_dir, temp_dir, "--iterations_per_loop=1", "--export_dir=none")
    state = output_dir / "checkpoints" / "checkpoint"
    deadline = time.time() + 400
    while time.time() < deadline and all(w.poll() is None for w in workers):
        if state.exists() and '"ckpt-4"' in state.read_text():
            break
        time.sleep(0.05)
    # One worker dies; the job's scheduler then stops the whole job (the survivor would only wait out the
    # collective timeout) and restarts it: the fact under test is the restart.
    workers[1].send_signal(signal.SIGKILL)
    workers[1].wait()
    workers[0].send_signal(signal.SIGKILL)
    for w in workers:
        w.communicate()
    assert not (output_dir / "model.keras").exists()
    last = tf.train.latest_checkpoint(str(output_dir / "checkpoints"))
    assert last is not None

    for code, out, err in finish(start_workers(nodrop, output_dir, temp_dir, "--iterations_per_loop=1", "--export_dir=none")):
        assert code == 0, err[-4000:]
    results = json.loads((output_dir / "results.json").read_text())
    assert results["resumed_from"] == last and results["train_batches"] == STEPS


def test_sigterm_to_one_worker_stops_both_at_the_same_step_with_a_checkpoint(nodrop, tmp_path):
    output_dir = tmp_path / "run"
    temp_dir = tmp_path / "tmp"
    temp_dir.mkdir()
    workers = start_workers(nodrop, output_dir, temp_dir, "--num_train_steps=400", "--save_checkpoints_steps=200")
    events = output_dir / "tensorboard" / "train"
    deadline = time.time() + 400
    while time.time() < deadline and all(w.poll() is None for w in workers):
        if glob.glob(str(events / "events.out.tfevents.*")):
            break
        time.sleep(0.05)
    time.sleep(1.0)
    workers[1].send_signal(signal.SIGTERM)  # the flag is all-reduced: the chief stops too
    outputs = finish(workers, timeout=300)
    for code, _, err in outputs:
        assert code == 143, err[-3000:]
    chief_message = [line for line in outputs[0][2].splitlines() if "stopped by a signal at batch" in line]
    assert chief_message, outputs[0][2][-3000:]
    batch = json.loads((output_dir / "results.json").read_text())["preempted"]["batch"]
    assert 0 < batch < 400 and (output_dir / "checkpoints" / f"ckpt-{batch}.index").exists()
    assert f"batch {batch};" in outputs[1][2]  # the worker that got the signal stopped at the same step
