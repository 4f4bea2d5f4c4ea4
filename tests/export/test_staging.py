"""A SavedModel export killed mid-write leaves a hidden staging folder; the next export to the same place
removes it, and never a live process's."""

import os

from albert_tf.export import _remove_stale_staging


def test_stale_staging_of_a_dead_process_is_removed_and_a_live_one_kept(tmp_path):
    dead_pid = 2 ** 22 + 12345  # above Linux's default pid_max: no such process
    dead = tmp_path / f".saved_model.tmp-{dead_pid}-abcd1234"
    live = tmp_path / f".saved_model.tmp-{os.getpid()}-abcd1234"
    other = tmp_path / f".other.tmp-{dead_pid}-abcd1234"
    for folder in (dead, live, other):
        (folder / "variables").mkdir(parents=True)
    _remove_stale_staging(str(tmp_path), "saved_model")
    assert not dead.exists()
    assert live.exists() and other.exists()
