"""Email: every message in the outbox; real SMTP delivery when configured."""

from __future__ import annotations

import socket

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from portal.mail import send_email
from portal.models import JobRun, JobState, OutboxMessage, OutboxState


class Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self):
        self.messages: list[tuple[str, list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.content.decode())
        )
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


def test_without_mail_server_messages_stay_in_outbox(db, queue):
    """No MAIL_SERVER: the message is stored, and no delivery job is started."""
    message = send_email("lee@northwind.example", "Hi", "Body", kind="test")
    db.session.commit()
    assert message.state == OutboxState.STORED
    assert db.session.scalar(select(JobRun)) is None
    assert queue.count == 0


def test_message_is_delivered_over_smtp(app, db, run_jobs, smtp_server):
    """With MAIL_SERVER set, a worker delivers the message to a real SMTP server."""
    controller, inbox = smtp_server
    app.config.update(MAIL_SERVER=controller.hostname, MAIL_PORT=controller.port)
    message = send_email(
        "lee@northwind.example", "Your list is ready", "Line one.", kind="test"
    )
    db.session.commit()
    assert message.state == OutboxState.QUEUED
    run_jobs()
    message = db.session.get(OutboxMessage, message.id)
    assert message.state == OutboxState.SENT
    assert message.sent_at is not None and message.attempts == 1
    assert len(inbox.messages) == 1
    sender, recipients, content = inbox.messages[0]
    assert recipients == ["lee@northwind.example"]
    assert "Subject: Your list is ready" in content
    assert "Line one." in content
    run = db.session.scalar(select(JobRun).where(JobRun.kind == "deliver_email"))
    assert run.state == JobState.SUCCEEDED


def test_unreachable_smtp_server_is_retried_then_failed(app, db, run_jobs):
    """A refused connection is retried; the outbox row and the run record why."""
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=_free_port())
    message = send_email("lee@northwind.example", "Hi", "Body", kind="test")
    db.session.commit()
    run_jobs()
    message = db.session.get(OutboxMessage, message.id)
    assert message.state == OutboxState.FAILED
    assert message.attempts == 1 + len(app.config["JOB_RETRY_INTERVALS"])
    assert "ConnectionRefusedError" in message.last_error
    run = db.session.scalar(select(JobRun).where(JobRun.kind == "deliver_email"))
    assert run.state == JobState.FAILED
    assert run.error.startswith("ConnectionRefusedError")


def test_registration_sends_welcome_email(client, db):
    """A new member gets a welcome message in the outbox."""
    from tests.conftest import csrf_token_from

    token = csrf_token_from(client.get("/auth/register").get_data(as_text=True))
    response = client.post(
        "/auth/register",
        data={
            "display_name": "Wen",
            "email": "wen@northwind.example",
            "password": "a long enough password",
            "confirm": "a long enough password",
            "csrf_token": token,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[-3000:]
    message = db.session.scalar(select(OutboxMessage))
    assert message.to_address == "wen@northwind.example"
    assert message.kind == "welcome"
    assert "Your member code is" in message.body_text
    assert "/auth/verify/" in message.body_text


def test_admin_reads_the_outbox(client, auth, make_member, db):
    """Admins see every message and can open one; members cannot."""
    make_member(email="root@northwind.example", role="admin")
    make_member(email="plain@northwind.example")
    message = send_email(
        "lee@northwind.example", "Quote ready", "Total 12.50", kind="test"
    )
    db.session.commit()
    auth.login("root@northwind.example")
    listing = client.get("/admin/outbox").get_data(as_text=True)
    assert "Quote ready" in listing and "lee@northwind.example" in listing
    detail = client.get(f"/admin/outbox/{message.id}").get_data(as_text=True)
    assert "Total 12.50" in detail
    auth.logout()
    auth.login("plain@northwind.example")
    assert client.get("/admin/outbox").status_code == 403
