"""Contact search: typo tolerance, filters, ordering, masking, bad input, and
the index staying in step with every way contacts are written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import flask_migrate
import pytest
from sqlalchemy import delete, func, select, update

from portal.demo import generate_demo_data
from portal.models import (
    Company,
    Contact,
    ContactState,
    SearchTerm,
    SearchVariant,
    SearchWord,
)
from portal.search.services import (
    PROBE_LIMIT,
    RERANK_LIMIT,
    SearchQuery,
    search_contacts,
    words_of,
)
from portal.textfold import fold
from tests.factories import bulk_insert_contacts

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def find(db, text: str = "", **params) -> list[str]:
    """Full names found, best first."""
    query = SearchQuery.from_params({"q": text, **params})
    results = search_contacts(db.session, query, now=NOW)
    db.session.rollback()
    return [hit.full_name for hit in results.hits]


def results_for(db, text: str = "", **params):
    results = search_contacts(
        db.session, SearchQuery.from_params({"q": text, **params}), now=NOW
    )
    db.session.rollback()
    return results


@pytest.fixture
def directory(make_company, make_contact):
    """A few companies and people, one of each kind a test needs."""
    acme = make_company(name="Acme Corp", domain="acme.example", country="US")
    globex = make_company(name="Globex GmbH", domain="globex.example", country="DE")
    people = {
        "john": make_contact(
            company=acme,
            first_name="John",
            last_name="Smith",
            title="Head of Sales",
            seniority="head",
            department="sales",
            city="Boston",
            country="US",
            email="john.smith@acme.example",
            phone="+16175550100",
            last_confirmed_at=NOW - timedelta(days=21),
        ),
        "joan": make_contact(
            company=globex,
            first_name="Joan",
            last_name="Smith",
            title="Chief Financial Officer",
            seniority="c_level",
            department="finance",
            city="München",
            country="DE",
            email="joan.smith@globex.example",
            last_confirmed_at=NOW - timedelta(days=400),
        ),
        "grace": make_contact(
            company=globex,
            first_name="Grace",
            last_name="Müller-Lüdenscheidt",
            title="Software Engineer",
            seniority="senior",
            department="engineering",
            city="Berlin",
            country="DE",
            email="grace.mueller@globex.example",
            last_confirmed_at=NOW - timedelta(days=5),
        ),
        "held": make_contact(
            company=acme,
            first_name="Hilda",
            last_name="Heldmann",
            title="Buyer",
            state=ContactState.HELD,
            email="hilda@acme.example",
        ),
        "gone": make_contact(
            company=acme,
            first_name="Gordon",
            last_name="Graveyard",
            title="Buyer",
            state=ContactState.GRAVEYARD,
            email="gordon@acme.example",
        ),
        "disputed": make_contact(
            company=acme,
            first_name="Dora",
            last_name="Disputa",
            title="Office Manager",
            state=ContactState.DISPUTED,
            email="dora@acme.example",
        ),
    }
    return {"acme": acme, "globex": globex, **people}


# --- typo tolerance -------------------------------------------------------------


def test_typo_with_company_finds_the_person(db, directory):
    """ "Jon Smiht at Acme" finds John Smith at Acme Corp, first."""
    assert find(db, "Jon Smiht at Acme")[0] == "John Smith"


@pytest.mark.parametrize(
    "typed",
    [
        "john smith",
        "jhon smith",  # swapped letters
        "jon smith",  # missing letter
        "johnn smith",  # extra letter
        "john smyth",  # wrong letter
        "smith john",  # last name first
        "JOHN SMITH acme",
        "john smi",  # still typing
    ],
)
def test_each_kind_of_typo(db, directory, typed):
    """One wrong, missing, extra or swapped letter, any order or case: found."""
    assert "John Smith" in find(db, typed)


def test_accents_and_punctuation_fold(db, directory):
    """ "mueller ludenscheidt", "Müller" and "Muller-Ludenscheidt" all find
    Grace Müller-Lüdenscheidt."""
    for typed in ("grace mueller", "Müller", "grace muller", "luedenscheidt"):
        assert find(db, typed) == ["Grace Müller-Lüdenscheidt"], typed


def test_company_words_match_the_company(db, directory):
    """A company's name, typo'd or not, finds its people."""
    assert set(find(db, "globex")) == {"Joan Smith", "Grace Müller-Lüdenscheidt"}
    assert set(find(db, "glbex")) == {"Joan Smith", "Grace Müller-Lüdenscheidt"}
    assert find(db, "smith globex") == ["Joan Smith"]


def test_title_words_match(db, directory):
    """Free text matches titles too, words in any order."""
    assert find(db, "head of sales") == ["John Smith"]
    assert find(db, "sales head") == ["John Smith"]
    assert find(db, "enginer") == ["Grace Müller-Lüdenscheidt"]


def test_city_words_match_too(db, directory):
    """A city typed after the name narrows to the people there."""
    assert find(db, "smith munchen") == ["Joan Smith"]
    assert find(db, "john smith bostn") == ["John Smith"]


def test_unmatched_word_is_left_out_and_said(db, directory):
    """A word matching nothing is ignored, and the results say so."""
    results = results_for(db, "john smith zzyzx")
    assert results.unmatched_words == ("zzyzx",)
    assert [h.full_name for h in results.hits] == ["John Smith", "Joan Smith"]


def test_nobody_matching_every_word_offers_all_but_one(db, directory):
    """Names that match with a company they are not at: the names, relaxed."""
    results = results_for(db, "grace mueller acme")
    assert results.relaxed
    assert [h.full_name for h in results.hits] == ["Grace Müller-Lüdenscheidt"]


def test_only_active_and_disputed_are_found(db, directory):
    """Held and graveyard contacts never show; disputed ones do, flagged."""
    assert find(db, "Hilda Heldmann") == []
    assert find(db, "Gordon Graveyard") == []
    results = results_for(db, "Dora Disputa")
    assert [h.full_name for h in results.hits] == ["Dora Disputa"]
    assert results.hits[0].disputed


# --- filters ----------------------------------------------------------------------


def test_company_filter_by_id_or_name(db, directory):
    """company= takes an id or (typo'd) words of the name; none: nobody."""
    globex = directory["globex"]
    assert find(db, "smith", company=str(globex.id)) == ["Joan Smith"]
    assert find(db, "smith", company="Globx") == ["Joan Smith"]
    results = results_for(db, "smith", company="Initech")
    assert results.hits == [] and results.unmatched_filters == ("company",)


def test_seniority_and_department_filters(db, directory):
    assert find(db, seniority="c_level") == ["Joan Smith"]
    assert find(db, department="engineering") == ["Grace Müller-Lüdenscheidt"]
    assert find(db, "smith", seniority="head", department="sales") == ["John Smith"]


def test_title_words_filter(db, directory):
    """Every title word must be in the title, typos allowed."""
    assert find(db, title="financial officer") == ["Joan Smith"]
    assert find(db, title="chef financial") == ["Joan Smith"]
    assert find(db, title="financial engineer") == []


def test_city_and_country_filters(db, directory):
    """City by its words (accents folded); country by code or name."""
    assert find(db, city="munchen") == ["Joan Smith"]
    assert find(db, city="Boston") == ["John Smith"]
    assert set(find(db, country="Germany")) == {
        "Joan Smith",
        "Grace Müller-Lüdenscheidt",
    }
    assert find(db, "smith", country="us") == ["John Smith"]


def test_confirmed_within_months(db, directory):
    """Only contacts confirmed within the last N months."""
    assert set(find(db, "", confirmed="1")) == {
        "John Smith",
        "Grace Müller-Lüdenscheidt",
    }
    assert set(find(db, "smith", confirmed="24")) == {"John Smith", "Joan Smith"}
    assert find(db, "smith", confirmed="12") == ["John Smith"]


def test_unknown_and_unusable_filters_are_ignored(db, directory):
    """Bad filter values are dropped, listed, and the search still runs."""
    query = SearchQuery.from_params(
        {
            "q": "smith",
            "seniority": "emperor",
            "department": "x' OR 1=1 --",
            "country": "Atlantis",
            "confirmed": "-3",
            "order": "random()",
            "colour": "blue",
        }
    )
    assert set(query.ignored) == {
        "seniority",
        "department",
        "country",
        "confirmed",
        "order",
    }
    results = search_contacts(db.session, query, now=NOW)
    assert {h.full_name for h in results.hits} == {"John Smith", "Joan Smith"}


# --- ordering, counting, pages --------------------------------------------------


def test_relevance_puts_exact_before_typo(db, directory):
    """ "joan smith": Joan (exact) before John (one letter off)."""
    assert find(db, "joan smith") == ["Joan Smith", "John Smith"]


def test_recent_order_puts_freshest_first(db, directory):
    """order=recent: most recently confirmed first, whatever the score."""
    assert find(db, "joan smith", order="recent") == ["John Smith", "Joan Smith"]


def test_pages_are_clamped(db, make_company, make_contact):
    """30 matches over pages of 25: page 2 has 5, page 9 is page 2, -1 page 1."""
    company = make_company(name="Pagination Ltd")
    for n in range(30):
        make_contact(
            company=company,
            first_name="Paige",
            last_name="Turner",
            last_confirmed_at=NOW - timedelta(days=n),
        )
    first = results_for(db, "paige turner")
    assert (first.total, first.pages, len(first.hits)) == (30, 2, 25)
    assert results_for(db, "paige turner", page="2").hits[-1].last_confirmed_at == (
        NOW - timedelta(days=29)
    )
    assert results_for(db, "paige turner", page="9").page == 2
    assert results_for(db, "paige turner", page="-1").page == 1
    assert results_for(db, "paige turner", page="x").page == 1


@pytest.mark.parametrize("extra", [200, PROBE_LIMIT])
def test_count_beyond_the_limit_is_a_lower_bound(db, make_company, extra):
    """More matches than can be ranked: "1,000+ results", exact matches first,
    then freshest first (both when all matches are read and when the
    freshness index is walked)."""
    company = make_company(name="Bulk Holdings", domain="bulk.example")
    db.session.commit()
    rows = []
    for n in range(RERANK_LIMIT + extra):
        stamp = int(NOW.timestamp()) - 3600 * n
        # The exact matches ("Leo") are not the freshest, nor together.
        rows.append(
            {
                "first_name": "Pat",
                "last_name": "Leo" if n % 3 == 1 else "Lee",
                "title": "Analyst",
                "company_id": company.id,
                "email": f"pat{n}@bulk.example",
                "state": "active",
                "last_confirmed_at": stamp,
                "created_at": stamp,
                "updated_at": stamp,
            }
        )
    bulk_insert_contacts(db, rows)
    results = results_for(db, "pat leo")
    assert results.total_is_lower_bound
    assert results.count_label == "1,000+ results"
    assert results.pages == RERANK_LIMIT // 25
    assert {h.last_name for h in results.hits} == {"Leo"}
    confirmed = [h.last_confirmed_at for h in results.hits]
    assert confirmed == sorted(confirmed, reverse=True)
    assert confirmed[0] == NOW - timedelta(hours=1)
    recent = results_for(db, "pat leo", order="recent").hits
    assert [h.last_name for h in recent[:3]] == ["Lee", "Leo", "Lee"]
    assert recent[0].last_confirmed_at == NOW
    last_page = results_for(db, "pat leo", page="40")
    assert last_page.page == 40 and len(last_page.hits) == 25


# --- masking --------------------------------------------------------------------


def test_hits_carry_no_email_or_phone(db, directory):
    """A hit has the masked email and whether details exist, nothing more."""
    [hit] = results_for(db, "john smith acme").hits
    assert hit.masked_email == "j•••@acme.example"
    assert hit.has_email and hit.has_phone
    values = [str(value) for value in vars(hit).values()]
    assert not any("john.smith" in value or "5550100" in value for value in values)


# --- bad input ------------------------------------------------------------------


BAD_QUERIES = [
    "",
    "   ",
    "a" * 1500,
    "john " * 300,
    "'; DROP TABLE contacts; --",
    "1' OR '1'='1",
    '"john smith"',
    "john*",
    "john NEAR smith",
    "NEAR(john smith, 2)",
    "-john +smith",
    "john AND smith OR NOT acme",
    "(john) (smith)",
    "title:cfo",
    "%_%",
    "\\",
    "\x00john",
    "Иван Петров",
    "王小明",
    "محمد",
    "😀 🚀",
    "j",
    "@",
]


@pytest.mark.parametrize("typed", BAD_QUERIES)
def test_bad_input_never_raises(db, directory, typed):
    """Every odd query gives results (perhaps none), never an error."""
    results = results_for(db, typed, page="99999999999999999999")
    assert results.page >= 1
    assert all(hit.masked_email for hit in results.hits)


def test_query_syntax_is_just_words(db, directory):
    """Quotes, stars and operators are separators: the words still match."""
    assert find(db, '"john smith"')[0] == "John Smith"
    assert find(db, "john* AND smith")[0] == "John Smith"


def test_blank_query_finds_nobody(db, directory):
    results = results_for(db, "   ")
    assert results.blank and results.hits == [] and results.total == 0


@pytest.mark.parametrize("typed", ["at the", "j", "inc", "zzyzx"])
def test_nothing_searchable_finds_nobody(db, directory, typed):
    """Only joining words, an initial, a legal form or an unknown word: nobody,
    not everybody."""
    assert find(db, typed) == []
    assert find(db, typed, country="DE") == []


# --- the index stays in step --------------------------------------------------------


def test_fold_matches_the_triggers(db, make_company, make_contact):
    """The words the database stores are the words searches fold to."""
    names = [
        ("Jean-Luc", "O'Brien"),
        ("Zoë", "Ångström"),
        ("Søren", "Kierkegaard-Ærø"),
        ("Ignacio", "de la Peña y Núñez"),
        ("Straße", "ŁUKASZ"),
        ("Иван", "ΣΩΚΡΆΤΗΣ"),
        ("  spaced  ", "a.b.c"),
    ]
    company = make_company(name="Ötzi & Söhne (Holding) GmbH")
    contacts = [
        make_contact(company=company, first_name=f, last_name=last) for f, last in names
    ]
    for contact in contacts:
        for field in ("first_name", "last_name"):
            value = getattr(contact, field)
            stored = db.session.scalars(
                select(SearchWord.word)
                .join(SearchTerm, SearchTerm.id == SearchWord.term_id)
                .where(SearchTerm.field == field, SearchTerm.value == value)
            ).all()
            assert sorted(stored) == sorted(words_of(value)), value
    company_words = db.session.scalars(
        select(SearchWord.word).where(SearchWord.company_id == company.id)
    ).all()
    assert sorted(company_words) == sorted(words_of(company.name))
    assert fold("Ötzi & Söhne") == "oetzi   soehne"


def test_orm_insert_is_searchable_at_once(db, directory, make_contact):
    """A contact added through the ORM is found, typo'd, straight away."""
    make_contact(
        company=directory["acme"], first_name="Xanthippe", last_name="Quillfeather"
    )
    assert find(db, "xanthipe quilfeather") == ["Xanthippe Quillfeather"]


def test_orm_title_change_reaches_the_index(db, directory):
    """After a title change the new title finds the person, the old does not."""
    john = directory["john"]
    john.title = "Chief Revenue Officer"
    db.session.commit()
    assert find(db, "revenue") == ["John Smith"]
    assert find(db, "head of sales") == []
    # The old title's words went with the last contact holding it.
    assert not db.session.scalar(
        select(func.count())
        .select_from(SearchTerm)
        .where(SearchTerm.value == "Head of Sales")
    )


def test_company_rename_reaches_the_index(db, directory):
    """Renaming a company: its new name finds its people, the old does not."""
    acme = directory["acme"]
    acme.name = "Zenith Dynamics"
    db.session.commit()
    assert find(db, "john smith zenith") == ["John Smith"]
    assert find(db, "acme") == []


def test_deleted_contact_leaves_no_trace(db, directory, make_contact):
    """An erased contact is not found, and its rare name leaves the index."""
    person = make_contact(
        company=directory["acme"], first_name="Ottoline", last_name="Vexworthy"
    )
    assert find(db, "ottoline vexworthy") == ["Ottoline Vexworthy"]
    db.session.execute(delete(Contact).where(Contact.id == person.id))
    db.session.commit()
    assert find(db, "ottoline vexworthy") == []
    for model, column in (
        (SearchTerm, SearchTerm.value),
        (SearchWord, SearchWord.word),
        (SearchVariant, SearchVariant.word),
    ):
        left = db.session.scalar(
            select(func.count())
            .select_from(model)
            .where(column.in_(["Vexworthy", "vexworthy", "Ottoline", "ottoline"]))
        )
        assert left == 0, model.__name__


def test_raw_update_of_a_name_reaches_the_index(db, directory):
    """A bulk UPDATE outside the ORM (a merge, a correction) is covered too."""
    db.session.execute(
        update(Contact)
        .where(Contact.id == directory["joan"].id)
        .values(last_name="Smythe-Jones")
    )
    db.session.commit()
    assert find(db, "joan smythe jones") == ["Joan Smythe-Jones"]
    assert find(db, "joan smith") == ["John Smith"]


def test_demo_bulk_load_is_searchable(db):
    """Contacts loaded by generate_demo_data (COPY / executemany) are found by
    a typo'd name and company."""
    generate_demo_data(150, seed=7, now=NOW)
    person = db.session.execute(
        select(Contact.first_name, Contact.last_name, Company.name)
        .join(Company, Company.id == Contact.company_id)
        .where(Contact.state == ContactState.ACTIVE)
        .order_by(Contact.id.desc())
        .limit(1)
    ).one()
    db.session.rollback()
    first, last, company = person
    typo = first[0] + first[2] + first[1] + first[3:]
    hits = results_for(db, f"{typo} {last} at {company}").hits
    assert (hits[0].first_name, hits[0].last_name) == (first, last)


def test_migration_backfills_existing_rows(app, db, directory, make_contact):
    """Downgrading past the index, writing, and upgrading again: everything,
    old and new rows alike, is searchable (the migration backfills)."""
    globex_id = directory["globex"].id
    db.session.remove()
    flask_migrate.downgrade(revision="0004_disclosures")
    make_contact(
        company=db.session.get(Company, globex_id),
        first_name="Bartholomew",
        last_name="Backfill",
    )
    db.session.remove()
    flask_migrate.upgrade()
    db.session.remove()
    assert find(db, "bartholomew backfil") == ["Bartholomew Backfill"]
    assert find(db, "Jon Smiht at Acme")[0] == "John Smith"
