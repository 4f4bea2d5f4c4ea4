"""How a run ends when it is stopped: the exit status a scheduler reads as "retry", the line that says
where it stopped, and the kill points that make interruption tests deterministic (test-only).

A run stopped by SIGTERM (a preemption, `kubectl delete`, `scancel`) or SIGINT (Ctrl-C) saves a
checkpoint at the next step boundary and exits with 128 + the signal's number, what a shell reports
for a process the signal killed: Kubernetes, Slurm and retry loops then restart it, and the restarted
command resumes from that checkpoint.

Example:

>>> exit_code("SIGTERM"), exit_code("SIGINT")
(143, 130)
>>> stopped_message("albert-finetune", "SIGTERM", "step", 40, "out/checkpoints/ckpt-40")
'albert-finetune: stopped by a signal at step 40; checkpoint out/checkpoints/ckpt-40 saved; signal SIGTERM: run the same command again to resume there.'
"""

from __future__ import annotations

import os
import signal
from typing import Optional

#: The signals a run stops at, with the exit status of each (128 + its number).
EXIT_CODES = {"SIGTERM": 128 + int(signal.SIGTERM), "SIGINT": 128 + int(signal.SIGINT)}

#: Test only: `<point>[:<step>[:<signal>]]` SIGKILLs the run at that point, or sends it `<signal>` (see
#: `kill_point`). Never set it in a real run.
KILL_AT_ENV = "ALBERT_TF_TEST_KILL_AT"
KILL_POINTS = ("after_step", "after_checkpoint", "during_evaluation", "during_export")


def exit_code(signal_name: str) -> int:
    """The exit status of a run stopped by `signal_name` ("SIGTERM": 143, "SIGINT": 130)."""
    return EXIT_CODES[signal_name]


def stopped_message(prog: str, signal_name: str, unit: str, step: int, checkpoint: Optional[str]) -> str:
    """The one line a stopped run prints instead of "finished"."""
    saved = f"checkpoint {checkpoint} saved" if checkpoint else "no new checkpoint"
    return (f"{prog}: stopped by a signal at {unit} {step}; {saved}; "
            f"signal {signal_name}: run the same command again to resume there.")


def kill_point(name: str, step=None, span: int = 1):
    """Test only: SIGKILLs this process when `ALBERT_TF_TEST_KILL_AT` names point `name` (and `step`).

    A kill, unlike an exception, runs no cleanup: what a resume finds is what a power cut or an
    out-of-memory kill leaves. `step` is an int or a step variable (read only when the point matches);
    `span` steps ending at `step` match (an execution of several steps). Points: `after_step` (a
    training step, between checkpoints), `after_checkpoint` (saved, not yet evaluated),
    `during_evaluation` (scored, not yet recorded), `during_export` (`model.keras` written under its
    temporary name, not yet renamed). A third field names another signal to send instead (e.g.
    `after_step:6:SIGTERM`: a preemption that arrives at step 6, not at a moment a sleep guessed).
    """
    wanted = os.environ.get(KILL_AT_ENV)
    if not wanted:
        return
    point, _, rest = wanted.partition(":")
    if point != name:
        return
    at, _, signal_name = rest.partition(":")
    if at:
        if step is None:
            return
        step = int(step.numpy()) if hasattr(step, "numpy") else int(step)
        if not step - span < int(at) <= step:
            return
    os.kill(os.getpid(), getattr(signal, signal_name or "SIGKILL"))
