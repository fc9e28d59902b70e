"""Revealing contacts: charged once, royalties, disclosures, limits, refusals."""

from __future__ import annotations

import multiprocessing
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal import ledger
from portal.contacts.reveal import (
    RevealLimitReached,
    RevealRefused,
    RevealRules,
    reveal_contact,
)
from portal.models import (
    ContactState,
    Disclosure,
    DisclosureChannel,
    EntryKind,
    LedgerEntry,
    Member,
    Unlock,
)
from portal.models.base import utcnow

RULES = RevealRules(cost=10, royalty=1, daily_limit=3)


def fund(db, member, points):
    ledger.record(
        db.session, member.id, points, EntryKind.PURCHASE, f"fund:{member.id}"
    )
    db.session.commit()


def test_reveal_charges_once_and_pays_royalty_once(db, make_member, make_contact):
    """First reveal: -10 for the member, +1 for the owner, a disclosure; again: free."""
    owner, buyer = make_member(), make_member()
    contact = make_contact(owner_id=owner.id)
    fund(db, buyer, 25)
    first = reveal_contact(db.session, buyer, contact, RULES, utcnow())
    second = reveal_contact(db.session, buyer, contact, RULES, utcnow())
    db.session.commit()
    assert (first.charged, second.charged) == (True, False)
    assert ledger.vested_balance(db.session, buyer.id) == 15
    assert ledger.vested_balance(db.session, owner.id) == 1
    disclosure = db.session.scalars(select(Disclosure)).one()
    assert (disclosure.member_id, disclosure.contact_id, disclosure.channel) == (
        buyer.id,
        contact.id,
        DisclosureChannel.UNLOCK,
    )


def test_two_members_each_pay(db, make_member, make_contact):
    """Each member pays for their own reveal; the owner earns a royalty each time."""
    owner, one, two = make_member(), make_member(), make_member()
    contact = make_contact(owner_id=owner.id)
    fund(db, one, 10)
    fund(db, two, 10)
    reveal_contact(db.session, one, contact, RULES, utcnow())
    reveal_contact(db.session, two, contact, RULES, utcnow())
    db.session.commit()
    assert ledger.vested_balance(db.session, one.id) == 0
    assert ledger.vested_balance(db.session, two.id) == 0
    assert ledger.vested_balance(db.session, owner.id) == 2


def test_not_enough_points_writes_nothing(db, make_member, make_contact):
    """A short balance is refused and leaves no unlock, disclosure or royalty."""
    owner, buyer = make_member(), make_member()
    contact = make_contact(owner_id=owner.id)
    fund(db, buyer, 9)
    with pytest.raises(ledger.InsufficientPoints):
        reveal_contact(db.session, buyer, contact, RULES, utcnow())
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Unlock)) == 0
    assert db.session.scalar(select(func.count()).select_from(Disclosure)) == 0
    assert ledger.vested_balance(db.session, buyer.id) == 9
    assert ledger.vested_balance(db.session, owner.id) == 0


@pytest.mark.parametrize("state", [ContactState.GRAVEYARD, ContactState.HELD])
def test_graveyard_and_held_cannot_be_revealed(db, make_member, make_contact, state):
    """Only active and disputed contacts can be revealed."""
    buyer = make_member()
    fund(db, buyer, 50)
    contact = make_contact(state=state)
    with pytest.raises(RevealRefused):
        reveal_contact(db.session, buyer, contact, RULES, utcnow())
    assert ledger.vested_balance(db.session, buyer.id) == 50


def test_daily_limit(db, make_member, make_contact):
    """The fourth new reveal of the day is refused; tomorrow it works."""
    buyer = make_member()
    fund(db, buyer, 100)
    now = utcnow()
    for _ in range(3):
        reveal_contact(db.session, buyer, make_contact(), RULES, now)
    extra = make_contact()
    with pytest.raises(RevealLimitReached):
        reveal_contact(db.session, buyer, extra, RULES, now)
    assert reveal_contact(db.session, buyer, extra, RULES, now + timedelta(days=1))


def test_owner_revealing_own_contact_pays_no_royalty_to_self(
    db, make_member, make_contact
):
    """No royalty when the owner is the one revealing."""
    owner = make_member()
    fund(db, owner, 10)
    reveal_contact(db.session, owner, make_contact(owner_id=owner.id), RULES, utcnow())
    db.session.commit()
    kinds = db.session.scalars(
        select(LedgerEntry.kind).where(LedgerEntry.member_id == owner.id)
    ).all()
    assert EntryKind.ROYALTY not in kinds


_app = None


def _start_process(config: dict) -> None:
    global _app
    from portal import create_app
    from tests.clock import start_shifted_clock

    start_shifted_clock()  # the same date as the test that spawned it
    _app = create_app(config)


def _reveal(args: tuple[int, int, float]) -> str:
    member_id, contact_id, start_at = args
    from portal.models import Contact

    time.sleep(max(0.0, start_at - time.monotonic()))
    with _app.app_context():
        with ledger.write_transaction() as session:
            result = reveal_contact(
                session,
                session.get(Member, member_id),
                session.get(Contact, contact_id),
                RULES,
                utcnow(),
            )
        return "charged" if result.charged else "free"


def test_twenty_parallel_reveals_charge_once(app_config, db, make_member, make_contact):
    """20 processes revealing the same contact for one member: one charge."""
    owner, buyer = make_member(), make_member()
    contact = make_contact(owner_id=owner.id)
    fund(db, buyer, 100)
    context = multiprocessing.get_context("spawn")
    with context.Pool(10, initializer=_start_process, initargs=(app_config,)) as pool:
        pool.map(time.sleep, [0.1] * 10)
        start_at = time.monotonic() + 1.0
        results = pool.map(_reveal, [(buyer.id, contact.id, start_at)] * 20)
    assert results.count("charged") == 1
    assert results.count("free") == 19
    db.session.expire_all()
    assert ledger.vested_balance(db.session, buyer.id) == 90
    assert ledger.vested_balance(db.session, owner.id) == 1
    assert db.session.scalar(select(func.count()).select_from(Disclosure)) == 1
