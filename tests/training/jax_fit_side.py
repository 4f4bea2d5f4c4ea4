"""The JAX side of tests/training/test_fit_on_jax.py, and what both sides share (backend-neutral).

`main` runs in a fresh interpreter with KERAS_BACKEND=jax and two JAX CPU devices: the pretrainer from
the TensorFlow side's initial weights, STEPS steps under `keras.distribution.DataParallel` on the
engine's pretraining reader, its running losses, its `.keras` file and its backbone's outputs on a fixed
batch; then two steps of each task family's model on its records through the engine's fine-tuning
reader, also data-parallel. It prints "RESULT <json>" (tests/fresh_process.py).
"""

import dataclasses
import json
import sys

import keras
import numpy as np

from albert_tf.tasks import get_task, tagging_task
from albert_tf.training.optimizers import create_optimizer
from tests.conftest import tiny_config

SEQ, PREDICTIONS, BATCH, STEPS = 16, 4, 4, 4
#: Dropout off, so that both backends compute the same function of the same weights.
CONFIG = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, max_position_embeddings=SEQ)
#: The task models' backbone: one layer (its block is the pretrainer's), to keep four more JAX compilations short.
TASK_CONFIG = dataclasses.replace(CONFIG, num_hidden_layers=1)
#: One task of each family: classification, SQuAD span (v2: also answerability), multiple choice, tagging.
TASKS = ("sst-2", "squad_v2", "race", "toy-ner")


def make_optimizer():
    # The engine's optimizer (the original's LAMB, its clip and schedule) on both backends; a rate large
    # enough for 4 steps to move the weights well past the comparison's tolerance.
    return create_optimizer("lamb", 0.1, STEPS, 0)


def task_of(name):
    return tagging_task(name, ["O", "B-X", "I-X"]) if name == "toy-ner" else get_task(name)


class LossPerStep(keras.callbacks.Callback):
    """The running mean loss Keras logs after each training step."""

    def __init__(self):
        super().__init__()
        self.values = []

    def on_train_batch_end(self, batch, logs=None):
        self.values.append(float(logs["loss"]))


def fixed_batch():
    ids = np.array([[2, 40, 41, 3, 50, 51, 3, 0], [2, 60, 61, 62, 3, 0, 0, 0]], "int32")
    return {"input_ids": ids, "input_mask": (ids > 0).astype("int32"),
            "segment_ids": np.array([[0, 0, 0, 0, 1, 1, 1, 0], [0] * 8], "int32")}


def main(files, directory):
    import jax

    from albert_tf import AlbertBackbone, AlbertPretrainer
    from albert_tf.data import pretraining_dataset
    from albert_tf.training.finetuning_records import finetuning_dataset_fn

    assert keras.backend.backend() == "jax"
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()))
    model = AlbertPretrainer(CONFIG)
    model.load_weights(f"{directory}/initial.weights.h5")
    model.compile(optimizer=make_optimizer())
    losses = LossPerStep()
    data = pretraining_dataset(files["pretraining"], BATCH, SEQ, PREDICTIONS, is_training=False)
    model.fit(data, steps_per_epoch=STEPS, verbose=0, callbacks=[losses])
    model.save(f"{directory}/jax.keras")
    outputs = model.backbone.predict(fixed_batch(), verbose=0)
    np.savez(f"{directory}/jax_outputs.npz", pooled_output=outputs["pooled_output"],
             sequence_output=outputs["sequence_output"])
    placed = sorted({len(v.value.sharding.device_set) for v in model.trainable_variables})

    tasks = {}
    for name in TASKS:
        task = task_of(name)
        model = task.build_model(AlbertBackbone(TASK_CONFIG))
        model.compile(optimizer=make_optimizer())
        data = finetuning_dataset_fn([files[name]], task, SEQ, True, bucket=False)(BATCH)
        history = model.fit(data, steps_per_epoch=2, epochs=1, verbose=0).history
        tasks[name] = {"steps": int(model.optimizer.iterations), "loss": history["loss"][-1]}
    return {"backend": keras.backend.backend(), "devices": len(jax.devices()), "placed_on": placed,
            "losses": losses.values, "tasks": tasks}


if __name__ == "__main__":
    print("RESULT " + json.dumps(main(json.loads(sys.argv[1]), sys.argv[2])))
