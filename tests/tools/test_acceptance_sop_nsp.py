"""The SOP-vs-NSP acceptance tool's statistics and its refusal of a missing data folder (the runs themselves
need ../shared/data and hours of CPU: docs/sop_vs_nsp.md)."""

import pytest

from tools import acceptance_sop_nsp as tool


# Wilson's 95% interval, z = 1.96, worked by hand from the formula (0 of 10: the often-quoted 0 to 27.8%).
@pytest.mark.parametrize("correct,total,expected", [(81, 100, (0.7222, 0.8749)), (0, 10, (0.0, 0.2775)),
                                                    (512, 1000, (0.4810, 0.5429))])
def test_wilson_interval_matches_the_formula(correct, total, expected):
    low, high = tool.wilson(correct, total)
    assert low == pytest.approx(expected[0], abs=2e-4) and high == pytest.approx(expected[1], abs=2e-4)


def test_seed_interval_is_a_t_interval_and_absent_for_one_seed():
    mean, interval = tool.seed_interval([0.5, 0.6, 0.7])
    assert mean == pytest.approx(0.6)
    # t(0.975, 2) = 4.303, sd 0.1: half-width 4.303 * 0.1 / sqrt(3) = 0.2484.
    assert interval[1] - mean == pytest.approx(0.2484, abs=1e-3)
    assert tool.seed_interval([0.55]) == (0.55, None)


def test_a_missing_data_folder_is_one_line_naming_it(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        tool.main(["--shared", str(tmp_path), "--work_dir", str(tmp_path / "w")])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "wikitext-2" / "wiki.valid.tokens") in err and "Traceback" not in err


def test_document_tails_are_held_out_whole_and_in_order(tmp_path):
    long_doc = [f"long sentence {i}." for i in range(20)]
    short_doc = [f"short sentence {i}." for i in range(5)]
    source = tmp_path / "corpus.txt"
    source.write_text("\n".join(long_doc) + "\n\n" + "\n".join(short_doc) + "\n")
    count = tool.split_document_tails(str(source), str(tmp_path / "kept.txt"), str(tmp_path / "tails.txt"), 0.1)
    assert count == 1  # the 5-line document is too short to give a tail
    kept = [block.split("\n") for block in (tmp_path / "kept.txt").read_text().strip().split("\n\n")]
    assert kept == [long_doc[:18], short_doc]
    assert (tmp_path / "tails.txt").read_text() == "\n".join(long_doc[18:]) + "\n"


def test_a_tail_fraction_out_of_range_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        tool.main(["--shared", str(tmp_path), "--work_dir", str(tmp_path / "w"), "--heldout_tail", "0.7"])
    assert stopped.value.code == 2 and "--heldout_tail: expected a fraction in [0, 0.5); got 0.7" in capsys.readouterr().err
