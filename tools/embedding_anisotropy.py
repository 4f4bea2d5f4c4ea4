"""How much of a model's word-embedding table lies along a few shared directions, against random initialisation.

Early masked-LM training predicts frequent pieces first, and the gradient pushes every embedding along the same
few directions (the "frequency direction"). A table in that state keeps less of what tells words apart, which
a linear probe or a few-label classifier needs. This tool reports, for a `.keras` model's word embeddings and for
a table of the same shape drawn like a fresh model's (truncated normal, the config's `initializer_range`):

- the share of the table's energy (squared Frobenius norm) along its first 1 and 5 singular directions;
- the mean cosine between two different word vectors (0 for random directions);
- the cosine of each vector with the table's mean direction, averaged (how far the mean dominates).

    python -m tools.embedding_anisotropy --model pt/pretrain/model.keras --output anisotropy.json
"""

import argparse
import json
import sys


def build_parser():
    p = argparse.ArgumentParser(prog="embedding_anisotropy", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="a .keras file of any albert_tf model, e.g. pt/pretrain/model.keras")
    p.add_argument("--seed", type=int, default=0, help="seed of the random table it is compared with (default 0)")
    p.add_argument("--output", default=None, help="also write the results as JSON to this file")
    return p


def geometry(table):
    """The measures above for one (vocabulary x width) table."""
    import numpy as np

    table = np.asarray(table, dtype=np.float64)
    singular = np.linalg.svd(table, compute_uv=False) ** 2
    unit = table / np.maximum(np.linalg.norm(table, axis=1, keepdims=True), 1e-12)
    total = unit.sum(axis=0)
    n = unit.shape[0]
    # Mean over ordered pairs i != j of cos(v_i, v_j) = (|sum of unit vectors|^2 - n) / (n (n - 1)).
    mean_pair_cosine = (float(total @ total) - n) / (n * (n - 1))
    mean_direction = total / max(np.linalg.norm(total), 1e-12)
    return {"top1_energy_share": float(singular[0] / singular.sum()),
            "top5_energy_share": float(singular[:5].sum() / singular.sum()),
            "mean_pair_cosine": float(mean_pair_cosine),
            "mean_cosine_with_mean_direction": float((unit @ mean_direction).mean())}


def measure(args):
    import keras
    import numpy as np

    import albert_tf  # noqa: F401  (registers the classes the .keras file names)

    model = keras.saving.load_model(args.model, compile=False)
    tables = [w for w in model.weights if w.path.endswith("word_embeddings/embeddings")]
    if len(tables) != 1:
        raise SystemExit(f"embedding_anisotropy: --model {args.model}: expected one word-embedding table; "
                         f"found {len(tables)}")
    table = np.asarray(tables[0].numpy())
    backbone = getattr(model, "backbone", model)
    stddev = backbone.config.initializer_range
    random = keras.initializers.TruncatedNormal(stddev=stddev, seed=args.seed)(table.shape).numpy()
    return {"model": args.model, "shape": list(table.shape), "trained": geometry(table),
            "random_init": geometry(random), "random_init_stddev": stddev}


def main(argv=None):
    args = build_parser().parse_args(argv)
    results = measure(args)
    print(f"word embeddings {results['shape'][0]} x {results['shape'][1]} of {args.model}")
    print(f"{'':34}{'trained':>10}{'random init':>14}")
    for key, label in (("top1_energy_share", "energy along the 1st direction"),
                       ("top5_energy_share", "energy along the first 5"),
                       ("mean_pair_cosine", "mean cosine of two words"),
                       ("mean_cosine_with_mean_direction", "mean cosine with the mean")):
        print(f"{label:34}{results['trained'][key]:>10.3f}{results['random_init'][key]:>14.3f}")
    if args.output:
        from albert_tf.io import write_text_atomic

        write_text_atomic(args.output, json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
