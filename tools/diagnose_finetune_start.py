"""Why does a tiny ALBERT fine-tuned from scratch on SST-2 stay at the majority class? One run of this
script measures the candidate causes side by side (issue: "Show that it works", item 1's lead):

* the optimizer: the original's AdamW (no bias correction, so its first updates are about
  1 / sqrt(1 - beta_2) * (1 - beta_1) ~ 3x Adam's) against Keras' bias-corrected AdamW with the same
  decay, exclusions, epsilon, clipping and schedule;
* the learning rate (1e-4, 1e-3) and the warm-up (10% of the run, or the SST-2 default of 1,256
  steps that a short `--train_step` run keeps unless `--warmup_step` is given);
* the pooler: the original's head reads `tanh(W [CLS])`; the variant reads the masked mean of the
  sequence output instead;
* the size: E=32 H=64 L=2 against E=64 H=128 L=4.

Every run: the same records (SST-2 train, a vocabulary trained on its sentences), batch 32, the same
seed and batch order, `fit` for `--steps` steps; reported: training loss and accuracy over the last
50 steps, dev accuracy, and the share of dev predictions that are the majority class.

    python -m tools.diagnose_finetune_start --glue_dir ../shared/data/glue_data --work_dir /tmp/diag \\
        --json docs/finetune_start.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from albert_tf.io import write_text_atomic

SIZES = {
    "E32-H64-L2": dict(embedding_size=32, hidden_size=64, num_hidden_layers=2, num_attention_heads=1,
                       intermediate_size=256),
    "E64-H128-L4": dict(embedding_size=64, hidden_size=128, num_hidden_layers=4, num_attention_heads=2,
                        intermediate_size=512),
}
SST2_DEFAULT_WARMUP = 1256  # albert_tf.tasks.registry: SST-2's run_glue.sh warm-up


def variants(steps):
    """(name, size, optimizer, learning rate, warm-up steps, head)."""
    rows = []
    for lr in (1e-4, 1e-3):
        for optimizer in ("original", "bias-corrected"):
            rows.append((f"E32-H64-L2 {optimizer} lr={lr:g}", "E32-H64-L2", optimizer, lr, steps // 10, "pooler"))
    rows.append((f"E32-H64-L2 original lr=1e-3 warm-up {SST2_DEFAULT_WARMUP}", "E32-H64-L2", "original", 1e-3,
                 SST2_DEFAULT_WARMUP, "pooler"))
    rows.append(("E32-H64-L2 original lr=1e-3 mean-pool head", "E32-H64-L2", "original", 1e-3, steps // 10, "mean"))
    rows.append(("E64-H128-L4 original lr=1e-4", "E64-H128-L4", "original", 1e-4, steps // 10, "pooler"))
    rows.append(("E64-H128-L4 bias-corrected lr=1e-4", "E64-H128-L4", "bias-corrected", 1e-4, steps // 10, "pooler"))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--glue_dir", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                                                      "glue_data"))
    p.add_argument("--work_dir", default="/tmp/albert_finetune_start")
    p.add_argument("--json", default=None, help="also write the table here (e.g. docs/finetune_start.json)")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--vocab_size", type=int, default=3000)
    p.add_argument("--max_seq_length", type=int, default=64)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    sst = os.path.join(args.glue_dir, "SST-2")
    for split in ("train", "dev"):
        if not os.path.exists(os.path.join(sst, f"{split}.tsv")):
            p.error(f"--glue_dir: {os.path.join(sst, split + '.tsv')} does not exist")
    if args.steps < 50:
        p.error(f"--steps must be at least 50 (the last 50 steps are averaged), got {args.steps}")

    import keras
    import numpy as np
    import tensorflow as tf

    from albert_tf import AlbertBackbone, AlbertClassifier, AlbertConfig, AlbertTokenizer
    from albert_tf.training.optimizers import DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY, create_optimizer
    from albert_tf.training.schedules import WarmupPolynomialDecay
    from data_prep import glue
    from data_prep.vocab import train_vocab
    from tools.bench_finetune import cpu_vector_extensions as cpu_features

    os.makedirs(args.work_dir, exist_ok=True)
    train_examples = glue.read_examples("sst-2", sst, "train", do_lower_case=True)
    dev_examples = glue.read_examples("sst-2", sst, "dev", do_lower_case=True)
    prefix = os.path.join(args.work_dir, "spm")
    if not os.path.exists(prefix + ".model"):
        text = os.path.join(args.work_dir, "sst2_train.txt")
        write_text_atomic(text, "\n".join(e.text_a for e in train_examples) + "\n")
        train_vocab(text, prefix, args.vocab_size, do_lower_case=True, progress=False)
    tokenizer = AlbertTokenizer(prefix + ".model", do_lower_case=True)
    train, _ = glue.convert_examples(train_examples, "sst-2", tokenizer, args.max_seq_length)
    dev, _ = glue.convert_examples(dev_examples, "sst-2", tokenizer, args.max_seq_length)
    majority = int(np.bincount(train["label_ids"].ravel()).argmax())
    dev_majority = float(np.mean(dev["label_ids"].ravel() == majority))
    print(f"SST-2: {len(train_examples)} train, {len(dev_examples)} dev sentences; vocabulary {args.vocab_size}; "
          f"dev majority-class accuracy {dev_majority:.3f}; CPU: {cpu_features()}", flush=True)

    def batches(seed):
        order = np.random.default_rng(seed).permutation(len(train_examples))
        data = tf.data.Dataset.from_tensor_slices({k: v[order] for k, v in train.items()})
        return data.repeat().batch(32, drop_remainder=True)

    def build(size, head):
        keras.utils.set_random_seed(args.seed)
        config = AlbertConfig(vocab_size=args.vocab_size, max_position_embeddings=max(64, args.max_seq_length),
                              hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, **SIZES[size])
        backbone = AlbertBackbone(config)
        if head == "pooler":
            return AlbertClassifier(backbone, num_classes=2)
        # The variant head: the masked mean of the sequence output, then dropout and the class dense.
        outputs = backbone(backbone.input)
        mask = keras.ops.cast(keras.ops.expand_dims(backbone.input["input_mask"], -1), "float32")
        mean = keras.ops.sum(outputs["sequence_output"] * mask, axis=1) / keras.ops.maximum(
            keras.ops.sum(mask, axis=1), 1.0)
        logits = keras.layers.Dense(2, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02))(
            keras.layers.Dropout(0.1)(mean))
        return keras.Model(backbone.input, logits)

    def optimizer_for(name, lr, warmup):
        if name == "original":
            return create_optimizer("adamw", lr, args.steps, warmup)
        schedule = WarmupPolynomialDecay(lr, args.steps, warmup)
        optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=0.01, beta_1=0.9, beta_2=0.999,
                                           epsilon=1e-6, global_clipnorm=1.0)
        optimizer.exclude_from_weight_decay(var_names=list(DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY))
        return optimizer

    rows = []
    for name, size, opt, lr, warmup, head in variants(args.steps):
        tick = time.time()
        model = build(size, head)
        inputs = {k: dev[k] for k in ("input_ids", "input_mask", "segment_ids")}
        if head == "pooler":
            model.compile(optimizer=optimizer_for(opt, lr, warmup))
            history = []

            class Track(keras.callbacks.Callback):
                def on_train_batch_end(self, batch, logs=None):
                    history.append((float(logs["loss"]), float(logs["accuracy"])))

            model.fit(batches(args.seed), steps_per_epoch=args.steps, epochs=1, verbose=0, callbacks=[Track()])
            predictions = np.asarray(model.predict(inputs, batch_size=256, verbose=0)["predictions"]).ravel()
            # Keras' logged values are running means over the epoch: the last 50 steps' mean follows from two.
            (loss_a, acc_a), (loss_b, acc_b) = history[-51], history[-1]
            n = len(history)
            late_loss = (loss_b * n - loss_a * (n - 50)) / 50
            late_acc = (acc_b * n - acc_a * (n - 50)) / 50
        else:
            model.compile(optimizer=optimizer_for(opt, lr, warmup),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
            data = batches(args.seed).map(lambda b: ({k: b[k] for k in inputs}, b["label_ids"]))
            fit = model.fit(data, steps_per_epoch=args.steps - 50, epochs=1, verbose=0)
            late = model.fit(data.skip(args.steps - 50), steps_per_epoch=50, epochs=1, verbose=0)
            late_loss, late_acc = late.history["loss"][-1], late.history["accuracy"][-1]
            del fit
            predictions = np.asarray(model.predict(inputs, batch_size=256, verbose=0)).argmax(-1)
        dev_accuracy = float(np.mean(predictions == dev["label_ids"].ravel()))
        row = {"variant": name, "size": size, "optimizer": opt, "learning_rate": lr, "warmup_steps": warmup,
               "head": head, "steps": args.steps, "train_loss_last50": round(late_loss, 4),
               "train_accuracy_last50": round(late_acc, 4), "dev_accuracy": round(dev_accuracy, 4),
               "dev_majority_share": round(float(np.mean(predictions == majority)), 4),
               "seconds": round(time.time() - tick, 1)}
        rows.append(row)
        print(f"{name:<52} train loss {row['train_loss_last50']:.3f} acc {row['train_accuracy_last50']:.3f} | "
              f"dev acc {dev_accuracy:.3f} (majority share {row['dev_majority_share']:.2f}) [{row['seconds']} s]",
              flush=True)
    if args.json:
        write_text_atomic(args.json, json.dumps({"command": " ".join(["python -m tools.diagnose_finetune_start"]
                                                                    + (argv if argv is not None else sys.argv[1:])),
                                                 "dev_majority_accuracy": dev_majority, "cpu": cpu_features(),
                                                 "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
