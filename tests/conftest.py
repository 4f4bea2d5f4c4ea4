import gc
import importlib.util
import os
import tempfile

# Quiet TensorFlow's start-up banners in test output; keep determinism of CPU kernels.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The in-graph tokenizer's Unicode tables (albert_tf.text.in_graph.tables) are built once and read by
# every test worker and every CLI process the tests start; kept apart from the user's own cache.
os.environ.setdefault("ALBERT_TF_CACHE_DIR", os.path.join(tempfile.gettempdir(), f"albert_tf_tests_{os.getuid()}"))
# XLA compiles the tests' tiny models (jit_compile=True) without LLVM's optimisation passes, since
# compiling dominates their few steps (one pytest run of the six task models' XLA fits: 55 -> 45 s of
# CPU). Set before TensorFlow starts; the CLI processes the tests start inherit it. Users keep XLA's
# default.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from albert_tf import AlbertConfig  # noqa: E402

#: tf-models-official pins TensorFlow 2.20, so the parity tests against it run in `make test-low`
#: (TensorFlow 2.20, where ALBERT_TF_REQUIRE_REFERENCE=1 turns a missing reference into an error), and
#: `make test` (the newest TensorFlow) skips them.
HAVE_TF_MODELS_OFFICIAL = importlib.util.find_spec("official") is not None


def pytest_configure(config):
    config.addinivalue_line("markers", "tf_models_official: compares against tf-models-official (the reference)")
    if os.environ.get("ALBERT_TF_REQUIRE_REFERENCE") == "1" and not HAVE_TF_MODELS_OFFICIAL:
        raise pytest.UsageError("ALBERT_TF_REQUIRE_REFERENCE=1 but tf-models-official is not installed "
                                "(pip install -e '.[test,reference]').")


#: The longest modules (fresh processes, exports, measured with `--durations=0`), longest first: started
#: first, so that none of them ends the run on one worker while the other idles (`--dist loadfile`, the
#: Makefile's default, keeps each module on one worker, so its fixtures are built once; with
#: `--no-loadscope-reorder` it hands out modules in this order, not by their number of tests).
SLOW_FIRST = (
    "tests/tools/test_resume_after_kill.py",
    "tests/tools/test_finetune_cli.py",
    "tests/tools/test_pretrain_multiworker.py",
    "tests/export/test_saved_model.py",
    "tests/tools/test_demo.py",
    "tests/models/test_task_models.py",
    "tests/text/test_in_graph.py",
    "tests/tools/test_pretrain_cli.py",
    "tests/training/test_pretraining_run.py",
    "tests/training/test_finetuning.py",
    "tests/training/test_runner.py",
    "tests/export/test_task_signatures.py",
    "tests/tools/test_interrupted_runs.py",
    "tests/test_docstring_examples.py",
)


def pytest_collection_finish(session):
    # TensorFlow, Keras and the collected modules are a few million long-lived objects that every full
    # collection would scan again (Keras itself collects when it drops a variable); frozen, they are not.
    gc.collect()
    gc.freeze()


@pytest.hookimpl(trylast=True)  # after pytest's own reordering by fixture scope, which would undo this
def pytest_collection_modifyitems(config, items):
    def rank(item):
        module = item.nodeid.split("::")[0]
        return SLOW_FIRST.index(module) if module in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)  # stable: the order within a module is kept
    if HAVE_TF_MODELS_OFFICIAL:
        return
    skip = pytest.mark.skip(reason="tf-models-official pins TensorFlow 2.20: run by `make test-low`")
    for item in items:
        if "tf_models_official" in item.keywords:
            item.add_marker(skip)


def tiny_config(**overrides):
    """H=32, L=2, V=300: big enough to exercise every code path, small enough for 2 CPU cores."""
    values = dict(
        vocab_size=300,
        embedding_size=16,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    values.update(overrides)
    return AlbertConfig(**values)


def random_batch(config, batch=3, length=12, predictions=4, seed=0, pad=(0, 4, 7)):
    """Inputs with padding (row i has pad[i] padded positions) and random MLM targets."""
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, length), "int32")
    for row, count in enumerate(pad[:batch]):
        if count:
            mask[row, length - count:] = 0
    segments = np.zeros((batch, length), "int32")
    segments[:, length // 2:] = 1
    positions = np.stack([np.sort(rng.choice(length - max(pad), predictions, replace=False)) for _ in range(batch)])
    return {
        "input_ids": rng.integers(0, config.vocab_size, (batch, length)).astype("int32"),
        "input_mask": mask,
        "segment_ids": segments * mask,
        "masked_lm_positions": positions.astype("int32"),
        "masked_lm_ids": rng.integers(0, config.vocab_size, (batch, predictions)).astype("int32"),
        "masked_lm_weights": np.ones((batch, predictions), "float32"),
        "next_sentence_labels": rng.integers(0, 2, (batch, 1)).astype("int32"),
    }


@pytest.fixture
def config():
    return tiny_config()
