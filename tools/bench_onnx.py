"""ONNX export, measured: file size against the parameter bytes, onnxruntime against Keras, latency at batch 1.

For each model shape (random weights: neither size nor speed depends on their values) a backbone is exported with
`albert_tf.export_onnx.export_onnx` and reported with: the conversion time, the ONNX file's size, the
bytes of its initializers (the stored weights) and the model's parameter bytes (float32), the largest
absolute difference between onnxruntime's and Keras' outputs on one random batch, and the median latency
of one call at batch 1 (onnxruntime `InferenceSession.run` against the Keras model's `tokens` signature
as a tf.function, what the SavedModel serves). Needs the `onnx` extra.

    python -m tools.bench_onnx --sizes tiny,albert-base-v2 --sequence_length 128
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

#: The project's tiny test shape (tests/conftest.py), L=2 over one group.
TINY = dict(vocab_size=300, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=64, max_position_embeddings=512)


def build_parser():
    p = argparse.ArgumentParser(prog="bench_onnx", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="tiny,albert-base-v2",
                   help="comma-separated shapes: 'tiny' or an AlbertConfig preset (default: %(default)s), "
                        "e.g. --sizes albert-large-v2")
    p.add_argument("--sequence_length", type=int, default=128, help="tokens per row (default: %(default)s)")
    p.add_argument("--calls", type=int, default=50, help="timed calls per runtime (default: %(default)s)")
    return p


def _median_seconds(fn, calls: int) -> float:
    fn()  # warm-up: graph building, thread pools
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def measure(name: str, sequence_length: int, calls: int) -> str:
    import numpy as np
    import onnx
    import onnxruntime
    from onnx import numpy_helper

    from albert_tf import AlbertBackbone, AlbertConfig
    from albert_tf.export import token_function
    from albert_tf.export_onnx import export_onnx

    config = AlbertConfig(**TINY) if name == "tiny" else AlbertConfig.from_preset(name)
    model = AlbertBackbone(config)
    rng = np.random.default_rng(0)
    # Fresh biases are zeros and LayerNorm scales ones, which the converter folds away; noise keeps every
    # parameter in the graph, as a trained model's are.
    for weight in model.weights:
        weight.assign(weight.numpy() + rng.normal(0, 0.02, weight.shape).astype(weight.dtype))
    features = {"input_ids": rng.integers(5, config.vocab_size, (1, sequence_length)).astype(np.int32),
                "input_mask": np.ones((1, sequence_length), np.int32),
                "segment_ids": np.zeros((1, sequence_length), np.int32)}
    with tempfile.TemporaryDirectory(prefix="bench_onnx_") as tmp:
        onnx_file = os.path.join(tmp, "model.onnx")
        start = time.perf_counter()
        file_bytes = export_onnx(model, onnx_file)
        seconds = time.perf_counter() - start
        stored = sum(numpy_helper.to_array(t).nbytes for t in onnx.load(onnx_file).graph.initializer)
        session = onnxruntime.InferenceSession(onnx_file, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    _, fn = token_function(model)
    tensors = [features[key] for key in model.serving_inputs()]
    expected = {k: v.numpy() for k, v in fn(*tensors).items()}
    got = dict(zip(names, session.run(None, features)))
    diff = max(float(np.abs(got[k] - expected[k]).max()) for k in names)
    onnx_ms = 1e3 * _median_seconds(lambda: session.run(None, features), calls)
    keras_ms = 1e3 * _median_seconds(lambda: fn(*tensors), calls)
    parameters = 4 * sum(int(np.prod(w.shape)) for w in model.weights)
    return (f"| {name} (L={config.num_hidden_layers}, {config.num_hidden_groups} group) | {seconds:.0f} s "
            f"| {file_bytes / 2**20:.2f} MiB | {stored / 2**20:.2f} MiB | {parameters / 2**20:.2f} MiB "
            f"| {file_bytes / parameters:.3f} | {diff:.1e} | {onnx_ms:.2f} ms | {keras_ms:.2f} ms |")


def main(argv=None):
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    rows = ["| model | conversion | ONNX file | initializers | parameters | file / parameters | max abs diff "
            f"| onnxruntime, batch 1 x {args.sequence_length} | Keras tf.function, batch 1 |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name in args.sizes.split(","):
        rows.append(measure(name.strip(), args.sequence_length, args.calls))
        print(rows[-1], file=sys.stderr)
    import onnxruntime
    import tensorflow as tf
    import tf2onnx

    print("\n".join(rows))
    print(f"\nTensorFlow {tf.__version__}, tf2onnx {tf2onnx.__version__}, onnxruntime {onnxruntime.__version__}, "
          f"{os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
