"""Company suggestions, company resolution and duplicate detection at entry."""

from __future__ import annotations

import pytest

from portal import matching
from portal.masking import mask_email
from portal.models import CompanyDomain, ContactState


@pytest.fixture
def acme(make_company):
    return make_company("Acme Robotics Inc.", domain="acme.com")


@pytest.fixture
def john(make_contact, acme):
    return make_contact(
        acme, first_name="John", last_name="Smith", email="john.smith@acme.com"
    )


def duplicates(db, company, first, last, **kwargs):
    return matching.find_duplicates(
        db.session,
        first_name=first,
        last_name=last,
        company_id=company.id if company else None,
        **kwargs,
    )


def candidate_ids(check):
    return [candidate.contact_id for candidate in check.candidates]


# --- masking -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("john.smith@acme.com", "j•••@acme.com"),
        ("j@acme.com", "j•••@acme.com"),
        ("  Jo@ACME.com ", "J•••@acme.com"),
        ("a@b@acme.com", "a•••@acme.com"),
        ("no-at-sign", "•••"),
        ("@acme.com", "•••"),
        ("john@", "•••"),
        ("", "•••"),
        (None, "•••"),
    ],
)
def test_mask_email(email, masked):
    """Only the first character of the local part and the domain show."""
    assert mask_email(email) == masked


# --- duplicates ----------------------------------------------------------------


def test_same_email_is_found_whatever_the_case(db, acme, john):
    """The contact with the typed email is reported, compared case-insensitively."""
    check = duplicates(db, acme, "Someone", "Else", email=" John.Smith@ACME.com ")
    assert check.same_email == john.id


def test_no_same_email_for_another_address(db, acme, john):
    """An address nobody has is no match."""
    check = duplicates(db, acme, "John", "Smith", email="j.smith@acme.com")
    assert check.same_email is None
    assert candidate_ids(check) == [john.id]


def test_typo_in_last_name_is_a_candidate(db, acme, john):
    """ "John Smiht" at the same company is taken for John Smith, email masked."""
    check = duplicates(db, acme, "John", "Smiht")
    [candidate] = check.candidates
    assert candidate.contact_id == john.id
    assert (candidate.first_name, candidate.last_name) == ("John", "Smith")
    assert candidate.company_name == "Acme Robotics Inc."
    assert candidate.masked_email == "j•••@acme.com"
    assert matching.DUPLICATE_THRESHOLD <= candidate.score < 100


def test_typos_in_both_names_are_a_candidate(db, acme, john):
    """One typo in each name still finds the person."""
    assert candidate_ids(duplicates(db, acme, "Jonh", "Smitth")) == [john.id]


def test_swapped_first_and_last_name_is_a_candidate(db, acme, john):
    """Last name typed as first name and vice versa is the same person."""
    check = duplicates(db, acme, "Smith", "John")
    assert candidate_ids(check) == [john.id]
    assert check.candidates[0].score == 100


def test_accents_and_case_do_not_matter(db, make_contact, acme):
    """ "JUERGEN MUELLER" is Jürgen Müller."""
    jurgen = make_contact(acme, first_name="Jürgen", last_name="Müller")
    assert candidate_ids(duplicates(db, acme, "JUERGEN", "MUELLER")) == [jurgen.id]


def test_typed_initial_matches_the_first_name(db, acme, john):
    """ "J. Smith" may be John Smith."""
    check = duplicates(db, acme, "J.", "Smith")
    assert candidate_ids(check) == [john.id]
    assert check.candidates[0].score < 100


def test_same_email_local_part_is_evidence(db, make_contact, acme):
    """A contact whose address has the typed local part is a candidate even
    under a chosen name ("Sam" for Xiaoming) the names alone would not match."""
    robert = make_contact(
        acme, first_name="Xiaoming", last_name="Jones", email="sam.jones@acme.com"
    )
    assert duplicates(db, acme, "Sam", "Jones").candidates == []
    check = duplicates(db, acme, "Sam", "Jones", email="sam.jones@acme.co.uk")
    assert check.same_email is None
    assert candidate_ids(check) == [robert.id]


def test_nickname_matches_the_first_name(db, make_contact, acme):
    """ "Bob Jones" may be Robert Jones (the nicknames dataset), scoring a
    little below the full name; Richard is not Robert."""
    robert = make_contact(acme, first_name="Robert", last_name="Jones")
    check = duplicates(db, acme, "Bob", "Jones")
    assert candidate_ids(check) == [robert.id]
    assert 90 <= check.candidates[0].score < 100
    assert candidate_ids(duplicates(db, acme, "Bobby", "Jnoes")) == [robert.id]
    assert duplicates(db, acme, "Richard", "Jones").candidates == []


def test_best_candidate_comes_first(db, make_contact, acme):
    """The closer of two near names ranks first."""
    katharina = make_contact(acme, first_name="Katharina", last_name="Berg")
    katarina = make_contact(acme, first_name="Katarina", last_name="Berg")
    check = duplicates(db, acme, "Katarna", "Berg")
    assert candidate_ids(check) == [katarina.id, katharina.id]
    assert check.candidates[0].score > check.candidates[1].score


def test_more_than_two_edits_is_not_a_candidate(db, acme, john):
    """Three letters off is another person, however long the names."""
    assert duplicates(db, acme, "Jhon", "Smtih").candidates != []
    assert duplicates(db, acme, "Jhon", "Smtiht").candidates == []


def test_different_person_at_same_company_is_not_a_candidate(db, acme, john):
    """Someone with another name at the same company is no duplicate."""
    assert duplicates(db, acme, "Peter", "Walsh").candidates == []
    assert duplicates(db, acme, "Joanna", "Smithers").candidates == []


def test_colleagues_real_first_name_is_not_taken_for_a_typo(db, make_contact, acme):
    """ "Joan Smith" is not John Smith when a Joan works there: a real name."""
    make_contact(acme, first_name="John", last_name="Smith")
    make_contact(acme, first_name="Joan", last_name="Baker")
    assert duplicates(db, acme, "Joan", "Smith").candidates == []


def test_namesake_at_another_company_is_not_a_candidate(
    db, make_company, make_contact, acme
):
    """John Smith of Globex is not a duplicate of John Smith at Acme."""
    globex = make_company("Globex", domain="globex.example")
    make_contact(globex, first_name="John", last_name="Smith")
    assert duplicates(db, acme, "John", "Smith").candidates == []


def test_graveyard_contacts_are_not_candidates(db, make_contact, acme):
    """A contact who left the company is not offered as a duplicate."""
    make_contact(
        acme, first_name="John", last_name="Smith", state=ContactState.GRAVEYARD
    )
    assert duplicates(db, acme, "John", "Smith").candidates == []


def test_excluded_contact_is_not_a_candidate(db, make_contact, acme, john):
    """The contact being edited is never its own duplicate."""
    other = make_contact(acme, first_name="John", last_name="Smith")
    check = duplicates(db, acme, "John", "Smith", exclude_contact_id=john.id)
    assert candidate_ids(check) == [other.id]
    check = duplicates(
        db, acme, "John", "Smith", email=john.email, exclude_contact_id=john.id
    )
    assert check.same_email is None


def test_limit_caps_the_candidates(db, make_contact, acme):
    """At most ``limit`` candidates come back."""
    for _ in range(4):
        make_contact(acme, first_name="Anna", last_name="Berg")
    assert len(duplicates(db, acme, "Anna", "Berg", limit=3).candidates) == 3


@pytest.mark.parametrize("cached", [False, True])
def test_changes_are_seen_by_the_next_check(
    db, make_contact, acme, john, monkeypatch, cached
):
    """A contact added or graveyarded after a check counts in the next one,
    also for a company large enough to keep its names in process."""
    if cached:
        monkeypatch.setattr(matching.people, "CACHED_BLOCK_CONTACTS", 1)
    assert duplicates(db, acme, "Maria", "Garcia").candidates == []
    maria = make_contact(acme, first_name="Maria", last_name="Garcia")
    assert candidate_ids(duplicates(db, acme, "Maria", "Garcia")) == [maria.id]
    maria.state = ContactState.GRAVEYARD
    db.session.commit()
    assert duplicates(db, acme, "Maria", "Garcia").candidates == []


def test_company_resolved_from_typed_name_with_a_typo(db, acme, john):
    """Without a company id, "Acme Robotcs Ltd" finds Acme Robotics' people."""
    check = duplicates(db, None, "John", "Smith", company_name="Acme Robotcs Ltd")
    assert candidate_ids(check) == [john.id]


def test_unknown_company_gives_no_candidates(db, acme, john):
    """A company name that resolves to nothing has no duplicates to show."""
    check = duplicates(db, None, "John", "Smith", company_name="Umbrella Pharma")
    assert check.candidates == []


# --- companies -----------------------------------------------------------------


def resolve(db, name=None, domain=None, email_domain=None):
    return matching.resolve_company(
        db.session, name=name, domain=domain, email_domain=email_domain
    )


def test_resolve_by_domain_and_alias(db, acme):
    """The domain, then an alias domain, identify the company exactly."""
    db.session.add(CompanyDomain(company_id=acme.id, domain="acme.co.uk"))
    db.session.commit()
    assert resolve(db, name="Other", domain="ACME.com") == matching.CompanyMatch(
        acme.id, "domain", 100.0
    )
    assert resolve(db, domain="https://www.acme.co.uk/").how == "alias"


def test_resolve_by_exact_name_ignores_legal_form(db, acme):
    """ "ACME Robotics GmbH" is Acme Robotics Inc."""
    assert resolve(db, name="ACME Robotics GmbH") == matching.CompanyMatch(
        acme.id, "name", 100.0
    )


def test_resolve_by_name_with_a_typo(db, acme, make_company):
    """A typo'd name resolves to the one company it is close to."""
    make_company("Initech", domain="initech.example")
    match = resolve(db, name="Acme Robotcs")
    assert (match.company_id, match.how) == (acme.id, "fuzzy_name")
    assert matching.COMPANY_FUZZY_THRESHOLD <= match.score < 100


def test_ambiguous_typo_resolves_to_nothing(db, make_company):
    """Equally close to two companies: no guess."""
    make_company("Globex North", domain="globex-north.example")
    make_company("Globex South", domain="globex-south.example")
    assert resolve(db, name="Globex Nouth") is None


def test_resolve_falls_back_to_email_domain(db, acme):
    """With no usable name or domain, the email's domain decides."""
    match = resolve(db, name="Umbrella Pharma", email_domain="acme.com")
    assert match == matching.CompanyMatch(acme.id, "email_domain", 100.0)
    assert resolve(db, name="Umbrella Pharma", email_domain="gmail.com") is None


def suggested(db, text):
    return [s.name for s in matching.suggest_companies(db.session, text)]


@pytest.fixture
def companies(make_company):
    return [
        make_company("Acme Corp", domain="acme.com"),
        make_company("Acme Europe Ltd", domain="acme.co"),
        make_company("Initech", domain="initech.example"),
        make_company("Umbrella Pharma", domain="umbrella.example"),
    ]


def test_suggestions_for_a_prefix(db, companies):
    """Typing "acm" offers the Acme companies, shortest name first."""
    assert suggested(db, "acm")[:2] == ["Acme Corp", "Acme Europe Ltd"]
    assert suggested(db, "Acme Cor")[0] == "Acme Corp"


def test_suggestions_for_a_typo(db, companies):
    """ "Acne Corp" offers Acme Corp first."""
    assert suggested(db, "Acne Corp")[0] == "Acme Corp"
    assert suggested(db, "Umbrela Pharma")[0] == "Umbrella Pharma"


def test_suggestions_for_a_domain(db, companies):
    """A domain offers the company with exactly that domain first."""
    [first, *rest] = matching.suggest_companies(db.session, "acme.co")
    assert (first.name, first.domain, first.score) == (
        "Acme Europe Ltd",
        "acme.co",
        100,
    )
    assert [s.name for s in rest] == ["Acme Corp"]


def test_suggestions_for_nothing_useful(db, companies):
    """Blank or unrelated input suggests nothing."""
    assert suggested(db, "  ") == []
    assert suggested(db, "zzzzqqqq") == []


def test_index_picks_up_a_new_company(db, companies, make_company, monkeypatch):
    """A company added after the index was built is suggested once it is
    checked again, and not before the check interval."""
    assert suggested(db, "Hooli") == []
    make_company("Hooli", domain="hooli.example")
    assert suggested(db, "Hooli") == []
    monkeypatch.setattr(matching.companies, "INDEX_CHECK_SECONDS", 0)
    assert suggested(db, "Hooli") == ["Hooli"]
