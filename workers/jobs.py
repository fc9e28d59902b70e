"""RQ job functions. Thin: load by id, call a service, commit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app

from portal import demo, mail, queue
from portal.admin import metrics
from portal.audit import record_audit
from portal.billing import allowances, expiry
from portal.billing.rules import BillingRules
from portal.contacts import imports
from portal.extensions import db
from portal.lists import delivery, retention, schedules
from portal.lists import run as list_run
from portal.lists.pricing import ListRules
from portal.models import (
    ContributionFile,
    FileState,
    JobRun,
    ListState,
    MatchList,
    OutboxMessage,
    OutboxState,
    SuppressionFile,
)
from portal.models.base import utcnow
from portal.moderation import sweep
from portal.moderation.flags import FlagRules
from portal.points import services as points
from portal.points.services import Rules
from portal.privacy import bulk, letters, notices
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


def _match_list_of(run: JobRun) -> MatchList:
    match_list = db.session.get(MatchList, run.subject_id)
    if match_list is None:
        raise LookupError(f"list {run.subject_id} does not exist")
    return match_list


@tracked_job
def match_list(run: JobRun, progress: Progress) -> dict[str, Any]:
    """Match a list's rows (the parent of its chunk jobs) and quote it."""
    config = current_app.config
    subject = _match_list_of(run)
    try:
        return list_run.run_match(
            db.session,
            subject,
            run,
            root=config["INSTANCE_PATH"],
            rules=ListRules.from_config(config),
            match_chunk_rows=config["MATCH_CHUNK_ROWS"],
            now=utcnow,
            progress=progress,
            suppression_key=config["SUPPRESSION_KEY"],
            flag_rules=FlagRules.from_config(config),
            public_url=config["PUBLIC_URL"],
        )
    except Exception as exc:
        db.session.rollback()
        subject = _match_list_of(run)
        if subject.match_run_id == run.id and subject.state == ListState.MATCHING:
            reason = (
                exc.message
                if isinstance(exc, JobCanceled)
                else f"it stopped with an error ({type(exc).__name__})"
            )
            list_run.fail_matching(
                db.session,
                subject,
                f"Matching stopped: {reason}. The rows already matched are kept "
                "and a retry carries on from there.",
            )
            db.session.commit()
        raise


@tracked_job
def match_list_chunk(run: JobRun, progress: Progress) -> dict[str, Any]:
    """Match one chunk of a list's run, unless another worker has it."""
    config = current_app.config
    subject = _match_list_of(run)
    chunk_id = int(run.params["chunk_id"])
    matched = list_run.run_chunk(
        db.session,
        subject,
        chunk_id,
        run.id,
        root=config["INSTANCE_PATH"],
        rules=ListRules.from_config(config),
        match_chunk_rows=config["MATCH_CHUNK_ROWS"],
        now=utcnow,
    )
    return {"chunk_id": chunk_id, "matched_here": matched}


@tracked_job
def merge_list(run: JobRun, progress: Progress) -> dict[str, Any]:
    """Write an accepted list's merged file, disclosures and invoice."""
    config = current_app.config
    return delivery.run_merge(
        db.session,
        _match_list_of(run),
        root=config["INSTANCE_PATH"],
        billing=BillingRules.from_config(config),
        now=utcnow(),
    )


@tracked_job
def delete_expired_lists(run: JobRun, progress: Progress) -> dict[str, Any]:
    """Delete the files and rows of lists past their retention."""
    config = current_app.config
    deleted = retention.delete_expired_lists(
        db.session,
        root=config["INSTANCE_PATH"],
        now=utcnow(),
        retention_days=config["LIST_RETENTION_DAYS"],
    )
    record_audit("lists.retention", actor=None, target=run, details={"lists": deleted})
    db.session.commit()
    return {"lists_deleted": deleted}


@tracked_job
def refresh_lists(run: JobRun, progress: Progress) -> dict[str, Any]:
    """Start the scheduled refreshes that are due."""
    started = schedules.refresh_due_lists(
        db.session, root=current_app.config["INSTANCE_PATH"], now=utcnow()
    )
    db.session.commit()
    return {"refreshes_started": started}


@tracked_job
def send_privacy_notices(run: JobRun, progress: Progress) -> dict[str, Any]:
    """Send the oldest queued Art 14 notices, ``NOTICE_BATCH_SIZE`` a run."""

    def send(contact, source: str) -> int:
        return letters.send_notice(contact, source, db.session).id

    sent = notices.send_queued_notices(
        db.session,
        send,
        utcnow(),
        batch_size=current_app.config["NOTICE_BATCH_SIZE"],
    )
    return {"sent": sent, "still_queued": notices.queued_count(db.session)}


@tracked_job
def apply_suppression_file(run: JobRun, progress: Progress) -> dict[str, Any]:
    """Suppress an uploaded file's hashes and erase the contacts they match."""
    config = current_app.config
    upload = db.session.get(SuppressionFile, run.subject_id)
    if upload is None:
        raise LookupError(f"suppression file {run.subject_id} does not exist")
    if upload.finished_at is not None:
        return {"file_id": upload.id, "contacts_removed": upload.contacts_removed}

    def notify(recipients) -> None:
        letters.tell_recipients(recipients, "erasure", db.session)

    removed = bulk.apply_suppression_file(
        db.session,
        upload,
        key=config["SUPPRESSION_KEY"],
        now=utcnow(),
        window=timedelta(days=config["PRIVACY_RECIPIENT_DAYS"]),
        notify=notify,
    )
    record_audit(
        "privacy.suppression_file_applied",
        actor=None,
        target=upload,
        details={"hashes": upload.hashes_read, "contacts_removed": removed},
    )
    return {"file_id": upload.id, "contacts_removed": removed}


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
