"""A fine-tuning model's outputs over a whole record set, and the scores of each task family
(the original's `eval_results.txt` keys), SQuAD's post-processing and RACE's per-level accuracies.

Evaluation gathers every example's outputs in record order and scores the whole set at once
(Matthews correlation, Pearson and F1 are not means over batches).
"""

from __future__ import annotations

import json
import weakref
from typing import Optional

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from albert_tf.errors import UserInputError
from albert_tf.tasks import Task, scoring
from albert_tf.training.finetuning_records import EXAMPLE_INDEX


def _as_dict(outputs):
    if isinstance(outputs, dict):
        return outputs
    return {"logits": outputs}


def gather_outputs(model, dataset, keep=("label_ids", "is_real_example", "unique_ids", "input_mask"), jit_compile=False,
                   progress=None, strategy=None):
    """Runs `model` (inference mode) over every batch and returns numpy arrays in record order.

    `progress`: a label for a progress bar over the batches (None: no bar). `strategy`: under a
    strategy with several replicas in one client (`MirroredStrategy`, `TPUStrategy`), each batch is
    split across the replicas inside `strategy.run`, so the forward pass runs where the variables live;
    otherwise (none, one device, or multi-worker, where every worker scores the whole set) the batches
    run here.
    """

    # One trace for every bucket shape and the short last batch; XLA still compiles per shape.
    signature = {k: tf.TensorSpec([None] * s.shape.rank, s.dtype) for k, s in dataset.element_spec.items()}
    carried = [k for k in keep if k in dataset.element_spec] + [EXAMPLE_INDEX]

    distribute = (strategy is not None and strategy.num_replicas_in_sync > 1
                  and not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy))
    step = _compiled_step(model, signature, tuple(carried), jit_compile, strategy if distribute else None)

    if distribute:
        batches = strategy.experimental_distribute_dataset(dataset)

        def results(batch):
            # Each replica's slice, in any order: the example index restores record order below.
            per_replica = step(batch)
            return [{k: v for k, v in zip(per_replica, values)} for values in zip(
                *(strategy.experimental_local_results(v) for v in per_replica.values()))]
    else:
        batches = dataset

        def results(batch):
            return [step(batch)]

    chunks = {}

    for batch in tqdm(batches, desc=progress, unit=" batches", disable=progress is None, leave=False):
        for outputs in results(batch):
            for key, value in outputs.items():
                chunks.setdefault(key, []).append(
                    np.asarray(tf.cast(value, tf.float32) if value.dtype.is_floating else value))
    if not chunks:
        return {}
    order = np.argsort(np.concatenate(chunks.pop(EXAMPLE_INDEX)), kind="stable")
    gathered = {}
    for key, parts in chunks.items():
        if parts[0].ndim >= 2 and len({p.shape[1:] for p in parts}) > 1:
            # Per-token outputs of bucketed batches differ in length; pad back to the longest.
            # Float outputs (logits) get a very low value there, so no padded position wins an argmax.
            target = np.max([p.shape for p in parts], axis=0)
            fill = -1e9 if np.issubdtype(parts[0].dtype, np.floating) else 0
            parts = [np.pad(p, [(0, 0)] + [(0, t - n) for t, n in zip(target[1:], p.shape[1:])], constant_values=fill)
                     for p in parts]
        gathered[key] = np.concatenate(parts)[order]
    return gathered


#: model -> {settings: traced step}. An evaluation at every checkpoint of a run reuses one trace instead
#: of tracing (and, with XLA, compiling) the model's forward pass again each time.
_STEPS = weakref.WeakKeyDictionary()


def _compiled_step(model, signature, carried, jit_compile, strategy):
    """The traced per-batch step of `gather_outputs`, made once per model and settings."""
    # The weights' identities too: `quantize` or `enable_lora` replace or add variables, which a trace
    # made before would not read.
    key = (tuple((k, s.shape.rank, s.dtype.name) for k, s in sorted(signature.items())), carried, bool(jit_compile),
           None if strategy is None else id(strategy), tuple(id(w) for w in getattr(model, "weights", ())))
    steps = _STEPS.setdefault(model, {})
    if key in steps:
        return steps[key]
    # A weak reference: the cache must not keep the model (its key) alive through the traced function.
    model_ref = weakref.ref(model)

    # Inside strategy.run a TPU compiles the whole replica step itself.
    @tf.function(input_signature=[signature], jit_compile=jit_compile and strategy is None)
    def forward(batch):
        return _as_dict(model_ref()(batch, training=False))

    def replica_step(batch):
        outputs = dict(forward(batch))
        outputs.update({k: batch[k] for k in carried})
        return outputs

    if strategy is None:
        step = replica_step
    else:
        step = tf.function(lambda batch: strategy.run(replica_step, args=(batch,)), reduce_retracing=True)
    steps[key] = step
    return step


def score_outputs(task: Task, outputs: dict) -> dict:
    """The task's `eval_results.txt` scores from gathered outputs (`gather_outputs`)."""
    weights = outputs.get("is_real_example")
    logits = outputs["logits"]
    if task.family in ("classification", "multiple_choice"):
        return scoring.classification_scores(logits, outputs["label_ids"], weights, extra=task.extra_metrics)
    if task.family == "regression":
        return scoring.regression_scores(np.reshape(logits, [-1]), outputs["label_ids"], weights)
    if task.family == "tagging":
        return scoring.tagging_scores(logits, outputs["label_ids"], outputs["input_mask"], task.labels)
    raise ValueError(f"task {task.name!r} ({task.family}) is scored from its predictions, not from logits.")


def race_hooks(task: Task, meta_file: str):
    """`evaluate_fn` for RACE: the original's overall accuracy plus `middle_accuracy` and `high_accuracy`.

    `meta_file` is the `.meta.json` that `albert-create-finetuning-data` writes beside RACE records
    (each record's level, which the records themselves cannot carry in the original's schema).
    """
    with open(meta_file, encoding="utf-8") as f:
        meta = json.load(f)
    levels = meta.get("levels") if meta.get("format") == "albert_tf.race_examples" else None
    if levels is None:
        raise UserInputError(f"{meta_file}: not RACE record metadata (no 'levels' list of format albert_tf.race_examples).")

    def evaluate(outputs):
        from albert_tf.metrics import race_scores

        scores = score_outputs(task, outputs)
        if len(levels) != len(outputs["logits"]):
            raise UserInputError(f"{meta_file} lists {len(levels)} records, the evaluation records hold "
                                 f"{len(outputs['logits'])}; regenerate one of them.")
        weights = np.asarray(outputs.get("is_real_example", np.ones(len(levels))), np.float64).reshape(-1)
        # Padding records ("" level, weight 0) are counted under no level.
        named = np.asarray([level or "middle" for level in levels])
        per_level = race_scores(np.argmax(outputs["logits"], axis=-1), outputs["label_ids"], named, weights)
        scores.update({k: v for k, v in per_level.items() if k != "eval_accuracy"})
        return scores

    return evaluate


V2_OUTPUTS = ("start_top_log_probs", "start_top_index", "end_top_log_probs", "end_top_index", "cls_logits")


def squad_hooks(task: Task, meta_file: str, dataset_file: Optional[str] = None, n_best_size: int = 20,
                max_answer_length: int = 30, start_n_top: int = 5, end_n_top: int = 5):
    """`(evaluate_fn, predict_fn)` for SQuAD: the original's post-processing, then the official scores.

    `meta_file` is the `.meta.json` written beside the evaluation records; `dataset_file` the SQuAD
    JSON the scores are computed against (needed for evaluation only). v2 is scored as `run_squad_v2`:
    a first pass answering every question finds the null-score threshold that maximises F1, a second
    pass applies it (so the reported score uses a threshold tuned on the evaluated set, as the original).
    """
    from albert_tf.tasks import squad

    features = squad.load_squad_features(meta_file)
    v2 = task.family == "squad_v2"

    def postprocess(outputs, threshold=None):
        ids = [int(u) for u in np.asarray(outputs["unique_ids"]).reshape(-1)]
        if not v2:
            results = {u: (outputs["start_logits"][i], outputs["end_logits"][i]) for i, u in enumerate(ids)}
            predictions, nbest = squad.postprocess_v1(features, results, n_best_size, max_answer_length)
            return predictions, nbest, None
        results = {u: {k: outputs[k][i] for k in V2_OUTPUTS} for i, u in enumerate(ids)}
        return squad.postprocess_v2(features, results, n_best_size, max_answer_length, start_n_top, end_n_top, threshold)

    def evaluate(outputs):
        from albert_tf.metrics import squad_v1_scores, squad_v2_scores

        if dataset_file is None:
            raise ValueError("SQuAD evaluation needs the dataset JSON (--predict_file).")
        with open(dataset_file, encoding="utf-8") as f:
            dataset = json.load(f)
        predictions, _, null_odds = postprocess(outputs)
        if not v2:
            return {k: float(v) for k, v in squad_v1_scores(dataset, predictions).items()}
        first = squad_v2_scores(dataset, predictions, null_odds)
        threshold = float(first.get("best_f1_thresh", 0.0))
        predictions, _, null_odds = postprocess(outputs, threshold)
        scores = {k: float(v) for k, v in squad_v2_scores(dataset, predictions, null_odds).items() if np.isscalar(v)}
        scores["null_score_diff_threshold"] = threshold
        return scores

    def predict(outputs, output_dir):
        predictions, nbest, null_odds = postprocess(outputs)
        return squad.write_predictions(output_dir, predictions, nbest, null_odds if v2 else None)

    return evaluate, predict

