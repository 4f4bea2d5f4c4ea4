"""`albert-finetune` then `albert-export --tflite --quantize int8` as a user runs them: the full-integer
LiteRT file of the session's shared fine-tuned SST-2 model computes what its Keras model computes.

The fine-tuned model is the shared uninterrupted run of `test_finetune_cli` (no training here); the
calibration reads that run's own training records, and the comparison its dev records.
"""

import glob

import numpy as np

from tests.tools.test_finetune_cli import fixtures, straight_finetune  # noqa: F401  (fixtures)

SEQ = 32  # the run's --max_seq_length
#: Relative errors (L2 over 12 dev examples) allowed to full-integer int8 against float32 Keras. Measured:
#: logits 0.05, sequence_output 0.034 and its input-dependent part (less the mean over the examples)
#: 0.049; a file whose scales were lost is off by 100% or more. The 12-step model's logits are near ties
#: (they barely vary with the input), so the arg-max is not compared; the sequence output is what varies.
MAX_ERROR = 0.2


def _relative_error(got, want):
    return float(np.linalg.norm(got - want) / np.linalg.norm(want))


def test_finetuned_model_exports_to_int8_litert_close_to_keras(straight_finetune, tmp_path):  # noqa: F811
    from ai_edge_litert.interpreter import Interpreter

    from albert_tf.checkpoints.loading import load_model
    from albert_tf.litert import representative_features
    from tools import export

    run_dir, _ = straight_finetune
    train = glob.glob(str(run_dir / "records" / "*_train-*.tf_record"))
    dev = glob.glob(str(run_dir / "records" / "*_dev-*.tf_record"))
    assert len(train) == 1 and len(dev) == 1, sorted(glob.glob(str(run_dir / "records" / "*")))
    export_dir = tmp_path / "exported"
    code = export.main([f"--checkpoint={run_dir / 'model.keras'}", f"--export_dir={export_dir}",
                        f"--max_seq_length={SEQ}", "--tflite", "--quantize=int8",
                        f"--representative_records={train[0]}", "--representative_examples=40"])
    assert code == 0

    model = load_model(str(run_dir / "model.keras"))
    runner = Interpreter(model_path=str(export_dir / "albert_model.tflite")).get_signature_runner()
    examples = representative_features(dev[0], [1, SEQ], count=12)
    outputs = [runner(**example) for example in examples]
    expected = model.serving_outputs({key: np.concatenate([e[key] for e in examples]) for key in examples[0]})
    pairs = {name: (np.concatenate([o[name] for o in outputs]), expected[name].numpy())
             for name in ("logits", "sequence_output")}
    for name, (got, want) in pairs.items():
        assert got.shape == want.shape and got.shape[0] == 12, (name, got.shape, want.shape)
        assert np.isfinite(got).all(), f"NaN/inf in the int8 {name}"
        error = _relative_error(got, want)
        assert 0 < error < MAX_ERROR, f"{name}: relative error {error:.3g}"
    got, want = pairs["sequence_output"]
    varying = _relative_error(got - got.mean(0), want - want.mean(0))
    assert varying < MAX_ERROR, f"sequence_output less its mean over the examples: relative error {varying:.3g}"
