"""Regenerate the HuggingFace ALBERT golden fixtures in ``tests/fixtures/hf_albert/``.

Only needed to *regenerate* the fixtures. The tests read the committed files with numpy/safetensors
and never need torch or transformers, which must stay out of the project venv (``.venv``).

Run it from a separate venv outside the repository::

    python3 -m venv /work/hfgen-venv
    /work/hfgen-venv/bin/pip install torch==2.13.0          # CPU wheel
    /work/hfgen-venv/bin/pip install transformers==5.23.0 safetensors numpy
    /work/hfgen-venv/bin/python tools/make_hf_golden.py     # from the repository root

Each case directory gets exactly: ``config.json`` and ``model.safetensors`` (``save_pretrained`` of a
random ``AlbertForPreTraining``), ``inputs.npz``, ``outputs.npz`` and ``meta.json``. The run is
deterministic (fixed numpy seeds set every parameter and every input).

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
from transformers import AlbertConfig, AlbertForPreTraining
from transformers.models.albert.modeling_albert import AlbertLayer

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "hf_albert")

# name -> (num_hidden_layers L, num_hidden_groups G, inner_group_num K, seed)
CASES = {
    "g1_k1": (3, 1, 1, 1001),
    "g2_k1_l3": (3, 2, 1, 1002),
    "g2_k2": (4, 2, 2, 1003),
}
EXPECTED_GROUP_MAPS = {"g2_k1_l3": [0, 0, 1]}

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


def make_config(num_layers, num_groups, inner):
    config = AlbertConfig(
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


def make_inputs(rng):
    input_ids = rng.integers(0, VOCAB, size=(BATCH, SEQ)).astype(np.int32)
    input_mask = np.ones((BATCH, SEQ), np.int32)
    segment_ids = np.zeros((BATCH, SEQ), np.int32)
    positions = np.zeros((BATCH, NUM_MASKED), np.int32)
    for row, pad in enumerate(PADDING_PER_ROW):
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


def _layer_norm(x, gamma, beta):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * gamma + beta


def reference_forward(sd, inputs, num_layers, num_groups, inner):
    w = {k: v.astype(np.float64) for k, v in sd.items()}
    dense = lambda x, name: x @ w[name + ".weight"].T + w[name + ".bias"]  # torch Linear: [out, in]
    ids, mask, seg = inputs["input_ids"], inputs["input_mask"], inputs["segment_ids"]
    e = "albert.embeddings."
    x = w[e + "word_embeddings.weight"][ids] + w[e + "token_type_embeddings.weight"][seg]
    x = x + w[e + "position_embeddings.weight"][None, :SEQ]
    x = _layer_norm(x, w[e + "LayerNorm.weight"], w[e + "LayerNorm.bias"])
    h = dense(x, "albert.encoder.embedding_hidden_mapping_in")
    adder = (1.0 - mask[:, None, None, :].astype(np.float64)) * -10000.0  # keys only
    head_dim = HIDDEN // HEADS
    split = lambda t: t.reshape(BATCH, SEQ, HEADS, head_dim).transpose(0, 2, 1, 3)
    blocks = []
    for layer in range(num_layers):
        group = original_group_map(num_layers, num_groups)[layer]
        for k in range(inner):
            p = f"albert.encoder.albert_layer_groups.{group}.albert_layers.{k}."
            q, kk, v = (split(dense(h, p + "attention." + n)) for n in ("query", "key", "value"))
            scores = q @ kk.transpose(0, 1, 3, 2) / math.sqrt(head_dim) + adder
            probs = np.exp(scores - scores.max(-1, keepdims=True))
            probs /= probs.sum(-1, keepdims=True)
            ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(BATCH, SEQ, HIDDEN)
            a = dense(ctx, p + "attention.dense") + h
            a = _layer_norm(a, w[p + "attention.LayerNorm.weight"], w[p + "attention.LayerNorm.bias"])
            f = dense(_gelu_tanh(dense(a, p + "ffn")), p + "ffn_output")
            h = _layer_norm(f + a, w[p + "full_layer_layer_norm.weight"], w[p + "full_layer_layer_norm.bias"])
            blocks.append(h)
    pooled = np.tanh(dense(h[:, 0], "albert.pooler"))
    gathered = np.take_along_axis(h, inputs["masked_lm_positions"][:, :, None].astype(np.int64), axis=1)
    t = _gelu_tanh(dense(gathered, "predictions.dense"))
    t = _layer_norm(t, w["predictions.LayerNorm.weight"], w["predictions.LayerNorm.bias"])
    mlm = t @ w[e + "word_embeddings.weight"].T + w["predictions.bias"]
    sop = dense(pooled, "sop_classifier.classifier")
    return {
        "sequence_output": h,
        "pooled_output": pooled,
        "encoder_outputs": np.stack(blocks),
        "mlm_logits": mlm,
        "sop_logits": sop,
    }


# ----------------------------------------------------------------------------------------------


def max_abs_diff(a, b):
    return {k: float(np.max(np.abs(a[k].astype(np.float64) - b[k].astype(np.float64)))) for k in a}


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

    case_dir = os.path.join(out_root, name)
    if os.path.isdir(case_dir):
        shutil.rmtree(case_dir)
    os.makedirs(case_dir)
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        for fname in ("config.json", "model.safetensors"):
            shutil.copy(os.path.join(tmp, fname), os.path.join(case_dir, fname))
    np.savez(os.path.join(case_dir, "inputs.npz"), **inputs)
    np.savez(os.path.join(case_dir, "outputs.npz"), **{k: v.astype(np.float32) for k, v in outputs.items()})

    reloaded, info = AlbertForPreTraining.from_pretrained(
        case_dir, attn_implementation=ATTN_IMPLEMENTATION, output_loading_info=True)
    reloaded.eval()
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    check_tied(reloaded)
    reload_diff = max_abs_diff(outputs, run_hf(reloaded, inputs))
    assert max(reload_diff.values()) == 0.0, reload_diff

    with safetensors.safe_open(os.path.join(case_dir, "model.safetensors"), framework="np") as f:
        saved_keys = sorted(f.keys())
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
    with open(os.path.join(case_dir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    assert sorted(os.listdir(case_dir)) == sorted(FILES), os.listdir(case_dir)
    return meta


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="fixture root (default: tests/fixtures/hf_albert)")
    args = parser.parse_args()
    transformers.utils.logging.disable_progress_bar()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    for name, (num_layers, num_groups, inner, seed) in CASES.items():
        meta = make_case(name, num_layers, num_groups, inner, seed, os.path.abspath(args.out))
        worst = max(meta["max_abs_diff_vs_numpy_reference"].values())
        print(f"{name}: L={num_layers} G={num_groups} K={inner} groups={meta['layer_to_group']} "
              f"max|HF - numpy reference|={worst:.2e}")


if __name__ == "__main__":
    main()
