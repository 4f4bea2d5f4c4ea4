"""`gather_outputs` traces a model's forward pass once per run, not once per evaluation."""

import keras
import numpy as np
import tensorflow as tf

from albert_tf.training.finetuning import gather_outputs


class CountingModel(keras.Model):
    """A linear model that counts how often its `call` is traced (a Python side effect)."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(2)
        self.traces = 0

    def call(self, batch, training=False):
        self.traces += 1
        return self.dense(tf.cast(batch["input_ids"], "float32"))


def records(n=10):
    features = {"input_ids": np.arange(n * 3, dtype="int32").reshape(n, 3) % 7,
                "label_ids": np.arange(n, dtype="int32") % 2}
    ds = tf.data.Dataset.from_tensor_slices(features).enumerate()
    return ds.map(lambda i, f: dict(f, _example_index=i)).batch(4)


def test_every_evaluation_after_the_first_reuses_the_trace_and_reads_the_current_weights():
    model = CountingModel()
    model({"input_ids": np.zeros((1, 3), "int32")})
    first = gather_outputs(model, records())
    traces = model.traces
    assert traces >= 1 and first["logits"].shape == (10, 2)

    # Training between evaluations changes the weights, not the graph.
    model.dense.kernel.assign(model.dense.kernel + 1.0)
    second = gather_outputs(model, records())
    assert model.traces == traces
    inputs = (np.arange(30).reshape(10, 3) % 7).astype("float32")
    expected = inputs @ model.dense.kernel.numpy() + model.dense.bias.numpy()
    np.testing.assert_allclose(second["logits"], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(second["label_ids"], np.arange(10) % 2)

    # New variables (LoRA, quantization) are a new graph.
    model.dense.enable_lora(1)
    gather_outputs(model, records())
    assert model.traces > traces
