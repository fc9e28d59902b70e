"""Purchased points expire after 365 days; earned points never do; spending
draws down the purchases that expire soonest first."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from portal import ledger
from portal.billing import expiry
from portal.billing.rules import BillingRules
from portal.models import EntryKind, LedgerEntry, PurchaseLot
from tests.billing_helpers import RULES

START = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)
_keys = itertools.count()


def _buy(db, member_id, points, rules=RULES):
    with ledger.write_transaction() as session:
        lot = expiry.credit_purchase(
            session,
            member_id,
            points,
            f"buy:{next(_keys)}",
            now=datetime.now(UTC),
            rules=rules,
        )
    return lot


def _move(db, member_id, delta, kind):
    with ledger.write_transaction() as session:
        ledger.record(session, member_id, delta, kind, f"move:{next(_keys)}")


def _expire():
    return expiry.expire_purchased_points(datetime.now(UTC))


def _expired(db, member_id) -> int:
    db.session.expire_all()
    return -db.session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.delta), 0)).where(
            LedgerEntry.member_id == member_id, LedgerEntry.kind == EntryKind.EXPIRY
        )
    )


def _balance(db, member_id) -> int:
    db.session.expire_all()
    return ledger.vested_balance(db.session, member_id)


def test_unspent_purchases_expire_after_365_days_once(app, db, make_member):
    """Not a day early; on the day the rest goes; a rerun changes nothing."""
    member = make_member()
    with time_machine.travel(START, tick=False) as clock:
        _buy(db, member.id, 100)
        clock.shift(364 * DAY)
        assert _expire().points == 0
        clock.shift(DAY)
        result = _expire()
        assert (result.members, result.lots, result.points) == (1, 1, 100)
        assert _expire().points == 0
    assert (_balance(db, member.id), _expired(db, member.id)) == (0, 100)


def test_earned_points_never_expire(app, db, make_member):
    """Ten years on, earned points are all still there; no expiry written."""
    member = make_member()
    with time_machine.travel(START, tick=False) as clock:
        _move(db, member.id, 50, EntryKind.CONTRIBUTION)
        _move(db, member.id, 20, EntryKind.ALLOWANCE)
        clock.shift(3650 * DAY)
        assert _expire().points == 0
    assert _balance(db, member.id) == 70


def test_spending_draws_on_purchased_points_first(app, db, make_member):
    """50 earned + 100 bought, 30 spent: 70 expire and the 50 earned stay."""
    member = make_member()
    with time_machine.travel(START, tick=False) as clock:
        _move(db, member.id, 50, EntryKind.CONTRIBUTION)
        _buy(db, member.id, 100)
        _move(db, member.id, -30, EntryKind.UNLOCK)
        clock.shift(365 * DAY)
        _expire()
    assert (_balance(db, member.id), _expired(db, member.id)) == (50, 70)


def test_the_soonest_expiring_purchase_is_spent_first(app, db, make_member):
    """Two purchases 100 days apart, 150 spent: the first is used up (nothing
    to expire on its date), 50 of the second expire on its own date."""
    member = make_member()
    with time_machine.travel(START, tick=False) as clock:
        first = _buy(db, member.id, 100)
        clock.shift(100 * DAY)
        second = _buy(db, member.id, 100)
        clock.shift(100 * DAY)
        _move(db, member.id, -150, EntryKind.UNLOCK)
        clock.shift(165 * DAY)
        assert _expire().points == 0
        clock.shift(100 * DAY)
        assert _expire().points == 50
    db.session.expire_all()
    lots = {
        lot.id: lot.expired_points for lot in db.session.scalars(select(PurchaseLot))
    }
    assert lots == {first.id: 0, second.id: 50}


def test_a_late_run_counts_spending_made_after_the_date(app, db, make_member):
    """The job runs a week late; what the member spent meanwhile came out of
    the lapsing purchase, so only the rest expires."""
    member = make_member()
    with time_machine.travel(START, tick=False) as clock:
        _move(db, member.id, 40, EntryKind.CONTRIBUTION)
        _buy(db, member.id, 100)
        clock.shift(366 * DAY)
        _move(db, member.id, -60, EntryKind.UNLOCK)
        clock.shift(6 * DAY)
        assert _expire().points == 40
    assert _balance(db, member.id) == 40


def test_a_lot_keeps_the_expiry_it_was_sold_with(app, db, make_member):
    """Shortening the configured lifetime does not move earlier purchases."""
    member = make_member()
    with time_machine.travel(START, tick=False) as clock:
        _buy(db, member.id, 100)
        _buy(db, member.id, 10, BillingRules(purchased_points_expiry_days=30))
        clock.shift(31 * DAY)
        assert _expire().points == 10
    assert _balance(db, member.id) == 100


@dataclass
class _Lot:
    expires_at: datetime
    points: int
    remaining: int
    settled: bool = False


def test_expiry_accounting_holds_for_any_history(app, db, make_member):
    """Property (stateful): over random purchases, earnings, spends, clock
    moves and expiry runs, the balance matches a simple model that spends the
    soonest-expiring purchases first; expiry never takes earned points, never
    takes a balance below zero, and total expired = purchased - spent from
    purchases (for the purchases that have expired)."""

    class ExpiryMachine(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.member_id = make_member().id
            self.clock = time_machine.travel(START, tick=False)
            self.traveller = self.clock.start()
            self.lots: list[_Lot] = []
            self.lasting = 0  # earned minus what was spent from earned
            self.expired = 0

        def teardown(self):
            self.clock.stop()

        @property
        def balance(self) -> int:
            return self.lasting + sum(lot.remaining for lot in self.lots)

        @rule(points=st.integers(1, 300))
        def purchase(self, points):
            lot = _buy(db, self.member_id, points)
            self.lots.append(_Lot(lot.expires_at, points, points))

        @rule(
            points=st.integers(1, 300),
            kind=st.sampled_from(
                [EntryKind.CONTRIBUTION, EntryKind.ROYALTY, EntryKind.ALLOWANCE]
            ),
        )
        def earn(self, points, kind):
            _move(db, self.member_id, points, kind)
            self.lasting += points

        @rule(points=st.integers(1, 400))
        def spend(self, points):
            if points > self.balance:
                with pytest.raises(ledger.InsufficientPoints):
                    _move(db, self.member_id, -points, EntryKind.UNLOCK)
                return
            _move(db, self.member_id, -points, EntryKind.UNLOCK)
            # Soonest expiry first, lots past their date but unsettled included.
            for lot in sorted(self.lots, key=lambda lot: lot.expires_at):
                take = min(points, lot.remaining)
                lot.remaining -= take
                points -= take
            self.lasting -= points

        # Steps either side of the 365-day edge, and short ones that keep
        # several purchases alive together.
        @rule(days=st.sampled_from([1, 30, 90, 180, 364, 365, 400]))
        def time_passes(self, days):
            self.traveller.shift(days * DAY)

        @rule()
        def expiry_job(self):
            now = datetime.now(UTC)
            _expire()
            for lot in self.lots:
                if lot.expires_at <= now and not lot.settled:
                    self.expired += lot.remaining
                    lot.remaining = 0
                    lot.settled = True
            assert _expire().points == 0  # a second run finds nothing to do

        @invariant()
        def balance_matches_the_model(self):
            assert _balance(db, self.member_id) == self.balance >= 0

        @invariant()
        def expired_is_purchased_minus_spent_from_purchases(self):
            settled = [lot for lot in self.lots if lot.settled]
            spent_from_settled = sum(lot.points for lot in settled) - self.expired
            assert _expired(db, self.member_id) == self.expired
            assert (
                self.expired == sum(lot.points for lot in settled) - spent_from_settled
            )
            assert 0 <= spent_from_settled <= sum(lot.points for lot in settled)

        @invariant()
        def earned_points_are_never_taken(self):
            assert self.lasting >= 0
            assert _balance(db, self.member_id) >= self.lasting

    run_state_machine_as_test(
        ExpiryMachine,
        settings=settings(
            max_examples=60,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[
                HealthCheck.function_scoped_fixture,
                HealthCheck.too_slow,
            ],
        ),
    )
