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
    ContactState,
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
    ledger.lock_balances(session, (member.id, contact.owner_id))
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


def reveal_by_ids(
    member_id: int, contact_id: int, rules: RevealRules, now: datetime
) -> Reveal:
    """``reveal_contact`` in a write transaction of its own (committed when it
    returns), for a request: on SQLite concurrent reveals queue for the write
    lock instead of failing. Raises as ``reveal_contact`` does."""
    with ledger.write_transaction() as session:
        return reveal_contact(
            session,
            session.get(Member, member_id),
            session.get(Contact, contact_id),
            rules,
            now,
        )


# Selected at once from a page of search results: at most a page or two.
MAX_BULK_REVEAL = 100


@dataclass(frozen=True)
class RevealQuote:
    """What revealing a selection costs, before the member confirms."""

    contact_ids: tuple[int, ...]
    # Revealable and not yet revealed by the member: each costs ``cost``.
    new: int
    # Revealed before: free to see again.
    already: int
    cost: int

    @property
    def total(self) -> int:
        return self.new * self.cost


@dataclass(frozen=True)
class BulkReveal:
    revealed: int
    charged: int
    points: int


def _revealable(session: Session, contact_ids) -> list[Contact]:
    ids = sorted(set(contact_ids))[:MAX_BULK_REVEAL]
    if not ids:
        return []
    return list(
        session.scalars(
            select(Contact)
            .where(
                Contact.id.in_(ids),
                Contact.state.in_(ContactState.revealable_states()),
            )
            .order_by(Contact.id)
        )
    )


def quote_reveal(
    session: Session, member_id: int, contact_ids, rules: RevealRules
) -> RevealQuote:
    """The cost of revealing the revealable ones among ``contact_ids`` (at
    most ``MAX_BULK_REVEAL``): those the member revealed before are free."""
    contacts = _revealable(session, contact_ids)
    ids = tuple(contact.id for contact in contacts)
    already = (
        session.scalar(
            select(func.count()).where(
                Unlock.member_id == member_id, Unlock.contact_id.in_(ids)
            )
        )
        if ids
        else 0
    )
    return RevealQuote(ids, len(ids) - already, already, rules.cost)


def reveal_contacts(
    session: Session,
    member: Member,
    contact_ids,
    rules: RevealRules,
    now: datetime,
) -> BulkReveal:
    """Reveal every revealable contact of ``contact_ids`` to ``member``, each
    charged once ever (``reveal_contact``'s guarantee, however many requests
    race). All or nothing: ``ledger.InsufficientPoints`` or
    ``RevealLimitReached`` part-way raises, and the caller's transaction must
    be rolled back (``ledger.write_transaction`` does)."""
    revealed = charged = points = 0
    contacts = _revealable(session, contact_ids)
    # Every balance this may move, locked first and in one order.
    ledger.lock_balances(
        session, [member.id, *(contact.owner_id for contact in contacts)]
    )
    for contact in contacts:
        reveal = reveal_contact(session, member, contact, rules, now)
        revealed += 1
        if reveal.charged:
            charged += 1
            points += reveal.unlock.cost
    return BulkReveal(revealed, charged, points)


def revealed_details(
    session: Session, member_id: int, contact_ids
) -> dict[int, tuple[str | None, str | None]]:
    """Email and phone of the contacts among ``contact_ids`` that the member
    revealed (paid for), for showing them in a list."""
    ids = list(contact_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Contact.id, Contact.email, Contact.phone)
        .join(Unlock, Unlock.contact_id == Contact.id)
        .where(Unlock.member_id == member_id, Contact.id.in_(ids))
    )
    return {row.id: (row.email, row.phone) for row in rows}
