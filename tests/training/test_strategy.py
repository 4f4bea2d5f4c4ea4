import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from albert_tf.training.strategy import (
    STRATEGY_NAMES,
    recommended_mixed_precision_policy,
    select_strategy,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


class Recorder:
    """Stands in for a TensorFlow callable and remembers how it was called."""

    def __init__(self, calls, label, result=None):
        self.calls, self.label, self.result = calls, label, result

    def __call__(self, *args, **kwargs):
        self.calls.append((self.label, args, kwargs))
        return self.result if self.result is not None else SimpleNamespace(kind=self.label)


@pytest.fixture
def tpu_calls(monkeypatch):
    calls = []
    monkeypatch.setattr(tf.config, "experimental_connect_to_cluster", Recorder(calls, "connect"))
    monkeypatch.setattr(tf.tpu.experimental, "initialize_tpu_system", Recorder(calls, "initialize"))
    monkeypatch.setattr(tf.distribute, "TPUStrategy", Recorder(calls, "TPUStrategy"))
    return calls


def fake_resolver_factory(calls):
    resolver = SimpleNamespace(kind="resolver")

    def factory(tpu=None, zone=None, project=None):
        calls.append(("resolve", (), dict(tpu=tpu, zone=zone, project=project)))
        return resolver

    return factory, resolver


def no_tpu(tpu=None, zone=None, project=None):
    raise ValueError("Please provide a TPU Name to connect to.")


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="tpu, multi_worker, mirrored, one_device, auto"):
        select_strategy("horovod")
    assert STRATEGY_NAMES == ("tpu", "multi_worker", "mirrored", "one_device", "auto")


def test_tpu_resolves_connects_initialises_then_builds_the_strategy(tpu_calls):
    factory, resolver = fake_resolver_factory(tpu_calls)
    strategy = select_strategy("TPU", tpu="my-tpu", tpu_zone="us-central1-a",
                               gcp_project="proj", resolver_factory=factory)
    assert strategy.kind == "TPUStrategy"
    assert [c[0] for c in tpu_calls] == ["resolve", "connect", "initialize", "TPUStrategy"]
    assert tpu_calls[0][2] == dict(tpu="my-tpu", zone="us-central1-a", project="proj")
    assert all(c[1] == (resolver,) for c in tpu_calls[1:])


def test_tpu_without_a_tpu_names_the_flag(tpu_calls):
    with pytest.raises(ValueError, match="--tpu"):
        select_strategy("tpu", resolver_factory=no_tpu)
    assert tpu_calls == []


def test_auto_prefers_a_tpu(tpu_calls):
    factory, _ = fake_resolver_factory(tpu_calls)
    assert select_strategy("auto", resolver_factory=factory).kind == "TPUStrategy"


def test_auto_with_an_explicit_tpu_does_not_hide_a_resolution_failure(tpu_calls):
    with pytest.raises(ValueError, match="could not resolve a TPU"):
        select_strategy("auto", tpu="my-tpu", resolver_factory=no_tpu)


@pytest.mark.parametrize(
    "gpus, expected",
    [(0, ("OneDeviceStrategy", ("/cpu:0",))), (1, ("OneDeviceStrategy", ("/gpu:0",))),
     (2, ("MirroredStrategy", ()))],
)
def test_auto_without_tpu_falls_back_on_gpu_count(monkeypatch, tpu_calls, gpus, expected):
    real_list = tf.config.list_logical_devices
    monkeypatch.setattr(
        tf.config, "list_logical_devices",
        lambda kind=None: [SimpleNamespace(name=f"/device:GPU:{i}") for i in range(gpus)]
        if kind == "GPU" else real_list(kind))
    monkeypatch.setattr(tf.distribute, "MirroredStrategy", Recorder(tpu_calls, "MirroredStrategy"))
    monkeypatch.setattr(tf.distribute, "OneDeviceStrategy", Recorder(tpu_calls, "OneDeviceStrategy"))
    select_strategy("auto", resolver_factory=no_tpu)
    assert [(label, args) for label, args, _ in tpu_calls] == [expected]


def test_one_device_and_mirrored_on_this_machine():
    one = select_strategy("one_device")
    assert isinstance(one, tf.distribute.OneDeviceStrategy)
    expected = "GPU:0" if tf.config.list_logical_devices("GPU") else "CPU:0"
    assert one.extended.worker_devices[0].endswith(expected)
    assert isinstance(select_strategy("mirrored"), tf.distribute.MirroredStrategy)


@pytest.mark.parametrize(
    "tf_config, message",
    [
        (None, "needs the TF_CONFIG environment variable"),
        ("{not json", "TF_CONFIG is not valid JSON"),
        ("[1, 2]", "TF_CONFIG must be a JSON object"),
        ('{"task": {"type": "worker", "index": 0}}', "TF_CONFIG has no 'cluster'"),
        ('{"cluster": {"worker": ["a:1"]}}', "TF_CONFIG has no 'task'"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}',
         "TF_CONFIG task type 'chief'"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}',
         "TF_CONFIG task index 1"),
    ],
)
def test_multi_worker_requires_a_valid_tf_config(monkeypatch, tf_config, message):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(ValueError, match=message):
        select_strategy("multi_worker")


def test_multi_worker_with_tf_config_builds_the_strategy(monkeypatch):
    calls = []
    monkeypatch.setenv("TF_CONFIG", json.dumps(
        {"cluster": {"worker": ["host1:2222", "host2:2222"]}, "task": {"type": "worker", "index": 1}}))
    monkeypatch.setattr(tf.distribute, "MultiWorkerMirroredStrategy", Recorder(calls, "mwms"))
    assert select_strategy("multi_worker").kind == "mwms"
    assert len(calls) == 1


def test_recommended_mixed_precision_policy(monkeypatch):
    assert recommended_mixed_precision_policy(tf.distribute.OneDeviceStrategy("/cpu:0")) == "float32"
    if not tf.config.list_logical_devices("GPU"):
        assert recommended_mixed_precision_policy() == "float32"  # the default strategy
    fake_tpu = object.__new__(type("FakeTPUStrategy", (tf.distribute.TPUStrategy,), {}))
    assert recommended_mixed_precision_policy(fake_tpu) == "mixed_bfloat16"

    on_gpu = SimpleNamespace(extended=SimpleNamespace(
        worker_devices=("/job:localhost/replica:0/task:0/device:GPU:0",)))
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: ["gpu0"])
    for capability, policy in (((9, 0), "mixed_bfloat16"), ((8, 0), "mixed_bfloat16"),
                               ((7, 5), "mixed_float16"), ((6, 1), "float32")):
        monkeypatch.setattr(tf.config.experimental, "get_device_details",
                            lambda device, c=capability: {"compute_capability": c})
        assert recommended_mixed_precision_policy(on_gpu) == policy


# ---------------------------------------------------------------------------------------------------
# MirroredStrategy over two logical CPUs, in a fresh process: logical devices must be configured before
# TensorFlow initialises, which other tests in this process have already done.

PARITY_SCRIPT = textwrap.dedent(
    """
    import json
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np
    from albert_tf.training import LAMBOptimizer, WarmupPolynomialDecay, create_optimizer
    from albert_tf.training import select_strategy

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 5)).astype(np.float32)
    y = (3.0 * np.sin(x.sum(axis=1, keepdims=True))).astype(np.float32)


    class KerasPlacedClipping(LAMBOptimizer):
        # Keras' own placement: clip each replica's partial gradient, then all-reduce.
        def _clip_gradients(self, grads):
            return keras.optimizers.Optimizer._clip_gradients(self, grads)

        def _backend_update_step(self, grads, variables, learning_rate):
            return keras.optimizers.Optimizer._backend_update_step(
                self, grads, variables, learning_rate)


    def run(strategy, accumulation=None, jit_compile=False, optimizer_class=None):
        with strategy.scope():
            keras.utils.set_random_seed(0)
            model = keras.Sequential([
                keras.Input((5,)),
                keras.layers.Dense(8, activation="tanh"),
                keras.layers.LayerNormalization(),
                keras.layers.Dense(1),
            ])
            if optimizer_class is None:
                optimizer = create_optimizer("lamb", 5e-2, num_train_steps=20, num_warmup_steps=1,
                                             gradient_accumulation_steps=accumulation)
            else:
                optimizer = optimizer_class(WarmupPolynomialDecay(5e-2, 20, 1),
                                            weight_decay_rate=0.01, global_clipnorm=1.0)
            model.compile(optimizer=optimizer, loss="mse", jit_compile=jit_compile)
        micro_batch = 8 // (accumulation or 1)
        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(micro_batch).repeat()
        history = model.fit(data, epochs=8 * (accumulation or 1), steps_per_epoch=1, verbose=0)
        return {"loss": history.history["loss"], "weights": [w.tolist() for w in model.get_weights()]}


    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    one_device = select_strategy("one_device")
    keras.utils.set_random_seed(0)
    probe = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="tanh"),
                              keras.layers.LayerNormalization(), keras.layers.Dense(1)])
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(probe(x[:8]) - y[:8]))
    first_grad_norm = float(tf.linalg.global_norm(tape.gradient(loss, probe.trainable_variables)))
    print(json.dumps({
        "replicas": mirrored.num_replicas_in_sync,
        "first_grad_norm": first_grad_norm,
        "one_device": run(one_device),
        "one_device_jit": run(one_device, jit_compile=True),
        "mirrored": run(mirrored),
        "one_device_accumulated": run(one_device, accumulation=2),
        "mirrored_accumulated": run(mirrored, accumulation=2),
        "mirrored_keras_clipping": run(mirrored, optimizer_class=KerasPlacedClipping),
    }))
    """
)


@pytest.fixture(scope="module")
def parity_results():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    completed = subprocess.run([sys.executable, "-c", PARITY_SCRIPT], capture_output=True, text=True,
                               env=env, cwd=REPO_ROOT, timeout=300)
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def assert_same_trajectory(a, b, atol=1e-5):
    np.testing.assert_allclose(a["loss"], b["loss"], rtol=0, atol=atol)
    for wa, wb in zip(a["weights"], b["weights"]):
        np.testing.assert_allclose(wa, wb, rtol=0, atol=atol)


def test_mirrored_lamb_matches_one_device_at_the_same_global_batch(parity_results):
    assert parity_results["replicas"] == 2
    # Clipping is active on the first step, so its placement (after the all-reduce) is exercised.
    assert parity_results["first_grad_norm"] > 1.0
    assert_same_trajectory(parity_results["mirrored"], parity_results["one_device"])
    assert parity_results["one_device"]["loss"][-1] < parity_results["one_device"]["loss"][0]


def test_keras_clipping_placement_would_break_parity(parity_results):
    # Sensitivity check: clipping each replica's partial gradient (Keras' placement) changes training.
    keras_placed = np.array(parity_results["mirrored_keras_clipping"]["loss"])
    assert np.abs(keras_placed - np.array(parity_results["one_device"]["loss"])).max() > 1e-2


def test_mirrored_gradient_accumulation_matches_one_device(parity_results):
    assert_same_trajectory(parity_results["mirrored_accumulated"],
                           parity_results["one_device_accumulated"])
    for wa, wb in zip(parity_results["mirrored_accumulated"]["weights"],
                      parity_results["one_device"]["weights"]):
        np.testing.assert_allclose(wa, wb, rtol=0, atol=1e-5)


def test_one_device_strategy_with_xla_matches(parity_results):
    assert_same_trajectory(parity_results["one_device_jit"], parity_results["one_device"])

