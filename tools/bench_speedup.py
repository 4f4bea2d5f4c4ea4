"""The paper's Table 2 speed column on this machine: pretraining throughput of BERT and ALBERT sizes
relative to BERT-large, next to the paper's ratios, in one interleaved run.

BERT-base and BERT-large are our model without sharing and with E=H (`sharing="none"`), ALBERT-* the
published v2 shapes (E=128, every layer shared). Every model trains through `fit` with the original's
LAMB (`albert_tf.training.create_optimizer`), as `albert-pretrain` does, on the same in-memory batch
(same batch, sequence length and masked positions), dropout off. Rounds are interleaved (each model
times `--steps` steps per round), so a busy machine slows all of them alike; the figure is the median
round. The paper timed TPU v3 pods at batch 4,096, sequence 512, where sharing also saves memory
traffic and cross-core communication; one CPU sees mostly FLOPs.

    python tools/bench_speedup.py                       # BERT-base/large, ALBERT-base/large/xlarge
    python tools/bench_speedup.py --models bert-large,albert-base,albert-xxlarge --batch_size 2
"""

import argparse
import json
import platform
import statistics
import sys
import time

#: Throughput relative to BERT-large in the paper (Table 2, "Speedup").
PAPER = {"bert-base": 4.7, "bert-large": 1.0, "albert-base": 5.6, "albert-large": 1.7, "albert-xlarge": 0.6,
         "albert-xxlarge": 0.3}
BERT = {"bert-base": (12, 768, 12, 3072), "bert-large": (24, 1024, 16, 4096)}


def config_for(name: str):
    from albert_tf import AlbertConfig

    if name in BERT:
        layers, hidden, heads, intermediate = BERT[name]
        return AlbertConfig(vocab_size=30000, embedding_size=hidden, hidden_size=hidden, num_hidden_layers=layers,
                            num_attention_heads=heads, intermediate_size=intermediate, sharing="none",
                            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return AlbertConfig.from_preset(f"{name}-v2")


def batch_for(batch_size: int, seq: int, predictions: int, vocab: int):
    import numpy as np

    rng = np.random.default_rng(0)
    return {
        "input_ids": rng.integers(5, vocab, (batch_size, seq)).astype("int32"),
        "input_mask": np.ones((batch_size, seq), "int32"),
        "segment_ids": (np.arange(seq)[None, :] >= seq // 2).repeat(batch_size, 0).astype("int32"),
        "masked_lm_positions": np.sort(rng.choice(seq, (batch_size, predictions)), axis=1).astype("int32"),
        "masked_lm_ids": rng.integers(5, vocab, (batch_size, predictions)).astype("int32"),
        "masked_lm_weights": np.ones((batch_size, predictions), "float32"),
        "next_sentence_labels": rng.integers(0, 2, (batch_size, 1)).astype("int32"),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="bert-base,bert-large,albert-base,albert-large,albert-xlarge",
                   help=f"comma-separated, of {', '.join(PAPER)}")
    p.add_argument("--batch_size", type=int, default=4)
    p.add_argument("--max_seq_length", type=int, default=64)
    p.add_argument("--max_predictions_per_seq", type=int, default=10)
    p.add_argument("--steps", type=int, default=2, help="timed steps per model and round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--output", default=None, help="also write the results as JSON here")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in PAPER]
    if unknown or "bert-large" not in names:
        p.error(f"--models: {', '.join(unknown) or 'bert-large missing'}: expected names of {', '.join(PAPER)}, "
                "bert-large included (the reference)")

    import tensorflow as tf

    from albert_tf import AlbertPretrainer
    from albert_tf.training import create_optimizer
    from tools.bench_finetune import cpu_vector_extensions

    models, seconds = {}, {name: [] for name in names}
    for name in names:
        config = config_for(name)
        model = AlbertPretrainer(config)
        model.compile(optimizer=create_optimizer("lamb", 1e-4, 1000, 0), steps_per_execution=args.steps)
        batch = batch_for(args.batch_size, args.max_seq_length, args.max_predictions_per_seq, config.vocab_size)
        data = tf.data.Dataset.from_tensors(batch).repeat()
        model.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0)  # traces and builds the optimizer
        models[name] = (model, data, model.count_params())
        print(f"built {name}: {models[name][2] / 1e6:.1f}M parameters", file=sys.stderr, flush=True)
    for round_ in range(args.rounds):
        for name in names:
            model, data, _ = models[name]
            start = time.perf_counter()
            model.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0)
            seconds[name].append((time.perf_counter() - start) / args.steps)
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    step = {name: statistics.median(values) for name, values in seconds.items()}
    rows = [{"model": name, "parameters_m": round(models[name][2] / 1e6, 1), "seconds_per_step": round(step[name], 3),
             "speedup_vs_bert_large": round(step["bert-large"] / step[name], 2), "paper": PAPER[name]}
            for name in names]
    report = {"cpu": platform.processor() or platform.machine(), "vector_extensions": cpu_vector_extensions(),
              "tensorflow": tf.__version__, "batch_size": args.batch_size, "max_seq_length": args.max_seq_length,
              "max_predictions_per_seq": args.max_predictions_per_seq, "steps": args.steps, "rounds": args.rounds,
              "rows": rows}
    print(f"CPU vector extensions: {report['vector_extensions']}; TensorFlow {tf.__version__}; batch "
          f"{args.batch_size} x {args.max_seq_length}, LAMB, fp32, median of {args.rounds} interleaved rounds")
    print(f"{'model':<16}{'params':>9}{'s/step':>9}{'speed-up':>10}{'paper':>8}")
    for row in rows:
        print(f"{row['model']:<16}{row['parameters_m']:>8.1f}M{row['seconds_per_step']:>9.3f}"
              f"{row['speedup_vs_bert_large']:>9.2f}x{row['paper']:>7.1f}x")
    if args.output:
        with open(args.output, "w") as f:
            json.dump(report, f, indent=2)
    return report


if __name__ == "__main__":
    main()
