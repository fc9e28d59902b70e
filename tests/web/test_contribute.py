"""The contribute form, its htmx helpers, and a contact's page."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from portal import ledger
from portal.models import Contact, ContactState, Flag, FlagKind
from tests.conftest import csrf_token_from
from tests.factories import PRIYA

FORM = {**PRIYA, "attest": "y"}


@pytest.fixture
def member(make_member, auth):
    member = make_member(email="contributor@northwind.example")
    auth.login("contributor@northwind.example")
    return member


def post_form(client, path="/contacts/new", htmx=False, **overrides):
    token = csrf_token_from(client.get(path).get_data(as_text=True))
    data = dict(FORM, csrf_token=token, **overrides)
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(path, data=data, headers=headers)


def test_contribute_page_needs_login(client):
    """Visitors are sent to log in."""
    response = client.get("/contacts/new")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


def test_contribute_accepts_and_shows_pending_points(client, member, db):
    """A good contact is added and the page says +5 points pending."""
    response = post_form(client)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "+5 points pending" in html
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 1
    assert ledger.balance(db.session, member.id).pending == 5


@pytest.mark.parametrize(
    ("field", "value", "phrase"),
    [
        ("first_name", "", "first name"),
        ("last_name", "Sm1th", "numbers"),
        ("email", "priya@gmail.com", "personal email"),
        ("email", "priya@mailinator.com", "disposable"),
        ("email", "not-an-email", "email"),
        ("phone", "+44 7911 123456", "mobile"),
        ("title", "", "title"),
    ],
)
def test_each_refusal_is_shown_beside_its_field(
    client, member, db, field, value, phrase
):
    """The htmx response is the form with the message next to the failing field."""
    response = post_form(client, htmx=True, **{field: value})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "<html" not in html
    assert f'id="{field}-error"' in html
    error = html.split(f'id="{field}-error"', 1)[1].split("</small>", 1)[0]
    assert phrase.lower() in error.lower()
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 0


def test_missing_attestation_is_refused(client, member, db):
    """Without the attestation tick nothing is added."""
    response = post_form(client, attest="")
    assert response.status_code == 422
    assert "Tick the box" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 0


def test_empty_submit_shows_every_problem_at_once(client, member, db):
    """An empty form answers with each required field's error and the
    attestation's together; required fields are marked; a hint comes before
    its input, the error after."""
    blank = dict.fromkeys(FORM, "")
    response = post_form(client, htmx=True, **blank)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    for name in ("first_name", "last_name", "title", "company", "email"):
        assert f'id="{name}-error"' in html, name
        tag = re.search(rf'<input[^>]*\bid="{name}"[^>]*>', html).group(0)
        assert 'aria-required="true"' in tag and 'aria-invalid="true"' in tag
    assert "Tick the box" in html
    assert html.count('class="required-marker"') >= 6
    hint = html.index('id="email-hint"')
    assert hint < html.index('id="email"') < html.index('id="email-error"')


def test_typo_duplicate_is_warned_then_decided(client, member, make_member, db):
    """The live warning lists the masked candidate; submitting asks, then "different"
    adds the contact with a flag."""
    post_form(client)
    warning = client.get(
        "/contacts/new/duplicates",
        query_string={
            "first_name": "Pirya",
            "last_name": "Raman",
            "company": "Brightwater Analytics",
        },
        headers={"HX-Request": "true"},
    ).get_data(as_text=True)
    assert "p•••@brightwater-analytics.com" in warning
    assert "priya.raman@" not in warning
    asked = post_form(
        client, htmx=True, first_name="Pirya", email="p.raman@brightwater-analytics.com"
    )
    assert asked.status_code == 422
    assert 'value="different"' in asked.get_data(as_text=True)
    decided = post_form(
        client,
        first_name="Pirya",
        email="p.raman@brightwater-analytics.com",
        duplicate_decision="different",
    )
    assert decided.status_code == 200
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 2
    assert db.session.scalars(select(Flag.kind)).one() == FlagKind.POSSIBLE_DUPLICATE


def test_company_suggestions(client, member, make_company):
    """Typing part of a known company suggests it."""
    make_company(name="Brightwater Analytics", domain="brightwater-analytics.com")
    html = client.get(
        "/contacts/new/companies?company=Brightwat", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert '<option value="Brightwater Analytics">' in html


def test_contact_page_masks_email_for_other_members(client, auth, member, make_member):
    """The contributor sees the email; others see it masked, with provenance."""
    post_form(client)
    contact_id = 1
    own = client.get(f"/contacts/{contact_id}").get_data(as_text=True)
    assert "priya.raman@brightwater-analytics.com" in own
    make_member(email="other@northwind.example")
    auth.logout()
    auth.login("other@northwind.example")
    html = client.get(f"/contacts/{contact_id}").get_data(as_text=True)
    assert "priya.raman@brightwater-analytics.com" not in html
    assert "p•••@brightwater-analytics.com" in html
    assert f"by member {member.pseudonym}" in html


def test_confirm_and_challenge_from_the_contact_page(
    client, auth, member, make_member, db
):
    """Another member's confirmation (from another address) vests the points;
    a challenge disputes it."""
    post_form(client)
    make_member(email="other@northwind.example")
    auth.logout()
    auth.login("other@northwind.example")
    token = csrf_token_from(client.get("/contacts/1").get_data(as_text=True))
    confirmed = client.post(
        "/contacts/1/confirm",
        data={"csrf_token": token},
        headers={"HX-Request": "true"},
        environ_base={"REMOTE_ADDR": "198.51.100.9"},
    )
    assert confirmed.status_code == 200
    assert ledger.balance(db.session, member.id).vested == 5
    again = client.post("/contacts/1/confirm", data={"csrf_token": token})
    assert again.status_code == 409
    assert "already confirmed" in again.get_data(as_text=True)
    challenged = client.post(
        "/contacts/1/challenge",
        data={"csrf_token": token, "kind": "left_company", "details": "Moved on"},
    )
    assert challenged.status_code == 200
    assert db.session.get(Contact, 1).state == ContactState.DISPUTED


def test_held_contact_is_hidden_from_other_members(
    client, auth, member, make_member, make_company
):
    """A held contact is a 404 for members other than its contributor."""
    make_company(name="Brightwater Analytics", domain="brightwater-analytics.com")
    post_form(client, email="priya.raman@elsewhere-mail.com")
    assert client.get("/contacts/1").status_code == 200
    make_member(email="other@northwind.example")
    auth.logout()
    auth.login("other@northwind.example")
    assert client.get("/contacts/1").status_code == 404


def test_update_form_changes_title_with_points(client, auth, member, make_member, db):
    """Another member's update applies and earns update points pending."""
    post_form(client)
    updater = make_member(email="other@northwind.example")
    auth.logout()
    auth.login("other@northwind.example")
    token = csrf_token_from(client.get("/contacts/1/update").get_data(as_text=True))
    data = {k: v for k, v in FORM.items() if k not in ("email", "phone")}
    response = client.post(
        "/contacts/1/update",
        data=dict(data, title="Chief Revenue Officer", csrf_token=token),
    )
    assert response.status_code == 302
    assert db.session.get(Contact, 1).title == "Chief Revenue Officer"
    assert ledger.balance(db.session, updater.id).pending == 5


def test_update_form_can_fix_a_name_and_keeps_blank_email(
    client, auth, member, make_member, db
):
    """The update form applies a corrected spelling and a blank email keeps it."""
    post_form(client, last_name="Ramen")
    make_member(email="other@northwind.example")
    auth.logout()
    auth.login("other@northwind.example")
    token = csrf_token_from(client.get("/contacts/1/update").get_data(as_text=True))
    data = {k: v for k, v in FORM.items() if k not in ("email", "phone")}
    client.post("/contacts/1/update", data=dict(data, csrf_token=token))
    contact = db.session.get(Contact, 1)
    assert contact.last_name == "Raman"
    assert contact.email == "priya.raman@brightwater-analytics.com"


def test_duplicate_check_is_rate_limited(app, client, member):
    """The live duplicate check cannot be used to test addresses in bulk."""
    app.config["DUPLICATE_CHECK_LIMIT"] = "3 per hour"
    query = {"first_name": "Priya", "last_name": "Raman", "email": "a@b-corp.com"}
    statuses = [
        client.get("/contacts/new/duplicates", query_string=query).status_code
        for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]


def test_duplicate_warning_keeps_the_chosen_answer(client, member, db):
    """Typing after choosing "different person" does not clear the choice."""
    post_form(client)
    html = client.get(
        "/contacts/new/duplicates",
        query_string={
            "first_name": "Pirya",
            "last_name": "Raman",
            "company": "Brightwater Analytics",
            "duplicate_decision": "different",
        },
        headers={"HX-Request": "true"},
    ).get_data(as_text=True)
    assert 'value="different" checked' in html
