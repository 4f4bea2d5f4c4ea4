"""A NumPy transcription of the original's optimizers and schedule, and the tiny models their tests train.

TensorFlow-free (keras and NumPy only), so that tests/training/test_optimizers.py (TensorFlow) and
tests/jax/test_optimizers.py (JAX, an environment without TensorFlow) check against the same reference.
"""

import re

import keras
import numpy as np

from albert_tf.training.optimizers import DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY

# ---------------------------------------------------------------------------------------------------
# A NumPy transcription of the specification (original_release.md §6.5), in float64.


def reference_learning_rate(step, init_lr, num_train_steps, num_warmup_steps, power=1.0):
    if num_warmup_steps and step < num_warmup_steps:
        return init_lr * step / num_warmup_steps
    return init_lr * (1.0 - min(step, num_train_steps) / num_train_steps) ** power


class ReferenceOptimizer:
    """AdamWeightDecayOptimizer / LAMBOptimizer of the original, after tf.clip_by_global_norm."""

    def __init__(self, kind, names, weight_decay_rate=0.01, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-6, clip_norm=None, exclude=DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY):
        self.kind, self.wd, self.b1, self.b2, self.eps = kind, weight_decay_rate, beta_1, beta_2, epsilon
        self.clip_norm = clip_norm
        self.excluded = [any(re.search(p, n) for p in exclude) for n in names]
        self.m = None
        self.v = None

    def step(self, params, grads, lr):
        params = [np.asarray(p, np.float64) for p in params]
        grads = [np.asarray(g, np.float64) for g in grads]
        if self.m is None:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
        if self.clip_norm:
            norm = np.sqrt(sum(np.sum(g ** 2) for g in grads))
            grads = [g * self.clip_norm / max(norm, self.clip_norm) for g in grads]
        new_params = []
        for i, (theta, g) in enumerate(zip(params, grads)):
            self.m[i] = self.b1 * self.m[i] + (1 - self.b1) * g
            self.v[i] = self.b2 * self.v[i] + (1 - self.b2) * g ** 2
            update = self.m[i] / (np.sqrt(self.v[i]) + self.eps)
            if self.wd and not self.excluded[i]:
                update = update + self.wd * theta
            ratio = 1.0
            if self.kind == "lamb" and not self.excluded[i]:
                w_norm, u_norm = np.linalg.norm(theta), np.linalg.norm(update)
                ratio = w_norm / u_norm if w_norm > 0 and u_norm > 0 else 1.0
            new_params.append(theta - ratio * lr * update)
        return new_params


# ---------------------------------------------------------------------------------------------------
# Helpers.

#: Variable paths and shapes that hit every exclusion rule (bias, LayerNorm, layer_norm) and a zero tensor.
EXCLUSION_SHAPES = {
    "encoder/attention/dense/kernel": (3, 4),
    "encoder/attention/dense/bias": (4,),
    "encoder/layer_norm/gamma": (4,),
    "bert/embeddings/LayerNorm/beta": (4,),
    "mlm_head/output_bias": (6,),
    "embeddings/word_embeddings": (6, 2),
    "zero_init/kernel": (2, 2),
}


def make_variable(path, value):
    """A keras.Variable whose `path` is `path` (scopes from the slash-separated prefix)."""
    *scopes, name = path.split("/")

    def create(remaining):
        if not remaining:
            return keras.Variable(np.asarray(value, np.float32), name=name)
        with keras.name_scope(remaining[0]):
            return create(remaining[1:])

    variable = create(scopes)
    assert variable.path == path
    return variable


def tiny_model(seed=0, dtype=None):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(6, activation="tanh", name="attention_output", dtype=dtype),
            keras.layers.LayerNormalization(name="LayerNorm", dtype=dtype),
            keras.layers.Dense(1, name="logits", dtype=dtype),
        ]
    )


def tiny_data(n=16, scale=3.0):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    y = (scale * np.sin(x.sum(axis=1, keepdims=True))).astype(np.float32)
    return x, y


def train(optimizer, batch_size=8, epochs=3, jit_compile=False, n=16, dtype=None, loss="mse"):
    model = tiny_model(dtype=dtype)
    model.compile(optimizer=optimizer, loss=loss, jit_compile=jit_compile)
    x, y = tiny_data(n)
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)
    return model, history.history["loss"]
