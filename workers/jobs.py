"""RQ job functions. Thin: load by id, call a service, commit."""

from __future__ import annotations

from typing import Any

from flask import current_app

from portal import demo, mail, queue
from portal.admin import metrics
from portal.audit import record_audit
from portal.billing import allowances, expiry
from portal.billing.rules import BillingRules
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
from portal.moderation import sweep
from portal.moderation.flags import FlagRules
from portal.points import services as points
from portal.points.services import Rules
from workers import reconcile
from workers.runtime import JobCanceled, Progress, tracked_job


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
            flag_rules=FlagRules.from_config(config),
            suppression_key=config["SUPPRESSION_KEY"],
            max_rows=config["CONTRIBUTION_FILE_MAX_ROWS"],
            now=utcnow,
            progress=progress,
        )
    except JobCanceled as canceled:
        db.session.rollback()
        contribution.state = FileState.ERROR
        contribution.message = (
            f"{canceled.message}. The rows already in the report are kept and a "
            "retry carries on from there."
        )
        db.session.commit()
        raise
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
def reconcile_runs(run: JobRun, progress: Progress) -> dict[str, Any]:
    """Queue again, or fail, the runs RQ no longer holds (see workers.reconcile)."""
    done = reconcile.reconcile_with_settings(current_app._get_current_object())
    return {"requeued": len(done.requeued), "failed": len(done.failed)}


@tracked_job
def grant_allowances(run: JobRun, progress: Progress) -> dict[str, Any]:
    """Grant this month's plan allowance to every seat holder not yet granted."""
    result = allowances.grant_monthly_allowances(
        utcnow(), BillingRules.from_config(current_app.config), progress=progress
    )
    summary = {
        "month": result.month,
        "organisations": result.organisations,
        "members_granted": result.granted,
        "points": result.points,
    }
    record_audit("billing.allowances_granted", actor=None, target=run, details=summary)
    return summary


@tracked_job
def expire_purchased_points(run: JobRun, progress: Progress) -> dict[str, Any]:
    """Write the expiry entries of purchased points past their date."""
    result = expiry.expire_purchased_points(utcnow(), progress=progress)
    summary = {
        "members": result.members,
        "lots": result.lots,
        "points_expired": result.points,
    }
    record_audit("billing.points_expired", actor=None, target=run, details=summary)
    return summary


@tracked_job
def roll_up_daily_metrics(run: JobRun, progress: Progress) -> dict[str, Any]:
    """Roll the finished days' dashboard figures up into ``daily_metrics``."""
    result = metrics.roll_up_daily_metrics(
        db.session,
        now=utcnow(),
        refresh_days=current_app.config["DAILY_ROLLUP_REFRESH_DAYS"],
    )
    return result.as_dict()


@tracked_job
def quality_sweep(run: JobRun, progress: Progress) -> dict[str, Any]:
    """Look for what nobody reported and open a sweep flag per new finding."""
    config = current_app.config
    result = sweep.run_sweep(
        db.session,
        sweep.SweepRules.from_config(config),
        FlagRules.from_config(config),
        utcnow(),
        progress=progress,
    )
    record_audit(
        "moderation.sweep_ran", actor=None, target=run, details=result.as_dict()
    )
    return result.as_dict()


def start_scheduled_job(kind: str) -> int:
    """What the cron scheduler enqueues: record a tracked run of ``kind``.

    Going through ``start_job`` keeps the database as the record of every
    job, scheduled or not."""
    run = queue.start_job(kind)
    db.session.commit()
    return run.id
