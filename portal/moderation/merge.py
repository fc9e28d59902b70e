"""Merging two records of one person into one.

The survivor takes, field by field, the value the moderator chose, and
everything hanging off the other record: its revisions (its history and
provenance), its disclosures and confirmations, its open items, and its
unlocks, so everyone who paid for either record keeps access. A member who
paid for both paid twice for one person: the second unlock is refunded (once:
the refund's key is the unlock's) and dropped. Then the other record is
deleted. Services only: they flush, the caller commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from portal.contacts.services import PROVENANCE_FIELDS, field_provenance, field_value
from portal.models import (
    Contact,
    ContactConfirmation,
    ContactState,
    Disclosure,
    Flag,
    Revision,
    RevisionKind,
    RevisionSource,
    Unlock,
)
from portal.points import services as points

# The fields a moderator picks a winner for, in reading order.
MERGE_FIELDS = PROVENANCE_FIELDS
SURVIVOR, OTHER = "survivor", "other"


class MergeRefused(Exception):
    """The two records cannot be merged; ``message`` says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class MergeResult:
    deleted_id: int
    fields_from_other: list[str] = field(default_factory=list)
    unlocks_moved: int = 0
    refunded: int = 0


def check_mergeable(survivor: Contact, other: Contact) -> None:
    """Raises ``MergeRefused`` for a record merged with itself or with a
    record in the graveyard (a person who left is not a duplicate)."""
    if survivor.id == other.id:
        raise MergeRefused("A contact cannot be merged with itself.")
    for contact in (survivor, other):
        if contact.state == ContactState.GRAVEYARD:
            raise MergeRefused(
                f"{contact.full_name} (#{contact.id}) is in the graveyard: a "
                "person who left is not a duplicate. Point the graveyard record "
                "to the current one instead."
            )


def merge_contacts(
    session: Session,
    survivor: Contact,
    other: Contact,
    winners: Mapping[str, str],
    *,
    moderator_id: int,
    rules: points.Rules,
    now: datetime,
    note: str,
) -> MergeResult:
    """Merge ``other`` into ``survivor``, taking ``other``'s value for each
    field whose winner is ``"other"``. Raises ``MergeRefused``."""
    check_mergeable(survivor, other)
    unknown = set(winners) - set(MERGE_FIELDS)
    if unknown or set(winners.values()) - {SURVIVOR, OTHER}:
        raise MergeRefused("Choose, for each field, which record's value to keep.")
    result = MergeResult(deleted_id=other.id)
    taken = {
        name: field_value(other, name)
        for name in MERGE_FIELDS
        if winners.get(name) == OTHER
        and field_value(other, name) != field_value(survivor, name)
    }
    raw = {name: getattr(other, name) for name in taken if name != "company"}
    if "title" in taken:
        raw["seniority"], raw["department"] = other.seniority, other.department
    if "company" in taken:
        raw["company_id"] = other.company_id
    other_owner = other.owner_id
    other_confirmed = other.last_confirmed_at
    result.fields_from_other = sorted(taken)
    result.unlocks_moved, result.refunded = _move_unlocks(
        session, survivor, other, rules, now, note
    )
    for model in (Revision, Disclosure, ContactConfirmation, Flag):
        session.execute(
            update(model)
            .where(model.contact_id == other.id)
            .values(contact_id=survivor.id)
            .execution_options(synchronize_session=False)
        )
    for column in (Flag.related_contact_id, Contact.successor_id):
        session.execute(
            update(column.class_)
            .where(column == other.id)
            .values(
                {column.key: survivor.id if column is Contact.successor_id else None}
            )
            .execution_options(synchronize_session=False)
        )
    session.expunge(other)
    # Deleted before the survivor takes its values: the email is unique.
    session.execute(delete(Contact).where(Contact.id == result.deleted_id))
    session.flush()
    for name, value in raw.items():
        setattr(survivor, name, value)
    if survivor.owner_id is None:
        survivor.owner_id = other_owner
    if other_confirmed and (
        survivor.last_confirmed_at is None
        or other_confirmed > survivor.last_confirmed_at
    ):
        survivor.last_confirmed_at = other_confirmed
    session.flush()
    _pin_provenance(session, survivor, moderator_id, now)
    return result


def _move_unlocks(
    session: Session,
    survivor: Contact,
    other: Contact,
    rules: points.Rules,
    now: datetime,
    note: str,
) -> tuple[int, int]:
    """Move ``other``'s unlocks to the survivor; a member holding both keeps
    the survivor's, and the other is refunded (in the refund window) and
    dropped. Returns (moved, refunded)."""
    holders = set(
        session.scalars(
            select(Unlock.member_id).where(Unlock.contact_id == survivor.id)
        )
    )
    moved = refunded = 0
    for unlock in session.scalars(
        select(Unlock).where(Unlock.contact_id == other.id).order_by(Unlock.id)
    ).all():
        if unlock.member_id in holders:
            refunded += points.refund_unlock(
                session,
                unlock,
                rules,
                now,
                note=f"{note}: you had paid for both records",
            )
            session.delete(unlock)
        else:
            unlock.contact_id = survivor.id
            moved += 1
    session.flush()
    return moved, refunded


def _pin_provenance(
    session: Session, survivor: Contact, moderator_id: int, now: datetime
) -> None:
    """Record a merge revision with every field whose provenance (the latest
    revision naming it, now from either record's history) no longer holds
    the value kept, so each field's source stays true."""
    provenance = field_provenance(session, survivor.id)
    fields = {}
    for name in MERGE_FIELDS:
        value = field_value(survivor, name)
        revision = provenance.get(name)
        if value not in (None, "") and (
            revision is None or revision.fields.get(name) != value
        ):
            fields[name] = value
    session.add(
        Revision(
            contact_id=survivor.id,
            member_id=moderator_id,
            kind=RevisionKind.MERGE,
            source=RevisionSource.MERGE,
            fields=fields,
            created_at=now,
        )
    )
    session.flush()
