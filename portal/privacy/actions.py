"""What a person can do about a record held on them: confirm it, correct a
field, dispute a detail, or have it erased (objection and erasure alike).

Each action is one transaction in the caller and is recorded as a privacy
request. Erasure and correction return the recipients of the last
``window`` so the caller can tell them (``portal.privacy.letters``).
Functions flush; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from portal.contacts.services import ContactActionRefused, confirm_contact
from portal.masking import mask_email
from portal.models import (
    ConfirmationSource,
    Contact,
    ContributionRow,
    Disclosure,
    FlagKind,
    FlagSource,
    Member,
    OneTimeToken,
    OutboxMessage,
    PrivacyRequest,
    PrivacyRequestKind,
    Revision,
    RevisionKind,
    RevisionSource,
    SuppressionEntry,
)
from portal.moderation.flags import FlagRules, open_flag
from portal.normalise import (
    FieldProblem,
    normalise_city,
    normalise_country,
    normalise_person_name,
    normalise_phone,
    normalise_title,
)
from portal.points.services import Rules
from portal.privacy import requests
from portal.suppression import email_hashes, suppress
from portal.titles import classify_title

# A refusal of the person's action; ``message`` says why to them.
ActionRefused = ContactActionRefused

# What the person may correct themselves; a new email or company is a new
# record (they can erase this one), and anything else goes to a moderator.
CORRECTABLE = {
    "first_name": lambda v, c: normalise_person_name(v, part="first name"),
    "last_name": lambda v, c: normalise_person_name(v, part="last name"),
    "title": lambda v, c: normalise_title(v),
    "phone": lambda v, c: normalise_phone(v, c.country) if v else None,
    "city": lambda v, c: normalise_city(v) if v else None,
    "country": lambda v, c: normalise_country(v) if v else None,
}
REMOVED_MESSAGE = "A person asked to be removed from Tessera"
# The token purpose of the privacy center's emailed links.
ACCESS_LINK = "privacy_access"


def link_subject(email: str) -> str:
    """The one-time token subject of a privacy link for ``email``."""
    return f"privacy:{email}"


@dataclass(frozen=True)
class Notified:
    """A recipient to tell about a correction or an erasure."""

    member_id: int
    email: str
    received_at: datetime
    masked_email: str
    company: str


@dataclass(frozen=True)
class ActionResult:
    request: PrivacyRequest
    notify: list[Notified]


def recent_recipients(
    session: Session, contact: Contact, since: datetime
) -> list[Notified]:
    """The members who received the contact since ``since``, once each, with
    the first time they did."""
    rows = session.execute(
        select(Member.id, Member.email, Disclosure.created_at)
        .join(Member, Member.id == Disclosure.member_id)
        .where(Disclosure.contact_id == contact.id, Disclosure.created_at >= since)
        .order_by(Disclosure.created_at)
    )
    seen: dict[int, Notified] = {}
    for member_id, email, at in rows:
        seen.setdefault(
            member_id,
            Notified(
                member_id, email, at, mask_email(contact.email), contact.company.name
            ),
        )
    return list(seen.values())


def _own(contact: Contact | None, email: str) -> Contact:
    if contact is None or contact.email != email:
        # Not one of the person's records (or already gone): say nothing more.
        raise ActionRefused("That record is not one of yours, or it no longer exists.")
    return contact


def confirm_record(
    session: Session,
    contact: Contact | None,
    email: str,
    *,
    key: str,
    now: datetime,
    rules: Rules,
) -> ActionResult:
    """The person says the record is accurate: "confirmed by the person", and
    the contributor's pending points vest."""
    contact = _own(contact, email)
    confirm_contact(
        session, contact, None, ConfirmationSource.SUBJECT, now, rules=rules
    )
    request = requests.record_completed(
        session,
        PrivacyRequestKind.CONFIRM,
        email,
        "The person confirmed the record; its contributor's pending points vested.",
        key=key,
        now=now,
        contact_id=contact.id,
    )
    return ActionResult(request, [])


def correct_field(
    session: Session,
    contact: Contact | None,
    email: str,
    field: str,
    value: str,
    *,
    key: str,
    now: datetime,
    window: timedelta,
) -> ActionResult:
    """Apply the person's correction of one field at once, as a revision of
    source ``subject``. Raises ``ActionRefused`` for a field they cannot
    correct or a value that fails the checks every contribution passes."""
    contact = _own(contact, email)
    if field not in CORRECTABLE:
        raise ActionRefused("That detail cannot be corrected here; dispute it instead.")
    try:
        cleaned = CORRECTABLE[field]((value or "").strip(), contact)
    except FieldProblem as problem:
        raise ActionRefused(problem.message) from problem
    if field in ("first_name", "last_name", "title") and not cleaned:
        raise ActionRefused("This detail cannot be empty.")
    if cleaned == getattr(contact, field):
        raise ActionRefused("That is already the value we hold.")
    setattr(contact, field, cleaned)
    if field == "title":
        contact.seniority, contact.department = classify_title(cleaned)
    contact.last_confirmed_at = now
    session.add(
        Revision(
            contact_id=contact.id,
            member_id=None,
            kind=RevisionKind.CORRECTION,
            source=RevisionSource.SUBJECT,
            fields={field: cleaned},
            created_at=now,
        )
    )
    session.flush()
    notify = recent_recipients(session, contact, now - window)
    request = requests.record_completed(
        session,
        PrivacyRequestKind.CORRECT,
        email,
        f"The {field.replace('_', ' ')} was corrected; {len(notify)} recipient(s) "
        "of the last 12 months were told.",
        key=key,
        now=now,
        contact_id=contact.id,
        details={"field": field},
    )
    return ActionResult(request, notify)


def dispute_record(
    session: Session,
    contact: Contact | None,
    email: str,
    details: str,
    *,
    key: str,
    now: datetime,
    flag_rules: FlagRules,
    own: bool = True,
) -> ActionResult:
    """A detail the person cannot correct themselves: a moderation flag of
    the highest priority (source ``subject``) and a pending request.
    ``own=False`` is for a "might be you" record the caller found to be the
    person's namesake at their domain."""
    if own:
        contact = _own(contact, email)
    elif contact is None:
        raise ActionRefused("That record no longer exists.")
    text = (details or "").strip()
    if not text:
        raise ActionRefused("Say what is wrong, so a moderator can put it right.")
    open_flag(
        session,
        FlagKind.WRONG_INFO,
        FlagSource.SUBJECT,
        now,
        flag_rules,
        contact_id=contact.id,
        details=f"The person disputes this record: {text[:2000]}",
    )
    request = requests.open_request(
        session,
        PrivacyRequestKind.CORRECT,
        email,
        key=key,
        now=now,
        contact_id=contact.id,
        details={"dispute": True},
    )
    return ActionResult(request, [])


def erase_contact(
    session: Session,
    contact: Contact,
    *,
    key: str,
    now: datetime,
    window: timedelta,
    reason: str,
) -> list[Notified]:
    """Delete the contact and everything that holds its details, and add a
    suppression entry so nobody can add the person again.

    Deleted with it (database cascades): revisions, reveals (so it leaves
    every member's My contacts), disclosures, confirmations, flags and its
    notice log. Scrubbed: the values of CSV rows that created or updated it,
    the outbox copies of mail sent to the address, and one-time links about
    it. Returns the members who received it within ``window`` to be told.
    """
    email = contact.email
    person = (contact.first_name, contact.last_name, contact.company.domain)
    notify = recent_recipients(session, contact, now - window)
    already = session.scalar(
        select(SuppressionEntry.id).where(
            SuppressionEntry.email_hash.in_(email_hashes(key, email))
        )
    )
    if already is None:
        suppress(session, key, reason=reason, email=email, person=person)
    else:
        suppress(session, key, reason=reason, person=person)
    session.execute(
        update(ContributionRow)
        .where(ContributionRow.contact_id == contact.id)
        .values(values={})
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.to_address == email)
        .values(
            to_address="erased@invalid",
            subject="(erased on the person's request)",
            body_text="(erased on the person's request)",
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(OneTimeToken)
        .where(OneTimeToken.subject == link_subject(email))
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(PrivacyRequest)
        .where(PrivacyRequest.email == email)
        .values(email=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(Contact)
        .where(Contact.id == contact.id)
        .execution_options(synchronize_session=False)
    )
    session.expunge(contact)
    session.flush()
    return notify


def erase_record(
    session: Session,
    contact: Contact | None,
    email: str,
    kind: PrivacyRequestKind,
    *,
    key: str,
    now: datetime,
    window: timedelta,
) -> ActionResult:
    """The person objects to, or asks to erase, their record: it is erased
    (``erase_contact``) and the request recorded as complete."""
    contact = _own(contact, email)
    notify = erase_contact(
        session,
        contact,
        key=key,
        now=now,
        window=window,
        reason="objection" if kind == PrivacyRequestKind.OBJECT else "erasure",
    )
    request = requests.record_completed(
        session,
        kind,
        email,
        f"Record deleted and suppressed; {len(notify)} recipient(s) of the last "
        "12 months were told to remove it.",
        key=key,
        now=now,
    )
    return ActionResult(request, notify)
