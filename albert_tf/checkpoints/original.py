"""Original-release (TF1) checkpoints: `bert/...` backbone variables and the pretraining and fine-tuning head variables.

Beyond tf-models-official's converter, this handles `num_hidden_groups > 1` and `inner_group_num > 1`,
the original's `--init_from_group0` fallback, and reports what it leaves out.
"""

from __future__ import annotations

import logging
import re
import warnings

import numpy as np

from albert_tf.checkpoints.block_layout import block_rows
from albert_tf.checkpoints.report import ConversionReport

logger = logging.getLogger(__name__)

# Variables a pretraining checkpoint carries that are not model weights.
_OPTIMIZER_STATE = re.compile(r"(^|/)(global_step|adam_m|adam_v|AdamWeightDecayOptimizer\w*|LAMB\w*|Lamb\w*)($|/)")


# --------------------------------------------------------------------------- the port table
# Layouts (original array -> Keras variable):
#   copy       same array
#   heads_in   [H, H] -> EinsumDense [H, N, D] (the original splits heads head-major)
#   heads_b    [H] -> [N, D]
#   heads_out  [H, H] -> [N, D, H]
#   transpose  [classes, H] (used as x·Wᵀ) -> Keras [H, classes]
def original_ports(model):
    """Rows `(keras_variable, original_name, layout)` for every weight of an `AlbertBackbone`, an
    `AlbertPretrainer` or a task model (the backbone's `bert/...` rows, then the head's, see `head_ports`)."""
    backbone = model.backbone if hasattr(model, "backbone") else model
    if backbone.config.sharing != "all":
        raise ValueError(f"The original release shares whole blocks; sharing={backbone.config.sharing!r} has no TF1 layout.")
    emb = backbone.embeddings
    rows = [
        (emb.word_embeddings.embeddings, "bert/embeddings/word_embeddings", "copy"),
        (emb.token_type_embeddings.embeddings, "bert/embeddings/token_type_embeddings", "copy"),
        (emb.position_embeddings, "bert/embeddings/position_embeddings", "copy"),
        (emb.layer_norm.gamma, "bert/embeddings/LayerNorm/gamma", "copy"),
        (emb.layer_norm.beta, "bert/embeddings/LayerNorm/beta", "copy"),
    ]
    if emb.projection is not None:
        rows += [
            (emb.projection.kernel, "bert/encoder/embedding_hidden_mapping_in/kernel", "copy"),
            (emb.projection.bias, "bert/encoder/embedding_hidden_mapping_in/bias", "copy"),
        ]
    rows += block_rows(backbone, "original")
    rows += [
        (backbone.pooler.kernel, "bert/pooler/dense/kernel", "copy"),
        (backbone.pooler.bias, "bert/pooler/dense/bias", "copy"),
    ]
    if backbone is not model:
        rows += head_ports(model)
    return rows


def _dense_rows(dense, scope):
    rows = [(dense.kernel, f"{scope}/kernel", "copy")]
    return rows + ([(dense.bias, f"{scope}/bias", "copy")] if dense.bias is not None else [])


def head_ports(model):
    """The head rows of a model, under the names the original scripts give their head variables:

    * `AlbertPretrainer`: `cls/predictions/*`, `cls/seq_relationship/*` (run_pretraining.py);
    * `AlbertClassifier` and `AlbertMultipleChoice`: `output_weights` `[classes, H]` and `output_bias`,
      top-level (run_classifier.py, run_race.py with one output);
    * `AlbertQuestionAnswering` v1: `cls/squad/output_weights` `[2, H]` (row 0 start, row 1 end) and
      `cls/squad/output_bias` (run_squad_v1.py); v2: the `start_logits/dense`, `end_logits/dense_0`,
      `end_logits/LayerNorm`, `end_logits/dense_1`, `answer_class/dense_0` and bias-free
      `answer_class/dense_1` scopes (run_squad_v2.py);
    * `AlbertTokenClassifier` (no original counterpart): `output_weights` / `output_bias` like the
      classifier.
    """
    from albert_tf.models import (
        AlbertClassifier,
        AlbertMultipleChoice,
        AlbertPretrainer,
        AlbertQuestionAnswering,
        AlbertTokenClassifier,
    )

    if isinstance(model, AlbertPretrainer):
        mlm, sop = model.masked_lm_head, model.sentence_order_head
        return [
            (mlm.transform.kernel, "cls/predictions/transform/dense/kernel", "copy"),
            (mlm.transform.bias, "cls/predictions/transform/dense/bias", "copy"),
            (mlm.layer_norm.gamma, "cls/predictions/transform/LayerNorm/gamma", "copy"),
            (mlm.layer_norm.beta, "cls/predictions/transform/LayerNorm/beta", "copy"),
            (mlm.output_bias, "cls/predictions/output_bias", "copy"),
            (sop.dense.kernel, "cls/seq_relationship/output_weights", "transpose"),
            (sop.dense.bias, "cls/seq_relationship/output_bias", "copy"),
        ]
    heads = {AlbertClassifier: "classifier_head", AlbertMultipleChoice: "choice_head", AlbertTokenClassifier: "tagging_head"}
    for cls, attribute in heads.items():
        if isinstance(model, cls):
            dense = getattr(model, attribute).dense
            return [(dense.kernel, "output_weights", "transpose"), (dense.bias, "output_bias", "copy")]
    if isinstance(model, AlbertQuestionAnswering):
        if model.version == 1:
            dense = model.span_head.dense
            return [(dense.kernel, "cls/squad/output_weights", "transpose"), (dense.bias, "cls/squad/output_bias", "copy")]
        head = model.squad_v2_head
        return (
            _dense_rows(head.start_dense, "start_logits/dense")
            + _dense_rows(head.end_dense_0, "end_logits/dense_0")
            + [
                (head.end_layer_norm.gamma, "end_logits/LayerNorm/gamma", "copy"),
                (head.end_layer_norm.beta, "end_logits/LayerNorm/beta", "copy"),
            ]
            + _dense_rows(head.end_dense_1, "end_logits/dense_1")
            + _dense_rows(head.answer_dense_0, "answer_class/dense_0")
            + _dense_rows(head.answer_dense_1, "answer_class/dense_1")
        )
    raise TypeError(f"No original-release variable names for the head of a {type(model).__name__}.")


def original_shape(shape, layout):
    """The shape the original stores a variable of Keras shape `shape` with."""
    shape = tuple(shape)
    if layout == "heads_in":
        return (shape[0], shape[1] * shape[2])
    if layout == "heads_b":
        return (shape[0] * shape[1],)
    if layout == "heads_out":
        return (shape[0] * shape[1], shape[2])
    if layout == "transpose":
        return shape[::-1]
    return shape


def to_keras(array, layout, shape):
    if layout == "transpose":
        array = array.T
    return np.reshape(array, shape)


def to_original(array, layout):
    if layout == "transpose":
        return array.T
    return np.reshape(array, original_shape(array.shape, layout))


def _group0_name(name):
    # The original's --init_from_group0 rewrites, tried in this order.
    for pattern, replacement in ((r"/group_\d+/", "/group_0/"), (r"/ffn_\d+/", "/ffn_1/"), (r"/attention_\d+/", "/attention_1/")):
        candidate = re.sub(pattern, replacement, name)
        if candidate != name:
            return candidate
    return None


def assign_from_original(model, reader_names, read, source, init_from_group0=False):
    """Assigns every ported variable from a name -> array source. Returns a `ConversionReport`."""
    names = set(reader_names)
    # Checkpoints saved by fine-tuning through a TF-Hub module carry the backbone under `module/`.
    prefix = "module/" if not any(n.startswith("bert/") for n in names) and any(n.startswith("module/bert/") for n in names) else ""
    report = ConversionReport()
    missing = []
    used = set()
    for variable, name, layout in original_ports(model):
        stored = prefix + name
        if stored not in names and init_from_group0 and _group0_name(name):
            fallback = prefix + _group0_name(name)
            if fallback in names:
                report.from_group0.append(name)
                stored = fallback
        if stored not in names:
            # Head weights may be absent (fine-tuning starts from a pretraining checkpoint); the encoder may not.
            (missing if name.startswith("bert/") else report.missing_heads).append(name)
            continue
        array = np.asarray(read(stored))
        expected = original_shape(variable.shape, layout)
        if tuple(array.shape) != expected:
            raise ValueError(
                f"{source}: variable '{stored}' has shape {list(array.shape)}, but the config expects "
                f"{list(expected)} (albert_tf variable '{variable.path}')."
            )
        variable.assign(to_keras(array.astype(np.float32), layout, tuple(variable.shape)))
        report.add_mapped(stored, variable.path, array.shape)
        used.add(stored)
    if missing:
        hint = " (pass init_from_group0=True to start extra groups from group_0)" if any("/group_" in n for n in missing) else ""
        raise ValueError(f"{source} lacks variables the config needs: {missing}{hint}.")
    for name in sorted(names - used):
        if name == "global_step" or name.endswith("/global_step"):
            report.ignore(name, "training step counter, not a weight", optimizer=True)
        elif _OPTIMIZER_STATE.search(name):
            report.ignore(name, "optimizer slot (LAMB/AdamW moment), not a weight", optimizer=True)
        else:
            report.ignore(name, "no albert_tf counterpart", unknown=True)
    if report.missing_heads:
        warnings.warn(f"{source} has no {report.missing_heads}; those head weights keep their initial values.")
    logger.info("%s: %s", source, report.summary())
    return report


def load_original_checkpoint(ckpt_prefix, config=None, init_from_group0=False, dtype=None, return_report=False, model=None):
    """An `AlbertPretrainer` (or the given `model`) holding the weights of an original-release TF1 checkpoint.

    `ckpt_prefix` is the checkpoint path without `.index`/`.data-*` (e.g. `albert_base/model.ckpt-best`).
    Without `model`, a new `AlbertPretrainer(config)` receives every backbone and pretraining-head weight.
    With `model` (an `AlbertBackbone`, `AlbertPretrainer` or task model: `AlbertClassifier`,
    `AlbertQuestionAnswering`, `AlbertMultipleChoice`, `AlbertTokenClassifier`), that model is filled in
    place and returned; its head variables are read under the original scripts' names (`head_ports`):
    a checkpoint written by `run_classifier.py`, `run_squad_v1/v2.py` or `run_race.py` restores the head
    too, a pretraining checkpoint leaves the head at its initial values (listed in `missing_heads`, with a
    warning). `config`, if given with `model`, must be the model's.

    Optimizer slots and `global_step` are ignored and reported; a variable whose shape disagrees with
    the model is an error naming both shapes. `init_from_group0` reproduces the original's flag: groups
    the checkpoint lacks start from `group_0`. With `return_report=True`, returns `(model, ConversionReport)`.

    TensorFlow reads the checkpoint (`tf.train.load_checkpoint`); the model is built on the current Keras
    backend, so under `KERAS_BACKEND=jax` with TensorFlow installed beside JAX this returns a JAX model
    (tests/checkpoints/test_original_on_jax.py). Without TensorFlow, convert once where it is installed
    (`albert-convert --from original --to keras`) and load the `.keras` file.

    Example:

        config = AlbertConfig.from_json_file("albert_base/albert_config.json")
        model = load_original_checkpoint("albert_base/model.ckpt-best", config)
        mnli = load_original_checkpoint("mnli_out/model.ckpt-best", model=AlbertClassifier(config, 3))
    """
    import tensorflow as tf

    from albert_tf.models.backbone import as_config
    from albert_tf.models.pretrainer import AlbertPretrainer

    try:
        reader = tf.train.load_checkpoint(ckpt_prefix)
    except (tf.errors.NotFoundError, tf.errors.DataLossError, ValueError) as e:
        raise FileNotFoundError(f"Cannot read a TF checkpoint at '{ckpt_prefix}': {e}") from None
    if model is None:
        if config is None:
            raise ValueError("load_original_checkpoint needs a `config` (AlbertConfig) or a `model` to load into.")
        model = AlbertPretrainer(as_config(config), dtype=dtype)
    else:
        own = getattr(model, "config", None)
        if config is not None and (own is None or as_config(config).to_dict() != own.to_dict()):
            raise ValueError(f"load_original_checkpoint got a `config` that differs from the {type(model).__name__}'s own.")
    report = assign_from_original(
        model, reader.get_variable_to_shape_map(), reader.get_tensor, ckpt_prefix, init_from_group0=init_from_group0
    )
    return (model, report) if return_report else model


def save_original_checkpoint(model, ckpt_prefix):
    """Writes the model's weights under the original release's TF1 variable names (a name-based checkpoint):
    the backbone under `bert/...` and the head, for a pretrainer or a task model, as `head_ports` names it."""
    import tensorflow as tf

    arrays = {name: to_original(variable.numpy(), layout) for variable, name, layout in original_ports(model)}
    with tf.Graph().as_default():
        variables = [tf.compat.v1.Variable(value, name=name) for name, value in arrays.items()]
        saver = tf.compat.v1.train.Saver(variables)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            return saver.save(session, ckpt_prefix, write_meta_graph=False)
