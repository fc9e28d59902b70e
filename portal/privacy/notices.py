"""Art 14 notices: the people listed are told when their contact first
becomes active, by any path.

Queueing is a row per contact in ``contact_notices`` (state ``queued``),
written in the same transaction that makes the contact active: the form and
CSV contributions, a held contact released by a moderator or the person,
and the operator import (in bulk, with its batch). The scheduled
``send_privacy_notices`` job sends the oldest queued notices, at most
``NOTICE_BATCH_SIZE`` a run, so a million-contact import costs a million
rows but only one job per cron tick. Contacts at reserved domains
(``.example``, ``.test``, ``.invalid``, ``.localhost``, ``example.com``...)
are never queued: demo data emails nobody.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import Contact, ContactNotice, ContactState, NoticeState
from portal.normalise import email_domain

RESERVED_SUFFIXES = (".example", ".test", ".invalid", ".localhost")
RESERVED_DOMAINS = frozenset({"example.com", "example.net", "example.org"})

# How a contact came in, as the notice says it.
SOURCE_TEXT = {
    "member": "a Tessera member who knows you through business added them",
    "operator_import": "Tessera imported them from a business contact list",
    "customer_list": "a Tessera customer's own list, shared with Tessera by opt-in",
}


def reserved(email: str) -> bool:
    """True for addresses at domains reserved for examples and tests."""
    domain = email_domain(email)
    return domain in RESERVED_DOMAINS or domain.endswith(RESERVED_SUFFIXES)


def queue_notice(
    session: Session, contact: Contact, source: str, now: datetime
) -> bool:
    """Queue the notice for a contact that just became active, once ever.
    Returns whether a notice was queued."""
    if contact.state != ContactState.ACTIVE or reserved(contact.email):
        return False
    exists = session.scalar(
        select(ContactNotice.id).where(ContactNotice.contact_id == contact.id)
    )
    if exists is not None:
        return False
    session.add(ContactNotice(contact_id=contact.id, source=source, queued_at=now))
    session.flush()
    return True


def notice_rows(
    contacts: Iterable[tuple[int, str]], source: str, stamp: object
) -> list[tuple]:
    """Rows of ``contact_notices`` for new active contacts (id, email), for
    bulk writers; reserved addresses are left out."""
    return [
        (contact_id, NoticeState.QUEUED.value, source, stamp)
        for contact_id, email in contacts
        if not reserved(email)
    ]


NOTICE_COLUMNS = ("contact_id", "state", "source", "queued_at")


def send_queued_notices(
    session: Session,
    send: Callable[[Contact, str], int | None],
    now: datetime,
    *,
    batch_size: int,
) -> int:
    """Send up to ``batch_size`` queued notices, oldest first; ``send``
    writes one email and returns its outbox id. A contact no longer active
    (held, disputed, gone) waits. Returns how many were sent."""
    rows = session.execute(
        select(ContactNotice, Contact)
        .join(Contact, Contact.id == ContactNotice.contact_id)
        .where(
            ContactNotice.state == NoticeState.QUEUED,
            Contact.state == ContactState.ACTIVE,
        )
        .order_by(ContactNotice.id)
        .limit(batch_size)
    ).all()
    for notice, contact in rows:
        notice.outbox_message_id = send(
            contact, SOURCE_TEXT.get(notice.source, SOURCE_TEXT["member"])
        )
        notice.state = NoticeState.SENT
        notice.sent_at = now
    session.flush()
    return len(rows)


def queued_count(session: Session) -> int:
    """Notices waiting to be sent."""
    return session.scalar(
        select(func.count(ContactNotice.id)).where(
            ContactNotice.state == NoticeState.QUEUED
        )
    )
