"""Job functions that only the tests run, to exercise the job life cycle."""

from __future__ import annotations

from collections.abc import Callable

from portal.audit import record_audit
from portal.extensions import db
from workers.runtime import TransientJobError, tracked_job


@tracked_job
def succeed(run, progress):
    progress(50, "Half way")
    return {"answer": 42}


@tracked_job
def fail_permanently(run, progress):
    raise ValueError("the input file has no header row")


@tracked_job
def fail_once_then_succeed(run, progress):
    if run.attempts < 2:
        raise TransientJobError("the mail server is busy")
    return {"attempts": run.attempts}


@tracked_job
def always_transient(run, progress):
    raise TransientJobError("the mail server is busy")


# What a test does "while the job runs": called between the job's two steps.
while_running: list[Callable[[], None]] = []


@tracked_job
def write_in_two_steps(run, progress):
    """Commits step one, then reports progress with step two still uncommitted."""
    record_audit("test.step_one", actor=None, target=run)
    db.session.commit()
    progress(50, "Step one done")
    for hook in while_running:
        hook()
    record_audit("test.step_two", actor=None, target=run)
    progress(90, "Step two written")
    db.session.commit()
    return {"steps": 2}


@tracked_job
def fail_after_progress(run, progress):
    record_audit("test.half_done", actor=None, target=run)
    progress(50, "Half way")
    raise ValueError("stopped half way")


@tracked_job
def finish_without_ticking(run, progress):
    for hook in while_running:
        hook()
    return {"ticks": 0}
