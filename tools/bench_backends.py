"""Training and inference throughput of albert_tf against keras-hub's ALBERT, on one Keras backend per run.

For each size (albert-base, albert-large: the v2 shapes; bert-large: our backbone with `sharing="none"` and
E=H) and each precision (float32; bfloat16 as Keras' `mixed_bfloat16` policy) it builds

* ours: `albert_tf.AlbertPretrainer` (training, `model.fit`) and its `AlbertBackbone` (inference);
* keras-hub's `AlbertMaskedLM` (training, `model.fit`) and its `AlbertBackbone` (inference),

with the same config, batch, sequence length, masked positions and optimizer (`keras.optimizers.Adam`: the
original's LAMB is TensorFlow-only until it moves to the public optimizer API), dropout off, on synthetic
in-memory batches. Inference is `predict` of `sequence_output` only, for both. The two implementations of a
case are timed in alternating rounds (each round `--steps` steps, timed from the end of the first), so a
busy machine slows both alike; each figure is the median round. keras-hub's MLM model has no SOP head and projects E->H even when E=H; ours
trains SOP too. Both are charged the same model FLOPs.

MFU = sequences/s x model FLOPs per sequence / peak FLOP/s. Model FLOPs count the matrix products only,
2·m·n·k each, from the config: the E->H embedding projection (when E != H), per applied layer the Q/K/V/O
projections, the attention scores and their product with V, and the FFN; for training also the MLM head
(its E-wide transform and the E x V output at the masked positions), and x3 for the backward pass. The
peak is `--peak_tflops`, else the card's dense spec (KNOWN_PEAKS: bfloat16; float32 runs as TF32 on both
backends' GPU defaults), else, on a CPU, the rate a large matmul measures on this backend (printed; MFU is
then the fraction of that, not of a spec sheet).

One backend per process (Keras fixes it at import): run the script once per backend, each with `--json`,
then `--compare` prints one table. Under `--backend jax` nothing imports TensorFlow: keras-hub imports
without it when installed with `--no-deps` next to `regex`, `tokenizers` and `sentencepiece`.

    python tools/bench_backends.py --backend tensorflow --json /tmp/tf.json
    KERAS_BACKEND=jax python tools/bench_backends.py --backend jax --json /tmp/jax.json
    python tools/bench_backends.py --compare /tmp/tf.json /tmp/jax.json

The accelerator machine (JAX with CUDA, no TensorFlow, no Keras; nothing can be fetched there) runs it from
this repository with Keras and keras-hub carried as wheels (docs/bench_backends.md has the exact call).
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

SIZES = ("albert-base", "albert-large", "bert-large")
PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
IMPLEMENTATIONS = ("albert_tf", "keras_hub")

#: Dense (no sparsity) peak TFLOP/s by a substring of the device name, (bfloat16, float32-as-TF32);
#: the first match wins, so the more specific names come first.
KNOWN_PEAKS = (
    ("H100 PCIe", (756.0, 378.0)),
    ("H100", (989.4, 494.7)),
    ("H200", (989.4, 494.7)),
    ("A100", (312.0, 156.0)),
    ("L4", (121.0, 60.0)),
    ("TPU v4", (275.0, 275.0)),
    ("TPU v5 lite", (197.0, 197.0)),
)


def model_flops(config, seq_length, predictions, training):
    """Matrix-product FLOPs of one sequence through the model (x3 for a training step).

    >>> from albert_tf import AlbertConfig
    >>> c = AlbertConfig(vocab_size=10, embedding_size=2, hidden_size=4, num_hidden_layers=1,
    ...                  num_attention_heads=1, intermediate_size=8)
    >>> model_flops(c, seq_length=3, predictions=1, training=False)  # 48 + 4*96 + 2*72 + 2*192
    960
    """
    s, e, h, f = seq_length, config.embedding_size, config.hidden_size, config.intermediate_size
    projection = 2 * s * e * h if e != h else 0
    per_layer = 4 * 2 * s * h * h + 2 * 2 * s * s * h + 2 * 2 * s * h * f
    forward = projection + config.num_hidden_layers * config.inner_group_num * per_layer
    if not training:
        return forward
    mlm_head = 2 * predictions * h * e + 2 * predictions * e * config.vocab_size
    return 3 * (forward + mlm_head)


def config_for(size):
    """The AlbertConfig of a benchmark size, dropout off; `tiny` is the test suite's H=32 model (to S=512)."""
    from albert_tf import AlbertConfig

    if size == "tiny":
        return AlbertConfig(vocab_size=300, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                            num_attention_heads=4, intermediate_size=64, max_position_embeddings=512,
                            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    from tools.bench_speedup import config_for as paper_config

    config = paper_config(size)
    return AlbertConfig.from_dict({**config.to_dict(), "hidden_dropout_prob": 0.0,
                                   "attention_probs_dropout_prob": 0.0})


def keras_hub_models(config, dtype):
    """keras-hub's (AlbertBackbone, AlbertMaskedLM) of the same shape as `config`, dropout off."""
    import keras_hub

    # keras-hub shares by groups: one group per layer is BERT's no sharing.
    groups = config.num_hidden_layers if config.sharing == "none" else config.num_hidden_groups
    backbone = keras_hub.models.AlbertBackbone(
        vocabulary_size=config.vocab_size, num_layers=config.num_hidden_layers, num_heads=config.num_attention_heads,
        num_groups=groups, num_inner_repetitions=config.inner_group_num, embedding_dim=config.embedding_size,
        hidden_dim=config.hidden_size, intermediate_dim=config.intermediate_size, dropout=0.0,
        max_sequence_length=config.max_position_embeddings, num_segments=config.type_vocab_size, dtype=dtype)
    return backbone, keras_hub.models.AlbertMaskedLM(backbone=backbone)


def sequence_output_model(backbone, names, seq_length):
    """A functional model of `backbone` that returns `sequence_output` alone, so that neither side copies
    outputs the other does not have (ours also returns every layer's output) back to the host."""
    import keras

    inputs = {name: keras.Input((seq_length,), dtype="int32", name=name) for name in names}
    return keras.Model(inputs, backbone(inputs)["sequence_output"])


class Case:
    """One implementation at one size and precision: a training model and an inference model, warmed."""

    def __init__(self, implementation, config, precision, batch, steps):
        import keras

        self.implementation, self.steps = implementation, steps
        self.batch_size = len(batch["input_ids"])
        seq = batch["input_ids"].shape[1]
        dtype = PRECISIONS[precision]
        keras.utils.set_random_seed(0)
        tile = lambda a: a.repeat(steps, axis=0)  # noqa: E731 - `steps` batches of the same examples
        if implementation == "albert_tf":
            from albert_tf import AlbertPretrainer

            self.trainer = AlbertPretrainer(config, dtype=dtype)
            self.train_args = {"x": {k: tile(v) for k, v in batch.items()}}
            self.loss = {}
            names = ("input_ids", "input_mask", "segment_ids")
            self.infer_x = {k: tile(batch[k]) for k in names}
            backbone = self.trainer.backbone
        else:
            backbone, self.trainer = keras_hub_models(config, dtype)
            names = ("token_ids", "segment_ids", "padding_mask")
            self.infer_x = {"token_ids": tile(batch["input_ids"]), "segment_ids": tile(batch["segment_ids"]),
                            "padding_mask": tile(batch["input_mask"])}
            x = {**self.infer_x, "mask_positions": tile(batch["masked_lm_positions"])}
            self.train_args = {"x": x, "y": tile(batch["masked_lm_ids"]),
                               "sample_weight": tile(batch["masked_lm_weights"])}
            self.loss = {"loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True)}
        self.inferrer = sequence_output_model(backbone, names, seq)
        self.parameters = int(self.trainer.count_params())
        self.trainer.compile(optimizer=keras.optimizers.Adam(1e-4), **self.loss)
        self.jit_compile = self.trainer.jit_compile
        self.train()  # the first call traces/compiles and builds the optimizer's slots
        self.infer()

    def train(self):
        """Seconds per training step, between the ends of the first and the last of `steps` steps."""
        import keras

        clock = step_clock()
        # Keras' own `fit` for both: keras-hub's (PipelineModel.fit) first feeds in-memory arrays through
        # grain or tf.data, neither of which the GPU machine has, to apply a preprocessor this model has not.
        keras.Model.fit(self.trainer, **self.train_args, batch_size=self.batch_size, epochs=1, shuffle=False,
                        verbose=0, callbacks=[clock])
        return clock.seconds_per_step()

    def infer(self):
        """Seconds per inference batch, likewise."""
        clock = step_clock()
        self.inferrer.predict(self.infer_x, batch_size=self.batch_size, verbose=0, callbacks=[clock])
        return clock.seconds_per_step()


def step_clock():
    """A callback that stamps the end of every batch after waiting for its result (JAX dispatches steps
    ahead of the device). Timing from the first batch's end leaves out `fit`'s set-up, which differs
    between the two implementations' models and is no part of their throughput."""
    import keras
    from keras import ops

    class StepClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.stamps = []

        def _stamp(self, value):
            ops.convert_to_numpy(ops.reshape(value, (-1,))[:1])  # waits for the step, copies one number back
            self.stamps.append(time.perf_counter())

        def on_train_batch_end(self, batch, logs=None):
            self._stamp(logs["loss"])

        def on_predict_batch_end(self, batch, logs=None):
            self._stamp(logs["outputs"])

        def seconds_per_step(self):
            return (self.stamps[-1] - self.stamps[0]) / (len(self.stamps) - 1)

    return StepClock()


def synthetic_batch(config, batch_size, seq_length, predictions):
    from tools.bench_speedup import batch_for

    return batch_for(batch_size, seq_length, predictions, config.vocab_size)


def measure(size, precision, args, config=None, implementations=IMPLEMENTATIONS, log=None):
    """Rows (one per implementation and mode) for one size and precision, timed in alternating rounds."""
    config, log = config or config_for(size), log or sys.stderr
    batch = synthetic_batch(config, args.batch_size, args.seq_length, args.max_predictions_per_seq)
    cases, rows = {}, []
    for name in implementations:
        try:
            cases[name] = Case(name, config, precision, batch, args.steps)
        except Exception as error:  # a missing keras-hub or a shape it refuses: report it, go on with the rest
            rows += [{"size": size, "precision": precision, "implementation": name, "mode": mode,
                      "error": " ".join(f"{type(error).__name__}: {error}".split())[:300]}
                     for mode in ("train", "infer")]
    seconds = {(name, mode): [] for name in cases for mode in ("train", "infer")}
    for round_ in range(args.rounds):
        for name, case in cases.items():
            seconds[(name, "train")].append(case.train())
            seconds[(name, "infer")].append(case.infer())
        print(f"{size} {precision}: round {round_ + 1}/{args.rounds}", file=log, flush=True)
    for (name, mode), values in seconds.items():
        per_step = statistics.median(values)
        flops = model_flops(config, args.seq_length, args.max_predictions_per_seq, training=mode == "train")
        rows.append({"size": size, "precision": precision, "implementation": name, "mode": mode,
                     "parameters": cases[name].parameters, "jit_compile": cases[name].jit_compile,
                     "seconds_per_step": per_step, "sequences_per_second": args.batch_size / per_step,
                     "flops_per_sequence": flops, "achieved_tflops": args.batch_size / per_step * flops / 1e12})
    return rows


def device_name():
    """The accelerator (or CPU) the backend computes on, as the backend names it."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0]
        kind = cpu_model() if device.platform == "cpu" else device.device_kind
        return f"{device.platform}: {kind} (x{jax.device_count()})"
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            return "gpu: " + tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)
    return f"cpu: {cpu_model()}"


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown")
    except OSError:
        return platform.processor() or platform.machine()


def measured_matmul_tflops(precision, n):
    """The TFLOP/s of an n x n x n matmul on this backend's default device (best of five, after a warm-up)."""
    import numpy as np
    from keras import ops

    dtype = "bfloat16" if precision == "bfloat16" else "float32"
    a = ops.convert_to_tensor(np.random.default_rng(0).standard_normal((n, n)), dtype=dtype)
    total = lambda: ops.convert_to_numpy(ops.cast(ops.sum(ops.matmul(a, a)), "float32"))  # noqa: E731 - small copy back
    total()
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        total()
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e12


def peak_tflops(precision, device, given):
    """(peak TFLOP/s, where it came from) for MFU: the flag, the card's spec, or a measured matmul on CPU."""
    if given:
        return given, "--peak_tflops"
    for name, (bf16, fp32) in KNOWN_PEAKS:
        if name in device:
            return (bf16 if precision == "bfloat16" else fp32), f"spec of {name} (dense)"
    if device.startswith("cpu"):
        rate = measured_matmul_tflops(precision, 2048)
        return rate, f"measured {precision} 2048^3 matmul, {os.cpu_count()} cores visible"
    return None, "n/a (unknown device: give --peak_tflops)"


def print_table(reports, out=None):
    """One table of every report's rows: ours next to keras-hub per backend, size, precision and mode."""
    out = out or sys.stdout
    print(f"{'backend':<11}{'size':<13}{'precision':<10}{'mode':<6}{'albert_tf seq/s':>16}{'keras-hub seq/s':>16}"
          f"{'ratio':>7}{'MFU ours':>10}{'MFU hub':>9}", file=out)
    for report in reports:
        meta = report["meta"]
        cells = {}
        for row in report["rows"]:
            cells.setdefault((row["size"], row["precision"], row["mode"]), {})[row["implementation"]] = row
        for (size, precision, mode), pair in cells.items():
            ours, hub = pair.get("albert_tf", {}), pair.get("keras_hub", {})
            peak = meta["peaks"].get(precision, {}).get("tflops")

            def speed(row):
                return f"{row['sequences_per_second']:.2f}" if "sequences_per_second" in row else row and "error" or "-"

            def mfu(row):
                if peak and "achieved_tflops" in row:
                    return f"{100 * row['achieved_tflops'] / peak:.1f}%"
                return "n/a"

            ratio = (f"{ours['sequences_per_second'] / hub['sequences_per_second']:.2f}"
                     if "sequences_per_second" in ours and "sequences_per_second" in hub else "-")
            print(f"{meta['backend']:<11}{size:<13}{precision:<10}{mode:<6}{speed(ours):>16}{speed(hub):>16}"
                  f"{ratio:>7}{mfu(ours):>10}{mfu(hub):>9}", file=out)
    for report in reports:
        meta = report["meta"]
        peaks = "; ".join(f"{p} {v['tflops']:.3g} TFLOP/s ({v['source']})" if v["tflops"] else f"{p} {v['source']}"
                          for p, v in meta["peaks"].items())
        print(f"{meta['backend']}: {meta['device']}; Keras {meta['keras']}, {meta['backend_version']}, keras-hub "
              f"{meta['keras_hub']}; batch {meta['batch_size']} x {meta['seq_length']}, {meta['steps']} steps x "
              f"{meta['rounds']} rounds; peak: {peaks}; CPU vector extensions: {meta['vector_extensions']}; "
              f"load average {meta['load_before']} -> {meta['load_after']}; TensorFlow imported: "
              f"{meta.get('tensorflow_imported', 'n/a')}", file=out)
        for row in report["rows"]:
            if "error" in row and row["mode"] == "train":
                print(f"  {row['implementation']} {row['size']} {row['precision']}: {row['error']}", file=out)


def _comma_list(*choices):
    def parse(text):
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if n not in choices]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"{','.join(unknown) or 'nothing'}: expected a comma list of "
                                             f"{', '.join(choices)}")
        return names

    return parse


def _at_least(least):
    def parse(text):
        value = int(text)
        if value < least:
            raise argparse.ArgumentTypeError(f"{text}: expected an integer of at least {least}")
        return value

    return parse


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python tools/bench_backends.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  python tools/bench_backends.py --backend jax --sizes albert-base --seq_length 128 "
               "--batch_size 8 --steps 2 --json /tmp/jax.json")
    parser.add_argument("--backend", choices=("tensorflow", "jax"), default=os.environ.get("KERAS_BACKEND",
                        "tensorflow"), help="the Keras backend of this run (default: %(default)s, from "
                        "KERAS_BACKEND; e.g. --backend jax)")
    parser.add_argument("--sizes", type=_comma_list(*SIZES, "tiny"), default="albert-base,albert-large,bert-large",
                        help="comma list (default: %(default)s; e.g. --sizes albert-large)")
    parser.add_argument("--precisions", type=_comma_list(*PRECISIONS), default="float32,bfloat16",
                        help="comma list; bfloat16 is Keras' mixed_bfloat16 policy (default: %(default)s; "
                             "e.g. --precisions bfloat16)")
    parser.add_argument("--batch_size", type=_at_least(1), default=8, help="sequences per step (default: "
                        "%(default)s; e.g. --batch_size 32)")
    parser.add_argument("--seq_length", type=_at_least(1), default=128, help="tokens per sequence (default: "
                        "%(default)s; e.g. --seq_length 512)")
    parser.add_argument("--max_predictions_per_seq", type=_at_least(1), default=20, help="masked positions per "
                        "sequence (default: %(default)s; e.g. --max_predictions_per_seq 76)")
    parser.add_argument("--steps", type=_at_least(2), default=3, help="steps per round, timed from the first "
                        "step's end (default: %(default)s; e.g. --steps 20)")
    parser.add_argument("--rounds", type=_at_least(1), default=3, help="alternating rounds; the figure is the median "
                        "(default: %(default)s; e.g. --rounds 5)")
    parser.add_argument("--implementations", type=_comma_list(*IMPLEMENTATIONS), default="albert_tf,keras_hub",
                        help="comma list (default: %(default)s; e.g. --implementations albert_tf)")
    parser.add_argument("--peak_tflops", type=float, default=None, help="peak TFLOP/s for MFU, overriding the "
                        "table of known cards and the CPU measurement (default: %(default)s; e.g. "
                        "--peak_tflops 989)")
    parser.add_argument("--json", default=None, help="also write the report here (default: %(default)s; e.g. "
                        "--json /tmp/jax.json)")
    parser.add_argument("--compare", nargs="+", default=None, metavar="JSON", help="print one table of reports "
                        "written with --json and measure nothing (default: %(default)s; e.g. --compare "
                        "/tmp/tf.json /tmp/jax.json)")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.compare:
        reports = []
        for path in args.compare:
            try:
                with open(path, encoding="utf-8") as f:
                    reports.append(json.load(f))
            except (OSError, ValueError) as error:
                parser.error(f"--compare {path}: expected a report written with --json ({error})")
        print_table(reports)
        return reports
    # Keras reads the backend once, at its first import: set it before anything imports Keras.
    os.environ["KERAS_BACKEND"] = args.backend
    import keras

    if keras.backend.backend() != args.backend:
        parser.error(f"--backend {args.backend}: Keras is already imported on {keras.backend.backend()}")
    report = run(args, args.sizes, args.precisions, args.implementations)
    print_table([report])
    return report


def run(args, sizes, precisions, implementations, log=None):
    """Measure every size x precision on the current backend; the report --json writes, rewritten after each
    case, so that a run stopped at a time limit keeps the cases it finished."""
    log = log or sys.stderr
    import keras

    from tools.bench_finetune import cpu_vector_extensions

    try:
        import keras_hub

        hub_version = keras_hub.__version__
    except ImportError as error:
        hub_version = f"not importable ({error})"
    backend_module = __import__(keras.backend.backend())
    device = device_name()
    meta = {"backend": keras.backend.backend(), "backend_version": f"{keras.backend.backend()} "
            f"{backend_module.__version__}", "keras": keras.__version__, "keras_hub": hub_version, "device": device,
            "vector_extensions": cpu_vector_extensions(), "cpu": cpu_model(), "cores": os.cpu_count(),
            "batch_size": args.batch_size, "seq_length": args.seq_length,
            "max_predictions_per_seq": args.max_predictions_per_seq, "steps": args.steps, "rounds": args.rounds,
            "optimizer": "keras.optimizers.Adam", "load_before": _load_average()}
    print(f"backend {meta['backend_version']} on {device}; CPU vector extensions: {meta['vector_extensions']}",
          file=log, flush=True)
    meta["peaks"] = {}
    for precision in precisions:
        tflops, source = peak_tflops(precision, device, args.peak_tflops)
        meta["peaks"][precision] = {"tflops": tflops, "source": source}
        print(f"peak for {precision}: {tflops if tflops is None else round(tflops, 4)} TFLOP/s ({source})",
              file=log, flush=True)
    rows = []
    for precision in precisions:  # the first precision named is measured for every size first
        for size in sizes:
            rows += measure(size, precision, args, implementations=implementations, log=log)
            keras.backend.clear_session()
            meta["load_after"] = _load_average()
            meta["tensorflow_imported"] = "tensorflow" in sys.modules
            if args.json:
                from albert_tf.io import write_text_atomic

                write_text_atomic(args.json, json.dumps({"meta": meta, "rows": rows}, indent=2))
    return {"meta": meta, "rows": rows}


def _load_average():
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "n/a"


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main()
