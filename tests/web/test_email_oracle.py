"""The email oracle: guessing masked emails by asking whether a person or an
email is known. Each test performs the attack that recovered 18 of 20 masked
emails before the fix, and measures what a member can confirm per day now."""

from __future__ import annotations

import io

import pytest
import time_machine
from sqlalchemy import func, select

from portal.models import Contact, ContributionRow, Flag, FlagKind, RowOutcome
from tests.conftest import csrf_token_from

START = "2026-11-10 09:00:00+00:00"
SURNAMES = ["Okafor", "Lindqvist", "Moreau", "Tanaka", "Kowalski", "Haddad",
            "Silva", "Novak", "Brennan", "Achterberg", "Castellano", "Dubois",
            "Eriksen", "Fontaine", "Gallagher", "Horvath", "Ishikawa",
            "Jovanovic", "Kaur", "Laurent"]  # fmt: skip
DOMAIN = "navy-systems.com"
# The patterns an attacker tries for each masked a•••@navy-systems.com.
PATTERNS = ("{f}{l}", "{f}_{l}", "{l}.{f}", "{f}.{l}", "{f0}{l}")


@pytest.fixture(autouse=True)
def frozen_clock():
    """The allowance is per UTC day: keep every request on one day."""
    with time_machine.travel(START, tick=False):
        yield


@pytest.fixture
def pool(make_company, make_contact):
    """Twenty masked contacts whose names and company anyone can see."""
    company = make_company(name="Navy Systems", domain=DOMAIN)
    return [
        make_contact(
            company=company,
            first_name="Amara",
            last_name=surname,
            title="Head of Engineering",
            email=f"amara.{surname.lower()}@{DOMAIN}",
        )
        for surname in SURNAMES
    ]


@pytest.fixture
def attacker(make_member, auth):
    member = make_member(email="attacker@northwind.example")
    auth.login("attacker@northwind.example")
    return member


def guesses():
    for surname in SURNAMES:
        for pattern in PATTERNS:
            local = pattern.format(f="amara", l=surname.lower(), f0="a")
            yield surname, f"{local}@{DOMAIN}"


def submit(client, surname, email):
    page = client.get("/contacts/new").get_data(as_text=True)
    return client.post(
        "/contacts/new",
        data={
            "first_name": "Amara",
            "last_name": surname,
            "title": "Head of Engineering",
            "company": "Navy Systems",
            "email": email,
            "attest": "y",
            "csrf_token": csrf_token_from(page),
        },
    ).get_data(as_text=True)


def test_a_rookie_confirms_at_most_five_emails_a_day(client, attacker, pool, db):
    """100 guesses on the form (5 patterns x 20 people) confirm at most the
    Rookie cap of 5 emails; once the day's allowance is used every guess, right
    or wrong, gets the same refusal."""
    answers = [(email, submit(client, surname, email)) for surname, email in guesses()]
    confirmed = [email for email, html in answers if "Already known" in html]
    assert len(confirmed) <= 5
    refusals = {
        html.split("limit of", 1)[1][:60] for _, html in answers if "limit of" in html
    }
    assert len(refusals) == 1
    refused = [email for email, html in answers if "limit of" in html]
    assert len(refused) >= 95
    assert any(email.startswith("amara.") for email in refused)


def test_the_known_answer_limit_binds_a_closer(app, client, attacker, pool, db):
    """With a Closer's cap of 100, the daily limit of 20 answers about known
    contacts still stops the guessing at 20 confirmations."""
    app.config.update(ROOKIE_DAILY_CAP=100, KNOWN_ANSWER_DAILY_LIMIT=20)
    answers = [(email, submit(client, surname, email)) for surname, email in guesses()]
    confirmed = [email for email, html in answers if "Already known" in html]
    assert 0 < len(confirmed) <= 20
    assert sum("answers about contacts" in html for _, html in answers) >= 80


def test_an_email_with_another_name_confirms_nothing(client, attacker, pool, db):
    """A known email under an invented name is neither "already known" nor
    named: it goes to a moderator as a proposal and the contact is unchanged."""
    html = submit(client, "Zed", f"amara.okafor@{DOMAIN}")
    assert "Already known" not in html and "Okafor" not in html
    assert "Sent to a moderator" in html
    flag = db.session.scalars(select(Flag)).one()
    assert (flag.kind, flag.contact_id) == (FlagKind.PROPOSED_CHANGE, pool[0].id)
    assert flag.proposal["last_name"] == "Zed"
    assert db.session.get(Contact, pool[0].id).last_name == "Okafor"


def test_live_warning_never_says_an_email_is_known(client, attacker, pool):
    """Typing a known email with any name shows nothing about that email's
    owner (before: "Tessera already has this email address (Amara Okafor)")."""
    html = client.get(
        "/contacts/new/duplicates",
        query_string={
            "first_name": "Zed",
            "last_name": "Zulu",
            "company": "Navy Systems",
            "email": f"amara.okafor@{DOMAIN}",
        },
    ).get_data(as_text=True)
    assert "already has this email" not in html
    assert "Okafor" not in html


def test_live_warning_answers_count_once_per_contact(app, client, attacker, pool):
    """Each contact shown while typing counts once a day; past the cap the
    warning says the day's checks are used up instead of answering."""
    app.config.update(ROOKIE_DAILY_CAP=3)
    query = {"first_name": "Amara", "company": "Navy Systems"}
    for surname in ("Okafor", "Okafor", "Okafor"):
        html = client.get(
            "/contacts/new/duplicates", query_string=dict(query, last_name=surname)
        ).get_data(as_text=True)
        assert "Okafor" in html
    shown = [
        client.get(
            "/contacts/new/duplicates", query_string=dict(query, last_name=surname)
        ).get_data(as_text=True)
        for surname in ("Moreau", "Tanaka", "Silva")
    ]
    assert "Moreau" in shown[0] and "Tanaka" in shown[1]
    assert "Silva" not in shown[2] and "limit of" in shown[2]


def test_a_csv_of_guesses_reports_at_most_the_cap(client, attacker, pool, db, run_jobs):
    """A file of 220 guessed rows reports at most 5 known rows; the rest are
    refused with the limit, whatever they guessed."""
    header = "First Name,Last Name,Job Title,Company,Work Email"
    rows = [
        f"Amara,{surname},Head of Engineering,Navy Systems,{email}"
        for surname, email in guesses()
    ]
    rows += rows[:120]
    page = client.get("/contacts/import").get_data(as_text=True)
    client.post(
        "/contacts/import",
        data={
            "csrf_token": csrf_token_from(page),
            "attest": "y",
            "file": (io.BytesIO("\n".join([header, *rows]).encode()), "g.csv"),
        },
        content_type="multipart/form-data",
    )
    run_jobs()
    outcomes = db.session.execute(
        select(ContributionRow.outcome, func.count()).group_by(ContributionRow.outcome)
    ).all()
    counts = dict(outcomes)
    known = counts.get(RowOutcome.DUPLICATE, 0) + counts.get(RowOutcome.UPDATED, 0)
    assert known <= 5
    assert counts[RowOutcome.REFUSED] >= sum(counts.values()) - 5
