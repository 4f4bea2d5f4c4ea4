"""Benchmark: one SST-2 training epoch with fixed padding to 128 against length-bucketed batches.

Both runs train the same small ALBERT from the same initial weights on the same shuffled examples for
one epoch (batch 32, AdamW, run_glue.sh's SST-2 learning rate scaled to the short run), then score the
dev set; they differ only in batching: every batch padded to --max_seq_length, or `bucket_by_length`
(buckets 32/64/128, each batch trimmed to its bucket). The vocabulary is a SentencePiece model trained
here on the SST-2 training sentences. Prints the CPU's vector extensions with the results.

    python tools/bench_finetune.py --data_dir ../shared/data/glue_data/SST-2 | tee docs/bench_finetune_cpu.txt
"""

import argparse
import csv
import os
import platform
import tempfile
import time

CONFIG = dict(embedding_size=64, hidden_size=128, num_hidden_layers=4, num_attention_heads=2, intermediate_size=512,
              hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, max_position_embeddings=128)


def cpu_vector_extensions():
    """The CPU's vector extensions that set TensorFlow's CPU speed, for a benchmark's report."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return "unknown (no /proc/cpuinfo)"
    wanted = ("avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16", "avx2", "fma")
    found = [name for name in wanted if name in flags]
    return ", ".join(found) or "none of AVX2/AVX-512"


def read_sst2(path):
    # SST-2 train/dev: header "sentence<TAB>label", no quoting (as the original's csv reader).
    with open(path, encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quotechar=None))[1:]
    return [r[0] for r in rows], [int(r[1]) for r in rows]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_dir", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "glue_data", "SST-2"))
    p.add_argument("--max_seq_length", type=int, default=128)
    p.add_argument("--train_batch_size", type=int, default=32)
    p.add_argument("--eval_batch_size", type=int, default=64)
    p.add_argument("--learning_rate", type=float, default=1e-4)
    p.add_argument("--vocab_size", type=int, default=8000)
    p.add_argument("--max_train_examples", type=int, default=None,
                   help="train on the first N sentences only (default: the whole training set, one epoch)")
    p.add_argument("--seed", type=int, default=12345)
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import keras
    import numpy as np
    import tensorflow as tf

    from albert_tf import AlbertBackbone, AlbertConfig, AlbertTokenizer
    from albert_tf.data.bucketing import bucket_by_length, length_boundaries
    from albert_tf.tasks import get_task
    from albert_tf.training.finetuning import gather_outputs, score_outputs
    from albert_tf.training.optimizers import create_optimizer
    from data_prep.vocab import train_sentencepiece

    train_text, train_labels = read_sst2(os.path.join(args.data_dir, "train.tsv"))
    dev_text, dev_labels = read_sst2(os.path.join(args.data_dir, "dev.tsv"))
    tick = time.time()
    # The vocabulary always comes from the whole training set, so a shorter run keeps the same model.
    proto = train_sentencepiece(train_text, vocab_size=args.vocab_size)
    if args.max_train_examples:
        train_text, train_labels = train_text[: args.max_train_examples], train_labels[: args.max_train_examples]
    spm_file = os.path.join(tempfile.mkdtemp(), "sst2.model")
    with open(spm_file, "wb") as f:
        f.write(proto)
    tokenizer = AlbertTokenizer(spm_file)

    def encode(texts, labels):
        rows = tokenizer.encode_batch(texts, max_seq_length=args.max_seq_length)
        features = {k: np.array([r[k] for r in rows], "int32") for k in ("input_ids", "input_mask", "segment_ids")}
        features["label_ids"] = np.array(labels, "int32")
        features["is_real_example"] = np.ones(len(labels), "int32")
        return features

    train, dev = encode(train_text, train_labels), encode(dev_text, dev_labels)
    prep_seconds = time.time() - tick
    lengths = train["input_mask"].sum(axis=1)
    steps = len(train_labels) // args.train_batch_size
    task = get_task("sst-2")
    config = AlbertConfig(vocab_size=tokenizer.vocab_size, **CONFIG)
    keras.utils.set_random_seed(args.seed)
    initial = task.build_model(AlbertBackbone(config)).get_weights()
    boundaries = length_boundaries(args.max_seq_length)

    def batches(features, batch_size, bucket, training):
        ds = tf.data.Dataset.from_tensor_slices(features)
        if training:
            ds = ds.shuffle(len(features["label_ids"]), seed=args.seed, reshuffle_each_iteration=False).repeat()
        else:
            ds = ds.enumerate().map(lambda i, f: dict(f, _example_index=i))
        if bucket:
            ds = bucket_by_length(ds, batch_size, args.max_seq_length, boundaries, drop_remainder=training)
        else:
            ds = ds.batch(batch_size, drop_remainder=training)
        return ds.prefetch(tf.data.AUTOTUNE)

    results = {}
    for name, bucket in (("fixed padding to %d" % args.max_seq_length, False), ("length buckets %s" % boundaries, True)):
        keras.utils.set_random_seed(args.seed)
        model = task.build_model(AlbertBackbone(config))
        model.set_weights(initial)
        model.compile(optimizer=create_optimizer("adamw", args.learning_rate, steps, steps // 10))
        train_ds = batches(train, args.train_batch_size, bucket, True)
        tick = time.time()
        history = model.fit(train_ds, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)
        epoch_seconds = time.time() - tick
        tick = time.time()
        scores = score_outputs(task, gather_outputs(model, batches(dev, args.eval_batch_size, bucket, False)))
        results[name] = dict(epoch_seconds=epoch_seconds, eval_seconds=time.time() - tick,
                             train_loss=float(history.history["loss"][-1]), **scores)
        print(f"{name}: epoch {epoch_seconds:.1f} s, dev accuracy {scores['eval_accuracy']:.4f}", flush=True)

    (fixed_name, fixed), (bucket_name, bucketed) = results.items()
    print()
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores visible, "
          f"{len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()} usable by this process, "
          f"vector extensions: {cpu_vector_extensions()}; TensorFlow {tf.__version__}")
    print(f"Model: ALBERT vocab {config.vocab_size} (SentencePiece on SST-2 train), E={config.embedding_size}, "
          f"H={config.hidden_size}, L={config.num_hidden_layers}, heads={config.num_attention_heads}, "
          f"FFN={config.intermediate_size}, dropout 0 (head dropout 0.1); fp32, no XLA")
    print(f"SST-2: {len(train_labels)} training sentences{' (--max_train_examples)' if args.max_train_examples else ''} (1 epoch = {steps} steps of {args.train_batch_size}), "
          f"{len(dev_labels)} dev; pieces per sentence incl. [CLS]/[SEP]: median {int(np.median(lengths))}, "
          f"95th percentile {int(np.percentile(lengths, 95))}, max {int(lengths.max())} (cut at {args.max_seq_length}); "
          f"vocabulary + encoding {prep_seconds:.1f} s")
    print()
    print(f"{'batching':<32} {'epoch s':>9} {'steps/s':>8} {'dev acc':>8} {'dev loss':>9} {'dev eval s':>10}")
    for name, r in results.items():
        print(f"{name:<32} {r['epoch_seconds']:>9.1f} {steps / r['epoch_seconds']:>8.1f} {r['eval_accuracy']:>8.4f} "
              f"{r['eval_loss']:>9.4f} {r['eval_seconds']:>10.1f}")
    noise = 1.96 * np.sqrt(fixed["eval_accuracy"] * (1 - fixed["eval_accuracy"]) / len(dev_labels))
    print()
    print(f"speed-up of one epoch: {fixed['epoch_seconds'] / bucketed['epoch_seconds']:.2f}x (target >= 3x); "
          f"dev accuracy difference {bucketed['eval_accuracy'] - fixed['eval_accuracy']:+.4f} "
          f"(95% binomial noise on {len(dev_labels)} examples: +-{noise:.4f})")


if __name__ == "__main__":
    main()
