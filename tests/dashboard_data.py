"""Planted data for the admin dashboard tests, with the figures it must give.

"Now" is Wednesday 17 June 2026, 12:00 UTC; the range is 8 to 17 June (two
weeks: 8-14 and 15-17). Each row below says which figure it feeds.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from portal.models import (
    ContactState,
    EntryKind,
    EntryState,
    Flag,
    FlagKind,
    FlagSource,
    FlagState,
    JobRun,
    JobState,
    LedgerEntry,
    MemberSession,
    Revision,
    RevisionKind,
    RevisionSource,
    Unlock,
)
from portal.models.accounts import MemberStatus

NOW = datetime(2026, 6, 17, 12, 0, tzinfo=UTC)
FIRST, LAST = date(2026, 6, 8), date(2026, 6, 17)


def at(day: int, hour: int = 10, month: int = 6) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


# What the planted rows must add up to, for the range 8-17 June.
EXPECTED = {
    "weeks": [(date(2026, 6, 8), 1, 2), (date(2026, 6, 15), 2, 2)],
    "members_total": 5,
    "suspended": 1,
    "active_recently": 3,
    "contacts_by_state": {
        ContactState.ACTIVE: 3,
        ContactState.HELD: 1,
        ContactState.DISPUTED: 0,
        ContactState.GRAVEYARD: 2,
    },
    "contributions": {date(2026, 6, 9): 2, date(2026, 6, 17): 1},
    "reveals": {date(2026, 6, 10): 1, date(2026, 6, 17): 2},
    "issued": {date(2026, 6, 9): 10, date(2026, 6, 15): 20, date(2026, 6, 17): 5},
    "spent": {date(2026, 6, 10): 10, date(2026, 6, 17): 10},
    # Pending at the end of each day, 8 to 17 June.
    "pending": [5, 10, 10, 10, 5, 5, 5, 5, 5, 10],
    "pending_now": 10,
    "backlog": {"open": 2, "claimed": 1, "overdue": 2, "oldest_days": 10},
    "backlog_by_age": [1, 1, 0, 1, 0],
    "jobs": {"queued": 2, "running": 1, "retrying": 0, "failed_in_range": 1},
}


@dataclass
class Planted:
    members: dict
    contacts: list
    entries: dict


def plant(db, make_member, make_contact) -> Planted:
    """Write the rows behind ``EXPECTED`` (every timestamp explicit)."""
    session = db.session
    admin = make_member(
        email="admin@northwind.example", role="admin", created_at=at(1, month=1)
    )
    m1 = make_member(created_at=at(9))
    m2 = make_member(created_at=at(15, 9))
    m3 = make_member(created_at=at(17, 8))  # today: counted live
    m4 = make_member(created_at=at(1), status=MemberStatus.SUSPENDED)  # before range
    members = {"admin": admin, "m1": m1, "m2": m2, "m3": m3, "m4": m4}

    tokens = itertools.count()
    # Week of 8 June: m1 twice and m2 (2 active); week of 15 June: m2, admin.
    for member, when in ((m1, at(9)), (m1, at(10)), (m2, at(12)), (m2, at(16))):
        session.add(
            MemberSession(
                member_id=member.id, token_hash=f"t{next(tokens)}", created_at=when
            )
        )
    session.add(
        MemberSession(member_id=admin.id, token_hash="t-admin", created_at=at(16))
    )

    states = [ContactState.ACTIVE] * 3 + [ContactState.HELD]
    states += [ContactState.GRAVEYARD] * 2
    contacts = [make_contact(state=state) for state in states]

    def revision(kind, when, contact):
        session.add(
            Revision(
                contact_id=contact.id,
                member_id=m1.id,
                kind=kind,
                source=RevisionSource.FORM,
                fields={},
                created_at=when,
            )
        )

    revision(RevisionKind.CONTRIBUTION, at(9), contacts[0])
    revision(RevisionKind.CONTRIBUTION, at(9, 11), contacts[1])
    revision(RevisionKind.UPDATE, at(9, 12), contacts[0])  # not a contribution
    revision(RevisionKind.CONTRIBUTION, at(17, 9), contacts[2])
    revision(RevisionKind.CONTRIBUTION, at(1), contacts[3])  # before range

    for member, contact, when in (
        (m1, contacts[0], at(10)),
        (m2, contacts[1], at(17, 9)),
        (m3, contacts[1], at(17, 10)),
    ):
        session.add(
            Unlock(member_id=member.id, contact_id=contact.id, cost=10, created_at=when)
        )

    keys = itertools.count()

    def entry(member, delta, kind, state, created, vested=None):
        row = LedgerEntry(
            member_id=member.id,
            delta=delta,
            kind=kind,
            state=state,
            idempotency_key=f"plant:{next(keys)}",
            created_at=created,
            vested_at=vested,
        )
        session.add(row)
        return row

    pending, vested, void = EntryState.PENDING, EntryState.VESTED, EntryState.VOID
    contribution, unlock = EntryKind.CONTRIBUTION, EntryKind.UNLOCK
    entries = {
        # Waited from 9 to 12 June, then vested.
        "e1": entry(m1, 5, contribution, vested, at(9), at(12)),
        "e2": entry(m1, 5, contribution, pending, at(9, 11)),
        "e3": entry(m1, 5, contribution, void, at(10)),  # voided: counts nowhere
        "e4": entry(m1, -10, unlock, vested, at(10), at(10)),
        "e5": entry(m2, 20, EntryKind.SIGNUP_GRANT, vested, at(15), at(15)),
        "e6": entry(m3, 5, contribution, pending, at(17, 9)),
        "e7": entry(m2, -10, unlock, vested, at(17, 9), at(17, 9)),
        # Pending since 1 June (before the range), vested on 9 June.
        "e8": entry(admin, 5, contribution, vested, at(1), at(9, 8)),
    }

    def flag(state, created, due):
        session.add(
            Flag(
                kind=FlagKind.WRONG_INFO,
                source=FlagSource.MEMBER,
                state=state,
                contact_id=contacts[0].id,
                due_at=due,
                created_at=created,
            )
        )

    flag(FlagState.OPEN, at(17, 6), at(20))  # 6 hours old
    flag(FlagState.OPEN, at(15, 12), at(16))  # 2 days, overdue
    flag(FlagState.CLAIMED, at(7, 12), at(10))  # 10 days, overdue
    flag(FlagState.UPHELD, at(1), at(5))  # resolved: not in the backlog

    for state, finished in (
        (JobState.QUEUED, None),
        (JobState.QUEUED, None),
        (JobState.RUNNING, None),
        (JobState.FAILED, at(10)),
        (JobState.FAILED, at(1)),  # before range
        (JobState.SUCCEEDED, at(11)),
    ):
        session.add(
            JobRun(kind="vest_points", state=state, finished_at=finished, params={})
        )
    session.commit()
    return Planted(members, contacts, entries)


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
