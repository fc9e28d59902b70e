"""The points ledger: idempotent entries, a balance that never goes negative."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import func, select, text

from portal import ledger
from portal.models import EntryKind, EntryState, LedgerEntry


def _sum_vested(session, member_id: int) -> int:
    return session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.delta), 0)).where(
            LedgerEntry.member_id == member_id, LedgerEntry.state == EntryState.VESTED
        )
    )


def test_signup_grant_on_registration(app, db):
    """A member whose address is verified at creation starts with the grant."""
    from portal.auth.services import register_member
    from portal.models.base import utcnow

    member = register_member(
        "g@northwind.example",
        "long password 1",
        "G",
        verified_at=utcnow(),
        signup_grant=20,
    )
    db.session.commit()
    assert ledger.balance(db.session, member.id) == ledger.Balance(vested=20, pending=0)
    entry = db.session.scalar(select(LedgerEntry))
    assert (entry.kind, entry.state, entry.delta) == (
        EntryKind.SIGNUP_GRANT,
        EntryState.VESTED,
        20,
    )


def test_same_key_records_once(db, make_member):
    """Recording the same idempotency key twice changes the balance once."""
    member = make_member()
    first = ledger.record(db.session, member.id, 10, EntryKind.PURCHASE, "k-1")
    again = ledger.record(db.session, member.id, 10, EntryKind.PURCHASE, "k-1")
    db.session.commit()
    assert first.id == again.id
    assert ledger.vested_balance(db.session, member.id) == 10


def test_debit_beyond_balance_is_refused(db, make_member):
    """A spend larger than the vested balance raises and writes nothing."""
    member = make_member()
    ledger.record(db.session, member.id, 5, EntryKind.ALLOWANCE, "a")
    with pytest.raises(ledger.InsufficientPoints) as error:
        ledger.record(db.session, member.id, -10, EntryKind.UNLOCK, "u")
    db.session.commit()
    assert (error.value.available, error.value.needed) == (5, 10)
    assert ledger.vested_balance(db.session, member.id) == 5
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 1


def test_pending_points_are_not_spendable_until_vested(db, make_member):
    """Pending credit shows as pending; once vested it can be spent; void never."""
    member = make_member()
    kept = ledger.record(
        db.session, member.id, 5, EntryKind.CONTRIBUTION, "c1", state=EntryState.PENDING
    )
    dropped = ledger.record(
        db.session, member.id, 5, EntryKind.CONTRIBUTION, "c2", state=EntryState.PENDING
    )
    assert ledger.balance(db.session, member.id) == ledger.Balance(vested=0, pending=10)
    with pytest.raises(ledger.InsufficientPoints):
        ledger.record(db.session, member.id, -5, EntryKind.UNLOCK, "u1")
    assert ledger.vest(db.session, kept) and not ledger.vest(db.session, kept)
    assert ledger.void(db.session, dropped) and not ledger.vest(db.session, dropped)
    db.session.commit()
    assert ledger.balance(db.session, member.id) == ledger.Balance(vested=5, pending=0)


def test_database_refuses_a_negative_balance(db, make_member):
    """Even a raw UPDATE cannot take a balance below zero (CHECK constraint)."""
    from sqlalchemy.exc import IntegrityError

    member = make_member()
    ledger.record(db.session, member.id, 3, EntryKind.ALLOWANCE, "a")
    db.session.commit()
    with pytest.raises(IntegrityError):
        db.session.execute(text("UPDATE point_balances SET vested = -1"))
        db.session.commit()
    db.session.rollback()


class LedgerMachine(RuleBasedStateMachine):
    """Random sequences of movements; the invariants hold after every step."""

    db = None
    factories = None

    def __init__(self):
        super().__init__()
        # A member of its own per example: the database outlives each run.
        self.member_id = self.factories.make_member().id
        # Not id(self): addresses are reused between examples, keys must not be.
        self.prefix = f"machine-{uuid.uuid4().hex}"
        self.counter = 0
        self.pending: list[LedgerEntry] = []
        self.expected = 0

    def key(self) -> str:
        self.counter += 1
        return f"{self.prefix}-{self.counter}"

    @rule(amount=st.integers(min_value=1, max_value=50))
    def credit_vested(self, amount):
        ledger.record(
            self.db.session, self.member_id, amount, EntryKind.ALLOWANCE, self.key()
        )
        self.expected += amount

    @rule(amount=st.integers(min_value=1, max_value=20))
    def credit_pending(self, amount):
        self.pending.append(
            ledger.record(
                self.db.session,
                self.member_id,
                amount,
                EntryKind.CONTRIBUTION,
                self.key(),
                state=EntryState.PENDING,
            )
        )

    @precondition(lambda self: self.pending)
    @rule(data=st.data())
    def settle_pending(self, data):
        entry = self.pending.pop(data.draw(st.integers(0, len(self.pending) - 1)))
        if data.draw(st.booleans()):
            ledger.vest(self.db.session, entry)
            self.expected += entry.delta
        else:
            ledger.void(self.db.session, entry)

    @rule(amount=st.integers(min_value=1, max_value=60))
    def spend(self, amount):
        try:
            ledger.record(
                self.db.session, self.member_id, -amount, EntryKind.UNLOCK, self.key()
            )
        except ledger.InsufficientPoints:
            assert amount > self.expected
        else:
            self.expected -= amount

    @precondition(lambda self: self.recorded_keys())
    @rule()
    def retry_a_recorded_key(self):
        key = self.recorded_keys()[-1]
        ledger.record(self.db.session, self.member_id, 1000, EntryKind.ALLOWANCE, key)

    def recorded_keys(self) -> list[str]:
        return self.db.session.scalars(
            select(LedgerEntry.idempotency_key)
            .where(LedgerEntry.member_id == self.member_id)
            .order_by(LedgerEntry.id)
        ).all()

    @invariant()
    def balance_is_sum_of_vested_entries_and_never_negative(self):
        session = self.db.session
        vested = ledger.vested_balance(session, self.member_id)
        assert vested == _sum_vested(session, self.member_id) == self.expected
        assert vested >= 0


def test_ledger_invariants_hold_for_any_sequence(db, factories):
    """Hypothesis stateful test: balance == sum(vested entries) >= 0 always."""
    LedgerMachine.db = db
    LedgerMachine.factories = factories
    machine = LedgerMachine.TestCase
    machine.settings = settings(
        max_examples=25,
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    machine().runTest()
