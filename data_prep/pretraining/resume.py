"""Whether earlier output belongs to this job: fingerprints of inputs and shards, and the previous summary.

A job is identified by ``<settings>-<inputs>-<number of shards>``: the hash of every flag that
changes the bytes (:meth:`PretrainingDataConfig.output_fingerprint`), the token store's hash of the
input files and tokenizer, and the shard count (shards are dealt round-robin, so the count changes
every shard). A re-run skips a shard only when its fingerprint is this job's; any other existing
shard stops the job rather than be mixed into its output.
"""

from __future__ import annotations

import json
import os
from typing import Optional, Sequence, Tuple

from data_prep import fileio
from data_prep.pretraining.specs import PretrainingDataError, resolve_output_files

#: Beside every shard the multi-process writer commits: the job fingerprint it was written under.
SHARD_FINGERPRINT_SUFFIX = ".fingerprint"


def shard_fingerprint_path(shard: str) -> str:
    return shard + SHARD_FINGERPRINT_SUFFIX


def local_file_signature(path: str) -> Tuple[str, int, float]:
    """``(path, bytes, mtime)``: what tells one version of an input file from the next."""
    stat = os.stat(path)
    return path, stat.st_size, stat.st_mtime


def load_previous_summary(path: str) -> Optional[dict]:
    try:
        return json.loads(fileio.read_text(path))
    except (FileNotFoundError, ValueError):
        return None


def previous_run_complete(previous: Optional[dict], fingerprint_prefix: str, output_spec, outputs: Sequence[str],
                          may_cap: bool) -> bool:
    """Whether ``previous`` (a summary) is a complete run of this very job whose shards all exist.

    ``may_cap``: a ``{shard}`` pattern without an explicit count, which a small corpus may have
    written as fewer shards.

    Example:

    >>> previous = {"complete": True, "fingerprint": "abc-3", "shards": {}}
    >>> previous_run_complete(previous, "xyz", "out.tfrecord", ["out.tfrecord"], False)
    False
    """
    if not previous or not previous.get("complete"):
        return False
    if not str(previous.get("fingerprint", "")).startswith(fingerprint_prefix + "-"):
        return False
    shards = list(previous.get("shards", {}))
    expected = list(outputs)
    if may_cap and 0 < len(shards) < len(outputs):
        expected, _ = resolve_output_files(output_spec, len(shards))
    return shards == expected and all(fileio.exists(path) for path in shards)


def shard_state(outputs: Sequence[str], overwrite: bool, previous: Optional[dict], fingerprint: str) -> dict:
    """Per shard: ``skipped`` (it exists, written by this very job) or ``pending``; other shards stop the job."""
    state = {}
    previous_shards = (previous or {}).get("shards", {})
    for path in outputs:
        if not overwrite and fileio.exists(path):
            # The shard's own fingerprint decides, so a deleted or foreign summary cannot make a
            # shard written with other settings (say --max_seq_length 64 for 32) pass for this job's.
            own = shard_fingerprint_path(path)
            stored = fileio.read_text(own).strip() if fileio.exists(own) else None
            if stored is None and previous is not None:
                stored = previous.get("fingerprint")
            if stored is None:
                raise PretrainingDataError(
                    f"{path} exists without a fingerprint ({own}) or a summary telling how it was made; pass "
                    "--overwrite to rebuild it or choose another --output_file"
                )
            if stored != fingerprint:
                raise PretrainingDataError(
                    f"{path} exists from a run with other settings or inputs (its fingerprint {stored} differs "
                    f"from {fingerprint}); pass --overwrite or choose another --output_file"
                )
            old = previous_shards.get(path, {})
            state[path] = {"status": "skipped", "instances": old.get("instances", 0), "stats": old.get("stats")}
        else:
            state[path] = {"status": "pending", "instances": 0, "stats": None}
    return state
