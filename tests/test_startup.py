"""Startup: data preparation and every --help run without TensorFlow; `.keras` files still load.

TensorFlow and Keras are made unimportable for the data-preparation processes by putting packages
of those names that raise ImportError first on PYTHONPATH. Subprocesses and pool workers inherit
the environment, so a job (or any of its workers, forked or spawned) that imports either fails.
"""

import configparser
import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.data_prep.generated_text import random_documents, write_documents

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def console_scripts():
    parser = configparser.ConfigParser()
    parser.read(os.path.join(REPO, "setup.cfg"))
    lines = parser["options.entry_points"]["console_scripts"].strip().splitlines()
    scripts = {}
    for line in lines:
        name, target = (part.strip() for part in line.split("="))
        scripts[name] = target.split(":")[0]
    return scripts


@pytest.fixture(scope="module")
def no_tensorflow_env(tmp_path_factory):
    blocker = tmp_path_factory.mktemp("blocker")
    for name in ("tensorflow", "keras", "tf_keras"):
        (blocker / name).mkdir()
        (blocker / name / "__init__.py").write_text(
            f"raise ImportError('this process was not to import {name}')\n"
        )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(blocker), REPO, env.get("PYTHONPATH", "")])
    return env


def run(args, env, cwd=None):
    result = subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{args}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def test_blocker_blocks(no_tensorflow_env):
    result = subprocess.run([sys.executable, "-c", "import tensorflow"], env=no_tensorflow_env,
                            capture_output=True, text=True)
    assert result.returncode != 0 and "was not to import tensorflow" in result.stderr


@pytest.mark.parametrize("script,module", sorted(console_scripts().items()))
def test_help_without_tensorflow(script, module, no_tensorflow_env):
    result = run(["-m", module, "--help"], no_tensorflow_env)
    assert "usage:" in result.stdout


def test_light_modules_import_without_tensorflow(no_tensorflow_env):
    code = textwrap.dedent("""
        import sys
        import albert_tf, albert_tf.config, albert_tf.data.schemas, albert_tf.text.tokenizer
        import data_prep.corpus, data_prep.vocab, data_prep.pretraining, data_prep.tfrecord
        from albert_tf import AlbertConfig, AlbertTokenizer
        from albert_tf.data import PRETRAINING_SCHEMA
        assert "AlbertBackbone" in dir(albert_tf) and "pretraining_dataset" in dir(albert_tf.data)
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))
        assert not heavy, heavy
    """)
    run(["-c", code], no_tensorflow_env)


def test_data_preparation_jobs_and_workers_without_tensorflow(no_tensorflow_env, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for n, document in enumerate(random_documents(5, 6, sentences=(20, 40))):
        (raw / f"book{n}.txt").write_text("\n\n".join(" ".join(document[i:i + 3]) for i in range(0, len(document), 3)))
    corpus = tmp_path / "corpus.txt"
    run(["-m", "tools.prepare_corpus", "--input", str(raw), "--format", "wrapped", "--output", str(corpus),
         "--num_workers", "2"], no_tensorflow_env)
    run(["-m", "tools.train_vocab", "--input", str(corpus), "--model_prefix", str(tmp_path / "spm"),
         "--vocab_size", "200", "--quiet"], no_tensorflow_env)
    run(["-m", "tools.create_pretraining_data", f"--input_file={corpus}",
         f"--output_file={tmp_path}/out-{{shard}}.tfrecord", f"--spm_model_file={tmp_path}/spm.model",
         "--max_seq_length=32", "--max_predictions_per_seq=5", "--dupe_factor=2", "--num_workers=2",
         "--num_output_shards=2", "--block_tokens=300"], no_tensorflow_env)
    summary = json.loads((tmp_path / "out.summary.json").read_text())
    assert summary["complete"] and summary["num_workers"] == 2 and summary["totals"]["instances"] > 0
    glue = tmp_path / "SST-2"
    glue.mkdir()
    sentences = [s for document in random_documents(7, 10) for s in document][:60]
    (glue / "train.tsv").write_text("sentence\tlabel\n" + "".join(f"{s}\t{i % 2}\n" for i, s in enumerate(sentences)))
    run(["-m", "tools.create_finetuning_data", "--task=sst-2", f"--data_dir={glue}", "--split=train",
         f"--output_file={tmp_path}/sst.tfrecord", f"--spm_model_file={tmp_path}/spm.model", "--max_seq_length=32",
         "--num_workers=2"], no_tensorflow_env)
    assert (tmp_path / "sst.tfrecord").stat().st_size > 0


def test_keras_files_load_after_a_bare_import(tmp_path):
    """`import albert_tf` registers the Keras objects whenever and however Keras arrives later."""
    import numpy as np

    from albert_tf import AlbertPretrainer, LAMBOptimizer
    from tests.conftest import random_batch, tiny_config

    config = tiny_config()
    model = AlbertPretrainer(config)
    model.compile(optimizer=LAMBOptimizer(learning_rate=1e-3))
    batch = random_batch(config)
    np.savez(tmp_path / "batch.npz", expected=model(batch)["mlm_logits"], **batch)
    model.save(tmp_path / "pretrainer.keras")
    load = textwrap.dedent(f"""
        import sys
        {{first_import}}
        assert "tensorflow" not in sys.modules
        {{loader}}
        import numpy as np
        model = load({str(tmp_path / "pretrainer.keras")!r})
        assert type(model).__name__ == "AlbertPretrainer", type(model)
        assert type(model.optimizer).__name__ == "LAMBOptimizer", type(model.optimizer)
        batch = dict(np.load({str(tmp_path / "batch.npz")!r}))
        expected = batch.pop("expected")
        np.testing.assert_allclose(model(batch)["mlm_logits"], expected, atol=1e-5)
    """)
    orders = [
        ("import albert_tf", "import keras; load = keras.saving.load_model"),
        # A TensorFlow-side submodule imported first brings Keras in from inside albert_tf; tensorflow
        # imports Keras halfway through its own initialisation, tensorflow_text imports tensorflow.
        ("import albert_tf.config", "import albert_tf.models.backbone, tensorflow_text, tensorflow as tf; "
                                    "load = tf.keras.models.load_model"),
    ]
    for first_import, loader in orders:
        subprocess.run([sys.executable, "-c", load.format(first_import=first_import, loader=loader)],
                       check=True, timeout=300)


def test_every_module_with_keras_objects_is_registered_when_keras_is_imported():
    """A module that registers Keras objects but is not imported by the registration would make its
    `.keras` files unloadable after a bare `import albert_tf`."""
    import albert_tf  # noqa: F401
    import keras  # noqa: F401

    package = os.path.join(REPO, "albert_tf")
    defining = []
    for directory, _, files in os.walk(package):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                with open(path, encoding="utf-8") as f:
                    if "register_keras_serializable" in f.read():
                        module = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
                        defining.append(module.removesuffix(".__init__"))
    assert defining
    missing = [m for m in defining if m not in sys.modules and m != "albert_tf._keras_registration"]
    assert not missing, f"not imported when Keras is: {missing}; add them to albert_tf._KERAS_MODULES"
