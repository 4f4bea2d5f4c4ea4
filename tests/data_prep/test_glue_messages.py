"""A GLUE file that is not UTF-8 text is refused naming the file, the line and the byte (issue 17, item 5)."""

import pytest

from data_prep.glue import GlueDataError, read_examples


def test_a_binary_tsv_names_its_file_and_line(tmp_path):
    path = tmp_path / "SST-2" / "train.tsv"
    path.parent.mkdir()
    path.write_bytes(b"sentence\tlabel\ngood words\t1\n" + b"x" * 9000 + b"\t0\nPK\x03\x04\xb0\xff\t1\n")
    with pytest.raises(GlueDataError, match=rf"{path}, line 4: not UTF-8 text \(byte 0xb0 at column 5\)"):
        read_examples("sst-2", str(path.parent), "train")
