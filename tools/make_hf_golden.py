"""Regenerate the HuggingFace ALBERT golden fixtures in ``tests/fixtures/hf_albert/``.

Only needed to *regenerate* the fixtures. The tests read the committed files with numpy/safetensors
and never need torch or transformers, which must stay out of the project venv (``.venv``).

Run it from a separate venv outside the repository::

    python3 -m venv /work/venv-hf
    /work/venv-hf/bin/pip install torch==2.13.0          # CPU wheel
    /work/venv-hf/bin/pip install transformers==5.23.0 safetensors numpy sentencepiece protobuf
    /work/venv-hf/bin/python tools/make_hf_golden.py     # from the repository root

The ``tokenizer/`` case (``--tokenizer_spm``) converts a SentencePiece model with HF's own converter. The
committed one is a 300-piece model trained by the project's own trainer (in the project venv)::

    python -c "from data_prep.vocab import train_sentencepiece; from albert_tf.text import preprocess_text; \
      from tests.text.tokenizer_corpus import training_lines; \
      open('/tmp/tiny_spm.model', 'wb').write(train_sentencepiece( \
        [preprocess_text(l, lower=True) for l in training_lines()], vocab_size=300, num_threads=1, random_seed=7))"
    /work/venv-hf/bin/python tools/make_hf_golden.py --cases none --tokenizer_spm /tmp/tiny_spm.model

Each case directory gets exactly: ``config.json`` and ``model.safetensors`` (``save_pretrained`` of a
random ``AlbertForPreTraining``), ``inputs.npz``, ``outputs.npz`` and ``meta.json``. The run is
deterministic (fixed numpy seeds set every parameter and every input).

Head cases (``HEAD_CASES``) do the same for ``AlbertForSequenceClassification`` (classification and
regression), ``AlbertForQuestionAnswering``, ``AlbertForMultipleChoice`` (inputs ``[B, C, S]``),
``AlbertForTokenClassification``, ``AlbertForMaskedLM`` and an ``AlbertForPreTraining`` whose
``hidden_act`` is HF's ``"gelu"`` (the erf form); their ``outputs.npz`` holds ``sequence_output``,
``pooled_output`` where the HF model has a pooler, and the head's outputs under HF's names
(``logits``, ``start_logits``/``end_logits``, gathered ``mlm_logits``, ``sop_logits``).

What the script checks before writing anything:

* HF's layer->group routing ``int(l / (L / G))`` equals the original's ``int(l / L * G)``;
* the MLM decoder is tied to the word embeddings (weight) and to ``predictions.bias`` (bias);
* a float64 NumPy re-implementation of the original forward pass (original_release.md section 2:
  tanh GELU, LayerNorm eps 1e-12, additive -10000 key mask, the original's routing) agrees with HF;
* the saved directory reloads with ``from_pretrained`` to bit-identical outputs.
"""

import argparse
import json
import math
import os
import shutil
import tempfile

import numpy as np
import safetensors
import torch
import transformers
from transformers import (
    AlbertConfig,
    AlbertForMaskedLM,
    AlbertForMultipleChoice,
    AlbertForPreTraining,
    AlbertForQuestionAnswering,
    AlbertForSequenceClassification,
    AlbertForTokenClassification,
)
from transformers.models.albert.modeling_albert import AlbertLayer

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "hf_albert")

# name -> (num_hidden_layers L, num_hidden_groups G, inner_group_num K, seed)
CASES = {
    "g1_k1": (3, 1, 1, 1001),
    "g2_k1_l3": (3, 2, 1, 1002),
    "g2_k2": (4, 2, 2, 1003),
}
EXPECTED_GROUP_MAPS = {"g2_k1_l3": [0, 0, 1]}

# name -> (HF class, L, G, K, seed, extra HF config keys)
HEAD_CASES = {
    "seq_classification": (AlbertForSequenceClassification, 2, 1, 1, 2001, {"num_labels": 3}),
    "seq_regression": (AlbertForSequenceClassification, 2, 1, 1, 2002, {"num_labels": 1, "problem_type": "regression"}),
    "question_answering": (AlbertForQuestionAnswering, 2, 2, 1, 2003, {}),
    "multiple_choice": (AlbertForMultipleChoice, 2, 1, 1, 2004, {}),
    "token_classification": (AlbertForTokenClassification, 2, 1, 2, 2005, {"num_labels": 5}),
    "masked_lm": (AlbertForMaskedLM, 2, 1, 1, 2006, {}),
    "pretraining_gelu_erf": (AlbertForPreTraining, 2, 1, 1, 2007, {"hidden_act": "gelu"}),
}
NUM_CHOICES = 3

VOCAB, EMBED, HIDDEN, HEADS, INTERMEDIATE, MAX_POS, TYPE_VOCAB = 120, 16, 32, 4, 64, 64, 2
BATCH, SEQ, NUM_MASKED = 3, 12, 4
PADDING_PER_ROW = (0, 4, 7)
PERTURB_STD = 0.2
ATTN_IMPLEMENTATION = "eager"
REFERENCE_ATOL = 1e-4
FILES = ("config.json", "model.safetensors", "inputs.npz", "outputs.npz", "meta.json")


def original_group_map(num_layers, num_groups):
    """Original release: ``int(layer_idx / num_hidden_layers * num_hidden_groups)`` in Python float."""
    return [int(l / num_layers * num_groups) for l in range(num_layers)]


def hf_group_map(num_layers, num_groups):
    """HF ``AlbertTransformer.forward``: ``int(i / (num_hidden_layers / num_hidden_groups))``."""
    return [int(l / (num_layers / num_groups)) for l in range(num_layers)]


def make_config(num_layers, num_groups, inner, **extra):
    values = dict(
        vocab_size=VOCAB,
        embedding_size=EMBED,
        hidden_size=HIDDEN,
        num_hidden_layers=num_layers,
        num_hidden_groups=num_groups,
        num_attention_heads=HEADS,
        intermediate_size=INTERMEDIATE,
        inner_group_num=inner,
        hidden_act="gelu_new",
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        classifier_dropout_prob=0.0,
        max_position_embeddings=MAX_POS,
        type_vocab_size=TYPE_VOCAB,
        layer_norm_eps=1e-12,
    )
    values.update(extra)
    config = AlbertConfig(**values)
    config._attn_implementation = ATTN_IMPLEMENTATION
    return config


def check_tied(model):
    pred = model.predictions
    word = model.albert.embeddings.word_embeddings.weight
    assert pred.decoder.weight is word, "MLM decoder weight is not tied to the word embeddings"
    assert pred.decoder.bias is pred.bias, "predictions.decoder.bias is not tied to predictions.bias"


def perturb(model, rng):
    """Overwrite every parameter: LayerNorm weights 1 + N(0, s^2), everything else N(0, s^2)."""
    ln_weights = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.LayerNorm)}
    with torch.no_grad():
        # named_parameters() yields each tied tensor once, so the ties survive.
        for _, param in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            noise = rng.normal(0.0, PERTURB_STD, size=tuple(param.shape))
            if id(param) in ln_weights:
                noise = noise + 1.0
            param.copy_(torch.from_numpy(noise.astype(np.float32)))


def make_inputs(rng, padding_per_row=PADDING_PER_ROW):
    batch = len(padding_per_row)
    input_ids = rng.integers(0, VOCAB, size=(batch, SEQ)).astype(np.int32)
    input_mask = np.ones((batch, SEQ), np.int32)
    segment_ids = np.zeros((batch, SEQ), np.int32)
    positions = np.zeros((batch, NUM_MASKED), np.int32)
    for row, pad in enumerate(padding_per_row):
        length = SEQ - pad
        input_mask[row, length:] = 0
        input_ids[row, length:] = rng.integers(1, VOCAB, size=pad)  # non-zero ids under the padding
        boundary = int(rng.integers(1, length))  # segment A = [0, boundary), segment B = [boundary, length)
        segment_ids[row, boundary:length] = 1
        positions[row] = np.sort(rng.choice(length, size=NUM_MASKED, replace=False))
    return {
        "input_ids": input_ids,
        "input_mask": input_mask,
        "segment_ids": segment_ids,
        "masked_lm_positions": positions,
    }


def run_hf(model, inputs):
    """Forward pass; returns the five golden arrays (float32 numpy)."""
    blocks, pooled = [], []
    handles = [m.register_forward_hook(lambda _m, _i, out: blocks.append(out.detach().clone()))
               for m in model.modules() if isinstance(m, AlbertLayer)]
    handles.append(model.albert.register_forward_hook(
        lambda _m, _i, out: pooled.append(out.pooler_output.detach().clone())))
    try:
        with torch.no_grad():
            out = model(
                input_ids=torch.from_numpy(inputs["input_ids"]).long(),
                attention_mask=torch.from_numpy(inputs["input_mask"]).long(),
                token_type_ids=torch.from_numpy(inputs["segment_ids"]).long(),
            )
    finally:
        for handle in handles:
            handle.remove()
    assert len(pooled) == 1
    positions = torch.from_numpy(inputs["masked_lm_positions"]).long()
    logits = out.prediction_logits
    mlm = torch.gather(logits, 1, positions[:, :, None].expand(-1, -1, logits.shape[-1]))
    encoder_outputs = torch.stack(blocks)
    return {
        "sequence_output": blocks[-1].numpy(),
        "pooled_output": pooled[0].numpy(),
        "encoder_outputs": encoder_outputs.numpy(),
        "mlm_logits": mlm.numpy(),
        "sop_logits": out.sop_logits.numpy(),
    }


# ----------------------------------------------------------------------------------------------
# Independent float64 NumPy version of the original forward pass (original_release.md section 2).


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


_erf = np.vectorize(math.erf)


def _gelu_erf(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _layer_norm(x, gamma, beta):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * gamma + beta


def reference_forward(sd, inputs, num_layers, num_groups, inner, gelu=_gelu_tanh):
    """Backbone, pooler and pretraining heads; the pooler and heads only where ``sd`` has them."""
    w = {k: v.astype(np.float64) for k, v in sd.items()}
    batch, seq = inputs["input_ids"].shape
    dense = lambda x, name: x @ w[name + ".weight"].T + w[name + ".bias"]  # torch Linear: [out, in]
    ids, mask, seg = inputs["input_ids"], inputs["input_mask"], inputs["segment_ids"]
    e = "albert.embeddings."
    x = w[e + "word_embeddings.weight"][ids] + w[e + "token_type_embeddings.weight"][seg]
    x = x + w[e + "position_embeddings.weight"][None, :seq]
    x = _layer_norm(x, w[e + "LayerNorm.weight"], w[e + "LayerNorm.bias"])
    h = dense(x, "albert.encoder.embedding_hidden_mapping_in")
    adder = (1.0 - mask[:, None, None, :].astype(np.float64)) * -10000.0  # keys only
    head_dim = HIDDEN // HEADS
    split = lambda t: t.reshape(batch, seq, HEADS, head_dim).transpose(0, 2, 1, 3)
    blocks = []
    for layer in range(num_layers):
        group = original_group_map(num_layers, num_groups)[layer]
        for k in range(inner):
            p = f"albert.encoder.albert_layer_groups.{group}.albert_layers.{k}."
            q, kk, v = (split(dense(h, p + "attention." + n)) for n in ("query", "key", "value"))
            scores = q @ kk.transpose(0, 1, 3, 2) / math.sqrt(head_dim) + adder
            probs = np.exp(scores - scores.max(-1, keepdims=True))
            probs /= probs.sum(-1, keepdims=True)
            ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, seq, HIDDEN)
            a = dense(ctx, p + "attention.dense") + h
            a = _layer_norm(a, w[p + "attention.LayerNorm.weight"], w[p + "attention.LayerNorm.bias"])
            f = dense(gelu(dense(a, p + "ffn")), p + "ffn_output")
            h = _layer_norm(f + a, w[p + "full_layer_layer_norm.weight"], w[p + "full_layer_layer_norm.bias"])
            blocks.append(h)
    out = {"sequence_output": h, "encoder_outputs": np.stack(blocks)}
    if "albert.pooler.weight" in w:
        out["pooled_output"] = np.tanh(dense(h[:, 0], "albert.pooler"))
    if "predictions.dense.weight" in w:
        gathered = np.take_along_axis(h, inputs["masked_lm_positions"][:, :, None].astype(np.int64), axis=1)
        t = gelu(dense(gathered, "predictions.dense"))
        t = _layer_norm(t, w["predictions.LayerNorm.weight"], w["predictions.LayerNorm.bias"])
        out["mlm_logits"] = t @ w[e + "word_embeddings.weight"].T + w["predictions.bias"]
    if "sop_classifier.classifier.weight" in w:
        out["sop_logits"] = dense(out["pooled_output"], "sop_classifier.classifier")
    return out


# ----------------------------------------------------------------------------------------------


def max_abs_diff(a, b):
    return {k: float(np.max(np.abs(a[k].astype(np.float64) - b[k].astype(np.float64)))) for k in a}


def fresh_case_dir(out_root, name):
    """``<out_root>/<name>``, emptied: a regenerated case keeps no file of an older run."""
    case_dir = os.path.join(out_root, name)
    if os.path.isdir(case_dir):
        shutil.rmtree(case_dir)
    os.makedirs(case_dir)
    return case_dir


def save_case(model, inputs, outputs, out_root, name):
    """A fresh case directory with the model's ``save_pretrained`` files, ``inputs.npz`` and ``outputs.npz``."""
    case_dir = fresh_case_dir(out_root, name)
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        for fname in ("config.json", "model.safetensors"):
            shutil.copy(os.path.join(tmp, fname), os.path.join(case_dir, fname))
    np.savez(os.path.join(case_dir, "inputs.npz"), **inputs)
    np.savez(os.path.join(case_dir, "outputs.npz"), **{k: v.astype(np.float32) for k, v in outputs.items()})
    return case_dir


def saved_tensor_names(case_dir):
    with safetensors.safe_open(os.path.join(case_dir, "model.safetensors"), framework="np") as f:
        return sorted(f.keys())


def write_meta(case_dir, meta):
    """``meta.json``, last, once the directory holds exactly the case's ``FILES``."""
    with open(os.path.join(case_dir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    assert sorted(os.listdir(case_dir)) == sorted(FILES), os.listdir(case_dir)
    return meta


def make_case(name, num_layers, num_groups, inner, seed, out_root):
    hf_map = hf_group_map(num_layers, num_groups)
    orig_map = original_group_map(num_layers, num_groups)
    assert hf_map == orig_map, (name, hf_map, orig_map)
    if name in EXPECTED_GROUP_MAPS:
        assert orig_map == EXPECTED_GROUP_MAPS[name], (name, orig_map)

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)  # only the (overwritten) default init uses torch's RNG
    model = AlbertForPreTraining(make_config(num_layers, num_groups, inner)).eval()
    check_tied(model)
    perturb(model, rng)
    check_tied(model)
    inputs = make_inputs(rng)
    outputs = run_hf(model, inputs)

    blocks = outputs["encoder_outputs"]
    assert blocks.shape == (num_layers * inner, BATCH, SEQ, HIDDEN), blocks.shape
    assert outputs["mlm_logits"].shape == (BATCH, NUM_MASKED, VOCAB)
    assert outputs["sop_logits"].shape == (BATCH, 2)

    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    ref_diff = max_abs_diff(outputs, reference_forward(state, inputs, num_layers, num_groups, inner))
    assert max(ref_diff.values()) < REFERENCE_ATOL, ref_diff

    case_dir = save_case(model, inputs, outputs, out_root, name)

    reloaded, info = AlbertForPreTraining.from_pretrained(
        case_dir, attn_implementation=ATTN_IMPLEMENTATION, output_loading_info=True)
    reloaded.eval()
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    check_tied(reloaded)
    reload_diff = max_abs_diff(outputs, run_hf(reloaded, inputs))
    assert max(reload_diff.values()) == 0.0, reload_diff

    saved_keys = saved_tensor_names(case_dir)
    meta = {
        "case": name,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "num_hidden_layers": num_layers,
        "num_hidden_groups": num_groups,
        "inner_group_num": inner,
        "layer_to_group": orig_map,
        "num_encoder_outputs": num_layers * inner,
        "attn_implementation": ATTN_IMPLEMENTATION,
        "seed": seed,
        "perturbation": f"LayerNorm weight 1+N(0,{PERTURB_STD}^2); every other parameter N(0,{PERTURB_STD}^2)",
        "tied_keys_absent_from_file": sorted(set(state) - set(saved_keys)),
        "max_abs_diff_vs_numpy_reference": ref_diff,
    }
    return write_meta(case_dir, meta)


# ----------------------------------------------------------------------------------------------
# Task heads.


def run_head_hf(model, inputs):
    """Forward pass of any ``AlbertFor*`` head; returns HF's outputs plus the backbone's (float32 numpy)."""
    blocks, pooled = [], []
    handles = [m.register_forward_hook(lambda _m, _i, out: blocks.append(out.detach().clone()))
               for m in model.modules() if isinstance(m, AlbertLayer)]
    handles.append(model.albert.register_forward_hook(lambda _m, _i, out: pooled.append(out.pooler_output)))
    feed = {"input_ids": "input_ids", "attention_mask": "input_mask", "token_type_ids": "segment_ids"}
    try:
        with torch.no_grad():
            out = model(**{hf: torch.from_numpy(inputs[ours]).long() for hf, ours in feed.items()})
    finally:
        for handle in handles:
            handle.remove()
    result = {"sequence_output": blocks[-1].numpy(), "encoder_outputs": torch.stack(blocks).numpy()}
    if pooled[0] is not None:
        result["pooled_output"] = pooled[0].detach().numpy()
    for name in ("logits", "start_logits", "end_logits", "sop_logits"):
        if getattr(out, name, None) is not None:
            result[name] = out[name].numpy()
    logits = getattr(out, "prediction_logits", None)
    if logits is None and isinstance(model, AlbertForMaskedLM):
        logits = out.logits
        del result["logits"]
    if logits is not None:
        positions = torch.from_numpy(inputs["masked_lm_positions"]).long()
        result["mlm_logits"] = torch.gather(logits, 1, positions[:, :, None].expand(-1, -1, logits.shape[-1])).numpy()
    return result


def reference_head(model_cls, sd, inputs, num_layers, num_groups, inner, gelu):
    """The numpy reference of ``reference_forward`` plus each head's linear layer (dropout is off)."""
    flat = {k: v.reshape(-1, v.shape[-1]) for k, v in inputs.items()}
    ref = reference_forward(sd, flat, num_layers, num_groups, inner, gelu=gelu)
    linear = lambda x, name: x @ sd[name + ".weight"].astype(np.float64).T + sd[name + ".bias"]
    if model_cls is AlbertForSequenceClassification:
        ref["logits"] = linear(ref["pooled_output"], "classifier")
    elif model_cls is AlbertForMultipleChoice:
        ref["logits"] = linear(ref["pooled_output"], "classifier").reshape(inputs["input_ids"].shape[:2])
    elif model_cls is AlbertForTokenClassification:
        ref["logits"] = linear(ref["sequence_output"], "classifier")
    elif model_cls is AlbertForQuestionAnswering:
        both = linear(ref["sequence_output"], "qa_outputs")
        ref["start_logits"], ref["end_logits"] = both[..., 0], both[..., 1]
    return ref


def make_head_case(name, model_cls, num_layers, num_groups, inner, seed, extra, out_root):
    assert hf_group_map(num_layers, num_groups) == original_group_map(num_layers, num_groups), name
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model = model_cls(make_config(num_layers, num_groups, inner, **extra)).eval()
    perturb(model, rng)
    if model_cls is AlbertForMultipleChoice:
        inputs = make_inputs(rng, padding_per_row=(0, 4, 7, 2, 5, 1))
        del inputs["masked_lm_positions"]
        inputs = {k: v.reshape(2, NUM_CHOICES, SEQ) for k, v in inputs.items()}
    else:
        inputs = make_inputs(rng)
    outputs = run_head_hf(model, inputs)
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    gelu = _gelu_erf if extra.get("hidden_act") == "gelu" else _gelu_tanh
    reference = reference_head(model_cls, state, inputs, num_layers, num_groups, inner, gelu)
    ref_diff = max_abs_diff(outputs, reference)
    assert max(ref_diff.values()) < REFERENCE_ATOL, (name, ref_diff)
    if extra.get("num_labels") == 1:
        assert outputs["logits"].shape == (BATCH, 1)

    case_dir = save_case(model, inputs, outputs, out_root, name)

    reloaded, info = model_cls.from_pretrained(case_dir, attn_implementation=ATTN_IMPLEMENTATION, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    reload_diff = max_abs_diff(outputs, run_head_hf(reloaded.eval(), inputs))
    # The reloaded head's Linear can take another BLAS path than the freshly built one (seen: 1.2e-7).
    assert max(reload_diff.values()) <= 1e-6, reload_diff

    saved_keys = saved_tensor_names(case_dir)
    meta = {
        "case": name,
        "architecture": model_cls.__name__,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "num_hidden_layers": num_layers,
        "num_hidden_groups": num_groups,
        "inner_group_num": inner,
        "hf_config_overrides": extra,
        "layer_to_group": original_group_map(num_layers, num_groups),
        "attn_implementation": ATTN_IMPLEMENTATION,
        "seed": seed,
        "perturbation": f"LayerNorm weight 1+N(0,{PERTURB_STD}^2); every other parameter N(0,{PERTURB_STD}^2)",
        "outputs": sorted(outputs),
        "tied_keys_absent_from_file": sorted(set(state) - set(saved_keys)),
        "max_abs_diff_vs_numpy_reference": ref_diff,
    }
    return write_meta(case_dir, meta)


# ----------------------------------------------------------------------------------------------
# Tokenizer folder: HF's own conversion of a SentencePiece model into tokenizer.json.

TOKENIZER_TEXTS = [
    "Hello World, 1990, cafe!",
    "the quick brown fox jumps over the lazy dog.",
    "A sentence with (parentheses) - and dashes.",
    "numbers 12,345 and 3.14 in text",
    "Mixed   spaces\tand\nnewlines",
]


def make_tokenizer_case(spm_model, out_root):
    """``tokenizer/``: ``spiece.model`` plus HF's ``tokenizer.json`` / ``tokenizer_config.json`` made from it,
    and HF's ids for ``TOKENIZER_TEXTS`` (texts without HF's quote rewriting, so the original agrees)."""
    from transformers import AlbertTokenizer

    case_dir = fresh_case_dir(out_root, "tokenizer")
    with tempfile.TemporaryDirectory() as src, tempfile.TemporaryDirectory() as dst:
        shutil.copy(spm_model, os.path.join(src, "spiece.model"))
        tokenizer = AlbertTokenizer.from_pretrained(src)
        tokenizer.save_pretrained(dst)
        for fname in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(dst, fname), os.path.join(case_dir, fname))
    shutil.copy(spm_model, os.path.join(case_dir, "spiece.model"))
    encodings = {text: tokenizer(text)["input_ids"] for text in TOKENIZER_TEXTS}
    with open(os.path.join(case_dir, "hf_input_ids.json"), "w") as f:
        json.dump({"transformers_version": transformers.__version__, "input_ids": encodings}, f, indent=1, ensure_ascii=False)
        f.write("\n")
    return encodings


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="fixture root (default: tests/fixtures/hf_albert)")
    parser.add_argument("--tokenizer_spm", default="", help="a SentencePiece .model: also (re)write the tokenizer/ case")
    parser.add_argument("--cases", default="", help="comma list of case names (default: every case)")
    args = parser.parse_args()
    wanted = set(filter(None, args.cases.split(",")))
    transformers.utils.logging.disable_progress_bar()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    for name, (num_layers, num_groups, inner, seed) in CASES.items():
        if wanted and name not in wanted:
            continue
        meta = make_case(name, num_layers, num_groups, inner, seed, os.path.abspath(args.out))
        worst = max(meta["max_abs_diff_vs_numpy_reference"].values())
        print(f"{name}: L={num_layers} G={num_groups} K={inner} groups={meta['layer_to_group']} "
              f"max|HF - numpy reference|={worst:.2e}")

    for name, (model_cls, num_layers, num_groups, inner, seed, extra) in HEAD_CASES.items():
        if wanted and name not in wanted:
            continue
        meta = make_head_case(name, model_cls, num_layers, num_groups, inner, seed, extra, os.path.abspath(args.out))
        worst = max(meta["max_abs_diff_vs_numpy_reference"].values())
        print(f"{name}: {model_cls.__name__} L={num_layers} G={num_groups} K={inner} outputs={meta['outputs']} "
              f"max|HF - numpy reference|={worst:.2e}")

    if args.tokenizer_spm:
        encodings = make_tokenizer_case(args.tokenizer_spm, os.path.abspath(args.out))
        print(f"tokenizer: {len(encodings)} texts encoded by HF")


if __name__ == "__main__":
    main()
