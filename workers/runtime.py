"""The worker runtime: one app per worker process, and the job life cycle.

A job function is decorated with ``@tracked_job``: it receives its ``JobRun``
(loaded by id), reports progress through ``Progress``, and raises on failure.
RQ records the failure and retries transient errors; ``record_job_failure``
(the RQ failure callback) writes a readable error to the run either way, and
``record_horse_killed`` does the same when the work horse dies without one.

Progress is written on a connection of its own, so a tick never commits the
job's half-done work; the job commits its own work when it decides to. A tick
is also where a running job learns that an admin asked it to stop.
"""

from __future__ import annotations

import functools
import os
import smtplib
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from flask import Flask, current_app, has_app_context
from rq import SimpleWorker, Worker
from rq.exceptions import AbandonedJobError
from rq.job import Job
from sqlalchemy import exc as sa_exc
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.audit import record_audit
from portal.extensions import db
from portal.models import JobRun, JobState
from portal.models.base import utcnow
from portal.queue import cancel_message

_process_app: Flask | None = None


class TransientJobError(RuntimeError):
    """Raise from a job for a failure worth retrying (a peer was unavailable)."""


# Failures that a later attempt may not meet: the database or Redis was briefly
# unreachable, a mail server refused for now, the worker died (RQ reports an
# abandoned job; jobs resume where they stopped). Anything else is permanent.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientJobError,
    AbandonedJobError,
    sa_exc.OperationalError,
    redis.ConnectionError,
    redis.TimeoutError,
    smtplib.SMTPServerDisconnected,
    smtplib.SMTPConnectError,
    ConnectionError,
    TimeoutError,
)


def bind_app(app: Flask) -> None:
    """Make ``app`` the one this process runs jobs in."""
    global _process_app
    _process_app = app


def process_app() -> Flask:
    """The app of this worker process, created on first use."""
    if _process_app is None:
        from portal import create_app

        bind_app(create_app())
    assert _process_app is not None
    return _process_app


@contextmanager
def app_context() -> Iterator[Flask]:
    if has_app_context():
        yield current_app._get_current_object()
        return
    app = process_app()
    with app.app_context():
        yield app


class JobCanceled(Exception):
    """Raised at a progress tick: an admin asked this run to stop."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def holds_sqlite_write_lock(session: Session) -> bool:
    """Whether ``session`` has uncommitted writes on SQLite (so holds the lock)."""
    if db.engine.dialect.name != "sqlite" or not session.in_transaction():
        return False
    dbapi_connection = session.connection().connection.dbapi_connection
    return bool(getattr(dbapi_connection, "in_transaction", False))


class Progress:
    """Reports a job's progress on a connection of its own.

    Each tick is a short transaction beside the job's session, so it never
    commits the job's work; the job commits when its work is consistent. A tick
    raises ``JobCanceled`` when an admin has asked the run to stop.

    On SQLite only one connection writes at a time: while the job itself holds
    uncommitted writes, a second connection would wait on the job forever, so
    that tick only checks for a cancel request and the figure is written by the
    next tick that comes after a commit.
    """

    def __init__(self, run: JobRun):
        self.run_id = run.id

    def __call__(self, percent: int, message: str = "") -> None:
        values: dict[str, Any] = {
            "progress": max(0, min(100, int(percent))),
            "heartbeat_at": utcnow(),
        }
        if message:
            values["message"] = message[:200]
        with db.engine.begin() as connection:
            if not holds_sqlite_write_lock(db.session()):
                connection.execute(
                    update(JobRun).where(JobRun.id == self.run_id).values(**values)
                )
            requested_at, requested_by = connection.execute(
                select(JobRun.cancel_requested_at, JobRun.cancel_requested_by_id).where(
                    JobRun.id == self.run_id
                )
            ).one()
        if requested_at is not None:
            raise JobCanceled(cancel_message(db.session, requested_by, requested_at))
        if db.engine.dialect.name == "sqlite" and not holds_sqlite_write_lock(
            db.session()
        ):
            # SQLite's busy handler is not fair: a job that commits and writes
            # again at once keeps the lock from waiting requests for seconds.
            # Stepping aside briefly after each commit lets them in.
            time.sleep(current_app.config["JOB_SQLITE_YIELD_MS"] / 1000)


def tracked_job(function: Callable[..., dict[str, Any] | None]) -> Callable[[int], Any]:
    """Wrap ``function(run, progress)`` as an RQ job taking a run id."""

    @functools.wraps(function)
    def job(run_id: int) -> dict[str, Any] | None:
        with app_context():
            # Read the row as it is now: an admin may have canceled it meanwhile.
            run = db.session.get(JobRun, run_id, populate_existing=True)
            if run is None:
                raise LookupError(f"job run {run_id} does not exist")
            if run.state == JobState.CANCELED:
                return None
            run.state = JobState.RUNNING
            run.attempts += 1
            run.started_at = run.heartbeat_at = utcnow()
            run.error = None
            db.session.commit()
            try:
                result = function(run, Progress(run))
            except JobCanceled as canceled:
                # The work the job committed stays; the rest is rolled back.
                db.session.rollback()
                run = db.session.get(JobRun, run_id)
                run.state = JobState.CANCELED
                run.message = canceled.message
                run.finished_at = utcnow()
                db.session.commit()
                return None
            except BaseException:
                db.session.rollback()
                raise
            run.state = JobState.SUCCEEDED
            run.progress = 100
            run.result = result
            run.finished_at = utcnow()
            db.session.refresh(run, ["cancel_requested_at"])
            if run.cancel_requested_at is not None:
                run.message = "Finished before the cancel request reached it"
            db.session.commit()
            return result

    return job


def describe_error(exc_type: type[BaseException], exc_value: BaseException) -> str:
    if isinstance(exc_value, AbandonedJobError):
        return stopped_error("it stopped sending heartbeats")
    text = str(exc_value).strip()
    return f"{exc_type.__name__}: {text}" if text else exc_type.__name__


def stopped_error(reason: str) -> str:
    """The error of a run whose worker died under it."""
    return (
        f"The worker running this job stopped ({reason}); retry it from the "
        "admin jobs page."
    )


def record_horse_killed(job: Job, retpid: int, ret_val: int, rusage: Any) -> None:
    """RQ's work-horse-killed handler: record the death on the run.

    When the horse dies (SIGKILL, out of memory) RQ calls no failure callback;
    it only retries the job if it has retries left. Without this the run would
    say "running" forever.
    """
    if ret_val and os.WIFSIGNALED(ret_val):
        how = f"signal {os.WTERMSIG(ret_val)}"
    else:
        how = f"exit status {os.waitstatus_to_exitcode(ret_val) if ret_val else 0}"
    reason = f"its work horse, pid {retpid}, ended with {how}"
    _record_failed_attempt(
        job,
        stopped_error(reason),
        will_retry=job.should_retry,
        retry_message="The worker stopped; will try again shortly",
        audit_action="job.worker_stopped",
    )


def record_job_failure(
    job: Job, connection: redis.Redis, exc_type, exc_value, tb
) -> None:
    """RQ failure callback: record the error on the run; decide on a retry.

    Transient errors keep RQ's remaining retries; anything else is final, so a
    bug is not run again three times.
    """
    transient = isinstance(exc_value, TRANSIENT_ERRORS)
    if not transient:
        job.retries_left = 0
    message = describe_error(exc_type, exc_value)
    frames = traceback.format_tb(tb)[-3:] if tb is not None else []
    _record_failed_attempt(
        job,
        message + ("\n\n" + "".join(frames) if frames else ""),
        will_retry=bool(job.retries_left),
        retry_message="Failed; will try again shortly",
    )


def _record_failed_attempt(
    job: Job,
    error: str,
    *,
    will_retry: bool,
    retry_message: str,
    audit_action: str | None = None,
) -> None:
    """Write a failed attempt to the job's run: retrying, or failed for good;
    with ``audit_action``, also to the audit log (which outlives a retry)."""
    run_id = job.args[0] if job.args else None
    with app_context():
        db.session.rollback()
        run = (
            db.session.get(JobRun, run_id, populate_existing=True)
            if run_id is not None
            else None
        )
        if run is None or run.finished:
            return
        run.error = error
        if will_retry:
            run.state = JobState.RETRYING
            run.message = retry_message
        else:
            run.state = JobState.FAILED
            run.message = "Failed"
            run.finished_at = utcnow()
        if audit_action:
            record_audit(
                audit_action,
                actor=None,
                target=run,
                details={"error": error, "retrying": will_retry},
            )
        db.session.commit()


class _AppContextMixin:
    """Runs each job, and its callbacks, inside the process's app context."""

    def perform_job(self, job, queue, execution):  # type: ignore[override]
        with app_context():
            return super().perform_job(job, queue, execution)  # type: ignore[misc]


class AppWorker(_AppContextMixin, Worker):
    """The production worker: forks a work horse per job, and records on the
    run when that horse dies without a word."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("work_horse_killed_handler", record_horse_killed)
        super().__init__(*args, **kwargs)

    def work(self, *args: Any, **kwargs: Any) -> bool:
        self.reconcile_stranded_runs()
        return super().work(*args, **kwargs)

    def reconcile_stranded_runs(self) -> None:
        """Before taking jobs, pick up the runs a dead worker left behind."""
        from workers.reconcile import reconcile_with_settings

        with app_context() as app:
            try:
                done = reconcile_with_settings(app)
            except Exception:
                # The worker is still useful without this pass; the scheduled
                # one will try again.
                self.log.exception("Could not reconcile job runs at start")
                return
        for run_id, reason in done.requeued.items():
            self.log.warning("Queued run %s again: %s", run_id, reason)
        for run_id, reason in done.failed.items():
            self.log.warning("Failed run %s: %s", run_id, reason)

    def main_work_horse(self, job, queue):  # type: ignore[override]
        # The horse inherits the parent's pooled connections: drop them (without
        # closing the parent's sockets) so the horse opens its own.
        with process_app().app_context():
            db.engine.dispose(close=False)
        return super().main_work_horse(job, queue)


class InProcessWorker(_AppContextMixin, SimpleWorker):
    """Runs jobs in this process: for tests and for ``--burst`` debugging."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # How many jobs this worker ran, whatever their outcome.
        self.jobs_performed = 0

    def perform_job(self, job, queue, execution):  # type: ignore[override]
        self.jobs_performed += 1
        return super().perform_job(job, queue, execution)
