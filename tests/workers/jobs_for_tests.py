"""Job functions that only the tests run, to exercise the job life cycle."""

from __future__ import annotations

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
