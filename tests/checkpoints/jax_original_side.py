"""The JAX side of tests/checkpoints/test_original_on_jax.py.

`main` runs in a fresh interpreter with KERAS_BACKEND=jax and TensorFlow installed beside JAX, TensorFlow
serving only as the TF1 checkpoint reader and writer. For each job it loads an original-release checkpoint
with `load_original_checkpoint` into a JAX Keras model, writes the backbone's and the heads' outputs on the
job's inputs to an `.npz`, writes the model back with `save_original_checkpoint` when asked, and prints
"RESULT <json>" (tests/fresh_process.py) with the conversion reports.
"""

import json
import sys
import warnings

import keras
import numpy as np


def run_job(job):
    from albert_tf import AlbertConfig
    from albert_tf.checkpoints import load_original_checkpoint, save_original_checkpoint

    config = AlbertConfig.from_dict(job["config"])
    inputs = dict(np.load(job["inputs"]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, report = load_original_checkpoint(job["prefix"], config, init_from_group0=job["init_from_group0"],
                                                 return_report=True)
    backbone = model.backbone(inputs)
    heads = model(inputs)
    outputs = {f"encoder_outputs_{i}": np.asarray(t) for i, t in enumerate(backbone["encoder_outputs"])}
    outputs.update(pooled_output=np.asarray(backbone["pooled_output"]), mlm_logits=np.asarray(heads["mlm_logits"]),
                   sop_logits=np.asarray(heads["sop_logits"]))
    np.savez(job["outputs"], **outputs)
    if job.get("save_to"):
        save_original_checkpoint(model, job["save_to"])
    return {
        "loaded": report.loaded, "ignored_optimizer_state": report.ignored_optimizer_state,
        "ignored_unknown": report.ignored_unknown, "missing_heads": report.missing_heads,
        "from_group0": report.from_group0, "warnings": [str(w.message) for w in caught],
        # The model is a JAX one: its weights are JAX arrays, not TensorFlow variables.
        "weight_types": sorted({type(v.value).__module__.split(".")[0] for v in model.weights}),
    }


def main(jobs):
    assert keras.backend.backend() == "jax"
    return {"backend": keras.backend.backend(), "jobs": {name: run_job(job) for name, job in jobs.items()}}


if __name__ == "__main__":
    print("RESULT " + json.dumps(main(json.loads(sys.argv[1]))))
