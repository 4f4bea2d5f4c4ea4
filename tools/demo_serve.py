"""albert-demo's serving step, run in a fresh process: ``python -m tools.demo_serve EXPORT_DIR QUERIES_JSON``.

Loads ``EXPORT_DIR/fill-mask`` and ``EXPORT_DIR/classifier`` with TensorFlow and tensorflow-text
alone, as a server would: ``albert_tf`` and ``data_prep`` are blocked before anything loads, so a
SavedModel that still needed them fails here instead of passing because the demo's environment had
them. ``QUERIES_JSON`` is ``{"fill_mask": [text, ...], "classify": [text, ...]}``. The last line on
stdout is one JSON object: the top fill-mask pieces with their probabilities, each classification's
label and probability, the seconds the two loads took, and the top-level packages the process
imported. Exit status 0 when every query was answered.
"""

import json
import sys
import time

BLOCKED = ("albert_tf", "data_prep")
WATCHED = ("albert_tf", "data_prep", "tensorflow", "tensorflow_text")


def main(argv=None) -> int:
    export_dir, queries = (sys.argv[1:] if argv is None else argv)
    queries = json.loads(queries)
    for name in BLOCKED:
        sys.modules[name] = None  # `import albert_tf` now raises ImportError

    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the SentencePiece op the SavedModel uses)

    started = time.time()
    fill = tf.saved_model.load(export_dir + "/fill-mask").signatures["serving_default"]
    classify = tf.saved_model.load(export_dir + "/classifier").signatures["serving_default"]
    load_seconds = time.time() - started

    out = fill(text=tf.constant(queries["fill_mask"]))
    tokens, probabilities = out["fill_mask_tokens"].numpy(), out["fill_mask_probabilities"].numpy()
    fill_answers = [[(t.decode(), float(p)) for t, p in zip(tokens[i, 0], probabilities[i, 0])]
                    for i in range(len(queries["fill_mask"]))]
    out = classify(text=tf.constant(queries["classify"]))
    labels, probabilities = out["predictions"].numpy(), out["probabilities"].numpy()
    class_answers = [(labels[i].decode(), float(probabilities[i].max())) for i in range(len(labels))]

    imported = sorted({name.split(".")[0] for name, module in sys.modules.items() if module is not None}
                      & set(WATCHED))
    print(json.dumps({"fill_mask": fill_answers, "classify": class_answers, "load_seconds": load_seconds,
                      "imported": imported}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
