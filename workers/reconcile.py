"""The reconciler: runs the database calls active that RQ no longer works on.

The database is the record of every job, but a worker that dies (SIGKILL, an
out-of-memory kill, a lost machine) leaves its run "running" with nobody
running it, and a job lost from Redis leaves its run "queued" forever. The
reconciler finds such runs and queues them again (jobs are idempotent and
resume where they stopped) while they have attempts left, or fails them with a
readable error that an admin can retry from ``/admin/jobs``. Each decision is
written to the audit log and to the run's message.

It never touches a run that RQ still holds: queued in its queue, scheduled for a
retry, or started by a worker that is alive. Every change is a compare-and-set
on the run's state and heartbeat, so concurrent reconcilers (a worker starting
while the scheduler runs one) and a worker that picks the run up meanwhile are
safe: only one of them acts.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import redis
from flask import Flask
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.utils import parse_composite_key
from sqlalchemy import select, update

from portal import queue as job_queue
from portal.audit import record_audit
from portal.extensions import db
from portal.models import JobRun, JobState
from portal.models.base import utcnow
from workers.runtime import stopped_error

ACTIVE = (JobState.QUEUED, JobState.RUNNING, JobState.RETRYING)


@dataclass
class Reconciliation:
    """What one pass did: run ids queued again and failed, each with why."""

    requeued: dict[int, str] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Stranded:
    reason: str
    # A worker that died is known at once; a job missing from Redis may just
    # not be enqueued yet (the enqueue follows the commit), so it waits a grace.
    certain: bool


def reconcile_with_settings(app: Flask) -> Reconciliation:
    """One pass now, with the app's settings: what a starting worker and the
    scheduled ``reconcile_runs`` job run. A run gets as many attempts as RQ's
    retries would give it."""
    return reconcile_runs(
        app,
        app.extensions["redis"],
        now=utcnow(),
        grace_seconds=app.config["RECONCILE_GRACE_SECONDS"],
        max_attempts=1 + len(app.config["JOB_RETRY_INTERVALS"]),
    )


def reconcile_runs(
    app: Flask,
    connection: redis.Redis,
    *,
    now: datetime,
    grace_seconds: int,
    max_attempts: int,
    hostname: str | None = None,
) -> Reconciliation:
    """Queue again, or fail, every active run that RQ no longer holds.

    A run is queued again while it has had fewer than ``max_attempts``
    attempts, else failed. A run whose job is merely missing from Redis is left
    alone until its heartbeat is ``grace_seconds`` old. Commits each decision.
    """
    hostname = hostname or socket.gethostname()
    done = Reconciliation()
    runs = db.session.scalars(
        select(JobRun)
        .where(JobRun.state.in_(ACTIVE))
        .order_by(JobRun.id)
        .execution_options(populate_existing=True)
    ).all()
    for run in runs:
        stranded = _stranded(run, connection, now, hostname)
        if stranded is None:
            continue
        last_sign = run.heartbeat_at or run.created_at
        if not stranded.certain and now - last_sign < timedelta(seconds=grace_seconds):
            continue
        if run.attempts < max_attempts:
            if _claim(run, now, JobState.QUEUED, stranded.reason):
                _forget_rq_execution(connection, run.rq_job_id)
                job_queue.enqueue_run(run.id, run.kind, app)
                done.requeued[run.id] = stranded.reason
        elif _claim(run, now, JobState.FAILED, stranded.reason):
            _forget_rq_execution(connection, run.rq_job_id)
            done.failed[run.id] = stranded.reason
    return done


def _claim(run: JobRun, now: datetime, state: JobState, reason: str) -> bool:
    """Move ``run`` to ``state`` if nobody changed it since it was read."""
    observed_state, observed_heartbeat = run.state, run.heartbeat_at
    values: dict = {"state": state, "heartbeat_at": now}
    if state == JobState.QUEUED:
        values["message"] = f"Queued again: the worker running it stopped ({reason})"
    else:
        values.update(message="Failed", error=stopped_error(reason), finished_at=now)
    heartbeat_unchanged = (
        JobRun.heartbeat_at.is_(None)
        if observed_heartbeat is None
        else JobRun.heartbeat_at == observed_heartbeat
    )
    claimed = db.session.execute(
        update(JobRun)
        .where(JobRun.id == run.id, JobRun.state == observed_state)
        .where(heartbeat_unchanged)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        db.session.rollback()
        return False
    record_audit(
        "job.requeued" if state == JobState.QUEUED else "job.stranded",
        actor=None,
        target=run,
        details={"reason": reason, "was": observed_state.value},
    )
    db.session.commit()
    db.session.refresh(run)
    return True


def _stranded(
    run: JobRun, connection: redis.Redis, now: datetime, hostname: str
) -> _Stranded | None:
    """Why RQ no longer holds ``run``'s job, or None while it does."""
    if not run.rq_job_id:
        return _Stranded("it never reached the job queue", certain=False)
    try:
        job = Job.fetch(run.rq_job_id, connection=connection)
    except NoSuchJobError:
        return _Stranded("its job is missing from the queue", certain=False)
    status = job.get_status(refresh=False)
    if status in (JobStatus.SCHEDULED, JobStatus.DEFERRED):
        return None
    if status == JobStatus.QUEUED:
        if _waits_in_queue(connection, job):
            return None
        return _Stranded("its job is missing from the queue", certain=False)
    if status == JobStatus.STARTED:
        gone = _worker_gone(connection, job, now, hostname)
        return _Stranded(gone, certain=True) if gone else None
    # Finished, failed, stopped or canceled in RQ but not in the database: the
    # outcome never reached the run (its process died before recording it).
    return _Stranded(f"the queue recorded it as {status.value}", certain=False)


def _waits_in_queue(connection: redis.Redis, job: Job) -> bool:
    queue = Queue(job.origin, connection=connection)
    return any(
        connection.lpos(key, job.id) is not None
        for key in (queue.key, queue.intermediate_queue_key)
    )


def _worker_gone(
    connection: redis.Redis, job: Job, now: datetime, hostname: str
) -> str | None:
    """Why the worker that started ``job`` is gone, or None if it is alive."""
    name = job.worker_name
    worker = (
        Worker.find_by_key(Worker.redis_worker_namespace_prefix + name, connection)
        if name
        else None
    )
    if worker is None:
        return f"worker {name or 'unknown'} is no longer registered"
    if worker.hostname == hostname and worker.pid and not _process_alive(worker.pid):
        return f"worker {name} (pid {worker.pid}) is not running"
    heartbeats = _execution_deadlines(connection, job)
    if heartbeats and max(heartbeats) < now.timestamp():
        return f"worker {name} stopped sending heartbeats"
    return None


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _execution_deadlines(connection: redis.Redis, job: Job) -> list[float]:
    """When each of ``job``'s executions stops counting as alive (its heartbeat)."""
    registry = StartedJobRegistry(job.origin, connection=connection)
    return [
        score
        for entry, score in connection.zrange(registry.key, 0, -1, withscores=True)
        if parse_composite_key(entry.decode())[0] == job.id
    ]


def _forget_rq_execution(connection: redis.Redis, job_id: str | None) -> None:
    """Drop a dead attempt's traces, so RQ's own clean-up never fails the next."""
    if not job_id:
        return
    try:
        job = Job.fetch(job_id, connection=connection)
    except NoSuchJobError:
        return
    started = StartedJobRegistry(job.origin, connection=connection)
    stale = [
        entry
        for entry in connection.zrange(started.key, 0, -1)
        if parse_composite_key(entry.decode())[0] == job_id
    ]
    if stale:
        connection.zrem(started.key, *stale)
    FailedJobRegistry(job.origin, connection=connection).remove(job_id)
