"""Original-release TF1 checkpoints loaded under KERAS_BACKEND=jax give HuggingFace's recorded outputs.

The checkpoints are test_original.py's (the HF golden weights rewritten under the original TF1 names from
anchors.md section 2, saved here with `tf.compat.v1`); one fresh JAX interpreter (the Keras backend is fixed
at import: jax_original_side.py) loads them with `load_original_checkpoint`, TensorFlow serving only as the
checkpoint reader, and the outputs of its JAX model are compared here with HF's to 1e-5, for every case
test_original.py covers on TensorFlow: the three golden configurations, a fine-tuning checkpoint holding
only the backbone under `module/`, `init_from_group0`, and `save_original_checkpoint` writing the original
names and arrays back from the JAX model.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

from tests.checkpoints.test_huggingface_parity import CASES, TOLERANCE
from tests.checkpoints.test_original import case_checkpoint, write_tf1_checkpoint
from tests.fresh_process import require_jax, run_module_on_jax

#: XLA's backend optimisations off: a fifth of this module's CPU time for these tiny models (measured), and
#: the outputs hold the same tolerance without them (as in tests/training/test_fit_on_jax.py).
XLA_FLAGS = "--xla_backend_optimization_level=0"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    require_jax()
    directory = tmp_path_factory.mktemp("original_on_jax")
    cases, jobs = {}, {}

    def job(name, prefix, config, inputs, **extra):
        np.savez(directory / f"{name}_inputs.npz", **inputs)
        jobs[name] = {"prefix": prefix, "config": config.to_dict(), "inputs": str(directory / f"{name}_inputs.npz"),
                      "outputs": str(directory / f"{name}_outputs.npz"), "init_from_group0": False, **extra}

    for case in CASES:
        config, arrays, prefix, inputs, expected = case_checkpoint(case, directory / case)
        cases[case] = (config, arrays, expected)
        save_to = str(directory / "again" / "model.ckpt") if case == "g2_k2" else None
        job(case, prefix, config, inputs, save_to=save_to)
    config, arrays, _ = cases["g1_k1"]
    inputs = dict(np.load(jobs["g1_k1"]["inputs"]))
    backbone_only = {f"module/{k}": v for k, v in arrays.items() if k.startswith("bert/")}
    hub = write_tf1_checkpoint(backbone_only, str(directory / "hub" / "model.ckpt"), with_optimizer_state=False)
    job("hub", hub, config, inputs)
    job("group0", jobs["g1_k1"]["prefix"], config.replace(num_hidden_groups=2), inputs, init_from_group0=True)

    result = run_module_on_jax("tests.checkpoints.jax_original_side", json.dumps(jobs), xla_flags=XLA_FLAGS)
    assert result["backend"] == "jax"
    outputs = {name: dict(np.load(spec["outputs"])) for name, spec in jobs.items()}
    return cases, jobs, result["jobs"], outputs


def assert_outputs_equal(ours, expected, keys):
    for key in keys:
        np.testing.assert_allclose(ours[key], expected[key], atol=TOLERANCE, rtol=0, err_msg=key)


@pytest.mark.parametrize("case", CASES)
def test_reproduces_reference_outputs_under_jax(runs, case):
    cases, _, reports, outputs = runs
    _, arrays, expected = cases[case]
    report, ours = reports[case], outputs[case]
    assert report["weight_types"] == ["jaxlib"], "the loaded model is a JAX Keras model"
    assert sorted(report["loaded"]) == sorted(arrays), "every original variable is loaded"
    assert "global_step" in report["ignored_optimizer_state"]
    assert any(name.endswith("adam_m") for name in report["ignored_optimizer_state"])
    assert report["ignored_unknown"] == [] and report["missing_heads"] == []
    layers = len(expected["encoder_outputs"])
    assert sorted(k for k in ours if k.startswith("encoder_outputs_")) == sorted(f"encoder_outputs_{i}" for i in range(layers))
    for index in range(layers):
        np.testing.assert_allclose(ours[f"encoder_outputs_{index}"], expected["encoder_outputs"][index],
                                   atol=TOLERANCE, rtol=0, err_msg=f"encoder_outputs[{index}]")
    assert_outputs_equal(ours, expected, ("pooled_output", "mlm_logits", "sop_logits"))


def test_save_under_jax_writes_the_original_names_and_arrays(runs):
    cases, jobs, _, _ = runs
    _, arrays, _ = cases["g2_k2"]
    reader = tf.train.load_checkpoint(jobs["g2_k2"]["save_to"])
    assert reader.get_variable_to_shape_map() == {k: list(v.shape) for k, v in arrays.items()}
    for name, value in arrays.items():
        np.testing.assert_array_equal(reader.get_tensor(name), value, err_msg=name)


def test_fine_tuning_checkpoint_without_heads_and_with_module_prefix_under_jax(runs):
    cases, _, reports, outputs = runs
    assert any("cls/predictions" in message for message in reports["hub"]["warnings"])
    assert_outputs_equal(outputs["hub"], cases["g1_k1"][2], ("pooled_output",))


def test_init_from_group0_under_jax(runs):
    _, _, reports, outputs = runs
    assert reports["group0"]["from_group0"] and all("/group_1/" in name for name in reports["group0"]["from_group0"])
    # Every group holds group 0's weights, so the outputs equal the one-group model's.
    np.testing.assert_allclose(outputs["group0"]["mlm_logits"], outputs["g1_k1"]["mlm_logits"], atol=1e-6)
