"""The emails of the privacy center: the access link, the Art 14 notice, and
what recipients are told after a correction or an erasure (Art 19).

Composed here from ``templates/emails/`` and sent through the outbox, for
routes and jobs alike. Recipients' letters name the person only by the
masked email and company, so the outbox keeps nothing personal about them.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import current_app, render_template
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from portal.mail import public_url, send_email
from portal.models import Contact, OutboxMessage
from portal.privacy.actions import Notified

REMOVE_SALT = "privacy-remove-me"


def _remove_signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=REMOVE_SALT)


def remove_me_token(contact: Contact) -> str:
    """A signed token naming the contact and its email: the notice's one-click
    "remove me" link works only for that record while it has that email."""
    return _remove_signer().dumps([contact.id, contact.email])


def read_remove_me_token(token: str, max_age_seconds: int) -> tuple[int, str] | None:
    """(contact id, email) of a valid "remove me" token, None otherwise."""
    try:
        contact_id, email = _remove_signer().loads(token, max_age=max_age_seconds)
    except (BadSignature, ValueError, TypeError):
        return None
    return int(contact_id), str(email)


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
