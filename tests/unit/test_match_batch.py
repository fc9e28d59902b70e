"""The batch matcher: list rows matched against the pool with every signal."""

from __future__ import annotations

import pytest

from portal.matching import people
from portal.matching.batch import FieldStatus, ListRow, MatchStatus, match_rows
from portal.models import CompanyDomain, ContactState

LONDON_LINE = "+442079460958"
OTHER_LINE = "+442079460959"


@pytest.fixture
def acme(make_company):
    return make_company("Acme Robotics Ltd", domain="acme.com")


@pytest.fixture
def globex(make_company):
    return make_company("Globex GmbH", domain="globex.de")


@pytest.fixture
def robert(make_contact, acme):
    return make_contact(
        acme,
        first_name="Robert",
        last_name="Whitfield",
        email="robert.whitfield@acme.com",
        phone=LONDON_LINE,
        title="Head of Sales",
        city="London",
        country="GB",
    )


def match_one(db, **values):
    return match_rows(db.session, [ListRow(**values)])[0]


def test_email_match_compares_every_field(db, robert):
    """Same email: matched at 100, and each field says same/different/added/
    missing against ours."""
    robert.city = None
    db.session.commit()
    result = match_one(
        db,
        first_name="Rob",
        last_name="Whitfield",
        company="Acme Robotics",
        email="Robert.Whitfield@ACME.com",
        title="Sales Manager",
        city="Leeds",
    )
    assert (result.status, result.confidence, result.contact_id, result.how) == (
        MatchStatus.MATCHED,
        100,
        robert.id,
        "email",
    )
    assert result.fields == {
        "email": FieldStatus.SAME,
        "phone": FieldStatus.ADDED,
        "title": FieldStatus.DIFFERENT,
        "city": FieldStatus.MISSING,
        "country": FieldStatus.ADDED,
    }
    theirs = ListRow(title="Sales Manager", phone="")
    assert ("title", "Sales Manager", "Head of Sales") in result.changes(theirs)


def test_name_and_company_with_typos_and_legal_form(db, robert):
    """A typo'd name at the company written with another legal form matches."""
    result = match_one(
        db, first_name="Robret", last_name="Whitfield", company="ACME Robotics Limited"
    )
    assert result.status is MatchStatus.MATCHED
    assert result.contact_id == robert.id
    assert 80 <= result.confidence < 100


@pytest.mark.parametrize("coarse_pass_up_to", [2_000, 0])
@pytest.mark.parametrize(
    ("first", "last"),
    [
        ("Bob", "Whitfield"),
        ("Whitfield", "Robert"),
        ("R.", "Whitfield"),
        ("Robret", "Whitfeild"),
    ],
)
def test_nicknames_swapped_names_initials_and_typos(
    db, monkeypatch, robert, first, last, coarse_pass_up_to
):
    """Bob = Robert, "Whitfield Robert", "R. Whitfield" and a typo in each name
    all find Robert, in a small company's coarse pass and in a large one's
    last-name index alike."""
    monkeypatch.setattr(people, "COARSE_PASS_CONTACTS", coarse_pass_up_to)
    result = match_one(db, first_name=first, last_name=last, company="acme.com")
    assert result.status is MatchStatus.MATCHED
    assert result.contact_id == robert.id


def test_company_through_domain_alias_and_email(db, robert, acme):
    """The company resolves from a website, an alias domain, a typo'd name or
    the email."""
    db.session.add(CompanyDomain(company_id=acme.id, domain="acme.co.uk"))
    db.session.commit()
    for values in (
        {"company_domain": "https://www.acme.com/about"},
        {"company_domain": "acme.co.uk"},
        {"company": "Acme Robtics"},
        {"email": "r.whitfield@acme.co.uk"},
    ):
        result = match_one(db, first_name="Robert", last_name="Whitfield", **values)
        assert (result.status, result.contact_id) == (MatchStatus.MATCHED, robert.id)


def test_moved_found_by_email_at_another_company(db, robert, globex):
    """Their row says Globex; our contact with that email works at Acme."""
    result = match_one(
        db,
        first_name="Robert",
        last_name="Whitfield",
        company="Globex",
        email="robert.whitfield@acme.com",
    )
    assert (result.status, result.contact_id, result.how) == (
        MatchStatus.MOVED,
        robert.id,
        "email",
    )
    assert result.ours["company"] == "Acme Robotics Ltd"
    assert ("company", "Globex", "Acme Robotics Ltd") in result.changes(
        ListRow(company="Globex")
    )


def test_moved_found_by_phone(db, robert, globex):
    """A direct line held by one contact, with the same name, at another company."""
    result = match_one(
        db, first_name="Robert", last_name="Whitfield", company="Globex",
        phone="020 7946 0958", country="United Kingdom",
    )  # fmt: skip
    assert (result.status, result.contact_id, result.how) == (
        MatchStatus.MOVED,
        robert.id,
        "phone",
    )
    assert result.fields["phone"] is FieldStatus.SAME


def test_moved_through_a_left_company_record(db, make_contact, robert, globex):
    """An email of a graveyard record leads to the person's new record."""
    old = make_contact(
        globex,
        first_name="Robert",
        last_name="Whitfield",
        email="rw@globex.de",
        state=ContactState.GRAVEYARD,
        successor_id=robert.id,
    )
    result = match_one(
        db, first_name="Robert", last_name="Whitfield", company="Globex",
        email=old.email,
    )  # fmt: skip
    assert (result.status, result.contact_id) == (MatchStatus.MOVED, robert.id)
    assert result.fields["email"] is FieldStatus.DIFFERENT


def test_shared_phone_with_another_name_is_ignored(db, robert, globex):
    """A phone held by someone else says nothing: the row is not found."""
    result = match_one(
        db, first_name="Anna", last_name="Kovacs", company="Globex",
        phone=LONDON_LINE,
    )  # fmt: skip
    assert result.status is MatchStatus.NOT_FOUND


def test_email_of_someone_with_another_name_is_possible(db, robert):
    """An email we hold under a different name is only a possible match."""
    result = match_one(
        db, first_name="Anna", last_name="Kovacs", email="robert.whitfield@acme.com"
    )
    assert (result.status, result.contact_id) == (MatchStatus.POSSIBLE, robert.id)
    assert result.fields == {}


def test_namesakes_are_possible(db, make_contact, robert, acme):
    """Two Robert Whitfields at one company and no email: possible, not matched."""
    make_contact(acme, first_name="Robert", last_name="Whitfield")
    result = match_one(
        db, first_name="Robert", last_name="Whitfield", company="Acme Robotics"
    )
    assert result.status is MatchStatus.POSSIBLE
    assert result.reason == "more than one contact by that name"


def test_two_typos_in_a_short_name_are_possible(db, make_contact, acme):
    """Two edits in a short name score under the match score: possible."""
    tom = make_contact(acme, first_name="Tom", last_name="Baker")
    result = match_one(db, first_name="Tim", last_name="Bakre", company="Acme Robotics")
    assert (result.status, result.contact_id) == (MatchStatus.POSSIBLE, tom.id)


def test_not_found_and_unknown_company(db, robert):
    """Nobody by that name, or a company we do not know: not found, with why."""
    nobody = match_one(
        db, first_name="Anna", last_name="Kovacs", company="Acme Robotics"
    )
    assert nobody.status is MatchStatus.NOT_FOUND
    assert nobody.reason == "nobody by that name at Acme Robotics Ltd"
    unknown = match_one(db, first_name="Anna", last_name="Kovacs", company="Initech")
    assert (unknown.status, unknown.reason) == (
        MatchStatus.NOT_FOUND,
        "company not known",
    )


@pytest.mark.parametrize("state", [ContactState.HELD, ContactState.GRAVEYARD])
def test_only_matchable_contacts_count(db, make_contact, acme, state):
    """Held and graveyard contacts are never matched, by name or by email."""
    make_contact(
        acme, first_name="Ines", last_name="Duarte", email="ines@acme.com", state=state
    )
    result = match_one(
        db,
        first_name="Ines",
        last_name="Duarte",
        company="Acme Robotics",
        email="ines@acme.com",
    )
    assert result.status is MatchStatus.NOT_FOUND


def test_disputed_contacts_match(db, make_contact, acme):
    """A disputed contact is still matchable."""
    ines = make_contact(
        acme, first_name="Ines", last_name="Duarte", state=ContactState.DISPUTED
    )
    result = match_one(
        db, first_name="Ines", last_name="Duarte", company="Acme Robotics"
    )
    assert (result.status, result.contact_id) == (MatchStatus.MATCHED, ines.id)


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"company": "Acme Robotics"}, "no name"),
        ({"first_name": "Ines", "company": "Acme Robotics"}, "no last name"),
        ({"first_name": "Ines", "last_name": "Duarte"}, "no company, email or phone"),
        (
            {"first_name": "Ines", "last_name": "Duarte", "problem": "A formula."},
            "A formula.",
        ),
    ],
)
def test_invalid_rows_say_why(db, acme, values, reason):
    """Rows that cannot be matched are invalid, with the reason."""
    result = match_one(db, **values)
    assert result.status is MatchStatus.INVALID
    assert result.reason.startswith(reason)


def test_a_single_name_part_matches_by_email(db, robert):
    """Only a last name, but the email: matched."""
    result = match_one(db, last_name="Whitfield", email="robert.whitfield@acme.com")
    assert (result.status, result.contact_id) == (MatchStatus.MATCHED, robert.id)


def test_many_rows_keep_their_order_across_chunks(db, make_contact, acme, globex):
    """Rows come back in their order whatever the company order of chunks."""
    people = [
        make_contact(company, first_name=first, last_name="Okafor")
        for company, first in ((globex, "Chidi"), (acme, "Ngozi"), (globex, "Emeka"))
    ]
    rows = [
        ListRow(first_name=p.first_name, last_name="Okafor", company=p.company.name)
        for p in people
    ]
    results = match_rows(db.session, rows, chunk_rows=1)
    assert [r.contact_id for r in results] == [p.id for p in people]
