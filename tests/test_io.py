"""Every file written is readable like any other file (issue 17, item 4): atomic writes give the umask's mode.

Under umask 022 every file of a SavedModel export, a HuggingFace conversion and a demo run directory is
0644 and every folder 0755, as `open(path, "w")` and `os.makedirs` would leave them.
"""

import os
import stat

import pytest

from albert_tf.io import atomic_write, current_umask, write_bytes_atomic, write_text_atomic


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def modes(root):
    """`{relative path: mode}` of every file and folder under `root` (folders end in /)."""
    found = {}
    for folder, dirs, names in os.walk(root):
        for name in dirs:
            found[os.path.relpath(os.path.join(folder, name), root) + "/"] = stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode)
        for name in names:
            found[os.path.relpath(os.path.join(folder, name), root)] = stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode)
    return found


def assert_shareable(root, expected_files):
    found = modes(root)
    assert set(expected_files) <= set(found), sorted(found)
    wrong = {path: oct(mode) for path, mode in found.items() if mode != (0o755 if path.endswith("/") else 0o644)}
    assert not wrong, wrong


def test_atomic_writes_take_the_umask_mode(tmp_path):
    for mask in (0o022, 0o077, 0o002):
        previous = os.umask(mask)
        try:
            assert current_umask() == mask
            path = tmp_path / f"file-{mask:o}"
            write_text_atomic(path, "text")
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~mask
        finally:
            os.umask(previous)


def test_a_failed_write_leaves_the_target_and_no_temp_file(tmp_path):
    path = tmp_path / "a.bin"
    write_bytes_atomic(path, b"old", fsync=True)

    def fail(tmp):
        with open(tmp, "wb") as f:
            f.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, fail)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["a.bin"]


def test_export_conversion_and_demo_files_are_0644(tmp_path, umask_022):
    import keras

    from albert_tf import AlbertBackbone, AlbertClassifier, AlbertTokenizer
    from albert_tf.checkpoints import save_huggingface
    from albert_tf.export import export_saved_model
    from tests.conftest import tiny_config
    from tests.data_prep.generated_text import train_tiny_model
    from tests.tools.test_demo import write_corpus
    from tools import demo

    spm_model = train_tiny_model(tmp_path)
    config = tiny_config(vocab_size=300)
    export_saved_model(AlbertBackbone(config), str(tmp_path / "export" / "saved_model"),
                       tokenizer=AlbertTokenizer(spm_model), max_seq_length=16)
    assert_shareable(tmp_path / "export", ["saved_model/", "saved_model/saved_model.pb",
                                           "saved_model/assets/albert_config.json"])

    keras.utils.set_random_seed(0)
    save_huggingface(AlbertClassifier(AlbertBackbone(config), num_classes=2), str(tmp_path / "hf"))
    assert_shareable(tmp_path / "hf", ["config.json", "model.safetensors"])

    work = tmp_path / "demo"
    assert demo.main(["--work_dir", str(work), "--corpus", str(write_corpus(tmp_path / "text")), "--corpus_format",
                      "lines", "--vocab_size", "150", "--dupe_factor", "1", "--stages", "corpus,vocab,records"]) == 0
    config.to_json_file(work / "albert_config.json")  # as the demo's pretrain stage writes it
    assert_shareable(work, ["summary.txt", "vocab/spm.model", "albert_config.json"])
