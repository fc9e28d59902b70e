"""RQ job functions. Thin: load by id, call a service, commit."""

from __future__ import annotations

from typing import Any

from portal import demo, mail
from portal.extensions import db
from portal.models import JobRun, OutboxMessage, OutboxState
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
