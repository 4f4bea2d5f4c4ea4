"""Masked-LM accuracy of a pretrained model by how frequent the masked word is.

A model in the unigram stage of pretraining predicts frequent words wherever it is unsure: its accuracy
comes from the few most frequent tokens and its predictions crowd into them. This tool measures that on
held-out pretraining records: the frequency rank of each token is counted on the masked tokens of
`--train_records` (what the model was trained to predict), then the model's accuracy is reported per rank
band of the held-out masked tokens, beside the unigram baselines (always the most frequent token; the
unigram cross-entropy) and the share of the model's predictions that fall among the most frequent tokens.

    python -m tools.mlm_by_frequency --model pt/pretrain/model.keras --eval_records 'pt/eval-*.tfrecord' \\
        --train_records 'pt/train-0000[0-3].tfrecord' --max_seq_length 128 --max_predictions_per_seq 20
"""

import argparse
import glob
import json
import sys

BANDS = ((0, 10), (10, 100), (100, 1000), (1000, None))


def build_parser():
    p = argparse.ArgumentParser(prog="mlm_by_frequency", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="an AlbertPretrainer .keras file, e.g. pt/pretrain/model.keras")
    p.add_argument("--eval_records", required=True, help="held-out pretraining TFRecords (glob), e.g. 'pt/eval-*.tfrecord'")
    p.add_argument("--train_records", required=True,
                   help="training TFRecords (glob) whose masked tokens give the frequency ranks, e.g. 'pt/train-*.tfrecord'")
    p.add_argument("--max_seq_length", type=int, default=128, help="the records' (default 128)")
    p.add_argument("--max_predictions_per_seq", type=int, default=20, help="the records' (default 20)")
    p.add_argument("--max_train_records", type=int, default=60000, help="records read for the counts (default 60000)")
    p.add_argument("--batch_size", type=int, default=128)
    p.add_argument("--output", default=None, help="also write the results as JSON to this file")
    return p


def _files(pattern, flag):
    files = sorted(glob.glob(pattern))
    if not files:
        raise SystemExit(f"mlm_by_frequency: {flag} {pattern!r} matches no file.")
    return files


def measure(args):
    import keras
    import numpy as np
    import tensorflow as tf

    import albert_tf  # noqa: F401  (registers the classes the .keras file names)
    from albert_tf.data.pretraining import parse_pretraining_batch
    from albert_tf.io import write_text_atomic

    keys = ("input_ids", "input_mask", "segment_ids", "masked_lm_positions", "masked_lm_ids", "masked_lm_weights")

    def batches(files, limit=None):
        ds = tf.data.TFRecordDataset(files)
        if limit:
            ds = ds.take(limit)
        ds = ds.batch(args.batch_size).map(
            lambda s: parse_pretraining_batch(s, args.max_seq_length, args.max_predictions_per_seq, keep=keys))
        for batch in ds:
            yield batch, batch["masked_lm_weights"].numpy() > 0

    train = np.concatenate([b["masked_lm_ids"].numpy()[m] for b, m in
                            batches(_files(args.train_records, "--train_records"), args.max_train_records)])
    model = keras.saving.load_model(args.model, compile=False)
    vocab_size = int(model.backbone.config.vocab_size)
    counts = np.bincount(train, minlength=vocab_size).astype(np.float64)
    ranks = np.argsort(np.argsort(-counts, kind="stable"), kind="stable")
    smoothed = (counts + 0.5) / (counts + 0.5).sum()

    got, want = [], []
    for batch, mask in batches(_files(args.eval_records, "--eval_records")):
        inputs = {k: batch[k] for k in ("input_ids", "input_mask", "segment_ids", "masked_lm_positions")}
        logits = keras.ops.convert_to_numpy(model(inputs, training=False)["mlm_logits"])
        got.append(logits.argmax(-1)[mask])
        want.append(batch["masked_lm_ids"].numpy()[mask])
    got, want = np.concatenate(got), np.concatenate(want)
    bands = []
    for low, high in BANDS:
        selected = (ranks[want] >= low) & (ranks[want] < (high or vocab_size))
        bands.append({"ranks": f"{low}-{high or vocab_size}", "share_of_tokens": float(selected.mean()),
                      "accuracy": float(np.mean(got[selected] == want[selected])) if selected.any() else None})
    results = {
        "model": args.model, "eval_tokens": int(want.size), "train_tokens_counted": int(train.size),
        "accuracy": float(np.mean(got == want)),
        "unigram_most_frequent_accuracy": float(np.mean(want == int(np.argmax(counts)))),
        "unigram_cross_entropy_nats": float(-np.mean(np.log(smoothed[want]))),
        "by_frequency": bands,
        "predictions_in_top_10": float(np.mean(ranks[got] < 10)),
        "predictions_in_top_100": float(np.mean(ranks[got] < 100)),
    }
    if args.output:
        write_text_atomic(args.output, json.dumps(results, indent=2) + "\n")
    return results


def main(argv=None):
    args = build_parser().parse_args(argv)
    for flag, pattern in (("--eval_records", args.eval_records), ("--train_records", args.train_records)):
        _files(pattern, flag)  # before TensorFlow loads
    results = measure(args)
    print(f"{results['model']}: masked-LM accuracy {results['accuracy']:.4f} on {results['eval_tokens']} held-out tokens "
          f"(always the most frequent token: {results['unigram_most_frequent_accuracy']:.4f}; unigram cross-entropy "
          f"{results['unigram_cross_entropy_nats']:.3f} nats)")
    print("frequency ranks   share of tokens   accuracy")
    for band in results["by_frequency"]:
        accuracy = "-" if band["accuracy"] is None else f"{band['accuracy']:.3f}"
        print(f"{band['ranks']:>15}   {band['share_of_tokens']:>15.3f}   {accuracy:>8}")
    print(f"predictions among the 10 most frequent tokens: {results['predictions_in_top_10']:.1%}; "
          f"among the 100 most frequent: {results['predictions_in_top_100']:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
