"""The acceptance pretraining's GLUE text: train rows only, as documents the pretraining-data job reads."""

import pytest

from tests.data_prep.finetuning_fixtures import tsv, write, write_glue
from tools import acceptance_finetune, acceptance_pretrain
from tools.acceptance_pretrain import write_glue_train_text


def test_train_rows_become_documents_and_dev_never_does(tmp_path):
    root = write_glue(str(tmp_path / "glue"))
    write(f"{root}/SST-2/dev.tsv", tsv([["sentence", "label"], ["only in the dev file", "1"]]))
    out = tmp_path / "glue_train.txt"
    write_glue_train_text(root, ["SST-2", "MRPC"], str(out), group=3)
    documents = out.read_text(encoding="utf-8").rstrip("\n").split("\n\n")
    sst = [line for doc in documents[:2] for line in doc.split("\n")]
    # SST-2's four single sentences in documents of three and one; MRPC's pairs one document each,
    # and the pair with an empty second text a document of one line.
    assert [len(doc.split("\n")) for doc in documents] == [3, 1, 2, 2, 1, 2]
    assert sst[0] == "The cat sat on the mat." and len(sst) == 4
    assert documents[2] == "The cat sat on the mat.\nA cat is sitting."
    assert documents[3].endswith("The plan was rejected.") and "\t" not in out.read_text(encoding="utf-8")
    assert "only in the dev file" not in out.read_text(encoding="utf-8")


def test_bad_flags_are_one_line_errors_before_any_work(tmp_path, capsys):
    write_glue(str(tmp_path / "shared" / "glue_data"))
    with pytest.raises(SystemExit) as stopped:
        acceptance_pretrain.main(["--shared", str(tmp_path / "shared"), "--work_dir", str(tmp_path / "w"),
                                  "--glue_train_text", "SST-2,NOPE"])
    assert stopped.value.code == 2 and "--glue_train_text: 'NOPE' has no" in capsys.readouterr().err
    for flags, message in ((["--general_text", "wiki,books"], "--general_text 'wiki,books': expected"),
                           (["--general_text", "none"], "--general_text none leaves no pretraining text")):
        with pytest.raises(SystemExit) as stopped:
            acceptance_pretrain.main(["--shared", str(tmp_path / "shared"), "--work_dir", str(tmp_path / "w"), *flags])
        assert stopped.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "w").exists()
    with pytest.raises(SystemExit) as stopped:
        acceptance_finetune.main(["--seeds", "1,x", "--work_dir", str(tmp_path / "f")])
    assert stopped.value.code == 2 and "--seeds: expected comma-separated integers, got '1,x'" in capsys.readouterr().err
