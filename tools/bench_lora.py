"""Benchmark: LoRA against full fine-tuning on SST-2, with the same budget and seeds.

Both runs train the same ALBERT classifier from the same initial weights (`--init_checkpoint`, or a small
randomly initialised model with a SentencePiece vocabulary trained here on the SST-2 training sentences)
on the same shuffled, length-bucketed batches for the same number of steps, then score the dev set. Full
fine-tuning updates every weight; LoRA (`albert_tf.models.lora.enable_lora`) trains rank-`--lora_rank`
adapters on `--lora_targets` and the head. Each run is its own process, so its peak memory (RSS) is its
own. Reported: trainable parameters, dev accuracy, median step time and peak RSS of each, and the CPU's
vector extensions. Without a pretrained `--init_checkpoint` the accuracies say little about LoRA (its
frozen backbone is random); the step time and memory do.

    python -m tools.bench_lora --data_dir ../shared/data/glue_data/SST-2 | tee docs/bench_lora_cpu.txt
    python -m tools.bench_lora --quick   # a tiny run (a few hundred sentences, a tiny model) that checks the bench
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

from .bench_finetune import CONFIG, cpu_vector_extensions, read_sst2

QUICK_CONFIG = dict(embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, max_position_embeddings=64)
#: What --quick sets (a run of a few seconds per mode that exercises every step of the bench).
QUICK = dict(max_train_examples=256, max_dev_examples=128, train_steps=8, vocab_size=400, max_seq_length=32,
             train_batch_size=16, eval_batch_size=32)


def build_parser():
    p = argparse.ArgumentParser(prog="bench_lora", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_dir", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "glue_data", "SST-2"),
                   help="GLUE SST-2 folder (train.tsv, dev.tsv)")
    p.add_argument("--init_checkpoint", default=None,
                   help="pretrained weights for both runs (any format albert-finetune reads); needs --spm_model_file "
                        "and --albert_config_file unless a .keras file (default: a small random model)")
    p.add_argument("--albert_config_file", default=None)
    p.add_argument("--spm_model_file", default=None, help="(default: one trained here on SST-2 train)")
    p.add_argument("--max_seq_length", type=int, default=128)
    p.add_argument("--train_batch_size", type=int, default=32)
    p.add_argument("--eval_batch_size", type=int, default=64)
    p.add_argument("--train_steps", type=int, default=None, help="the budget of both runs (default: one epoch)")
    p.add_argument("--learning_rate", type=float, default=1e-4, help="full fine-tuning's peak learning rate")
    p.add_argument("--lora_learning_rate", type=float, default=1e-3, help="LoRA's peak learning rate")
    p.add_argument("--lora_rank", type=int, default=8)
    p.add_argument("--lora_alpha", type=float, default=None, help="(default: the rank)")
    p.add_argument("--lora_targets", default="query,value")
    p.add_argument("--vocab_size", type=int, default=8000)
    p.add_argument("--max_train_examples", type=int, default=None)
    p.add_argument("--max_dev_examples", type=int, default=None)
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--quick", action="store_true", help="a tiny setting that checks the bench in seconds")
    p.add_argument("--run_mode", choices=["full", "lora"], default=None, help=argparse.SUPPRESS)
    p.add_argument("--run_work_dir", default=None, help=argparse.SUPPRESS)
    return p


def prepare(args, work):
    """Encodes SST-2 once (`work/data.npz`, `work/spiece.model`); both runs read the same arrays."""
    import numpy as np

    from albert_tf import AlbertTokenizer
    from data_prep.vocab import train_sentencepiece

    train_text, train_labels = read_sst2(os.path.join(args.data_dir, "train.tsv"))
    dev_text, dev_labels = read_sst2(os.path.join(args.data_dir, "dev.tsv"))
    spm_file = args.spm_model_file
    if not spm_file:
        spm_file = os.path.join(work, "spiece.model")
        with open(spm_file, "wb") as f:
            f.write(train_sentencepiece(train_text, vocab_size=args.vocab_size))
    train_text, train_labels = train_text[: args.max_train_examples], train_labels[: args.max_train_examples]
    dev_text, dev_labels = dev_text[: args.max_dev_examples], dev_labels[: args.max_dev_examples]
    tokenizer = AlbertTokenizer(spm_file)
    arrays = {}
    for split, texts, labels in (("train", train_text, train_labels), ("dev", dev_text, dev_labels)):
        rows = tokenizer.encode_batch(texts, max_seq_length=args.max_seq_length)
        for key in ("input_ids", "input_mask", "segment_ids"):
            arrays[f"{split}/{key}"] = np.array([r[key] for r in rows], "int32")
        arrays[f"{split}/label_ids"] = np.array(labels, "int32")
    np.savez(os.path.join(work, "data.npz"), **arrays)
    return tokenizer.vocab_size, len(train_labels), len(dev_labels)


def run_one(args, work):
    """One run (`--run_mode`) in this process; prints its measurements as one JSON line."""
    import keras
    import numpy as np
    import tensorflow as tf

    from albert_tf import AlbertBackbone, AlbertConfig
    from albert_tf.data.bucketing import bucket_by_length, length_boundaries
    from albert_tf.models.lora import enable_lora, trainable_parameter_count
    from albert_tf.tasks import get_task
    from albert_tf.training.finetuning import gather_outputs, initialise, score_outputs
    from albert_tf.training.optimizers import create_optimizer

    with np.load(os.path.join(work, "data.npz")) as stored:
        data = {name: stored[name] for name in stored.files}
    split = {s: {k.split("/")[1]: v for k, v in data.items() if k.startswith(s + "/")} for s in ("train", "dev")}
    split["dev"]["is_real_example"] = np.ones(len(split["dev"]["label_ids"]), "int32")
    task = get_task("sst-2")
    with open(os.path.join(work, "settings.json"), encoding="utf-8") as f:
        settings = json.load(f)
    config = AlbertConfig.from_dict(settings["config"])
    steps = settings["train_steps"]
    keras.utils.set_random_seed(args.seed)
    model = task.build_model(AlbertBackbone(config))
    if args.init_checkpoint:
        initialise(model, args.init_checkpoint)
    if args.run_mode == "lora":
        targets = [t.strip() for t in args.lora_targets.split(",") if t.strip()]
        trainable = enable_lora(model, args.lora_rank, args.lora_alpha, targets)
        learning_rate = args.lora_learning_rate
    else:
        trainable = trainable_parameter_count(model)
        learning_rate = args.learning_rate
    model.compile(optimizer=create_optimizer("adamw", learning_rate, steps, steps // 10))
    boundaries = length_boundaries(args.max_seq_length)

    def batches(features, batch_size, training):
        ds = tf.data.Dataset.from_tensor_slices(features)
        if training:
            ds = ds.shuffle(len(features["label_ids"]), seed=args.seed, reshuffle_each_iteration=False).repeat()
        else:
            ds = ds.enumerate().map(lambda i, f: dict(f, _example_index=i))
        return bucket_by_length(ds, batch_size, args.max_seq_length, boundaries, drop_remainder=training).prefetch(2)

    class StepTimes(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_train_batch_begin(self, batch, logs=None):
            self.started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.seconds.append(time.perf_counter() - self.started)

    timer = StepTimes()
    rss_before = _current_rss_mib()
    history = model.fit(batches(split["train"], args.train_batch_size, True), epochs=1, steps_per_epoch=steps,
                        callbacks=[timer], shuffle=False, verbose=0)
    scores = score_outputs(task, gather_outputs(model, batches(split["dev"], args.eval_batch_size, False)))
    print(json.dumps({
        "mode": args.run_mode, "trainable_parameters": trainable, "parameters": int(model.count_params()),
        "learning_rate": learning_rate, "train_loss": float(history.history["loss"][-1]),
        "dev_accuracy": float(scores["eval_accuracy"]), "dev_loss": float(scores["eval_loss"]),
        # The first steps trace each bucket's shape; the median is the steady step.
        "median_step_seconds": float(np.median(timer.seconds[min(3, len(timer.seconds) - 1):])),
        "rss_before_training_mib": rss_before,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }), flush=True)


def _current_rss_mib():
    with open("/proc/self/statm", encoding="utf-8") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main(argv=None):
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    if args.run_mode:
        return run_one(args, args.run_work_dir)
    if args.init_checkpoint and not (args.albert_config_file and args.spm_model_file):
        raise SystemExit("bench_lora: --init_checkpoint needs --albert_config_file and --spm_model_file (its vocabulary).")
    work = tempfile.mkdtemp(prefix="bench_lora_")
    tick = time.time()
    vocab_size, train_count, dev_count = prepare(args, work)
    steps = args.train_steps or train_count // args.train_batch_size
    if args.albert_config_file:
        from albert_tf import AlbertConfig

        config = AlbertConfig.from_json_file(args.albert_config_file).to_dict()
    else:
        config = dict(QUICK_CONFIG if args.quick else CONFIG, vocab_size=vocab_size,
                      max_position_embeddings=max(args.max_seq_length, 64))
    with open(os.path.join(work, "settings.json"), "w", encoding="utf-8") as f:
        json.dump({"config": config, "train_steps": steps}, f)
    prep_seconds = time.time() - tick
    child = [sys.executable, "-m", __spec__.name, *(argv if argv is not None else sys.argv[1:])]
    results = {}
    for mode in ("full", "lora"):
        done = subprocess.run(child + ["--run_mode", mode, "--run_work_dir", work], capture_output=True, text=True, check=False)
        if done.returncode:
            sys.exit(f"bench_lora: the {mode} run failed:\n{done.stderr[-3000:]}")
        results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{mode}: {results[mode]}", flush=True)

    import tensorflow as tf

    print()
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores visible, "
          f"vector extensions: {cpu_vector_extensions()}; TensorFlow {tf.__version__}")
    print(f"Model: {args.init_checkpoint or 'random initialisation'}; {json.dumps(config)}; fp32, no XLA")
    print(f"SST-2: {train_count} training sentences, {dev_count} dev; {steps} steps of {args.train_batch_size} for both "
          f"runs, seed {args.seed}, max_seq_length {args.max_seq_length}, length buckets; data prep {prep_seconds:.1f} s")
    print(f"LoRA: rank {args.lora_rank}, alpha {args.lora_alpha or args.lora_rank}, targets {args.lora_targets}")
    print()
    print(f"{'run':<6} {'trainable':>12} {'of':>12} {'lr':>8} {'dev acc':>8} {'dev loss':>9} {'step ms':>8} "
          f"{'peak RSS MiB':>13} {'RSS before fit':>15}")
    for mode, r in results.items():
        print(f"{mode:<6} {r['trainable_parameters']:>12,} {r['parameters']:>12,} {r['learning_rate']:>8g} "
              f"{r['dev_accuracy']:>8.4f} {r['dev_loss']:>9.4f} {1000 * r['median_step_seconds']:>8.1f} "
              f"{r['peak_rss_mib']:>13.0f} {r['rss_before_training_mib']:>15.0f}")
    full, lora = results["full"], results["lora"]
    print()
    print(f"LoRA trains {lora['trainable_parameters'] / full['trainable_parameters']:.2%} of the parameters; "
          f"step time {lora['median_step_seconds'] / full['median_step_seconds']:.2f}x, peak RSS "
          f"{lora['peak_rss_mib'] - full['peak_rss_mib']:+.0f} MiB, dev accuracy "
          f"{lora['dev_accuracy'] - full['dev_accuracy']:+.4f} against full fine-tuning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
