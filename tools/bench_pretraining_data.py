"""Benchmark: pretraining-data instances per second, baseline vs 1 worker vs N workers.

The baseline is :mod:`data_prep.original_algorithm`, a single-process pure-Python transcription of
the original ``create_pretraining_data.py`` (per-line tokenization, string pieces, one Python RNG,
``tf.train.Example`` protos), run in the same invocation on the same corpus, vocabulary and flags.
Each run is timed end to end: reading, tokenizing, building, masking and writing.

The corpus is built from ``../shared/data`` (WikiText-2 valid+test, the NLTK Gutenberg selection)
with ``data_prep.corpus`` (one sentence per line, a blank line between documents), and a
SentencePiece vocabulary is trained on it with the README's options; both are cached in
``--work_dir``::

    python -m tools.bench_pretraining_data --dupe_factor 5 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.normpath(os.path.join(REPO, "..", "shared", "data"))


def prepare_inputs(data_dir: str, work_dir: str, vocab_size: int):
    """Sentence-per-line corpus and a SentencePiece model, cached in ``work_dir``."""
    import sentencepiece as spm

    from data_prep.corpus import prepare_corpus

    corpus = os.path.join(work_dir, "corpus.txt")
    if not os.path.exists(corpus):
        parts = []
        wikitext = [os.path.join(data_dir, "wikitext-2", f) for f in ("wiki.valid.tokens", "wiki.test.tokens")]
        wikitext = [f for f in wikitext if os.path.exists(f)]
        if wikitext:
            parts.append(os.path.join(work_dir, "wikitext.txt"))
            prepare_corpus(wikitext, parts[-1], fmt="wikitext")
        gutenberg = os.path.join(data_dir, "gutenberg-nltk")
        if os.path.isdir(gutenberg):
            parts.append(os.path.join(work_dir, "gutenberg.txt"))
            prepare_corpus([gutenberg], parts[-1], fmt="wrapped")
        if not parts:
            raise SystemExit(f"no WikiText-2 or Gutenberg text under {data_dir}; pass --data_dir")
        with open(corpus + ".incomplete", "w", encoding="utf-8") as out:
            for n, part in enumerate(parts):
                with open(part, encoding="utf-8") as f:
                    if n:
                        out.write("\n")
                    shutil.copyfileobj(f, out)
        os.replace(corpus + ".incomplete", corpus)
    prefix = os.path.join(work_dir, f"spm{vocab_size}")
    if not os.path.exists(prefix + ".model"):
        spm.SentencePieceTrainer.train(
            input=corpus, model_prefix=prefix, vocab_size=vocab_size, pad_id=0, unk_id=1, bos_id=-1,
            eos_id=-1, control_symbols=["[CLS]", "[SEP]", "[MASK]"],
            user_defined_symbols=["(", ")", '"', "-", ".", "–", "£", "€"], character_coverage=0.99995,
            input_sentence_size=300000, shuffle_input_sentence=True, minloglevel=2,
        )
    return corpus, prefix + ".model"


def run_baseline(corpus: str, model: str, args, out_dir: str) -> dict:
    from albert_tf.text.tokenizer import AlbertTokenizer
    from data_prep.original_algorithm import OriginalFlags, create_instances, write_instances

    started = time.time()
    tokenizer = AlbertTokenizer(model, do_lower_case=True)
    flags = OriginalFlags(max_seq_length=args.max_seq_length, dupe_factor=args.dupe_factor,
                          max_predictions_per_seq=args.max_predictions_per_seq, random_seed=args.seed)
    instances = create_instances([corpus], tokenizer, flags)
    tokens = sum(len(i.tokens) for i in instances)
    outputs = [os.path.join(out_dir, f"baseline-{i}.tfrecord") for i in range(args.shards)]
    count = write_instances(instances, tokenizer, flags, outputs)
    return {"instances": count, "tokens": tokens, "seconds": time.time() - started}


def run_fast(corpus: str, model: str, args, out_dir: str, workers: int) -> dict:
    from data_prep.pretraining import PretrainingDataConfig, create_pretraining_data

    started = time.time()
    summary = create_pretraining_data(PretrainingDataConfig(
        input_file=corpus, output_file=os.path.join(out_dir, f"fast{workers}-{{shard}}.tfrecord"),
        spm_model_file=model, max_seq_length=args.max_seq_length, dupe_factor=args.dupe_factor,
        max_predictions_per_seq=args.max_predictions_per_seq, random_seed=args.seed,
        num_workers=workers, num_output_shards=args.shards, overwrite=True,
        work_dir=os.path.join(out_dir, f"work{workers}"), progress=False,
    ))
    totals = summary["totals"]
    return {"instances": totals["instances"], "tokens": totals["tokens"], "seconds": time.time() - started,
            "phases": summary["seconds"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", default=DEFAULT_DATA, help="folder with wikitext-2/ and gutenberg-nltk/")
    parser.add_argument("--work_dir", default=os.path.join(tempfile.gettempdir(), "albert_bench_pretraining_data"),
                        help="caches the corpus and the vocabulary")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="N for the N-worker run")
    parser.add_argument("--dupe_factor", type=int, default=5)
    parser.add_argument("--max_seq_length", type=int, default=512)
    parser.add_argument("--max_predictions_per_seq", type=int, default=20)
    parser.add_argument("--vocab_size", type=int, default=8000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--skip_baseline", action="store_true")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    os.makedirs(args.work_dir, exist_ok=True)
    corpus, model = prepare_inputs(args.data_dir, args.work_dir, args.vocab_size)
    print(f"corpus {corpus} ({os.path.getsize(corpus) / 1e6:.1f} MB), vocabulary {model}, "
          f"max_seq_length {args.max_seq_length}, dupe_factor {args.dupe_factor}, {os.cpu_count()} cores")
    results = {}
    out_dir = tempfile.mkdtemp(prefix="bench-", dir=args.work_dir)
    try:
        if not args.skip_baseline:
            results["baseline (pure Python, 1 process)"] = run_baseline(corpus, model, args, out_dir)
        results["albert_tf, 1 worker"] = run_fast(corpus, model, args, out_dir, 1)
        if args.workers > 1:
            results[f"albert_tf, {args.workers} workers"] = run_fast(corpus, model, args, out_dir, args.workers)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)

    base = results.get("baseline (pure Python, 1 process)")
    print(f"\n{'implementation':<36}{'instances':>10}{'seconds':>9}{'inst/s':>9}{'tokens/s':>11}{'vs baseline':>13}")
    for name, r in results.items():
        rate = r["instances"] / r["seconds"]
        token_rate = r["tokens"] / r["seconds"]
        speedup = f"{rate / (base['instances'] / base['seconds']):.1f}x" if base else "-"
        r.update(instances_per_second=rate, tokens_per_second=token_rate)
        print(f"{name:<36}{r['instances']:>10}{r['seconds']:>9.1f}{rate:>9.0f}{token_rate:>11.0f}{speedup:>13}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
