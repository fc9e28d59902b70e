"""RQ job functions. Thin: load by id, call a service, commit."""

from __future__ import annotations

from typing import Any

from flask import current_app

from portal import demo, mail, queue
from portal.admin import metrics
from portal.contacts import imports
from portal.extensions import db
from portal.models import (
    ContributionFile,
    FileState,
    JobRun,
    OutboxMessage,
    OutboxState,
)
from portal.models.base import utcnow
from portal.points import services as points
from portal.points.services import Rules
from workers.runtime import Progress, tracked_job


@tracked_job
def seed_demo_data(run: JobRun, progress: Progress) -> dict[str, Any]:
    """Generate the demo companies and contacts the run's params ask for."""
    summary = demo.generate_demo_data(
        contacts=int(run.params["contacts"]),
        seed=int(run.params.get("seed", 1)),
        progress=progress,
    )
    return summary.as_dict()


@tracked_job
def deliver_email(run: JobRun, progress: Progress) -> dict[str, Any]:
    """Send one outbox message over SMTP; a message already sent is left alone."""
    message = db.session.get(OutboxMessage, run.subject_id)
    if message is None:
        raise LookupError(f"outbox message {run.subject_id} does not exist")
    if message.state == OutboxState.SENT:
        return {"message_id": message.id, "already_sent": True}
    try:
        mail.deliver(message)
    except Exception:
        db.session.commit()  # keep the failed attempt on the outbox row
        raise
    return {"message_id": message.id}


@tracked_job
def process_contribution_file(run: JobRun, progress: Progress) -> dict[str, Any]:
    """Run a member's contributed CSV through the contribution checks."""
    config = current_app.config
    contribution = db.session.get(ContributionFile, run.subject_id)
    if contribution is None:
        raise LookupError(f"contribution file {run.subject_id} does not exist")
    try:
        counts = imports.process_file(
            db.session,
            contribution,
            rules=Rules.from_config(config),
            suppression_key=config["SUPPRESSION_KEY"],
            max_rows=config["CONTRIBUTION_FILE_MAX_ROWS"],
            now=utcnow,
            progress=progress,
        )
    except Exception as exc:
        db.session.rollback()
        contribution.state = FileState.ERROR
        contribution.message = (
            "Processing stopped with an error; the rows already in the report "
            f"are kept and a retry carries on from there. ({type(exc).__name__})"
        )
        db.session.commit()
        raise
    return {"file_id": contribution.id, "state": contribution.state.value, **counts}


@tracked_job
def vest_points(run: JobRun, progress: Progress) -> dict[str, Any]:
    """Vest pending points whose challenge window has passed."""
    moved = points.vest_due_points(
        db.session, Rules.from_config(current_app.config), utcnow()
    )
    return {"vested_entries": moved}


@tracked_job
def roll_up_daily_metrics(run: JobRun, progress: Progress) -> dict[str, Any]:
    """Roll the finished days' dashboard figures up into ``daily_metrics``."""
    result = metrics.roll_up_daily_metrics(
        db.session,
        now=utcnow(),
        refresh_days=current_app.config["DAILY_ROLLUP_REFRESH_DAYS"],
    )
    return result.as_dict()


def start_scheduled_job(kind: str) -> int:
    """What the cron scheduler enqueues: record a tracked run of ``kind``.

    Going through ``start_job`` keeps the database as the record of every
    job, scheduled or not."""
    run = queue.start_job(kind)
    db.session.commit()
    return run.id
