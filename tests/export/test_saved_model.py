"""SavedModel export: served in a process without albert_tf, equal to the Keras model and the Python tokenizer."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from albert_tf import AlbertBackbone, AlbertPretrainer
from albert_tf.export import export_saved_model
from tests.export.isolated import dump, run_isolated

MAX_LEN = 24
SIGNATURES = {"serving_default", "serving_text_pair", "tokens", "mlm", "sop", "tokenization_info"}
SERVE = """
import json, sys
import numpy as np
export_dir, inputs_file, out_file = sys.argv[1:4]
loaded = tf.saved_model.load(export_dir)
with open(inputs_file, encoding="utf-8") as f:
    inputs = json.load(f)
sig = loaded.signatures
results = {"signatures": sorted(sig)}
def keep(prefix, out):
    for k, v in out.items():
        value = np.asarray(v.numpy())
        if v.dtype == tf.string:  # as unicode, so that the parent reads it without unpickling
            value = np.array([x.decode("utf-8") for x in value.reshape(-1)], dtype=str).reshape(value.shape)
        results[prefix + "/" + k] = value
keep("text", sig["serving_default"](text=tf.constant(inputs["texts"])))
keep("pair", sig["serving_text_pair"](text=tf.constant(inputs["texts"]), text_b=tf.constant(inputs["texts_b"])))
tokens = {k: tf.constant(v, tf.int32) for k, v in inputs["tokens"].items()}
keep("tokens", sig["tokens"](**tokens))
keep("sop", sig["sop"](**tokens))
keep("mlm", sig["mlm"](**tokens, mlm_positions=tf.constant(inputs["mlm_positions"], tf.int32)))
keep("info", sig["tokenization_info"]())
np.savez(out_file, **results)
"""


def mask_aware_encode(tokenizer, text, max_len):
    """What the fill-mask signature must produce: each literal [MASK] as the mask id, as HF's tokenizers do."""
    ids = []
    for i, part in enumerate(text.split("[MASK]")):
        if i:
            ids.append(tokenizer.mask_id)
        ids += tokenizer.convert_tokens_to_ids(tokenizer.tokenize(part))
    ids = [tokenizer.cls_id] + ids[: max_len - 2] + [tokenizer.sep_id]
    pad = max_len - len(ids)
    return {"input_ids": ids + [tokenizer.pad_id] * pad, "input_mask": [1] * len(ids) + [0] * pad,
            "segment_ids": [0] * max_len}


def stack(features):
    return {k: np.array([f[k] for f in features], np.int32) for k in features[0]}


@pytest.fixture(scope="module")
def pretrainer(tiny_config):
    import keras

    keras.utils.set_random_seed(11)
    model = AlbertPretrainer(tiny_config)
    # Away from the initialisation, so that the heads and LayerNorms matter in the comparison.
    rng = np.random.default_rng(0)
    for variable in model.weights:
        variable.assign(variable.numpy() + rng.normal(0, 0.05, variable.shape).astype(variable.dtype))
    return model


@pytest.fixture(scope="module")
def export_dir(pretrainer, tokenizer, tmp_path_factory):
    target = tmp_path_factory.mktemp("export") / "saved_model"
    return export_saved_model(pretrainer, str(target), tokenizer=tokenizer, max_seq_length=MAX_LEN, top_k=3)


@pytest.fixture(scope="module")
def fast_export_dir(pretrainer, tokenizer, tmp_path_factory):
    target = tmp_path_factory.mktemp("export_fast") / "saved_model"
    return export_saved_model(pretrainer, str(target), tokenizer=tokenizer, max_seq_length=MAX_LEN, top_k=3,
                              exact_segmentation=False)


@pytest.fixture(scope="module")
def served(export_dir, tokenizer, awkward_texts, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("served")
    texts = awkward_texts + ["the [MASK] of the city [MASK] in 1990, and [MASK]", "[MASK]"]
    texts_b = texts[::-1]
    rng = np.random.default_rng(1)
    token_ids = rng.integers(5, tokenizer.vocab_size, size=(3, 11)).astype(int)
    token_mask = np.ones_like(token_ids)
    token_mask[1, 7:] = 0
    tokens = {"input_ids": token_ids.tolist(), "input_mask": token_mask.tolist(),
              "segment_ids": (np.arange(11)[None, :] >= 5).astype(int).repeat(3, 0).tolist()}
    payload = {"texts": texts, "texts_b": texts_b, "tokens": tokens, "mlm_positions": [[1, 2, 9]] * 3}
    dump(tmp / "inputs.json", payload)
    run_isolated(SERVE, tmp, args=(export_dir, str(tmp / "inputs.json"), str(tmp / "out.npz")))
    with np.load(tmp / "out.npz") as out:
        return payload, dict(out)


def test_signatures_and_assets(served, export_dir, spm_model_file):
    _, out = served
    assert set(out["signatures"].tolist()) == SIGNATURES
    vocab_file = str(out["info/vocab_file"])
    assert vocab_file == os.path.join(export_dir, "assets", "tiny-clean.model")
    with open(vocab_file, "rb") as f, open(spm_model_file, "rb") as g:
        assert f.read() == g.read()
    assert bool(out["info/do_lower_case"]) is True
    assets = sorted(os.listdir(os.path.join(export_dir, "assets")))
    assert assets == ["albert_config.json", "tiny-clean.model", "tiny-clean.vocab"]


def test_raw_strings_give_the_python_ids_and_the_keras_outputs(served, tokenizer, pretrainer):
    payload, out = served
    texts = payload["texts"]
    expected = stack([mask_aware_encode(tokenizer, t, MAX_LEN) if "[MASK]" in t
                      else tokenizer.encode(t, max_seq_length=MAX_LEN) for t in texts])
    for key in expected:
        np.testing.assert_array_equal(out[f"text/{key}"], expected[key], err_msg=key)
    keras_out = pretrainer.backbone(expected)
    for key in ("pooled_output", "sequence_output"):
        np.testing.assert_allclose(out[f"text/{key}"], keras_out[key].numpy(), atol=1e-5, rtol=0, err_msg=key)
    # Empty, whitespace-only and overlong strings come out packed, never as an error.
    empty = texts.index("")
    assert out["text/input_mask"][empty].sum() == 2
    assert out["text/input_mask"][texts.index("   \t\n \u3000 ")].sum() == 2
    assert out["text/input_mask"][texts.index("the city had 1,000,000 people. " * 400)].sum() == MAX_LEN


def test_text_pairs_use_the_original_pair_truncation(served, tokenizer, pretrainer):
    payload, out = served
    expected = stack([tokenizer.encode(a, b, max_seq_length=MAX_LEN)
                      for a, b in zip(payload["texts"], payload["texts_b"]) if "[MASK]" not in a + b])
    keep = [i for i, (a, b) in enumerate(zip(payload["texts"], payload["texts_b"])) if "[MASK]" not in a + b]
    for key in expected:
        np.testing.assert_array_equal(out[f"pair/{key}"][keep], expected[key], err_msg=key)
    keras_out = pretrainer.backbone(expected)
    np.testing.assert_allclose(out["pair/pooled_output"][keep], keras_out["pooled_output"].numpy(), atol=1e-5, rtol=0)


def test_fill_mask_top_k(served, tokenizer, pretrainer):
    payload, out = served
    texts = payload["texts"]
    positions = out["text/mask_positions"]
    ids = out["text/input_ids"]
    for row, text in enumerate(texts):
        want = [p for p in range(MAX_LEN) if ids[row, p] == tokenizer.mask_id]
        assert want == [p for p in positions[row] if p >= 0], text
        assert len(want) == min(text.count("[MASK]"), MAX_LEN - 2)
    row = texts.index("the [MASK] of the city [MASK] in 1990, and [MASK]")
    features = {k: out[f"text/{k}"][row:row + 1] for k in ("input_ids", "input_mask", "segment_ids")}
    features["masked_lm_positions"] = positions[row:row + 1]
    logits = pretrainer(features)["mlm_logits"].numpy()[0]
    probabilities = tf.nn.softmax(logits).numpy()
    top = np.argsort(-probabilities, axis=-1)[:, :3]
    np.testing.assert_array_equal(out["text/fill_mask_ids"][row], top)
    np.testing.assert_allclose(out["text/fill_mask_probabilities"][row],
                               np.take_along_axis(probabilities, top, -1), atol=1e-5, rtol=0)
    tokens = out["text/fill_mask_tokens"][row].tolist()
    assert tokens == [tokenizer.convert_ids_to_tokens(r) for r in top]


def test_token_signatures_equal_keras(served, pretrainer):
    payload, out = served
    tokens = {k: np.array(v, np.int32) for k, v in payload["tokens"].items()}
    backbone = pretrainer.backbone(tokens)
    for prefix in ("tokens", "sop", "mlm"):
        for key in ("pooled_output", "sequence_output"):
            np.testing.assert_allclose(out[f"{prefix}/{key}"], backbone[key].numpy(), atol=1e-5, rtol=0)
    heads = pretrainer({**tokens, "masked_lm_positions": np.array(payload["mlm_positions"], np.int32)})
    assert out["mlm/mlm_logits"].shape == (3, 3, pretrainer.config.vocab_size)
    np.testing.assert_allclose(out["mlm/mlm_logits"], heads["mlm_logits"].numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(out["sop/sop_log_probs"], tf.nn.log_softmax(heads["sop_logits"]).numpy(),
                               atol=1e-5, rtol=0)


def saved_model_cli(*args, with_tf_text=False):
    if with_tf_text:
        # The stock CLI cannot load custom ops; importing tensorflow_text first registers SentencePiece.
        command = [sys.executable, "-c", "import sys, tensorflow_text; "
                   "from tensorflow.python.tools.saved_model_cli import main; sys.argv[0] = 'saved_model_cli'; main()"]
    else:
        command = [os.path.join(os.path.dirname(sys.executable), "saved_model_cli")]
    result = subprocess.run([*command, *args], capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_saved_model_cli_show_and_run(export_dir):
    shown = saved_model_cli("show", "--all", "--dir", export_dir)
    for name in SIGNATURES:
        assert f"signature_def['{name}']" in shown
    assert "inputs['text'] tensor_info" in shown and "inputs['mlm_positions'] tensor_info" in shown


# What TensorFlow Serving is asked for: masks, empty and whitespace-only text, scripts without spaces, text far
# beyond max_seq_length.
SESSION_TEXTS = ["the [MASK] of 1990,", "", "   \t ", "日本語のテキスト", "long " * 200, "[MASK]"]
# The same pretrainer exported with either in-graph segmentation (fixtures above).
EXPORTS = {"exact": "export_dir", "fast": "fast_export_dir"}


@pytest.fixture(scope="module")
def tf1_session():
    """Runs a signature the way TensorFlow Serving and `saved_model_cli run` load a SavedModel: a TF1 graph.

    Like TensorFlow Serving, each export is loaded into one session that serves all of its signatures
    (loading the exact-segmentation graph is the expensive part).
    """
    sessions = {}

    def run(export_dir, signature, feeds):
        if export_dir not in sessions:
            graph = tf.Graph()
            session = tf.compat.v1.Session(graph=graph)
            with graph.as_default():
                sessions[export_dir] = session, tf.compat.v1.saved_model.loader.load(session, ["serve"], export_dir)
        session, meta_graph = sessions[export_dir]
        signature_def = meta_graph.signature_def[signature]
        fetches = {key: info.name for key, info in signature_def.outputs.items()}
        return session.run(fetches, {signature_def.inputs[key].name: value for key, value in feeds.items()})

    yield run
    for session, _ in sessions.values():
        session.close()


@pytest.fixture(scope="module")
def tf2_loaded():
    """Each export loaded once with tf.saved_model.load: the reference that the TF1 sessions are held to."""
    loaded = {}

    def load(export_dir):
        if export_dir not in loaded:
            loaded[export_dir] = tf.saved_model.load(export_dir)
        return loaded[export_dir]

    return load


@pytest.mark.parametrize("export", sorted(EXPORTS))
@pytest.mark.parametrize("signature", ["serving_default", "serving_text_pair"])
def test_tf1_session_serves_every_string_signature(export, signature, request, tf1_session, tf2_loaded):
    export_dir = request.getfixturevalue(EXPORTS[export])
    feeds = {"text": np.array(SESSION_TEXTS, dtype=object)}
    if signature == "serving_text_pair":
        feeds["text_b"] = np.array(SESSION_TEXTS[::-1], dtype=object)
    got = tf1_session(export_dir, signature, feeds)
    expected = tf2_loaded(export_dir).signatures[signature](**{k: tf.constant(v) for k, v in feeds.items()})
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        if value.dtype == tf.string:
            np.testing.assert_array_equal(got[key], value.numpy(), err_msg=key)
        else:
            np.testing.assert_allclose(got[key], value.numpy(), atol=1e-5, rtol=0, err_msg=key)
    assert got["input_mask"][SESSION_TEXTS.index("long " * 200)].sum() == MAX_LEN


def test_saved_model_cli_runs_long_text(export_dir):
    # The exact export, whose graph is the larger: both exports serve these texts through the same TF1
    # loader in test_tf1_session_serves_every_string_signature.
    texts = ", ".join(f'"{text}"' for text in SESSION_TEXTS).replace("\t", "\\t")
    ran = saved_model_cli("run", "--dir", export_dir, "--tag_set", "serve", "--signature_def", "serving_default",
                          "--input_exprs", f"text=[{texts}]", with_tf_text=True)
    assert "Result for output key pooled_output" in ran and "Result for output key fill_mask_tokens" in ran


def test_backbone_token_export_replaces_atomically_and_serves_float32(tiny_config, tmp_path):
    import keras

    backbone = AlbertBackbone(tiny_config, dtype="mixed_bfloat16")
    target = tmp_path / "sm"
    export_saved_model(backbone, str(target), max_seq_length=16)
    loaded = tf.saved_model.load(str(target))
    assert set(loaded.signatures) == {"serving_default", "tokens"}
    ids = tf.constant([[2, 10, 11, 3]], tf.int32)
    out = loaded.signatures["tokens"](input_ids=ids, input_mask=tf.ones_like(ids), segment_ids=tf.zeros_like(ids))
    assert out["pooled_output"].dtype == tf.float32
    np.testing.assert_allclose(out["pooled_output"].numpy(), keras.ops.convert_to_numpy(
        backbone({"input_ids": ids, "input_mask": tf.ones_like(ids), "segment_ids": tf.zeros_like(ids)})
        ["pooled_output"]).astype(np.float32), atol=4e-3)  # bf16 rounding; graph fusions round differently
    marker = target / "stale.txt"
    marker.write_text("from the previous export")
    export_saved_model(backbone, str(target), max_seq_length=16)
    assert not marker.exists() and (target / "saved_model.pb").exists()
    assert sorted(os.listdir(tmp_path)) == ["sm"]  # no staging directory left behind
    with pytest.raises(FileExistsError, match="sm exists"):
        export_saved_model(backbone, str(target), overwrite=False)
    with pytest.raises(ValueError, match="max_seq_length=100"):
        export_saved_model(backbone, str(tmp_path / "other"), max_seq_length=100)
