"""The demo-data generator: exact, deterministic, realistic and re-runnable."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType
from sqlalchemy import delete, func, select

from portal import demo
from portal.demo import (
    C_SUITE,
    EMAIL_PATTERNS,
    TITLE_CATALOGUE,
    DemoDataExists,
    generate_demo_data,
)
from portal.models import Company, CompanyDomain, Contact
from portal.textfold import ascii_fold, normalise_company_name
from portal.titles import classify_title

NOW = datetime(2026, 1, 15, tzinfo=UTC)
E164 = re.compile(r"\+[1-9]\d{6,14}")


def company_rows(db) -> list[tuple]:
    return db.session.execute(
        select(
            Company.name,
            Company.normalised_name,
            Company.domain,
            Company.industry,
            Company.size_band,
            Company.city,
            Company.country,
            Company.created_at,
        ).order_by(Company.domain)
    ).all()


def contact_rows(db) -> list[tuple]:
    """Every contact with its company's domain in place of the id."""
    return db.session.execute(
        select(
            Contact.first_name,
            Contact.last_name,
            Contact.title,
            Contact.seniority,
            Contact.department,
            Company.domain,
            Contact.email,
            Contact.phone,
            Contact.city,
            Contact.country,
            Contact.state,
            Contact.owner_id,
            Contact.last_confirmed_at,
            Contact.created_at,
            Contact.updated_at,
        )
        .join(Contact.company)
        .order_by(Contact.email)
    ).all()


def alias_rows(db) -> list[tuple]:
    return db.session.execute(
        select(CompanyDomain.domain, Company.domain)
        .join(CompanyDomain.company)
        .order_by(CompanyDomain.domain)
    ).all()


def empty_directory(db) -> None:
    for model in (Contact, CompanyDomain, Company):
        db.session.execute(delete(model))
    db.session.commit()


def test_counts_are_exact(db):
    """The requested number of contacts and about one company per 50 are stored."""
    summary = generate_demo_data(1234, seed=3, now=NOW)
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 1234
    assert db.session.scalar(select(func.count()).select_from(Company)) == 25
    assert summary.as_dict() == {
        "companies": 25,
        "contacts": 1234,
        "seconds": summary.seconds,
    }


def test_a_single_contact_gets_a_single_company(db):
    """The smallest load is one company with one contact, its chief executive."""
    generate_demo_data(1, seed=3, now=NOW)
    (contact,) = db.session.scalars(select(Contact)).all()
    assert db.session.scalar(select(func.count()).select_from(Company)) == 1
    assert contact.seniority == "c_level"


def test_count_below_one_is_refused(db):
    """Asking for no contacts raises ValueError and writes nothing."""
    with pytest.raises(ValueError, match="at least 1"):
        generate_demo_data(0)
    assert db.session.scalar(select(func.count()).select_from(Company)) == 0


def test_same_seed_writes_identical_rows(db):
    """Two loads of one seed on the same day store exactly the same rows."""
    generate_demo_data(800, seed=11, now=NOW)
    first = (company_rows(db), contact_rows(db), alias_rows(db))
    empty_directory(db)
    generate_demo_data(800, seed=11, now=NOW)
    assert (company_rows(db), contact_rows(db), alias_rows(db)) == first
    assert len(first[1]) == 800


def test_another_seed_writes_other_rows(db):
    """A different seed produces different companies and people."""
    generate_demo_data(800, seed=11, now=NOW)
    first_companies, first_contacts = company_rows(db), contact_rows(db)
    empty_directory(db)
    generate_demo_data(800, seed=12, now=NOW)
    assert {row.name for row in company_rows(db)} != {
        row.name for row in first_companies
    }
    assert {row.email for row in contact_rows(db)}.isdisjoint(
        row.email for row in first_contacts
    )


def test_rerunning_a_loaded_seed_raises(db):
    """Loading a seed that is already there raises DemoDataExists, adding nothing."""
    generate_demo_data(600, seed=5, now=NOW)
    with pytest.raises(DemoDataExists, match="seed 5 is already loaded"):
        generate_demo_data(50, seed=5, now=NOW + timedelta(days=3))
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 600


def test_a_second_seed_loads_beside_the_first(db):
    """Another seed adds its own rows to a loaded database without clashes."""
    generate_demo_data(1500, seed=1, now=NOW)
    generate_demo_data(1500, seed=2, now=NOW)
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 3000
    assert db.session.scalar(select(func.count()).select_from(Company)) == 60


def test_domains_already_in_use_are_not_reused(db, make_company, make_contact):
    """Domains held by companies, aliases or contacts' emails are left alone."""
    generate_demo_data(300, seed=8, now=NOW)
    planned = [row.domain for row in company_rows(db)]
    first_name = db.session.scalar(select(Company.name).order_by(Company.id))
    first_domain = db.session.scalar(select(Company.domain).order_by(Company.id))
    empty_directory(db)
    others = [d for d in planned if d != first_domain]
    holder = make_company(name="Someone Else", domain=first_domain)
    db.session.add(CompanyDomain(company=holder, domain=others[0]))
    make_contact(email=f"someone@{others[1]}")
    db.session.commit()

    generate_demo_data(300, seed=8, now=NOW)

    regenerated = db.session.scalar(
        select(Company.domain).where(Company.name == first_name)
    )
    assert regenerated not in {first_domain, others[0], others[1]}
    demo_domains = db.session.scalars(
        select(Company.domain).where(Company.id != holder.id)
    ).all()
    assert not {first_domain, others[0], others[1]} & set(demo_domains)


def test_emails_follow_the_company_pattern_and_domain(db):
    """Each company's addresses share one pattern, at its domain, in ASCII."""
    generate_demo_data(2000, seed=4, now=NOW)
    by_company = defaultdict(list)
    for contact in db.session.scalars(select(Contact)):
        by_company[contact.company].append(contact)
    for company, contacts in by_company.items():
        assert all(c.email.endswith("@" + company.domain) for c in contacts)
        assert all(re.fullmatch(r"[a-z0-9._-]+@[a-z0-9.-]+", c.email) for c in contacts)
        patterns = [name for name in EMAIL_PATTERNS if follow(name, contacts)]
        assert patterns, f"{company.domain} mixes address patterns"


def follow(pattern: str, contacts: list[Contact]) -> bool:
    """Whether every address is the pattern applied to the name, maybe numbered."""
    make_local = EMAIL_PATTERNS[pattern]
    return all(
        re.fullmatch(
            re.escape(make_local(email_word(c.first_name), email_word(c.last_name)))
            + r"\d*",
            c.email.split("@")[0],
        )
        for c in contacts
    )


def email_word(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", ascii_fold(name))


def test_phones_are_valid_business_lines_of_the_company_country(db):
    """Phones are E.164, valid, never mobile, in the company's country, unshared."""
    generate_demo_data(2000, seed=6, now=NOW)
    contacts = db.session.scalars(select(Contact)).all()
    phones = [c for c in contacts if c.phone is not None]
    assert 0.6 < len(phones) / len(contacts) < 0.8
    companies_by_phone = defaultdict(set)
    for contact in phones:
        assert E164.fullmatch(contact.phone), contact.phone
        number = phonenumbers.parse(contact.phone)
        assert phonenumbers.is_valid_number(number), contact.phone
        assert phonenumbers.number_type(number) != PhoneNumberType.MOBILE
        assert phonenumbers.format_number(
            number, phonenumbers.PhoneNumberFormat.E164
        ) == (contact.phone)
        assert phonenumbers.region_code_for_number(number) == contact.company.country
        companies_by_phone[contact.phone].add(contact.company_id)
    assert all(len(ids) == 1 for ids in companies_by_phone.values())


def test_timestamps_read_back_as_written(db):
    """Bulk-written times read back through the ORM as the same aware UTC values."""
    generate_demo_data(500, seed=9, now=NOW)
    contacts = db.session.scalars(select(Contact)).all()
    for contact in contacts:
        for value in (contact.created_at, contact.updated_at):
            assert value.tzinfo is not None and value.utcoffset() == timedelta(0)
        # Binding the value read back must find the row: stored text or
        # timestamptz matches what the ORM itself would have written.
        assert db.session.scalar(
            select(Contact.id).where(
                Contact.id == contact.id,
                Contact.created_at == contact.created_at,
                Contact.updated_at == contact.updated_at,
            )
        )
        assert contact.company.created_at <= contact.created_at
        if contact.last_confirmed_at is None:
            assert contact.updated_at == contact.created_at
        else:
            assert contact.created_at < contact.last_confirmed_at <= NOW
            assert contact.last_confirmed_at >= NOW - timedelta(days=730)
            assert contact.updated_at == contact.last_confirmed_at


def test_orm_and_bulk_rows_sort_together(db, make_contact):
    """A row written by the ORM sorts among demo rows by its actual time."""
    generate_demo_data(300, seed=9, now=NOW)
    times = sorted(db.session.scalars(select(Contact.created_at)))
    middle = times[len(times) // 2]
    orm_row = make_contact(created_at=middle + timedelta(microseconds=1))
    earlier = db.session.scalar(
        select(func.count()).where(Contact.created_at < orm_row.created_at)
    )
    assert earlier == sum(1 for t in times if t <= middle)


def test_rows_are_consistent(db):
    """Titles carry their classification; states, places and bands are plausible."""
    generate_demo_data(2000, seed=2, now=NOW)
    contacts = db.session.scalars(select(Contact)).all()
    for contact in contacts:
        assert (contact.seniority, contact.department) == classify_title(contact.title)
        assert contact.owner_id is None
        assert contact.state in {"active", "held", "disputed", "graveyard"}
    home = sum(c.city == c.company.city for c in contacts) / len(contacts)
    assert home > 0.8
    active = sum(c.state == "active" for c in contacts) / len(contacts)
    assert 0.93 < active < 0.99
    staff = defaultdict(list)
    for contact in contacts:
        staff[contact.company].append(contact)
    for company, people in staff.items():
        assert company.normalised_name == normalise_company_name(company.name)
        assert len(people) <= dict(demo.SIZE_BANDS)[company.size_band]
        # At most one chief per function: one CEO, one CFO, ...
        chiefs = [c.department for c in people if c.title in C_SUITE_TITLES]
        assert len(chiefs) == len(set(chiefs)) >= 1
    sizes = sorted(len(people) for people in staff.values())
    assert sizes[-1] > 3 * sizes[len(sizes) // 2], "company sizes are not skewed"


C_SUITE_TITLES = {title for _, variants in C_SUITE for title in variants}


def test_progress_follows_committed_batches(db, monkeypatch):
    """Progress is reported after each commit, may use the session, ends at 100."""
    monkeypatch.setattr(demo, "BATCH_SIZE", 400)
    calls = []

    def progress(percent: int, message: str) -> None:
        stored = db.session.scalar(select(func.count()).select_from(Contact))
        db.session.commit()
        calls.append((percent, message, stored))

    generate_demo_data(2000, seed=7, progress=progress, now=NOW)
    assert calls[0] == (0, "Inserted 40 companies", 0)
    assert calls[-1] == (100, "Inserted 2,000 of 2,000 contacts", 2000)
    percents = [percent for percent, _, _ in calls]
    assert percents == sorted(percents) and len(calls) >= 5
    for percent, message, stored in calls[1:]:
        assert message == f"Inserted {stored:,} of 2,000 contacts"
        assert percent == stored * 100 // 2000


def test_title_catalogue_matches_the_classifier():
    """Every demo title is filed under the class classify_title gives it."""
    for (department, seniority), titles in TITLE_CATALOGUE.items():
        for title in titles:
            assert classify_title(title) == (seniority, department), title
    for department, variants in C_SUITE:
        for title in variants:
            assert classify_title(title) == ("c_level", department), title


def test_demo_contacts_carry_a_revision_with_their_source(db, client, auth):
    """Every generated contact has one revision, source "demo data", dated
    with the contact and holding its set fields, so its page shows a source
    per field and a history."""
    from portal.models import Revision, RevisionSource
    from tests.factories import Factories

    generate_demo_data(40, seed=5, now=NOW)
    contacts = db.session.scalars(select(Contact)).all()
    revisions = db.session.scalars(select(Revision)).all()
    assert len(revisions) == len(contacts) == 40
    by_contact = {revision.contact_id: revision for revision in revisions}
    for contact in contacts:
        revision = by_contact[contact.id]
        assert revision.source == RevisionSource.DEMO_DATA
        assert revision.created_at == contact.created_at
        assert revision.fields["email"] == contact.email
        assert revision.fields["company"] == contact.company.name
        assert ("phone" in revision.fields) == (contact.phone is not None)
    Factories(db).make_member(email="looker@northwind.example")
    auth.login("looker@northwind.example")
    html = client.get(f"/contacts/{contacts[0].id}").get_data(as_text=True)
    assert html.count("Demo data") >= 4
    assert "Contribution via demo data" in html
