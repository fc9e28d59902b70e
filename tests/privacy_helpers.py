"""Helpers for the privacy center's tests: ask for a link, read it from the
outbox, open it."""

from __future__ import annotations

import re
from datetime import datetime

from flask import current_app
from sqlalchemy import select

from portal.contacts.services import ATTESTATION_TEXT, Outcome, contribute
from portal.models import Member, OutboxMessage, RevisionSource
from portal.models.base import utcnow
from portal.points.services import Rules
from tests.conftest import csrf_token_from
from tests.factories import PRIYA

LINK = re.compile(r"(https?://\S+/privacy/open/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+))")


def ask_for_link(client, email: str, **headers):
    page = client.get("/privacy", headers=headers)
    token = csrf_token_from(page.get_data(as_text=True))
    return client.post(
        "/privacy/access", data={"email": email, "csrf_token": token}, headers=headers
    )


def emailed_links(db, email: str) -> list[tuple[str, str]]:
    """(full link, token) of every privacy link emailed to ``email``."""
    db.session.expire_all()
    bodies = db.session.scalars(
        select(OutboxMessage.body_text)
        .where(OutboxMessage.to_address == email, OutboxMessage.kind == "privacy_link")
        .order_by(OutboxMessage.id)
    )
    return [LINK.search(body).groups() for body in bodies]


def open_report(client, token: str):
    """Use the link (the button behind it) and return the report page."""
    page = client.get(f"/privacy/open/{token}")
    csrf = csrf_token_from(page.get_data(as_text=True))
    used = client.post(f"/privacy/open/{token}", data={"csrf_token": csrf})
    assert used.status_code == 303, used.get_data(as_text=True)
    return client.get("/privacy/report")


def report_csrf(client) -> str:
    return csrf_token_from(client.get("/privacy/report").get_data(as_text=True))


def contribute_as(
    db, member: Member | None, values=PRIYA, now: datetime | None = None
) -> Outcome:
    """Contribute ``values`` on the form as ``member`` and commit."""
    outcome = contribute(
        db.session,
        member.id if member is not None else None,
        values,
        source=RevisionSource.FORM,
        attestation=ATTESTATION_TEXT,
        rules=Rules(),
        suppression_key=current_app.config["SUPPRESSION_KEY"],
        now=now or utcnow(),
    )
    db.session.commit()
    return outcome
