"""Benchmark: a fine-tuned SST-2 classifier in every precision and format, on the CPU.

For float32 Keras, the float32 SavedModel (`tokens` signature), Keras int8 (`model.quantize("int8")`) and
LiteRT float32 / dynamic-range / float16 / int8 (`albert-export --tflite --quantize ...`): file size, p50
latency at batch 1 and 32 (calls round-robin over the variants, so that a change in machine load hits
all alike), dev accuracy and the number of dev examples with a NaN/inf logit. LiteRT files take batch 1
(`[1, S]`), so their batch 32 is 32 calls in a row. Prints the CPU's vector
extensions, checks the targets (dynamic-range LiteRT >= 2x faster than float32 LiteRT at batch 1, at
most 1 point of accuracy lost against float32 Keras, no NaN) and writes `<output>.json` and `<output>.md`
atomically.

    python -m tools.bench_quantization --model runs/sst2/model.keras \\
        --records 'glue_records/SST-2/eval.tf_record' --calibration_records 'glue_records/SST-2/train.tf_record'
    python -m tools.bench_quantization --quick    # a tiny random model and records made here
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Dict, List, Optional

from .bench_finetune import cpu_vector_extensions
from .bench_serving import _percentile

_DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs")
LITERT_MODES = ("none", "dynamic", "float16", "int8")


def _dir_size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files)


def _quick_inputs(tmp: str, seq: int):
    """A tiny random classifier saved as .keras and 96 records made here (labels random: accuracy ~50%)."""
    import keras
    import numpy as np
    import tensorflow as tf

    from albert_tf import AlbertConfig
    from albert_tf.models import AlbertClassifier

    keras.utils.set_random_seed(0)
    config = AlbertConfig(vocab_size=300, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                          num_attention_heads=4, intermediate_size=64, max_position_embeddings=seq,
                          initializer_range=0.2)
    model_path = os.path.join(tmp, "quick.keras")
    AlbertClassifier(config=config, num_classes=2).save(model_path)
    records = os.path.join(tmp, "quick.tfrecord")
    rng = np.random.default_rng(0)
    with tf.io.TFRecordWriter(records) as writer:
        for _ in range(96):
            used = int(rng.integers(4, seq + 1))
            ids = np.zeros(seq, np.int64)
            ids[:used] = rng.integers(5, 300, used)
            feature = {
                "input_ids": ids, "input_mask": (ids > 0).astype(np.int64), "segment_ids": np.zeros(seq, np.int64),
                "label_ids": np.array([rng.integers(0, 2)], np.int64), "is_real_example": np.array([1], np.int64),
            }
            example = tf.train.Example(features=tf.train.Features(feature={
                k: tf.train.Feature(int64_list=tf.train.Int64List(value=v)) for k, v in feature.items()}))
            writer.write(example.SerializeToString())
    return model_path, records


def _dev_set(pattern: str, seq: int, limit: int):
    import numpy as np

    from albert_tf.data.finetuning import finetuning_dataset

    batches = list(finetuning_dataset(pattern, "sst-2", 256, seq, is_training=False).as_numpy_iterator())
    real = np.concatenate([b["is_real_example"] for b in batches]).reshape(-1) == 1  # not the padding examples
    features = {k: np.concatenate([b[k] for b in batches])[real][:limit] for k in ("input_ids", "input_mask", "segment_ids")}
    labels = np.concatenate([b["label_ids"] for b in batches]).reshape(-1)[real][:limit]
    return features, labels


class _LiteRT:
    """A LiteRT file, whose inputs are `[1, S]`: a batch of 32 is 32 calls (the converted graph's reshapes
    keep batch 1, so resizing the inputs fails in XNNPack's prepare step)."""

    def __init__(self, path: str):
        from ai_edge_litert.interpreter import Interpreter

        self.runner = Interpreter(model_path=path).get_signature_runner()

    def __call__(self, features):
        import numpy as np

        rows = features["input_ids"].shape[0]
        return np.concatenate([self.runner(**{k: v[i:i + 1] for k, v in features.items()})["logits"]
                               for i in range(rows)])


def run(args) -> Dict:
    import keras
    import numpy as np
    import tensorflow as tf

    from albert_tf.checkpoints.loading import load_model
    from albert_tf.export import export_saved_model, export_tflite
    from albert_tf.litert import representative_features

    seq = args.max_seq_length
    tmp = tempfile.mkdtemp(prefix="bench_quantization_")
    model_path, records = (args.model, args.records) if not args.quick else _quick_inputs(tmp, seq)
    calibration = args.calibration_records or records
    features, labels = _dev_set(records, seq, args.max_examples)
    count = len(labels)

    variants, sizes = {}, {}
    model = load_model(model_path)
    sizes["keras float32"] = os.path.getsize(model_path) if os.path.isfile(model_path) else None
    keras_float = tf.function(lambda f: model(f, training=False)["logits"], reduce_retracing=True)
    variants["keras float32"] = lambda f: keras_float(f).numpy()
    export_dir = export_saved_model(model, os.path.join(tmp, "saved_model"), max_seq_length=seq)
    sizes["savedmodel float32"] = _dir_size(export_dir)
    tokens = tf.saved_model.load(export_dir).signatures["tokens"]
    variants["savedmodel float32"] = lambda f: tokens(**{k: tf.constant(v) for k, v in f.items()})["logits"].numpy()

    int8_model = keras.saving.load_model(model_path) if model_path.endswith(".keras") else load_model(model_path)
    int8_model.quantize("int8")
    int8_path = os.path.join(tmp, "int8.keras")
    int8_model.save(int8_path)
    sizes["keras int8"] = os.path.getsize(int8_path)
    keras_int8 = tf.function(lambda f: int8_model(f, training=False)["logits"], reduce_retracing=True)
    variants["keras int8"] = lambda f: keras_int8(f).numpy()

    examples = representative_features(calibration, [1, seq], args.calibration_examples)
    for mode in LITERT_MODES:
        path = os.path.join(tmp, f"{mode}.tflite")
        start = time.perf_counter()
        sizes[f"litert {mode}"] = export_tflite(model, path, max_seq_length=seq, quantize=mode,
                                                representative_dataset=examples if mode == "int8" else None)
        print(f"converted litert {mode} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        variants[f"litert {mode}"] = _LiteRT(path)

    results = {name: {"file_bytes": sizes[name]} for name in variants}
    for name, call in variants.items():  # accuracy and NaN over the dev set, at batch 1 for LiteRT
        step = 1 if name.startswith("litert") else 64
        logits = np.concatenate([np.asarray(call({k: v[i:i + step] for k, v in features.items()}))
                                 for i in range(0, count, step)])
        bad = ~np.isfinite(logits).all(axis=-1)
        results[name].update(nan_examples=int(bad.sum()),
                             accuracy=float(np.mean(np.where(bad, -1, logits.argmax(-1)) == labels)))

    for batch, calls in ((1, args.calls_batch_1), (32, args.calls)):
        batches = [{k: np.resize(np.roll(v, -i * batch, axis=0), (batch,) + v.shape[1:]) for k, v in features.items()}
                   for i in range(calls)]
        for call in variants.values():
            for b in batches[: args.warmup]:
                call(b)
        latencies = {name: [] for name in variants}
        for b in batches:
            for name, call in variants.items():
                start = time.perf_counter()
                call(b)
                latencies[name].append(time.perf_counter() - start)
        for name, times in latencies.items():
            results[name][f"p50_ms_batch_{batch}"] = 1000 * _percentile(times, 50)
    return {"model": "quick (tiny random classifier)" if args.quick else model_path, "dev_records": records,
            "dev_examples": count, "calibration_records": calibration, "calibration_examples": len(examples),
            "max_seq_length": seq, "cpu": {"cores": os.cpu_count(), "vector_extensions": cpu_vector_extensions()},
            "note": args.note, "results": results, "targets": _targets(results)}


def _targets(results: Dict) -> Dict:
    float_lite, dynamic = results["litert none"], results["litert dynamic"]
    speedup = float_lite["p50_ms_batch_1"] / dynamic["p50_ms_batch_1"]
    lost = 100 * (results["keras float32"]["accuracy"] - dynamic["accuracy"])
    nan = sum(r["nan_examples"] for r in results.values())
    return {
        "dynamic_speedup_batch_1": {"value": speedup, "target": ">= 2", "met": speedup >= 2},
        "dynamic_accuracy_points_lost": {"value": lost, "target": "<= 1", "met": lost <= 1},
        "nan_examples_any_variant": {"value": nan, "target": "0", "met": nan == 0},
    }


def export_sizes(preset: str, seq: int) -> Dict:
    """File sizes of a randomly initialised `preset` backbone in every format and precision (sizes do not
    depend on the weights' values; LiteRT int8 is calibrated on random ids)."""
    import keras
    import numpy as np

    from albert_tf import AlbertBackbone, AlbertConfig
    from albert_tf.export import export_saved_model, export_tflite

    config = AlbertConfig.from_preset(preset)
    model = AlbertBackbone(config)
    rng = np.random.default_rng(0)
    # Values as a trained model's: fresh biases are zeros and LayerNorm scales ones, which the LiteRT
    # converter stores once (a fresh albert-base's LiteRT file is 0.07 MB smaller; its matrices all differ).
    for weight in model.weights:
        weight.assign(rng.normal(0.0, 0.02, weight.shape).astype("float32"))
    sizes = {"parameters": model.count_params(), "parameter_bytes_float32": 4 * model.count_params()}
    examples = [{"input_ids": rng.integers(5, config.vocab_size, (1, seq)).astype(np.int32),
                 "input_mask": np.ones((1, seq), np.int32), "segment_ids": np.zeros((1, seq), np.int32)}
                for _ in range(8)]
    with tempfile.TemporaryDirectory(prefix="export_sizes_") as tmp:
        for precision in ("float32", "int8"):
            if precision == "int8":
                model.quantize("int8")
            path = os.path.join(tmp, f"{precision}.keras")
            model.save(path)
            sizes[f".keras {precision}"] = os.path.getsize(path)
            export_dir = export_saved_model(model, os.path.join(tmp, precision), max_seq_length=seq)
            sizes[f"SavedModel {precision} (variables)"] = _dir_size(os.path.join(export_dir, "variables"))
            sizes[f"SavedModel {precision} (whole directory)"] = _dir_size(export_dir)
        model = AlbertBackbone(config)
        for weight in model.weights:
            weight.assign(rng.normal(0.0, 0.02, weight.shape).astype("float32"))
        for mode in LITERT_MODES:
            start = time.perf_counter()
            sizes[f"LiteRT {mode}"] = export_tflite(model, os.path.join(tmp, f"{mode}.tflite"), max_seq_length=seq,
                                                    quantize=mode, representative_dataset=examples if mode == "int8" else None)
            print(f"LiteRT {mode}: {sizes[f'LiteRT {mode}'] / 2**20:.1f} MiB in {time.perf_counter() - start:.0f} s",
                  file=sys.stderr)
    keras.backend.clear_session()
    return {"preset": preset, "max_seq_length": seq, "bytes": sizes}


def sizes_report(summary: Dict) -> str:
    sizes = summary["bytes"]
    base = sizes["parameter_bytes_float32"]
    lines = [f"{summary['preset']} backbone ({sizes['parameters']:,} parameters, {base / 1e6:.1f} MB in float32), "
             f"LiteRT at sequence length {summary['max_seq_length']}:", "",
             "| format and precision | MB | of the float32 parameter bytes |", "|---|---:|---:|"]
    for name, size in sizes.items():
        if name not in ("parameters", "parameter_bytes_float32"):
            lines.append(f"| {name} | {size / 1e6:.1f} | {size / base:.2f} |")
    return "\n".join(lines) + "\n"


def report(summary: Dict) -> str:
    lines = [
        "# bench_quantization: SST-2 classifier, every precision and format, CPU",
        "",
        f"model: {summary['model']}; dev: {summary['dev_examples']} examples of {summary['dev_records']}; "
        f"sequence length {summary['max_seq_length']}; int8 calibration: {summary['calibration_examples']} "
        f"examples of {summary['calibration_records']}",
        f"CPU: {summary['cpu']['cores']} cores visible; vector extensions: {summary['cpu']['vector_extensions']}",
    ] + ([f"note: {summary['note']}"] if summary["note"] else []) + [
        "",
        "LiteRT files take `[1, S]`: their batch 32 is 32 calls in a row.",
        "",
        "| variant | file MiB | p50 ms batch 1 | p50 ms batch 32 | dev accuracy | NaN examples |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in summary["results"].items():
        size = "" if r["file_bytes"] is None else f"{r['file_bytes'] / 2**20:.2f}"
        lines.append(f"| {name} | {size} | {r['p50_ms_batch_1']:.2f} | {r['p50_ms_batch_32']:.1f} | "
                     f"{100 * r['accuracy']:.2f} | {r['nan_examples']} |")
    lines += ["", "| target | value | wanted | met |", "|---|---:|---|---|"]
    for name, t in summary["targets"].items():
        lines.append(f"| {name} | {t['value']:.2f} | {t['target']} | {'yes' if t['met'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="fine-tuned SST-2 classifier (.keras or any checkpoint albert-export reads)")
    p.add_argument("--records", help="SST-2 dev TFRecords (albert-create-finetuning-data), glob or comma-separated")
    p.add_argument("--calibration_records", default=None,
                   help="records that calibrate LiteRT int8 (default: --records; use training records to keep dev unseen)")
    p.add_argument("--calibration_examples", type=int, default=300)
    p.add_argument("--max_seq_length", type=int, default=128, help="the records' sequence length")
    p.add_argument("--max_examples", type=int, default=100000, help="dev examples scored (all of SST-2's 872)")
    p.add_argument("--calls", type=int, default=12, help="timed calls per variant at batch 32")
    p.add_argument("--calls_batch_1", type=int, default=60, help="timed calls per variant at batch 1")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--output", default=None,
                   help="results go to OUTPUT.json and OUTPUT.md (default: docs/bench_quantization, with --quick "
                        "docs/bench_quantization_quick)")
    p.add_argument("--quick", action="store_true", help="a tiny random model and records made here")
    p.add_argument("--sizes", default=None, metavar="PRESET",
                   help="only measure file sizes of a random PRESET backbone (e.g. albert-base-v2) in every format; "
                        "writes OUTPUT (default docs/export_sizes).json/.md")
    p.add_argument("--note", default="", help="free text printed with the results (e.g. machine load)")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from albert_tf.io import write_text_atomic

    if args.sizes:
        summary = export_sizes(args.sizes, args.max_seq_length)
        output = args.output or os.path.join(_DOCS, "export_sizes")
        text = sizes_report(summary)
        write_text_atomic(output + ".json", json.dumps(summary, indent=2) + "\n")
        write_text_atomic(output + ".md", text)
        print(text)
        return 0
    if not args.quick and not (args.model and args.records):
        p.error("pass --model and --records (a fine-tuned SST-2 classifier and its dev records), or --quick")
    if args.quick:
        args.max_seq_length = min(args.max_seq_length, 32)
    summary = run(args)
    output = args.output or os.path.join(_DOCS, "bench_quantization" + ("_quick" if args.quick else ""))
    text = report(summary)
    write_text_atomic(output + ".json", json.dumps(summary, indent=2) + "\n")
    write_text_atomic(output + ".md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
