"""Email: every message is written to the outbox; SMTP delivers it when set.

``send_email`` is a service (it flushes, the caller commits). With
``MAIL_SERVER`` configured it also starts a ``deliver_email`` job, which runs
once the caller's transaction commits.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy.orm import Session

from portal import queue
from portal.extensions import db
from portal.models import OutboxMessage, OutboxState
from portal.models.base import utcnow


def public_url(endpoint: str, **values: Any) -> str:
    """An absolute link to ``endpoint`` for an email, on ``PUBLIC_URL``.

    Built from configuration alone, never from the request (whose Host header
    the client chooses), so it also works in background jobs.
    """
    base = urlsplit(current_app.config["PUBLIC_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme
    )
    return adapter.build(endpoint, values, force_external=True)


def send_email(
    to_address: str,
    subject: str,
    body_text: str,
    *,
    kind: str,
    session: Session | None = None,
) -> OutboxMessage:
    """Record a message for ``to_address`` and arrange its delivery.

    ``session`` defaults to the request's; pass another to send from inside
    its transaction (the message then exists only if that commits)."""
    session = session or db.session
    smtp = bool(current_app.config["MAIL_SERVER"])
    message = OutboxMessage(
        kind=kind,
        to_address=to_address,
        subject=subject,
        body_text=body_text,
        state=OutboxState.QUEUED if smtp else OutboxState.STORED,
    )
    session.add(message)
    session.flush()
    if smtp:
        queue.start_job("deliver_email", subject=message, session=session)
    return message


def deliver(message: OutboxMessage) -> None:
    """Send ``message`` over SMTP now and mark it sent.

    Raises the ``smtplib``/``OSError`` failure after recording it on the row,
    so the job's retry policy decides what happens next.
    """
    config = current_app.config
    email = EmailMessage()
    email["From"] = config["MAIL_DEFAULT_SENDER"]
    email["To"] = message.to_address
    email["Subject"] = message.subject
    email["Message-ID"] = f"<outbox-{message.id}@tessera>"
    email.set_content(message.body_text)
    message.attempts += 1
    smtp_class = smtplib.SMTP_SSL if config["MAIL_USE_SSL"] else smtplib.SMTP
    try:
        with smtp_class(
            config["MAIL_SERVER"], config["MAIL_PORT"], timeout=config["MAIL_TIMEOUT"]
        ) as client:
            if config["MAIL_USE_TLS"]:
                client.starttls()
            if config["MAIL_USERNAME"]:
                client.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
            client.send_message(email)
    except (smtplib.SMTPException, OSError) as exc:
        message.state = OutboxState.FAILED
        message.last_error = f"{type(exc).__name__}: {exc}"
        db.session.flush()
        raise
    message.state = OutboxState.SENT
    message.sent_at = utcnow()
    message.last_error = None
    db.session.flush()
