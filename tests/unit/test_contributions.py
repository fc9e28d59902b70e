"""Contributing: checks, duplicates, updates, provenance, caps, suppression."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal import ledger
from portal.contacts import services
from portal.models import (
    Contact,
    ContactState,
    EntryKind,
    EntryState,
    Flag,
    FlagKind,
    LedgerEntry,
    Revision,
    RevisionKind,
    RevisionSource,
)
from portal.points.services import Rules
from portal.suppression import SUPPRESSED_MESSAGE, suppress
from tests.factories import PRIYA

KEY = "test-suppression-key"
NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
RULES = Rules()


def values(**overrides):
    return {**PRIYA, **overrides}


@pytest.fixture
def contribute(db):
    def run(member, now=NOW, decision=None, rules=RULES, **overrides):
        return services.contribute(
            db.session,
            member.id if member else None,
            values(**overrides),
            source=RevisionSource.FORM,
            attestation=services.ATTESTATION_TEXT,
            rules=rules,
            suppression_key=KEY,
            now=now,
            decision=decision,
        )

    return run


def test_new_contact_is_accepted_with_pending_points(db, make_member, contribute):
    """A complete new contact is stored normalised and earns 5 pending points."""
    member = make_member()
    outcome = contribute(member, first_name="  priya ", phone="020 7946 0958")
    db.session.commit()
    assert outcome.status == "accepted"
    contact = outcome.contact
    assert (contact.first_name, contact.phone) == ("Priya", "+442079460958")
    assert (contact.seniority, contact.department) == ("vp", "sales")
    assert contact.owner_id == member.id
    assert contact.state == ContactState.ACTIVE
    assert ledger.balance(db.session, member.id).pending == 5


def test_revision_keeps_fields_and_attestation(db, make_member, contribute):
    """The contributing revision records who, how, which fields and the attestation."""
    member = make_member()
    contact = contribute(member).contact
    revision = db.session.scalars(
        select(Revision).where(Revision.contact_id == contact.id)
    ).one()
    assert revision.member_id == member.id
    assert revision.kind == RevisionKind.CONTRIBUTION
    assert revision.source == RevisionSource.FORM
    assert revision.attestation == services.ATTESTATION_TEXT
    assert revision.fields["email"] == "priya.raman@brightwater-analytics.com"
    assert revision.fields["company"] == "Brightwater Analytics"


def test_every_problem_is_reported_per_field(db, make_member, contribute):
    """All failing fields are reported at once, each beside its own field."""
    with pytest.raises(services.ContributionRefused) as refused:
        contribute(
            make_member(),
            first_name="",
            last_name="Sm1th",
            email="priya@gmail.com",
            phone="+44 7911 123456",
        )
    problems = refused.value.problems
    assert set(problems) >= {"first_name", "last_name", "email", "phone"}
    assert "gmail.com" in problems["email"]
    assert "mobile" in problems["phone"].lower()
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 0


def test_attestation_is_required(db, make_member):
    """Without the attestation nothing is written."""
    with pytest.raises(services.ContributionRefused) as refused:
        services.contribute(
            db.session,
            make_member().id,
            values(),
            source=RevisionSource.FORM,
            attestation=None,
            rules=Rules(),
            suppression_key=KEY,
            now=NOW,
        )
    assert "attestation" in refused.value.problems


def test_domain_mismatch_holds_the_contact(db, make_member, make_company, contribute):
    """An email at another domain than the company's is held and flagged."""
    make_company(name="Brightwater Analytics", domain="brightwater-analytics.com")
    outcome = contribute(make_member(), email="priya.raman@othercorp-mail.com")
    db.session.commit()
    assert outcome.status == "held"
    assert outcome.contact.state == ContactState.HELD
    flag = db.session.scalars(select(Flag)).one()
    assert flag.kind == FlagKind.DOMAIN_MISMATCH
    assert flag.contact_id == outcome.contact.id


def test_email_at_a_company_alias_is_not_held(
    db, make_member, make_company, contribute
):
    """A domain alias counts as the company's domain."""
    from portal.models import CompanyDomain

    company = make_company(
        name="Brightwater Analytics", domain="brightwater-analytics.com"
    )
    db.session.add(CompanyDomain(company_id=company.id, domain="brightwater.co.uk"))
    db.session.commit()
    outcome = contribute(make_member(), email="priya.raman@brightwater.co.uk")
    assert outcome.status == "accepted"
    assert outcome.contact.company_id == company.id


def test_suppressed_person_is_refused(db, make_member, contribute):
    """A suppressed email, or the name at its domain, is refused in the SPEC's words."""
    suppress(
        db.session, KEY, reason="erasure", email="priya.raman@brightwater-analytics.com"
    )
    suppress(
        db.session,
        KEY,
        reason="erasure",
        person=("Ana", "Núñez", "brightwater-analytics.com"),
    )
    db.session.commit()
    member = make_member()
    with pytest.raises(services.ContributionRefused) as refused:
        contribute(member, email="PRIYA.RAMAN@brightwater-analytics.com")
    assert refused.value.problems[services.GENERAL] == SUPPRESSED_MESSAGE
    with pytest.raises(services.ContributionRefused):
        contribute(
            member,
            first_name="ana",
            last_name="Nunez",
            email="a.nunez@brightwater-analytics.com",
        )
    assert (
        contribute(
            member,
            first_name="Ana",
            last_name="Lopez",
            email="ana.lopez@brightwater-analytics.com",
        ).status
        == "accepted"
    )


def test_same_email_updates_the_existing_contact(db, make_member, contribute):
    """The same email from another member becomes an update with its own points."""
    first, second = make_member(), make_member()
    original = contribute(first).contact
    outcome = contribute(
        second, title="Chief Revenue Officer", now=NOW + timedelta(days=1)
    )
    db.session.commit()
    assert outcome.status == "updated"
    assert outcome.contact.id == original.id
    assert outcome.contact.title == "Chief Revenue Officer"
    assert outcome.points == 5
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 1
    entry = db.session.scalars(
        select(LedgerEntry).where(
            LedgerEntry.member_id == second.id, LedgerEntry.kind == EntryKind.UPDATE
        )
    ).one()
    assert entry.state == EntryState.PENDING


def test_same_email_same_details_is_already_known(db, make_member, contribute):
    """Identical details change nothing and earn nothing."""
    member = make_member()
    contribute(member)
    outcome = contribute(make_member())
    assert outcome.status == "unchanged"
    assert outcome.points == 0
    assert db.session.scalar(select(func.count()).select_from(Revision)) == 1


def test_only_one_paid_update_per_contact_per_30_days(db, make_member, contribute):
    """A second meaningful update within 30 days is applied but earns nothing."""
    contribute(make_member())
    first = contribute(make_member(), title="CRO", now=NOW + timedelta(days=1))
    second = contribute(make_member(), title="CEO", now=NOW + timedelta(days=2))
    third = contribute(make_member(), title="COO", now=NOW + timedelta(days=40))
    assert (first.points, second.points, third.points) == (5, 0, 5)


def test_city_only_update_is_not_paid(db, make_member, contribute):
    """Changing only the city is applied but is not a meaningful update."""
    contribute(make_member())
    outcome = contribute(make_member(), city="Manchester", now=NOW + timedelta(days=1))
    assert outcome.status == "updated"
    assert outcome.points == 0


def test_typo_duplicate_asks_then_updates(db, make_member, contribute):
    """A typo'd name at the same company asks; "same person" updates that contact."""
    original = contribute(make_member()).contact
    db.session.commit()
    member = make_member()
    asked = contribute(
        member,
        first_name="Pirya",
        email="p.raman@brightwater-analytics.com",
        title="CRO",
    )
    assert asked.status == "needs_decision"
    assert asked.candidates[0].contact_id == original.id
    assert asked.candidates[0].masked_email == "p•••@brightwater-analytics.com"
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 1
    updated = contribute(
        member,
        first_name="Pirya",
        email="p.raman@brightwater-analytics.com",
        title="CRO",
        decision=("update", original.id),
    )
    assert updated.status == "updated"
    assert updated.contact.id == original.id
    assert updated.contact.title == "CRO"


def test_different_person_is_accepted_and_flagged(db, make_member, contribute):
    """ "Different person" adds the contact and opens a possible-duplicate flag."""
    original = contribute(make_member()).contact
    outcome = contribute(
        make_member(),
        first_name="Pirya",
        email="pirya.raman@brightwater-analytics.com",
        decision=("different", None),
    )
    db.session.commit()
    assert outcome.status == "accepted"
    assert outcome.duplicate_flagged
    flag = db.session.scalars(select(Flag)).one()
    assert flag.kind == FlagKind.POSSIBLE_DUPLICATE
    assert flag.related_contact_id == original.id


def test_update_decision_must_name_a_candidate(
    db, make_member, make_contact, contribute
):
    """A forged "update" decision pointing at an unrelated contact is refused."""
    contribute(make_member())
    unrelated = make_contact(first_name="Oskar", last_name="Lindqvist")
    with pytest.raises(services.ContributionRefused):
        contribute(
            make_member(),
            first_name="Pirya",
            email="p.raman@brightwater-analytics.com",
            decision=("update", unrelated.id),
        )


def test_daily_cap_for_rookies(db, make_member, contribute):
    """A Rookie's sixth contribution of the day is refused; the next day it is fine."""
    member = make_member()
    for n in range(5):
        contribute(
            member,
            first_name=["Amara", "Bjorn", "Chloe", "Dmitri", "Elif"][n],
            last_name=["Okafor", "Lindqvist", "Moreau", "Tanaka", "Kowalski"][n],
            email=f"p{n}@brightwater-analytics.com",
        )
    with pytest.raises(services.ContributionRefused) as refused:
        contribute(
            member,
            first_name="Zanele",
            last_name="Mokoena",
            email="z.mokoena@brightwater-analytics.com",
        )
    assert "today's limit of 5" in refused.value.problems[services.GENERAL]
    tomorrow = contribute(
        member,
        first_name="Zanele",
        last_name="Mokoena",
        email="z.mokoena@brightwater-analytics.com",
        now=NOW + timedelta(days=1),
    )
    assert tomorrow.status == "accepted"


def test_field_provenance_names_the_revision_that_set_each_value(
    db, make_member, contribute
):
    """After an update the title comes from the update, the name from the original."""
    first, second = make_member(), make_member()
    contact = contribute(first).contact
    contribute(second, title="CRO", now=NOW + timedelta(days=1))
    provenance = services.field_provenance(db.session, contact.id)
    assert provenance["title"].member_id == second.id
    assert provenance["first_name"].member_id == first.id
    assert provenance["title"].kind == RevisionKind.UPDATE


def test_new_company_is_created_from_the_domain(db, make_member, contribute):
    """An unknown company is created with the typed name and the given domain."""
    contact = contribute(make_member()).contact
    assert contact.company.name == "Brightwater Analytics"
    assert contact.company.domain == "brightwater-analytics.com"
