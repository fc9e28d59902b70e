"""Purchased points expire; earned points never do.

Every purchase credit is a lot with the date it expires (``PurchaseLot``,
``PURCHASED_POINTS_EXPIRY_DAYS`` after the purchase). What is left of a lot is
worked out from the ledger, never stored, by replaying the member's vested
entries in the order they reached the balance:

- a purchase credit opens its lot; every other credit (earned points,
  allowances, refunds, adjustments) goes to points that never expire;
- every debit (a reveal, a penalty, a negative adjustment) is drawn first from
  the lots that expire soonest, then from the points that never expire. That
  protects the member: what they spend is what they would otherwise lose
  first. A lot already past its date but not yet settled by the job still
  counts: the member could spend those points, so they did;
- an ``expiry`` entry takes what remains of its own lot.

The scheduled job writes, once per lot, an ``expiry`` entry for what remains
of each lot past its date. So the points expired are exactly the points
purchased minus the points spent from purchases; an expiry never takes earned
points and never takes a balance below zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import ledger
from portal.billing.rules import BillingRules
from portal.models import (
    EntryKind,
    EntryState,
    LedgerEntry,
    PointBalance,
    PurchaseLot,
)

LOTS = PurchaseLot.__tablename__


def credit_purchase(
    session: Session,
    member_id: int,
    points: int,
    key: str,
    *,
    now: datetime,
    rules: BillingRules,
    reference: Any = None,
    note: str | None = None,
) -> PurchaseLot:
    """Credit ``points`` bought by the member as a lot that expires; once per
    ``key`` (a repeat returns the lot written the first time). Flushes."""
    entry = ledger.record(
        session,
        member_id,
        points,
        EntryKind.PURCHASE,
        key,
        reference=reference,
        note=note,
    )
    lot = session.scalar(select(PurchaseLot).where(PurchaseLot.entry_id == entry.id))
    if lot is None:
        lot = PurchaseLot(
            member_id=member_id,
            entry_id=entry.id,
            points=points,
            purchased_at=now,
            expires_at=now + timedelta(days=rules.purchased_points_expiry_days),
        )
        session.add(lot)
        session.flush()
    return lot


@dataclass
class Holdings:
    """A member's vested points split by where they came from."""

    lots: dict[int, int] = field(default_factory=dict)  # lot id -> points left
    lasting: int = 0  # points that never expire

    @property
    def total(self) -> int:
        return sum(self.lots.values()) + self.lasting


def holdings(session: Session, member_id: int) -> Holdings:
    """Replay the member's vested entries (see the module docstring)."""
    lots = {
        lot.entry_id: lot
        for lot in session.scalars(
            select(PurchaseLot).where(PurchaseLot.member_id == member_id)
        )
    }
    entries = session.execute(
        select(
            LedgerEntry.id,
            LedgerEntry.delta,
            LedgerEntry.kind,
            LedgerEntry.reference_type,
            LedgerEntry.reference_id,
        )
        .where(
            LedgerEntry.member_id == member_id,
            LedgerEntry.state == EntryState.VESTED,
        )
        .order_by(LedgerEntry.vested_at, LedgerEntry.id)
    ).all()
    held = Holdings()
    order = {lot.id: (lot.expires_at, lot.id) for lot in lots.values()}
    for entry_id, delta, kind, reference_type, reference_id in entries:
        if delta >= 0:
            lot = lots.get(entry_id)
            if lot is not None:
                held.lots[lot.id] = delta
            else:
                held.lasting += delta
            continue
        if kind == EntryKind.EXPIRY and reference_type == LOTS:
            held.lots[reference_id] = held.lots.get(reference_id, 0) + delta
            continue
        needed = -delta
        for lot_id in sorted(held.lots, key=order.__getitem__):
            take = min(needed, held.lots[lot_id])
            held.lots[lot_id] -= take
            needed -= take
            if not needed:
                break
        held.lasting -= needed
    return held


@dataclass(frozen=True)
class ExpiryResult:
    lots: int
    points: int
    members: int


def expire_member_lots(
    session: Session, member_id: int, now: datetime
) -> tuple[int, int]:
    """Write the expiry entries of the member's lots past their date; returns
    (lots settled, points expired). Takes the member's balance row lock first
    (PostgreSQL; on SQLite run it in ``ledger.write_transaction``) so no spend
    lands between the replay and the debit. Flushes."""
    session.execute(
        select(PointBalance.member_id)
        .where(PointBalance.member_id == member_id)
        .with_for_update()
    )
    due = session.scalars(
        select(PurchaseLot)
        .where(
            PurchaseLot.member_id == member_id,
            PurchaseLot.expired_at.is_(None),
            PurchaseLot.expires_at <= now,
        )
        .order_by(PurchaseLot.expires_at, PurchaseLot.id)
    ).all()
    if not due:
        return 0, 0
    held = holdings(session, member_id)
    expired = 0
    for lot in due:
        left = max(0, held.lots.get(lot.id, 0))
        # Belt and braces: never below zero, whatever the replay says.
        left = min(left, ledger.vested_balance(session, member_id))
        if left:
            ledger.record(
                session,
                member_id,
                -left,
                EntryKind.EXPIRY,
                f"expiry:lot:{lot.id}",
                reference=lot,
                note=f"Purchased points from {lot.purchased_at:%d %b %Y} unspent "
                "after their expiry date",
            )
        lot.expired_at = now
        lot.expired_points = left
        expired += left
        session.flush()
    return len(due), expired


def members_with_due_lots(session: Session, now: datetime) -> list[int]:
    return list(
        session.scalars(
            select(PurchaseLot.member_id)
            .where(PurchaseLot.expired_at.is_(None), PurchaseLot.expires_at <= now)
            .distinct()
            .order_by(PurchaseLot.member_id)
        )
    )


def expire_purchased_points(
    now: datetime, *, progress: Callable[[int, str], None] | None = None
) -> ExpiryResult:
    """Settle every lot past its date, one member per transaction of its own.

    Idempotent: a settled lot is never looked at again, and each expiry entry
    carries the key ``expiry:lot:<id>``; a late run settles everything due.
    """
    with ledger.write_transaction() as session:
        member_ids = members_with_due_lots(session, now)
    lots = points = 0
    for done, member_id in enumerate(member_ids, start=1):
        with ledger.write_transaction() as session:
            settled, expired = expire_member_lots(session, member_id, now)
        lots += settled
        points += expired
        if progress is not None:
            progress(done * 100 // len(member_ids), f"{done} of {len(member_ids)}")
    return ExpiryResult(lots=lots, points=points, members=len(member_ids))


def expiring_points(session: Session, member_id: int) -> list[tuple[datetime, int]]:
    """(expiry date, points left) of the member's unsettled lots, soonest first:
    what the points page warns about."""
    held = holdings(session, member_id)
    lots = session.scalars(
        select(PurchaseLot)
        .where(PurchaseLot.member_id == member_id, PurchaseLot.expired_at.is_(None))
        .order_by(PurchaseLot.expires_at, PurchaseLot.id)
    ).all()
    return [
        (lot.expires_at, held.lots[lot.id]) for lot in lots if held.lots.get(lot.id)
    ]
