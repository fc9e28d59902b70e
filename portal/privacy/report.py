"""What the privacy center shows a person about themselves: every record
held with their email, records with the same name at their email's domain
("might be you"), each field's source and date, every recipient, and their
requests. Also the same as JSON for download.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from portal.contacts.services import PROVENANCE_FIELDS, field_provenance
from portal.masking import mask_email
from portal.models import (
    Company,
    CompanyDomain,
    ConfirmationSource,
    Contact,
    ContactConfirmation,
    ContactNotice,
    Disclosure,
    DisclosureChannel,
    Member,
    Organisation,
    PrivacyRequest,
    Revision,
    RevisionSource,
)
from portal.normalise import email_domain
from portal.privacy.consent import contributor_label
from portal.privacy.requests import requests_for

FIELD_LABELS = {
    "first_name": "First name",
    "last_name": "Last name",
    "title": "Job title",
    "company": "Company",
    "email": "Business email",
    "phone": "Business phone",
    "city": "City",
    "country": "Country",
}
CHANNEL_LABELS = {
    DisclosureChannel.UNLOCK: "revealed it",
    DisclosureChannel.EXPORT: "exported it",
    DisclosureChannel.LIST_DELIVERY: "received it in a list delivery",
}


@dataclass(frozen=True)
class FieldSource:
    name: str
    label: str
    value: Any
    source: str
    date: datetime | None


@dataclass(frozen=True)
class Recipient:
    who: str
    when: datetime
    how: str


@dataclass
class SubjectRecord:
    contact: Contact
    fields: list[FieldSource]
    recipients: list[Recipient]
    confirmed_by_person: bool
    notice_sent_at: datetime | None
    might_be_you: bool = False


@dataclass
class SubjectReport:
    email: str
    records: list[SubjectRecord] = field(default_factory=list)
    might_be_you: list[SubjectRecord] = field(default_factory=list)
    requests: list[PrivacyRequest] = field(default_factory=list)


def member_label(session: Session, member: Member | None) -> str:
    """How a member is named to the people listed (their attribution choice)."""
    return contributor_label(session, member)


def source_label(session: Session, revision: Revision) -> str:
    """Where a value came from, in the person's words."""
    if revision.source == RevisionSource.SUBJECT:
        return "Corrected by you"
    if revision.source == RevisionSource.OPERATOR_IMPORT:
        return "Imported by Tessera (operator import)"
    if revision.source == RevisionSource.MODERATOR:
        return "Edited by a Tessera moderator"
    how = "on the form" if revision.source == RevisionSource.FORM else "in a CSV file"
    if revision.source == RevisionSource.MERGE:
        how = "when two records were merged"
    return f"Added by {member_label(session, revision.member)} {how}"


def person_confirmed(session: Session, contact_id: int) -> bool:
    """True when the person themselves confirmed the contact is accurate."""
    return session.scalar(
        select(
            exists().where(
                ContactConfirmation.contact_id == contact_id,
                ContactConfirmation.source == ConfirmationSource.SUBJECT,
            )
        )
    )


def person_confirmed_ids(session: Session, contact_ids: list[int]) -> set[int]:
    """Of ``contact_ids``, those the person confirmed (for lists of contacts)."""
    if not contact_ids:
        return set()
    return set(
        session.scalars(
            select(ContactConfirmation.contact_id)
            .where(
                ContactConfirmation.contact_id.in_(contact_ids),
                ContactConfirmation.source == ConfirmationSource.SUBJECT,
            )
            .distinct()
        )
    )


def recipients(
    session: Session, contact_id: int, since: datetime | None = None
) -> list[Recipient]:
    """Everyone the contact's details went to, oldest first."""
    statement = (
        select(Disclosure, Member, Organisation)
        .outerjoin(Member, Member.id == Disclosure.member_id)
        .outerjoin(Organisation, Organisation.id == Disclosure.organisation_id)
        .where(Disclosure.contact_id == contact_id)
        .order_by(Disclosure.created_at, Disclosure.id)
    )
    if since is not None:
        statement = statement.where(Disclosure.created_at >= since)
    found = []
    for disclosure, member, organisation in session.execute(statement):
        who = member_label(session, member)
        if organisation is not None:
            who = f"{organisation.name} ({who})"
        found.append(
            Recipient(who, disclosure.created_at, CHANNEL_LABELS[disclosure.channel])
        )
    return found


def _record(session: Session, contact: Contact, might_be_you: bool) -> SubjectRecord:
    provenance = field_provenance(session, contact.id)
    fields = []
    for name in PROVENANCE_FIELDS:
        value = contact.company.name if name == "company" else getattr(contact, name)
        if value in (None, ""):
            continue
        if might_be_you and name in ("email", "phone"):
            value = mask_email(value) if name == "email" else "•••"
        revision = provenance.get(name)
        fields.append(
            FieldSource(
                name,
                FIELD_LABELS[name],
                value,
                source_label(session, revision) if revision else "Unknown",
                revision.created_at if revision else None,
            )
        )
    notice = session.scalar(
        select(ContactNotice.sent_at).where(ContactNotice.contact_id == contact.id)
    )
    return SubjectRecord(
        contact=contact,
        fields=fields,
        recipients=[] if might_be_you else recipients(session, contact.id),
        confirmed_by_person=person_confirmed(session, contact.id),
        notice_sent_at=notice,
        might_be_you=might_be_you,
    )


def records_for(session: Session, email: str) -> list[Contact]:
    """Every contact held with this email (normally one), whatever its state."""
    return list(
        session.scalars(
            select(Contact).where(Contact.email == email).order_by(Contact.id)
        )
    )


def namesakes(session: Session, email: str, contacts: list[Contact]) -> list[Contact]:
    """Contacts with the same name as ``contacts`` at the email's domain."""
    domain = email_domain(email)
    names = {(c.first_name.lower(), c.last_name.lower()) for c in contacts}
    if not names:
        return []
    at_domain = or_(
        Company.domain == domain,
        exists().where(
            CompanyDomain.company_id == Company.id, CompanyDomain.domain == domain
        ),
    )
    found = session.scalars(
        select(Contact)
        .join(Company, Company.id == Contact.company_id)
        .where(
            at_domain,
            Contact.email != email,
            or_(
                *(
                    (func.lower(Contact.first_name) == first)
                    & (func.lower(Contact.last_name) == last)
                    for first, last in names
                )
            ),
        )
        .order_by(Contact.id)
    )
    return list(found)


def subject_report(session: Session, email: str, key: str) -> SubjectReport:
    """Everything held about the person at ``email`` (a verified address)."""
    contacts = records_for(session, email)
    return SubjectReport(
        email=email,
        records=[_record(session, c, False) for c in contacts],
        might_be_you=[
            _record(session, c, True) for c in namesakes(session, email, contacts)
        ],
        requests=requests_for(session, key, email),
    )


def report_as_json(report: SubjectReport) -> dict[str, Any]:
    """The report as plain data for the person's download."""

    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    def record(item: SubjectRecord) -> dict[str, Any]:
        return {
            "record_id": item.contact.id,
            "state": item.contact.state.value,
            "might_be_you": item.might_be_you,
            "confirmed_by_you": item.confirmed_by_person,
            "notice_sent_at": when(item.notice_sent_at),
            "added_at": when(item.contact.created_at),
            "last_confirmed_at": when(item.contact.last_confirmed_at),
            "fields": [
                {
                    "field": f.name,
                    "value": f.value,
                    "source": f.source,
                    "set_at": when(f.date),
                }
                for f in item.fields
            ],
            "recipients": [
                {"recipient": r.who, "when": when(r.when), "how": r.how}
                for r in item.recipients
            ],
        }

    return {
        "email": report.email,
        "records": [record(r) for r in report.records],
        "might_be_you": [record(r) for r in report.might_be_you],
        "requests": [
            {
                "id": r.id,
                "kind": r.kind.value,
                "state": r.state.value,
                "received_at": when(r.received_at),
                "due_at": when(r.due_at),
                "completed_at": when(r.completed_at),
                "outcome": r.outcome,
            }
            for r in report.requests
        ],
        "purposes": "Business-to-business prospecting (legitimate interest).",
    }
