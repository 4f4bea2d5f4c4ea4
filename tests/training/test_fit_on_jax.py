"""Training on JAX with plain Keras: `model.fit` on the engine's own TFRecord readers (tf.data, whose
batches Keras' JAX trainer turns into numpy), on two devices under `keras.distribution.DataParallel`.

A tiny pretraining run on JAX follows this process's TensorFlow run from the same initial weights on the
same batches (dropout off) to float tolerance; the `.keras` file it saves initialises the TensorFlow
engine's model (`initialise_weights`, what `--init_checkpoint` does) and exports as a SavedModel serving
JAX's numbers. Every task family's model trains on its records there too. The JAX side runs in one fresh
interpreter (the Keras backend is fixed at import), with TensorFlow for tf.data only.
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from albert_tf import AlbertPretrainer
from albert_tf.checkpoints.initialisation import initialise_weights
from albert_tf.data import pretraining_dataset
from albert_tf.data.schemas import PRETRAINING_SCHEMA, Field, resolve_lengths
from albert_tf.export import export_saved_model
from albert_tf.training.finetuning_records import record_fields
from data_prep.tfexample import ExampleEncoder
from tests.fresh_process import require_jax, run_module_on_jax
from tests.training.jax_fit_side import (BATCH, CONFIG, PREDICTIONS, SEQ, STEPS, TASKS, LossPerStep, fixed_batch,
                                        make_optimizer, task_of)

#: float32 on two backends (different kernels, summation orders) over STEPS updates of a loss near 6.4.
LOSS_TOLERANCE = 1e-5
WEIGHT_TOLERANCE = 1e-5


def write(path, fields, features):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in ExampleEncoder(fields).encode(features):
            writer.write(record)
    return str(path)


def random_features(fields, n, rng, labels=2):
    """Valid random values for each feature of `fields`, by the features' names (the original writers')."""
    lengths = rng.integers(SEQ // 2, SEQ + 1, (n, 1))
    features = {}
    for field in fields:
        width = field.length
        mask = np.tile(np.arange(SEQ) < lengths, width // SEQ) if width % SEQ == 0 else None
        if field.name == "input_mask":
            value = mask
        elif field.name == "p_mask":  # 1 where no answer may start or end: here the padding
            value = 1 - mask
        elif field.name == "input_ids":
            value = rng.integers(5, CONFIG.vocab_size, (n, width)) * mask
        elif field.name in ("segment_ids", "token_boundary"):
            value = (np.arange(width) % SEQ >= SEQ // 2) * mask
        elif field.name == "masked_lm_positions":
            value = np.sort(rng.choice(SEQ // 2, (n, width)), axis=1)
        elif field.name == "masked_lm_ids":
            value = rng.integers(5, CONFIG.vocab_size, (n, width))
        elif field.name == "masked_lm_weights":
            value = np.ones((n, width))
        elif field.name in ("start_positions", "end_positions"):
            value = rng.integers(0, SEQ // 2, (n, width))
        elif field.name == "label_ids" and width == SEQ:
            value = rng.integers(0, labels, (n, width)) * mask
        elif field.name in ("label_ids", "next_sentence_labels", "is_impossible"):
            value = rng.integers(0, labels, (n, width))
        else:  # is_real_example, unique_ids
            value = np.ones((n, width))
        features[field.name] = value.astype("float32" if field.dtype == "float" else "int64")
    return features


def write_records(directory):
    rng = np.random.default_rng(0)
    lengths = resolve_lengths(PRETRAINING_SCHEMA, max_seq_length=SEQ, max_predictions_per_seq=PREDICTIONS)
    fields = tuple(Field(f.name, f.dtype, lengths[f.name]) for f in PRETRAINING_SCHEMA)
    pretraining = random_features(fields, BATCH * STEPS, rng)
    files = {"pretraining": write(directory / "pretraining.tfrecord", fields, pretraining)}
    for name in TASKS:
        task = task_of(name)
        fields = record_fields(task, SEQ, training=True)
        labels = task.num_choices if task.family == "multiple_choice" else max(2, len(task.labels or ()))
        files[name] = write(directory / f"{name}.tfrecord", fields, random_features(fields, 2 * BATCH, rng, labels))
    return files


#: Two JAX CPU devices; XLA's backend optimisations off: they cost a third of the compile time of these tiny
#: models (measured), and the trajectory check below holds at the same tolerance without them.
XLA_FLAGS = "--xla_force_host_platform_device_count=2 --xla_backend_optimization_level=0"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    require_jax()
    directory = tmp_path_factory.mktemp("fit_on_jax")
    files = write_records(directory)
    keras.utils.set_random_seed(7)
    model = AlbertPretrainer(CONFIG)
    model.save_weights(str(directory / "initial.weights.h5"))
    jax = run_module_on_jax("tests.training.jax_fit_side", json.dumps(files), str(directory), xla_flags=XLA_FLAGS)
    model.compile(optimizer=make_optimizer(), jit_compile=False)  # as the engine (--jit_compile off); XLA costs 4 s
    losses = LossPerStep()
    model.fit(pretraining_dataset(files["pretraining"], BATCH, SEQ, PREDICTIONS, is_training=False),
              steps_per_epoch=STEPS, verbose=0, callbacks=[losses])
    return directory, jax, model, losses.values


def test_pretraining_on_jax_data_parallel_follows_tensorflow(runs):
    _, jax, _, tensorflow_losses = runs
    assert jax["backend"] == "jax" and jax["devices"] == 2
    assert jax["placed_on"] == [2], "DataParallel places every weight on both devices"
    assert len(tensorflow_losses) == STEPS
    np.testing.assert_allclose(jax["losses"], tensorflow_losses, atol=LOSS_TOLERANCE, rtol=0)


def test_jax_weights_initialise_the_tensorflow_engine_and_export(runs, tmp_path):
    directory, _, tensorflow_model, _ = runs
    initial = AlbertPretrainer(CONFIG)
    initial.load_weights(str(directory / "initial.weights.h5"))
    moved = [not np.allclose(a.numpy(), b.numpy(), atol=WEIGHT_TOLERANCE)
             for a, b in zip(initial.weights, tensorflow_model.weights)]
    assert sum(moved) > len(moved) // 2, "the runs moved too few weights for the comparison to mean anything"
    model = AlbertPretrainer(CONFIG)
    assert "weights from" in initialise_weights(model, str(directory / "jax.keras"))
    for ours, theirs in zip(model.weights, tensorflow_model.weights):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=WEIGHT_TOLERANCE, rtol=0, err_msg=ours.path)
    served = tf.saved_model.load(export_saved_model(model, str(tmp_path / "saved_model"))).signatures["tokens"]
    outputs = served(**{key: tf.constant(value) for key, value in fixed_batch().items()})
    expected = np.load(directory / "jax_outputs.npz")
    for key in ("pooled_output", "sequence_output"):
        np.testing.assert_allclose(outputs[key].numpy(), expected[key], atol=1e-5, rtol=0, err_msg=key)


@pytest.mark.parametrize("name", TASKS)
def test_task_model_trains_on_its_records_on_jax(runs, name):
    result = runs[1]["tasks"][name]
    # Untrained, each head's cross-entropy is near the log of its choices (SQuAD v2: start, end and answerable).
    assert result["steps"] == 2 and 0 < result["loss"] < 3 * np.log(SEQ) + np.log(2)
