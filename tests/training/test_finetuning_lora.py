"""A LoRA fine-tuning run through the engine: frozen weights stay as initialised, a run stopped after its
first checkpoint resumes to the uninterrupted run's weights, model.keras and the adapters file agree, and
LoRA settings that cannot apply are one-line errors."""

import json

import keras
import numpy as np
import pytest

from albert_tf import AlbertPretrainer
from albert_tf.errors import UserInputError
from albert_tf.models.lora import load_lora_weights, lora_state
from albert_tf.tasks import get_task
from albert_tf.training.finetuning import run_finetuning
from tests.conftest import tiny_config
from tests.training.test_finetuning import options, write_records

LORA = dict(lora_rank=2, lora_targets=("query", "value"), train_step=4, save_checkpoints_steps=2)


class StopAfterFirstCheckpoint(keras.callbacks.Callback):
    """Ends the process's run right after the first checkpoint is written, as a kill there would."""

    def on_epoch_end(self, epoch, logs=None):
        raise RuntimeError("stopped after the first checkpoint")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("lora")
    pretrainer = AlbertPretrainer(tiny_config())
    pretrainer.save(str(root / "pretrained.keras"))
    train = write_records(root / "train.tf_record", get_task("sst-2"), 32)
    return {"init": str(root / "pretrained.keras"), "train": [train], "backbone": pretrainer.backbone}


def run(output_dir, inputs, callbacks=()):
    return run_finetuning("sst-2", tiny_config(), options(output_dir, init_checkpoint=inputs["init"], **LORA),
                          inputs["train"], do_train=True, callbacks=callbacks)


def test_lora_run_trains_adapters_only_and_resumes_exactly(inputs, tmp_path):
    straight = run(tmp_path / "straight", inputs)
    model = straight.model
    results = json.loads((tmp_path / "straight" / "results.json").read_text())
    head = model.weights[len(model.backbone.weights):]
    adapters = [v for v in model.backbone.weights if "lora_kernel" in v.path]
    assert len(adapters) == 4  # one group, one inner block: query and value, A and B
    assert results["lora"]["trainable_parameters"] == sum(int(np.prod(v.shape)) for v in adapters + head)
    assert all(np.any(v.numpy()) for v in adapters)  # B trained away from zero
    # Every backbone weight but the adapters is as initialised (the saved pretrainer's backbone).
    frozen = [v for v in model.backbone.weights if "lora_kernel" not in v.path]
    for ours, source in zip(frozen, inputs["backbone"].weights):
        np.testing.assert_array_equal(ours.numpy(), source.numpy(), err_msg=ours.path)

    stopped = tmp_path / "stopped"
    with pytest.raises(RuntimeError, match="first checkpoint"):
        run(stopped, inputs, callbacks=[StopAfterFirstCheckpoint()])
    resumed = run(stopped, inputs)
    assert resumed.results["resumed_from"].endswith("ckpt-2")
    for ours, theirs in zip(resumed.model.weights, model.weights):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=ours.path)

    # model.keras holds the merged kernels; the adapters file beside it restores the adapted model.
    loaded = keras.saving.load_model(str(tmp_path / "straight" / "model.keras"), compile=False)
    load_lora_weights(loaded, results["lora_file"])
    assert lora_state(loaded) == lora_state(model)
    for ours, theirs in zip(loaded.weights, model.weights):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-6, err_msg=ours.path)


@pytest.mark.parametrize("overrides,do_train,message", [
    (dict(lora_alpha=8.0), True, "give --lora_rank"),
    (dict(lora_train_layernorm=True), True, "give --lora_rank"),
    (dict(lora_rank=-1), True, "--lora_rank must be a positive integer, got -1"),
    (dict(lora_rank=2, lora_targets=("qkv",)), True, "--lora_targets 'qkv'"),
    (dict(lora_rank=2), False, "--lora_rank 2 trains adapters: it needs --do_train"),
])
def test_lora_settings_that_cannot_apply_are_one_line_errors(inputs, tmp_path, overrides, do_train, message):
    with pytest.raises(UserInputError, match=message) as error:
        run_finetuning("sst-2", tiny_config(), options(tmp_path, **overrides), inputs["train"], inputs["train"],
                       do_train=do_train, do_eval=True)
    assert "\n" not in str(error.value)


def test_the_command_line_checks_the_library_default_targets():
    from albert_tf.models.lora import DEFAULT_TARGETS
    from tools.finetune import LORA_DEFAULT_TARGETS, build_parser

    assert LORA_DEFAULT_TARGETS == DEFAULT_TARGETS == build_parser().get_default("lora_targets")
