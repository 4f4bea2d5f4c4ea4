"""Training and inference throughput of ALBERT-base pretraining models, ours next to keras-hub's and
tf-models-official's, in one run.

Same config for all (albert-base: L=12, H=768, E=128, V=30000), sequence 128, batch 8, 20 masked
positions, Adam, the same hand-written training step (forward, MLM cross-entropy, gradients, update)
compiled with `tf.function`. Throughput: all implementations in one process, timed round-robin, so a
busy machine slows them alike. Peak memory (max RSS): each implementation alone in its own process.

    python tools/bench_pretrain.py                   # fp32 and bf16, all three
    python tools/bench_pretrain.py --precisions fp32 --steps 20

keras-hub's `AlbertMaskedLM` and tf-models' `AlbertEncoder` + `MaskedLM` carry no SOP head; ours is
measured with its SOP head (a [768, 2] dense, negligible) to match what `albert-pretrain` trains.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

V, E, H, L, N, I = 30000, 128, 768, 12, 12, 3072


def _batch(seq, batch, predictions, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    mask = np.ones((batch, seq), "int32")
    mask[batch // 2:, seq - seq // 4:] = 0
    return {
        "input_ids": rng.integers(5, V, (batch, seq)).astype("int32"),
        "input_mask": mask,
        "segment_ids": np.concatenate([np.zeros((batch, seq // 2), "int32"), np.ones((batch, seq - seq // 2), "int32")], 1),
        "masked_lm_positions": np.sort(rng.choice(seq - seq // 4, (batch, predictions)), axis=1).astype("int32"),
        "masked_lm_ids": rng.integers(5, V, (batch, predictions)).astype("int32"),
    }


def _build(impl, precision):
    """Returns (trainable_variables, forward(batch) -> float32 logits [B, P, V], optimizer)."""
    import tensorflow as tf

    if impl == "tf_models":
        import tf_keras

        from official.modeling import activations
        from official.nlp.modeling import layers, networks

        if precision == "bf16":
            tf_keras.mixed_precision.set_global_policy("mixed_bfloat16")
        encoder = networks.AlbertEncoder(
            vocab_size=V, embedding_width=E, hidden_size=H, num_layers=L, num_attention_heads=N,
            intermediate_size=I, type_vocab_size=2, activation=activations.gelu, dropout_rate=0.0,
            attention_dropout_rate=0.0, dict_outputs=True,
        )
        head = layers.MaskedLM(embedding_table=encoder.get_embedding_table(), activation=activations.gelu)

        def forward(b, training):
            out = encoder({"input_word_ids": b["input_ids"], "input_mask": b["input_mask"], "input_type_ids": b["segment_ids"]}, training=training)
            return tf.cast(head(out["sequence_output"], masked_positions=b["masked_lm_positions"]), tf.float32)

        forward({k: tf.constant(v) for k, v in _batch(16, 2, 3).items()}, False)
        return encoder.trainable_variables + head.trainable_variables, forward, tf_keras.optimizers.Adam(1e-4)

    import keras

    if precision == "bf16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    if impl == "keras_hub":
        import keras_hub

        backbone = keras_hub.models.AlbertBackbone(
            vocabulary_size=V, num_layers=L, num_heads=N, embedding_dim=E, hidden_dim=H, intermediate_dim=I,
            dropout=0.0, max_sequence_length=512,
        )
        model = keras_hub.models.AlbertMaskedLM(backbone=backbone, preprocessor=None)

        def forward(b, training):
            logits = model(
                {"token_ids": b["input_ids"], "segment_ids": b["segment_ids"], "padding_mask": b["input_mask"],
                 "mask_positions": b["masked_lm_positions"]},
                training=training,
            )
            return tf.cast(logits, tf.float32)
    else:
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        from albert_tf import AlbertConfig, AlbertPretrainer

        model = AlbertPretrainer(AlbertConfig.from_preset("albert-base-v2"))

        def forward(b, training):
            out = model(b, training=training)
            # Include the SOP logits in the graph so they are not pruned away.
            return out["mlm_logits"] + 0.0 * tf.reduce_sum(out["sop_logits"])

    forward(_batch(16, 2, 3), False)
    return model.trainable_variables, forward, keras.optimizers.Adam(1e-4)


def _steps(impl, precision, seq, batch_size, predictions):
    """Builds one implementation; returns (train_step, infer_step, n_params)."""
    import numpy as np
    import tensorflow as tf

    variables, forward, optimizer = _build(impl, precision)

    @tf.function
    def train_step(b):
        with tf.GradientTape() as tape:
            logits = forward(b, True)
            loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(b["masked_lm_ids"], logits, from_logits=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    @tf.function
    def infer_step(b):
        return forward(b, False)

    return train_step, infer_step, int(sum(np.prod(v.shape) for v in variables))


def _throughput_worker(args):
    """All implementations in one process, timed round-robin step by step, so that a busy machine slows
    every implementation alike instead of whichever happened to run during the disturbance."""
    import numpy as np
    import tensorflow as tf

    batch = {k: tf.constant(v) for k, v in _batch(args.seq_length, args.batch_size, args.predictions).items()}
    built, failed = {}, {}
    for impl in args.impls.split(","):
        try:
            train_step, infer_step, params = _steps(impl, args.precision, args.seq_length, args.batch_size, args.predictions)
            for _ in range(args.warmup):
                np.asarray(train_step(batch))
                np.asarray(infer_step(batch))
            built[impl] = (train_step, infer_step, params)
        except Exception as e:  # a reference implementation that cannot run this precision is reported
            failed[impl] = f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
    times = {(impl, kind): [] for impl in built for kind in ("train", "infer")}
    for _ in range(args.steps):
        for impl, (train_step, infer_step, _) in built.items():
            for kind, step in (("train", train_step), ("infer", infer_step)):
                tick = time.perf_counter()
                np.asarray(step(batch))
                times[(impl, kind)].append(time.perf_counter() - tick)
    for impl, (_, _, params) in built.items():
        row = {"impl": impl, "precision": args.precision, "params": params}
        for kind in ("train", "infer"):
            median = float(np.median(times[(impl, kind)]))
            row[f"{kind}_seq_per_s"] = args.batch_size / median
            row[f"{kind}_ms_per_step"] = median * 1000
        print("RESULT " + json.dumps(row))
    for impl, reason in failed.items():
        print("RESULT " + json.dumps({"impl": impl, "precision": args.precision, "failed": reason}))


def _memory_worker(args):
    """One implementation alone: peak resident memory over building it and a few training steps."""
    import numpy as np
    import tensorflow as tf

    batch = {k: tf.constant(v) for k, v in _batch(args.seq_length, args.batch_size, args.predictions).items()}
    train_step, infer_step, _ = _steps(args.impls, args.precision, args.seq_length, args.batch_size, args.predictions)
    for _ in range(3):
        np.asarray(train_step(batch))
    print("RESULT " + json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def _run(mode, args, impls, precision):
    command = [sys.executable, os.path.abspath(__file__), "--mode", mode, "--impls", impls, "--precision", precision,
               "--seq_length", str(args.seq_length), "--batch_size", str(args.batch_size),
               "--predictions", str(args.predictions), "--steps", str(args.steps), "--warmup", str(args.warmup)]
    done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    rows = [json.loads(line[len("RESULT "):]) for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if not rows:
        return [{"impl": impls, "precision": precision, "failed": (done.stderr.strip().splitlines() or ["no output"])[-1][:160]}]
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--impls", default="albert_tf,keras_hub,tf_models")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--seq_length", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--predictions", type=int, default=20)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per implementation (median reported)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--mode", choices=["throughput", "memory"], help=argparse.SUPPRESS)
    parser.add_argument("--precision", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.mode == "throughput":
        return _throughput_worker(args)
    if args.mode == "memory":
        return _memory_worker(args)

    rows = []
    for precision in args.precisions.split(","):
        print(f"timing {args.impls} at {precision} ...", flush=True)
        measured = _run("throughput", args, args.impls, precision)
        for row in measured:
            if "failed" not in row:
                row.update(_run("memory", args, row["impl"], precision)[0])
        rows += measured

    print(f"\nALBERT-base pretraining step: seq {args.seq_length}, batch {args.batch_size}, {args.predictions} masked "
          f"positions, Adam; median of {args.steps} interleaved steps; {os.cpu_count()} CPU cores")
    header = f"{'implementation':<16}{'precision':<10}{'params':>12}{'train seq/s':>13}{'infer seq/s':>13}{'peak RSS MB':>13}"
    print(header)
    print("-" * len(header))
    for r in rows:
        if "failed" in r:
            print(f"{r['impl']:<16}{r['precision']:<10}  failed: {r['failed']}")
            continue
        print(f"{r['impl']:<16}{r['precision']:<10}{r['params']:>12,}{r['train_seq_per_s']:>13.2f}"
              f"{r['infer_seq_per_s']:>13.2f}{r.get('peak_rss_mb', float('nan')):>13.0f}")
    print()
    for precision in args.precisions.split(","):
        ours = [r for r in rows if r["impl"] == "albert_tf" and r["precision"] == precision and "failed" not in r]
        others = [r for r in rows if r["impl"] != "albert_tf" and r["precision"] == precision and "failed" not in r]
        for key in ("train_seq_per_s", "infer_seq_per_s"):
            if ours and others:
                best = max(others, key=lambda r: r[key])
                print(f"{precision} {key.split('_')[0]:<5}: albert_tf / fastest other ({best['impl']}) = "
                      f"{ours[0][key] / best[key]:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
