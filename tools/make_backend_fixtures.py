"""Write the `.keras` fixtures that cross Keras backends: saved on one backend, loaded on the other.

Builds three tiny models with fixed, perturbed weights (the pretrainer, a 3-class classifier and the
SQuAD v2 question-answering model, whose beam exercises top-k and the batched gather), saves each as
`<out_dir>/<backend>/<name>.keras` with the backend's own outputs on a fixed padded batch
(`<name>_outputs.npz`, inputs in `<out_dir>/inputs.npz`). Run it once per backend::

    python -m tools.make_backend_fixtures                              # TensorFlow (the default backend)
    KERAS_BACKEND=jax /work/venvs/jax/bin/python -m tools.make_backend_fixtures

tests/jax/test_keras_files.py loads the TensorFlow files under JAX and tests/models/test_keras_backends.py
the JAX files under TensorFlow; each compares with the outputs the other backend wrote (1e-5).
"""

from __future__ import annotations

import argparse
import os

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT_DIR = os.path.join(REPO, "tests", "fixtures", "keras_backends")
MODEL_NAMES = ("pretrainer", "classifier", "squad_v2")


def tiny_config():
    from albert_tf import AlbertConfig

    return AlbertConfig(vocab_size=120, embedding_size=16, hidden_size=32, num_hidden_layers=3, num_hidden_groups=2,
                        num_attention_heads=4, intermediate_size=64, max_position_embeddings=32)


def fixture_inputs(batch=3, length=12, seed=0) -> dict:
    """A padded batch with two segments, `p_mask` (query and padding) and masked-LM positions."""
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, length), "int32")
    for row, pad in enumerate((0, 3, 5)[:batch]):
        if pad:
            mask[row, -pad:] = 0
    segments = np.zeros((batch, length), "int32")
    segments[:, length // 3:] = 1
    segments *= mask
    p_mask = (1 - segments).astype("int32")
    p_mask[:, 0] = 0
    p_mask[mask == 0] = 1
    return {
        "input_ids": (rng.integers(5, 120, (batch, length)) * mask).astype("int32"),
        "input_mask": mask,
        "segment_ids": segments,
        "p_mask": p_mask,
        "masked_lm_positions": np.sort(rng.choice(np.arange(1, length - 5), (batch, 3)), axis=1).astype("int32"),
    }


def build(name: str):
    """The model `name` of MODEL_NAMES, every weight moved off its initial value by a fixed NumPy draw."""
    from albert_tf import AlbertClassifier, AlbertPretrainer, AlbertQuestionAnswering

    config = tiny_config()
    model = {
        "pretrainer": lambda: AlbertPretrainer(config),
        "classifier": lambda: AlbertClassifier(config=config, num_classes=3),
        "squad_v2": lambda: AlbertQuestionAnswering(config=config, version=2, start_n_top=3, end_n_top=2),
    }[name]()
    rng = np.random.default_rng(7)
    for variable in model.weights:
        centre = 1.0 if variable.path.endswith("gamma") else 0.0
        variable.assign((centre + rng.normal(0.0, 0.2, tuple(variable.shape))).astype("float32"))
    return model


def outputs_of(model, inputs) -> dict:
    """The model's inference outputs on `inputs`, as NumPy arrays."""
    import keras

    return {key: keras.ops.convert_to_numpy(value) for key, value in model(inputs, training=False).items()}


def save_npz(path: str, arrays: dict) -> None:
    from albert_tf.io import atomic_write

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    atomic_write(path, write)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="Example: KERAS_BACKEND=jax python -m tools.make_backend_fixtures --out_dir /tmp/fixtures",
    )
    parser.add_argument("--out_dir", default=DEFAULT_OUT_DIR,
                        help="where <backend>/<name>.keras and inputs.npz go (e.g. /tmp/fixtures)")
    args = parser.parse_args(argv)

    import keras

    from albert_tf.io import atomic_write

    backend = keras.backend.backend()
    directory = os.path.join(args.out_dir, backend)
    os.makedirs(directory, exist_ok=True)
    inputs = fixture_inputs()
    save_npz(os.path.join(args.out_dir, "inputs.npz"), inputs)
    for name in MODEL_NAMES:
        model = build(name)
        outputs = outputs_of(model, inputs)

        def save_model(tmp, model=model):
            model.save(tmp + ".keras")  # Keras insists on the suffix
            os.replace(tmp + ".keras", tmp)

        atomic_write(os.path.join(directory, f"{name}.keras"), save_model)
        save_npz(os.path.join(directory, f"{name}_outputs.npz"), outputs)
        print(f"{backend}: {name}.keras and {name}_outputs.npz in {directory}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
