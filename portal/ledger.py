"""The points ledger: every movement is an append-only entry with a unique
idempotency key, and the spendable balance can never go negative.

The vested balance lives in ``point_balances`` beside the entries. A debit is
one conditional ``UPDATE … SET vested = vested - n WHERE vested >= n``: on
PostgreSQL the row lock it takes makes concurrent spenders queue and re-check
the condition; on SQLite run debits inside ``write_transaction()`` so the
write lock is taken at BEGIN (BEGIN IMMEDIATE) and spenders queue instead of
failing on a stale snapshot. A CHECK constraint backs both.

Functions here flush; the caller commits (``write_transaction`` commits).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.dialects import insert_for
from portal.extensions import db
from portal.models import EntryKind, EntryState, LedgerEntry, PointBalance
from portal.models.base import utcnow


class InsufficientPoints(Exception):
    """Raised when a debit is larger than the member's vested balance."""

    def __init__(self, available: int, needed: int):
        super().__init__(f"{needed} points needed, {available} available")
        self.available = available
        self.needed = needed


@dataclass(frozen=True)
class Balance:
    vested: int
    pending: int


@contextmanager
def write_transaction() -> Iterator[Session]:
    """A short session of its own whose transaction holds the write lock from
    its start on SQLite; commits when the block ends, rolls back on error."""
    engine = db.engine
    if engine.dialect.name == "sqlite":
        engine = engine.execution_options(sqlite_begin_immediate=True)
    with Session(bind=engine, expire_on_commit=False) as session, session.begin():
        yield session


def _ensure_balance_row(session: Session, member_id: int) -> None:
    insert = insert_for(session.get_bind())
    session.execute(
        insert(PointBalance)
        .values(member_id=member_id, vested=0)
        .on_conflict_do_nothing(index_elements=["member_id"])
    )


def lock_balances(session: Session, member_ids) -> None:
    """Lock these members' balance rows (made if missing) until the
    transaction ends, in member id order. A transaction that moves several
    members' points (a reveal pays a royalty; a bulk reveal many) takes its
    locks up front in this one order, so two of them never wait for each
    other in a cycle (PostgreSQL would abort one as a deadlock). On SQLite
    the write transaction already holds the database's write lock."""
    ids = sorted({member_id for member_id in member_ids if member_id is not None})
    if not ids:
        return
    for member_id in ids:
        _ensure_balance_row(session, member_id)
    session.execute(
        select(PointBalance.member_id)
        .where(PointBalance.member_id.in_(ids))
        .order_by(PointBalance.member_id)
        .with_for_update()
    ).all()


def _existing(session: Session, key: str) -> LedgerEntry | None:
    return session.scalar(select(LedgerEntry).where(LedgerEntry.idempotency_key == key))


def _reference_fields(reference: Any) -> dict[str, Any]:
    if reference is None:
        return {"reference_type": None, "reference_id": None}
    return {"reference_type": reference.__tablename__, "reference_id": reference.id}


def record(
    session: Session,
    member_id: int,
    delta: int,
    kind: EntryKind,
    key: str,
    *,
    state: EntryState = EntryState.VESTED,
    reference: Any = None,
    note: str | None = None,
) -> LedgerEntry:
    """Add one movement, exactly once per ``key``.

    A vested debit (negative ``delta``) succeeds only if the vested balance
    covers it, else ``InsufficientPoints`` is raised and nothing is written.
    Recording a key that already exists returns the earlier entry unchanged.
    """
    existing = _existing(session, key)
    if existing is not None:
        return existing
    _ensure_balance_row(session, member_id)
    entry = LedgerEntry(
        member_id=member_id,
        delta=delta,
        kind=kind,
        state=state,
        idempotency_key=key,
        note=note,
        vested_at=utcnow() if state == EntryState.VESTED else None,
        **_reference_fields(reference),
    )
    try:
        with session.begin_nested():
            session.add(entry)
            session.flush()
            if state == EntryState.VESTED:
                _apply_to_balance(session, member_id, delta)
    except IntegrityError:
        # The same key was written concurrently: that entry is the answer.
        existing = _existing(session, key)
        if existing is None:
            raise
        return existing
    return entry


def _apply_to_balance(session: Session, member_id: int, delta: int) -> None:
    statement = (
        update(PointBalance)
        .where(PointBalance.member_id == member_id)
        .values(vested=PointBalance.vested + delta)
        .execution_options(synchronize_session=False)
    )
    if delta < 0:
        statement = statement.where(PointBalance.vested >= -delta)
    if session.execute(statement).rowcount != 1:
        raise InsufficientPoints(vested_balance(session, member_id), -delta)


def vest(session: Session, entry: LedgerEntry) -> bool:
    """Move a pending entry to vested, once. Returns False if it was not pending."""
    moved = session.execute(
        update(LedgerEntry)
        .where(LedgerEntry.id == entry.id, LedgerEntry.state == EntryState.PENDING)
        .values(state=EntryState.VESTED, vested_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved:
        _apply_to_balance(session, entry.member_id, entry.delta)
    session.refresh(entry)
    return bool(moved)


def void(session: Session, entry: LedgerEntry) -> bool:
    """Cancel a pending entry, once. Returns False if it was not pending."""
    moved = session.execute(
        update(LedgerEntry)
        .where(LedgerEntry.id == entry.id, LedgerEntry.state == EntryState.PENDING)
        .values(state=EntryState.VOID)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(entry)
    return bool(moved)


def vested_balance(session: Session, member_id: int) -> int:
    return (
        session.scalar(
            select(PointBalance.vested).where(PointBalance.member_id == member_id)
        )
        or 0
    )


def balance(session: Session, member_id: int) -> Balance:
    pending = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.delta), 0)).where(
            LedgerEntry.member_id == member_id, LedgerEntry.state == EntryState.PENDING
        )
    )
    return Balance(vested=vested_balance(session, member_id), pending=int(pending or 0))
