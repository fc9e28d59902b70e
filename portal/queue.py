"""Background jobs: the one module web code enqueues through.

``start_job`` writes a ``JobRun`` row in the caller's transaction. The RQ job
is enqueued only after that transaction commits, so a worker never sees a run
that is not in the database, and a rolled-back request leaves no job behind.
The RQ job id is derived from the run id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask, current_app
from redis.exceptions import RedisError
from rq import Callback, Queue, Retry
from sqlalchemy import event, update
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.models import JobRun, JobState, Member
from portal.models.base import utcnow

PENDING_KEY = "tessera_jobs_to_enqueue"
FAILURE_CALLBACK = "workers.runtime.record_job_failure"

# What each job kind runs, and on which queue.
JOB_KINDS: dict[str, tuple[str, str]] = {
    "seed_demo_data": ("workers.jobs.seed_demo_data", "low"),
    "deliver_email": ("workers.jobs.deliver_email", "high"),
    "process_contribution_file": ("workers.jobs.process_contribution_file", "default"),
    "vest_points": ("workers.jobs.vest_points", "low"),
    "reconcile_runs": ("workers.jobs.reconcile_runs", "high"),
    "grant_allowances": ("workers.jobs.grant_allowances", "low"),
    "expire_purchased_points": ("workers.jobs.expire_purchased_points", "low"),
    "roll_up_daily_metrics": ("workers.jobs.roll_up_daily_metrics", "low"),
    "match_list": ("workers.jobs.match_list", "default"),
    "match_list_chunk": ("workers.jobs.match_list_chunk", "default"),
    "merge_list": ("workers.jobs.merge_list", "default"),
    "delete_expired_lists": ("workers.jobs.delete_expired_lists", "low"),
    "refresh_lists": ("workers.jobs.refresh_lists", "default"),
    "send_privacy_notices": ("workers.jobs.send_privacy_notices", "default"),
    "apply_suppression_file": ("workers.jobs.apply_suppression_file", "high"),
    "quality_sweep": ("workers.jobs.quality_sweep", "low"),
}


def rq_job_id(run_id: int) -> str:
    return f"tessera-run-{run_id}"


def start_job(
    kind: str,
    *,
    params: dict[str, Any] | None = None,
    subject: Any = None,
    created_by: Member | None = None,
    session: Session | None = None,
) -> JobRun:
    """Record a job run of ``kind``; it is enqueued when the session commits.

    ``session`` defaults to the request's. Raises ``KeyError`` for an unknown
    kind.
    """
    JOB_KINDS[kind]  # noqa: B018 - unknown kinds fail here, not in the worker
    session = session or db.session
    run = JobRun(
        kind=kind,
        params=params or {},
        subject_type=getattr(subject, "__tablename__", None),
        subject_id=getattr(subject, "id", None),
        created_by_id=created_by.id if created_by is not None else None,
        state=JobState.QUEUED,
        heartbeat_at=utcnow(),
    )
    session.add(run)
    session.flush()
    run.rq_job_id = rq_job_id(run.id)
    session.flush()
    session.info.setdefault(PENDING_KEY, []).append(run.id)
    return run


class JobNotCancelable(Exception):
    """Raised when a run has already finished and so cannot be canceled."""


def retry_job(run: JobRun) -> None:
    """Queue a failed or canceled run again; enqueued when the session commits."""
    run.state = JobState.QUEUED
    run.error = None
    run.progress = 0
    run.message = "Queued again"
    run.finished_at = None
    run.heartbeat_at = utcnow()
    run.cancel_requested_at = None
    run.cancel_requested_by_id = None
    db.session.flush()
    db.session.info.setdefault(PENDING_KEY, []).append(run.id)


def cancel_message(session: Session, member_id: int | None, at: datetime) -> str:
    """ "Canceled by <who> at <when>": what a canceled run says."""
    member = session.get(Member, member_id) if member_id is not None else None
    who = member.email if member is not None else "an administrator"
    return f"Canceled by {who} at {at:%Y-%m-%d %H:%M} UTC"


def cancel_job(run: JobRun, *, by: Member, now: datetime) -> None:
    """Stop ``run``: a queued or retrying run is canceled at once (its worker
    skips it); a running one is asked to stop and does so at its next progress
    tick, keeping only the work it had committed.

    Raises ``JobNotCancelable`` for a run that has finished.
    """
    if run.finished:
        raise JobNotCancelable(f"Job {run.id} has already {run.state.value}.")
    run.cancel_requested_at = now
    run.cancel_requested_by_id = by.id
    if run.state == JobState.RUNNING:
        run.message = f"Cancel requested by {by.email}; stopping at the next step"
    else:
        run.state = JobState.CANCELED
        run.message = cancel_message(db.session, by.id, now)
        run.finished_at = now
    db.session.flush()


def job_queue(name: str, app: Flask | None = None) -> Queue:
    app = app or current_app
    return Queue(name, connection=app.extensions["redis"])


def enqueue_run(run_id: int, kind: str, app: Flask | None = None) -> None:
    """Put run ``run_id`` on its RQ queue (the run row must be committed)."""
    app = app or current_app
    function, queue_name = JOB_KINDS[kind]
    intervals = app.config["JOB_RETRY_INTERVALS"]
    job_queue(queue_name, app).enqueue(
        function,
        run_id,
        job_id=rq_job_id(run_id),
        job_timeout=app.config["JOB_TIMEOUT_SECONDS"],
        result_ttl=app.config["JOB_RESULT_TTL_SECONDS"],
        failure_ttl=app.config["JOB_FAILURE_TTL_SECONDS"],
        retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
        on_failure=Callback(FAILURE_CALLBACK),
        description=f"{kind} (run {run_id})",
    )


def _enqueue_committed(session: Session) -> None:
    run_ids = session.info.pop(PENDING_KEY, [])
    if not run_ids:
        return
    app = current_app._get_current_object()
    with db.engine.begin() as connection:
        kinds = dict(
            connection.execute(
                JobRun.__table__.select()
                .with_only_columns(JobRun.id, JobRun.kind)
                .where(JobRun.id.in_(run_ids))
            ).all()
        )
    for run_id in run_ids:
        if run_id not in kinds:
            continue  # its row was rolled back with a savepoint
        try:
            enqueue_run(run_id, kinds[run_id], app)
        except RedisError as exc:
            # The run stays in the database as the record; an admin can retry it.
            with db.engine.begin() as connection:
                connection.execute(
                    update(JobRun)
                    .where(JobRun.id == run_id)
                    .values(
                        state=JobState.FAILED,
                        error=f"Could not reach the job queue: {exc}",
                        finished_at=utcnow(),
                    )
                )


def _forget_pending(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)


def init_app(app: Flask) -> None:  # noqa: ARG001 - same shape as extensions
    # Session-class events: registered once per process, whatever the app count.
    if not event.contains(Session, "after_commit", _enqueue_committed):
        event.listen(Session, "after_commit", _enqueue_committed)
        event.listen(Session, "after_rollback", _forget_pending)
