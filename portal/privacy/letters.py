"""The emails of the privacy center: the access link, the Art 14 notice, and
what recipients are told after a correction or an erasure (Art 19).

Composed here from ``templates/emails/`` and sent through the outbox, for
routes and jobs alike. Recipients' letters name the person only by the
masked email and company, so the outbox keeps nothing personal about them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from portal.mail import public_url, send_email
from portal.models import Contact, OutboxMessage
from portal.privacy.actions import Notified

REMOVE_SALT = "privacy-remove-me"


def render_template(name: str, **context) -> str:
    """An email body from ``templates/emails/``. Rendered without the web
    context processors (no request or logged-in member in a job)."""
    return current_app.jinja_env.get_template(name).render(**context)


def _remove_signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=REMOVE_SALT)


def _email_tag(email: str) -> str:
    # The link names the email by a hash (the payload is signed, not secret).
    return hashlib.sha256(email.encode()).hexdigest()[:32]


def remove_me_token(contact: Contact) -> str:
    """A signed token naming the contact and its email: the notice's one-click
    "remove me" link works only for that record while it has that email."""
    return _remove_signer().dumps([contact.id, _email_tag(contact.email)])


def remove_me_contact(session: Session, token: str, max_age_seconds: int):
    """The contact a valid "remove me" token is about, if it still has the
    email the notice went to; None otherwise."""
    try:
        contact_id, tag = _remove_signer().loads(token, max_age=max_age_seconds)
        contact = session.get(Contact, int(contact_id))
    except (BadSignature, ValueError, TypeError):
        return None
    if contact is None or _email_tag(contact.email) != tag:
        return None
    return contact


def access_link_message(token: str, minutes: int) -> str:
    """The text of the email carrying a privacy link (composed for known and
    unknown addresses alike, so both answers cost the same)."""
    return render_template(
        "emails/privacy_link.txt",
        link=public_url("privacy.open_link", token=token),
        minutes=minutes,
        privacy_url=public_url("privacy.index"),
    )


def send_access_link(email: str, body: str, session: Session) -> None:
    send_email(
        email, "Your Tessera privacy link", body, kind="privacy_link", session=session
    )


def send_notice(contact: Contact, source: str, session: Session) -> OutboxMessage:
    """The Art 14 notice for a contact that became active."""
    return send_email(
        contact.email,
        "Tessera holds your business contact details",
        render_template(
            "emails/privacy_notice.txt",
            contact=contact,
            source=source,
            privacy_url=public_url("privacy.index"),
            remove_url=public_url("privacy.remove_me", token=remove_me_token(contact)),
        ),
        kind="privacy_notice",
        session=session,
    )


def tell_recipients(
    recipients: Iterable[Notified], what: str, session: Session, *, field: str = ""
) -> int:
    """Tell each recipient of a correction (``what="correction"``) or an
    erasure (``what="erasure"``); returns how many were told."""
    told = 0
    for recipient in recipients:
        send_email(
            recipient.email,
            "A contact you received from Tessera was corrected"
            if what == "correction"
            else "A person asked to be removed from Tessera",
            render_template(
                "emails/privacy_recipient.txt",
                what=what,
                recipient=recipient,
                field=field.replace("_", " "),
                my_contacts=public_url("my.contacts"),
            ),
            kind=f"privacy_{what}",
            session=session,
        )
        told += 1
    return told
