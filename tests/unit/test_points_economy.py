"""The economy's rules: vesting, challenges and their ledger effects, tiers, rating."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from portal import ledger
from portal.contacts import services
from portal.models import (
    ConfirmationSource,
    ContactState,
    EntryKind,
    EntryState,
    FlagKind,
    LedgerEntry,
    RevisionSource,
    Unlock,
)
from portal.models.base import utcnow
from portal.points import services as points
from portal.points.services import Rules

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
RULES = Rules()
SURNAMES = ["Okafor", "Lindqvist", "Moreau", "Tanaka", "Kowalski", "Haddad", "Silva",
            "Novak", "Brennan", "Achterberg", "Castellano", "Dubois", "Eriksen",
            "Fontaine", "Gallagher", "Horvath", "Ishikawa", "Jovanovic", "Kaur",
            "Laurent", "Mbeki", "Nakamura", "Ostrowski", "Petrov", "Quintero",
            "Rasmussen", "Schultz", "Takahashi", "Underwood", "Valdez"]  # fmt: skip


@pytest.fixture(autouse=True)
def frozen_clock():
    """Every test here runs at START: tiers and ratings count back from "now",
    so a test that reads the real clock drifts out of its own window."""
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def add(db):
    """Contribute contact number ``n`` for ``member`` at the frozen clock's time."""

    def run(member, n=0, rules=RULES, **overrides):
        values = {
            "first_name": "Amara",
            "last_name": SURNAMES[n],
            "title": "Head of Procurement",
            "company": "Brightwater Analytics",
            "company_domain": "brightwater-analytics.com",
            "email": f"amara.{SURNAMES[n].lower()}@brightwater-analytics.com",
        }
        values.update(overrides)
        outcome = services.contribute(
            db.session,
            member.id,
            values,
            source=RevisionSource.FORM,
            attestation=services.ATTESTATION_TEXT,
            rules=rules,
            suppression_key="k",
            now=utcnow(),
            decision=("different", None),
        )
        db.session.commit()
        return outcome

    return run


def pending_entries(db, member):
    return db.session.scalars(
        select(LedgerEntry).where(
            LedgerEntry.member_id == member.id,
            LedgerEntry.kind == EntryKind.CONTRIBUTION,
        )
    ).all()


def test_points_vest_after_fourteen_days(db, make_member, add):
    """Pending points vest only once 14 days have passed, and only once."""
    member = make_member()
    with time_machine.travel(START, tick=False):
        add(member)
    with time_machine.travel(START + timedelta(days=13, hours=23), tick=False):
        assert points.vest_due_points(db.session, RULES, utcnow()) == 0
    with time_machine.travel(START + timedelta(days=14, minutes=1), tick=False):
        assert points.vest_due_points(db.session, RULES, utcnow()) == 1
        assert points.vest_due_points(db.session, RULES, utcnow()) == 0
        db.session.commit()
    assert ledger.balance(db.session, member.id) == ledger.Balance(vested=5, pending=0)


def test_confirmation_by_another_member_vests_at_once(db, make_member, add):
    """Another member's confirmation vests the contributor's pending points."""
    member, other = make_member(), make_member()
    contact = add(member).contact
    services.confirm_contact(
        db.session, contact, other.id, ConfirmationSource.MEMBER, utcnow()
    )
    db.session.commit()
    assert ledger.balance(db.session, member.id) == ledger.Balance(vested=5, pending=0)
    assert contact.last_confirmed_at is not None


def test_contributor_cannot_confirm_own_contact(db, make_member, add):
    """Self-confirmation is refused and vests nothing."""
    member = make_member()
    contact = add(member).contact
    with pytest.raises(services.ContactActionRefused):
        services.confirm_contact(
            db.session, contact, member.id, ConfirmationSource.MEMBER, utcnow()
        )
    assert ledger.balance(db.session, member.id).pending == 5


def test_disputed_contact_does_not_vest(db, make_member, add):
    """An open challenge holds vesting past 14 days."""
    member, reporter = make_member(), make_member()
    with time_machine.travel(START, tick=False):
        contact = add(member).contact
        services.challenge_contact(
            db.session, contact, reporter.id, FlagKind.LEFT_COMPANY, "", utcnow()
        )
        db.session.commit()
    assert contact.state == ContactState.DISPUTED
    with time_machine.travel(START + timedelta(days=20), tick=False):
        assert points.vest_due_points(db.session, RULES, utcnow()) == 0


def test_upheld_challenge_rewards_penalises_and_voids(db, make_member, add):
    """Upheld: reporter +2, contributor's pending voided and -5 (from vested points)."""
    member, reporter = make_member(), make_member()
    ledger.record(
        db.session, member.id, 20, EntryKind.SIGNUP_GRANT, f"grant:{member.id}"
    )
    with time_machine.travel(START, tick=False):
        contact = add(member).contact
        flag = services.challenge_contact(
            db.session,
            contact,
            reporter.id,
            FlagKind.WRONG_INFO,
            "Wrong title",
            utcnow(),
        )
        points.settle_upheld_challenge(
            db.session, flag, RULES, utcnow(), moderator_id=None, resolution="corrected"
        )
        db.session.commit()
    assert ledger.balance(db.session, reporter.id).vested == 2
    assert ledger.balance(db.session, member.id) == ledger.Balance(vested=15, pending=0)
    assert [e.state for e in pending_entries(db, member)] == [EntryState.VOID]
    with time_machine.travel(START + timedelta(days=30), tick=False):
        assert points.vest_due_points(db.session, RULES, utcnow()) == 0


def test_penalty_never_makes_a_balance_negative(db, make_member, add):
    """A contributor with 3 vested points loses 3, not 5."""
    member, reporter = make_member(), make_member()
    ledger.record(db.session, member.id, 3, EntryKind.ADJUSTMENT, "adj")
    contact = add(member).contact
    flag = services.challenge_contact(
        db.session, contact, reporter.id, FlagKind.DUPLICATE, "", utcnow()
    )
    points.settle_upheld_challenge(
        db.session, flag, RULES, utcnow(), moderator_id=None, resolution="merged"
    )
    db.session.commit()
    assert ledger.vested_balance(db.session, member.id) == 0


def test_settling_twice_is_refused(db, make_member, add):
    """A flag's ledger effects happen once."""
    member, reporter = make_member(), make_member()
    flag = services.challenge_contact(
        db.session, add(member).contact, reporter.id, FlagKind.WRONG_INFO, "", utcnow()
    )
    points.settle_upheld_challenge(
        db.session, flag, RULES, utcnow(), moderator_id=None, resolution="x"
    )
    with pytest.raises(ValueError):
        points.settle_upheld_challenge(
            db.session, flag, RULES, utcnow(), moderator_id=None, resolution="x"
        )
    assert ledger.vested_balance(db.session, reporter.id) == 2


def test_dismissed_challenge_moves_no_points_and_vesting_resumes(db, make_member, add):
    """Dismissed: no reward, contact active again, points vest on schedule."""
    member, reporter = make_member(), make_member()
    with time_machine.travel(START, tick=False):
        contact = add(member).contact
        flag = services.challenge_contact(
            db.session, contact, reporter.id, FlagKind.WRONG_INFO, "", utcnow()
        )
        points.settle_dismissed_challenge(
            db.session, flag, utcnow(), moderator_id=None, resolution="fine"
        )
        db.session.commit()
    assert contact.state == ContactState.ACTIVE
    assert ledger.vested_balance(db.session, reporter.id) == 0
    with time_machine.travel(START + timedelta(days=15), tick=False):
        assert points.vest_due_points(db.session, RULES, utcnow()) == 1


def test_graveyard_refunds_recent_reveals_once(db, make_member, add):
    """Reveals in the last 30 days are refunded what they cost; older ones are not."""
    member, reporter, recent, old = (make_member() for _ in range(4))
    contact = add(member).contact
    now = utcnow()
    db.session.add_all(
        [
            Unlock(
                member_id=recent.id,
                contact_id=contact.id,
                cost=10,
                created_at=now - timedelta(days=3),
            ),
            Unlock(
                member_id=old.id,
                contact_id=contact.id,
                cost=10,
                created_at=now - timedelta(days=45),
            ),
        ]
    )
    flag = services.challenge_contact(
        db.session, contact, reporter.id, FlagKind.LEFT_COMPANY, "", now
    )
    points.settle_upheld_challenge(
        db.session,
        flag,
        RULES,
        now,
        moderator_id=None,
        resolution="graveyard",
        refund=True,
    )
    points.refund_recent_unlocks(db.session, contact.id, RULES, now)
    db.session.commit()
    assert ledger.vested_balance(db.session, recent.id) == 10
    assert ledger.vested_balance(db.session, old.id) == 0


def test_challenge_rules(db, make_member, add):
    """Own contacts and second open challenges by the same member are refused."""
    member, reporter = make_member(), make_member()
    contact = add(member).contact
    with pytest.raises(services.ContactActionRefused):
        services.challenge_contact(
            db.session, contact, member.id, FlagKind.WRONG_INFO, "", utcnow()
        )
    services.challenge_contact(
        db.session, contact, reporter.id, FlagKind.WRONG_INFO, "", utcnow()
    )
    with pytest.raises(services.ContactActionRefused):
        services.challenge_contact(
            db.session, contact, reporter.id, FlagKind.DUPLICATE, "", utcnow()
        )


def _contribute_and_vest(db, add, member, numbers, rules):
    with time_machine.travel(START - timedelta(days=20), tick=False):
        for n in numbers:
            add(member, n, rules=rules)
    points.vest_due_points(db.session, rules, utcnow())
    db.session.commit()


def _uphold(db, contact, reporter, rules):
    flag = services.challenge_contact(
        db.session,
        contact,
        reporter.id,
        FlagKind.WRONG_INFO,
        "",
        utcnow(),
        rules=replace(rules, rookie_daily_challenges=100),
    )
    points.settle_upheld_challenge(
        db.session, flag, rules, utcnow(), moderator_id=None, resolution="bad"
    )
    db.session.commit()


def test_tiers_follow_vested_contributions(db, make_member, add):
    """Rookie -> Prospector at 20 vested -> Closer at 25 with a rating >= 80%."""
    member = make_member()
    rules = Rules(rookie_daily_cap=100, prospector_daily_cap=100)
    assert points.member_tier(db.session, member.id, rules, utcnow()).name == "Rookie"
    _contribute_and_vest(db, add, member, range(19), rules)
    assert points.member_tier(db.session, member.id, rules, utcnow()).name == "Rookie"
    _contribute_and_vest(db, add, member, range(19, 20), rules)
    tier = points.member_tier(db.session, member.id, rules, utcnow())
    assert (tier.name, tier.daily_cap) == ("Prospector", 100)
    _contribute_and_vest(db, add, member, range(20, 25), rules)
    tier = points.member_tier(db.session, member.id, rules, utcnow())
    assert (tier.name, tier.daily_cap, tier.next_tier) == ("Closer", 100, None)


def test_rating_counts_upheld_bad_contributions(db, make_member, add):
    """Rating = share of the last 45 days' contributions not upheld as bad."""
    member, reporter = make_member(), make_member()
    contacts = [add(member, n).contact for n in range(4)]
    assert points.contributor_rating(db.session, member.id, RULES, utcnow()) == 1.0
    _uphold(db, contacts[0], reporter, RULES)
    assert points.contributor_rating(db.session, member.id, RULES, utcnow()) == 0.75
    later = utcnow() + timedelta(days=46)
    assert points.contributor_rating(db.session, member.id, RULES, later) is None


def test_closer_needs_the_rating(db, make_member, add):
    """25 vested contributions with a rating under 80% stay Prospector."""
    member, reporter = make_member(), make_member()
    rules = Rules(rookie_daily_cap=100, prospector_daily_cap=100)
    _contribute_and_vest(db, add, member, range(25), rules)
    recent = [add(member, n, rules=rules).contact for n in range(25, 30)]
    for contact in recent[:2]:
        _uphold(db, contact, reporter, rules)
    # 30 contributions in the window, 2 upheld as bad: 93%.
    assert points.member_tier(db.session, member.id, rules, utcnow()).name == "Closer"
    for contact in recent[2:]:
        _uphold(db, contact, reporter, rules)
    # 30 days on only today's 5 are in the window, all upheld as bad: 0%.
    later = utcnow() + timedelta(days=30)
    assert points.member_tier(db.session, member.id, rules, later).name == "Prospector"
