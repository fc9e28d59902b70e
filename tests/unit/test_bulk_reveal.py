"""Revealing a selection of contacts: the quote before, one charge per
contact ever (also across parallel processes), all or nothing."""

from __future__ import annotations

import multiprocessing
import time

import pytest
from sqlalchemy import func, select

from portal import ledger
from portal.contacts.reveal import (
    RevealRules,
    quote_reveal,
    reveal_contact,
    reveal_contacts,
)
from portal.models import ContactState, EntryKind, LedgerEntry, Member, Unlock
from portal.models.base import utcnow
from tests.unit.test_reveal import fund

RULES = RevealRules(cost=10, royalty=1, daily_limit=50)


def _charges(db, member_id: int) -> int:
    return db.session.scalar(
        select(func.count()).where(
            LedgerEntry.member_id == member_id, LedgerEntry.kind == EntryKind.UNLOCK
        )
    )


def test_quote_counts_new_and_already_revealed(db, make_member, make_contact):
    """The quote charges only contacts not revealed before, and leaves out
    graveyard ones."""
    buyer = make_member()
    fund(db, buyer, 100)
    first, second, third = (make_contact() for _ in range(3))
    gone = make_contact(state=ContactState.GRAVEYARD)
    reveal_contact(db.session, buyer, first, RULES, utcnow())
    db.session.commit()
    quote = quote_reveal(
        db.session, buyer.id, [first.id, second.id, third.id, gone.id], RULES
    )
    assert quote.contact_ids == (first.id, second.id, third.id)
    assert (quote.new, quote.already, quote.total) == (2, 1, 20)


def test_bulk_reveal_charges_each_contact_once(db, make_member, make_contact):
    """Revealing a selection twice charges each contact once."""
    buyer = make_member()
    fund(db, buyer, 100)
    ids = [make_contact().id for _ in range(3)]
    done = reveal_contacts(db.session, buyer, ids, RULES, utcnow())
    db.session.commit()
    assert (done.revealed, done.charged, done.points) == (3, 3, 30)
    again = reveal_contacts(db.session, buyer, [*ids, ids[0]], RULES, utcnow())
    db.session.commit()
    assert (again.revealed, again.charged, again.points) == (3, 0, 0)
    assert ledger.vested_balance(db.session, buyer.id) == 70
    assert _charges(db, buyer.id) == 3


def test_bulk_reveal_is_all_or_nothing(db, make_member, make_contact):
    """A selection that costs more than the balance reveals nothing."""
    buyer = make_member()
    fund(db, buyer, 25)
    ids = [make_contact().id for _ in range(3)]
    with (
        pytest.raises(ledger.InsufficientPoints),
        ledger.write_transaction() as session,
    ):
        reveal_contacts(session, session.get(Member, buyer.id), ids, RULES, utcnow())
    db.session.expire_all()
    assert ledger.vested_balance(db.session, buyer.id) == 25
    assert db.session.scalar(select(func.count()).select_from(Unlock)) == 0


_app = None


def _start_process(config: dict) -> None:
    global _app
    from portal import create_app
    from tests.clock import start_shifted_clock

    start_shifted_clock()
    _app = create_app(config)


def _reveal_selection(args: tuple[int, list[int], float]) -> int:
    member_id, ids, start_at = args
    time.sleep(max(0.0, start_at - time.monotonic()))
    with _app.app_context():
        with ledger.write_transaction() as session:
            done = reveal_contacts(
                session, session.get(Member, member_id), ids, RULES, utcnow()
            )
        return done.points


def test_parallel_overlapping_selections_charge_each_contact_once(
    app_config, db, make_member, make_contact
):
    """Processes revealing overlapping selections at once (one member): each
    of the five contacts is charged exactly once in all."""
    buyer = make_member()
    fund(db, buyer, 200)
    ids = [make_contact().id for _ in range(5)]
    selections = [ids[:3], ids[2:], ids[1:4], ids, ids[::2], ids[::-1]] * 4
    context = multiprocessing.get_context("spawn")
    with context.Pool(6, initializer=_start_process, initargs=(app_config,)) as pool:
        pool.map(time.sleep, [0.1] * 6)
        start_at = time.monotonic() + 1.0
        spent = pool.map(
            _reveal_selection, [(buyer.id, s, start_at) for s in selections]
        )
    assert sum(spent) == 50
    db.session.expire_all()
    assert ledger.vested_balance(db.session, buyer.id) == 150
    assert _charges(db, buyer.id) == 5
    assert db.session.scalar(select(func.count()).select_from(Unlock)) == 5
