"""Revealing a contact: spend vested points once, pay the owner's royalty,
and record the disclosure.

A member pays for a contact at most once, however many requests race: the
``unlocks`` row is unique per (member, contact) and the ledger debit's
idempotency key is derived from the same pair. Run ``reveal_contact`` inside
``ledger.write_transaction()`` so that on SQLite concurrent reveals queue for
the write lock instead of failing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import ledger
from portal.disclosures import record_disclosures
from portal.models import (
    Contact,
    DisclosureChannel,
    EntryKind,
    Member,
    Revision,
    Unlock,
)
from portal.points.services import start_of_day


@dataclass(frozen=True)
class RevealRules:
    cost: int = 10
    royalty: int = 1
    daily_limit: int = 100

    @classmethod
    def from_config(cls, config: Any) -> RevealRules:
        return cls(
            cost=int(config["REVEAL_COST"]),
            royalty=int(config["ROYALTY_POINTS"]),
            daily_limit=int(config["REVEAL_DAILY_LIMIT"]),
        )


class RevealRefused(Exception):
    """The contact cannot be revealed; ``message`` says why in plain words."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class RevealLimitReached(RevealRefused):
    pass


@dataclass(frozen=True)
class Reveal:
    unlock: Unlock
    # False when the member had already paid: re-viewing is free.
    charged: bool


DETAIL_FIELDS = ("email", "phone")


def details_visible_to(
    session: Session,
    contact: Contact,
    member_id: int,
    provenance: Mapping[str, Revision],
) -> frozenset[str]:
    """Which of the contact's details (email, phone) the member may see without
    being staff: both once they revealed it (a paid unlock), otherwise each
    field whose current value came from the member's own revision. Owning a
    contact shows nothing by itself: an update that made someone the owner
    (or any update) never shows details it did not supply."""
    if existing_unlock(session, member_id, contact.id) is not None:
        return frozenset(DETAIL_FIELDS)
    return frozenset(
        name
        for name in DETAIL_FIELDS
        if name in provenance and provenance[name].member_id == member_id
    )


def existing_unlock(session: Session, member_id: int, contact_id: int) -> Unlock | None:
    return session.scalar(
        select(Unlock).where(
            Unlock.member_id == member_id, Unlock.contact_id == contact_id
        )
    )


def reveals_today(session: Session, member_id: int, now: datetime) -> int:
    return session.scalar(
        select(func.count()).where(
            Unlock.member_id == member_id, Unlock.created_at >= start_of_day(now)
        )
    )


def reveal_contact(
    session: Session,
    member: Member,
    contact: Contact,
    rules: RevealRules,
    now: datetime,
) -> Reveal:
    """Reveal ``contact`` to ``member``, charging ``rules.cost`` vested points
    the first time only.

    Raises ``RevealRefused`` for a contact that cannot be revealed,
    ``RevealLimitReached`` past the daily limit, and
    ``ledger.InsufficientPoints`` when the vested balance is too small; in
    each case nothing is written.
    """
    earlier = existing_unlock(session, member.id, contact.id)
    if earlier is not None:
        return Reveal(earlier, charged=False)
    if not contact.state.revealable:
        raise RevealRefused(
            "This contact has left the company or is no longer valid, so it "
            "cannot be revealed."
        )
    if reveals_today(session, member.id, now) >= rules.daily_limit:
        raise RevealLimitReached(
            f"You have revealed {rules.daily_limit} contacts today, the daily "
            "limit. It resets at midnight UTC."
        )
    unlock = Unlock(member_id=member.id, contact_id=contact.id, cost=rules.cost)
    try:
        with session.begin_nested():
            unlock.created_at = now
            session.add(unlock)
            session.flush()
            ledger.record(
                session,
                member.id,
                -rules.cost,
                EntryKind.UNLOCK,
                f"unlock:{member.id}:{contact.id}",
                reference=unlock,
            )
    except IntegrityError:
        # A concurrent request by the same member revealed it first.
        earlier = existing_unlock(session, member.id, contact.id)
        if earlier is None:
            raise
        return Reveal(earlier, charged=False)
    if contact.owner_id is not None and contact.owner_id != member.id:
        ledger.record(
            session,
            contact.owner_id,
            rules.royalty,
            EntryKind.ROYALTY,
            f"royalty:{unlock.id}",
            reference=unlock,
        )
    record_disclosures(session, [contact.id], member, DisclosureChannel.UNLOCK, now)
    return Reveal(unlock, charged=True)
