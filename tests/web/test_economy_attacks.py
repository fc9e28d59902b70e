"""Attacks on the points economy, performed through the web as an attacker
would: each one got through before its fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from portal import ledger
from portal.models import Contact, ContactState, EntryKind, Flag, FlagKind
from portal.points import services as points
from tests.conftest import csrf_token_from

EMAIL = "grace.hopper@navy-systems.com"
PHONE = "+442079460958"


@pytest.fixture
def pool_contact(make_company, make_contact):
    """A masked demo/operator contact: nobody owns it."""
    company = make_company(name="Navy Systems", domain="navy-systems.com")
    return make_contact(
        company=company,
        first_name="Grace",
        last_name="Hopper",
        title="Head of Engineering",
        email=EMAIL,
        phone=PHONE,
        city="Arlington",
        country="US",
    )


@pytest.fixture
def attacker(make_member, auth, db):
    """A fresh member with the sign-up grant of 20 points, logged in."""
    member = make_member(email="attacker@northwind.example")
    ledger.record(db.session, member.id, 20, EntryKind.SIGNUP_GRANT, "grant")
    db.session.commit()
    auth.login("attacker@northwind.example")
    return member


def update_form(client, contact_id, **changes):
    """Submit the update form as the browser pre-fills it, with ``changes``."""
    page = client.get(f"/contacts/{contact_id}/update").get_data(as_text=True)
    data = {
        "first_name": "Grace",
        "last_name": "Hopper",
        "title": "Head of Engineering",
        "company": "Navy Systems",
        "city": "Arlington",
        "country": "US",
        "attest": "y",
        "csrf_token": csrf_token_from(page),
        **changes,
    }
    return client.post(f"/contacts/{contact_id}/update", data=data)


def test_updating_a_pool_contact_reveals_nothing(client, attacker, pool_contact, db):
    """A new city on a masked pool contact neither shows its email or phone
    (page and htmx fragment) nor costs or earns anything, nor makes an owner."""
    response = update_form(client, pool_contact.id, city="Baltimore")
    assert response.status_code == 302
    page = client.get(f"/contacts/{pool_contact.id}").get_data(as_text=True)
    fragment = client.get(
        f"/contacts/{pool_contact.id}", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    for html in (page, fragment):
        assert "Baltimore" in html
        assert EMAIL not in html and "grace.hopper" not in html
        assert PHONE not in html and "7946" not in html
    assert ledger.balance(db.session, attacker.id) == ledger.Balance(20, 0)
    db.session.expire_all()
    assert db.session.get(Contact, pool_contact.id).owner_id is None


def test_an_update_pays_no_royalties_later(
    client, auth, attacker, pool_contact, make_member, db
):
    """Another member's reveal after the update pays the updater nothing."""
    update_form(client, pool_contact.id, city="Baltimore")
    buyer = make_member(email="buyer@northwind.example")
    ledger.record(db.session, buyer.id, 10, EntryKind.PURCHASE, "fund")
    db.session.commit()
    auth.logout()
    auth.login("buyer@northwind.example")
    page = client.get(f"/contacts/{pool_contact.id}").get_data(as_text=True)
    client.post(
        f"/contacts/{pool_contact.id}/unlock",
        data={"csrf_token": csrf_token_from(page)},
    )
    assert ledger.balance(db.session, buyer.id).vested == 0
    assert ledger.balance(db.session, attacker.id) == ledger.Balance(20, 0)


def test_the_updater_sees_only_the_detail_they_supplied(client, attacker, pool_contact):
    """Supplying a new phone shows that phone, and still not the email."""
    update_form(client, pool_contact.id, phone="+44 20 7946 0000")
    page = client.get(f"/contacts/{pool_contact.id}").get_data(as_text=True)
    assert "+44 20 7946 0000" in page and "tel:+44-20-7946-0000" in page
    assert EMAIL not in page
    assert "Reveal email and phone" in page


@pytest.fixture
def owned_contact(pool_contact, make_member, db):
    """Another member's active contact."""
    pool_contact.owner_id = make_member(email="owner@northwind.example").id
    db.session.commit()
    return pool_contact


def test_an_unrelated_email_does_not_hide_a_contact(
    client, auth, attacker, owned_contact, make_member, db
):
    """An update to an email at an unrelated domain becomes a proposal: the
    contact stays active, unchanged and visible to everyone."""
    response = update_form(client, owned_contact.id, email="grace@evil-corp.com")
    assert response.status_code == 302
    db.session.expire_all()
    contact = db.session.get(Contact, owned_contact.id)
    assert (contact.state, contact.email) == (ContactState.ACTIVE, EMAIL)
    flag = db.session.scalars(select(Flag)).one()
    assert flag.kind == FlagKind.PROPOSED_CHANGE
    assert flag.proposal == {"email": "grace@evil-corp.com"}
    assert flag.reporter_id == attacker.id
    make_member(email="bystander@northwind.example")
    auth.logout()
    auth.login("bystander@northwind.example")
    assert client.get(f"/contacts/{owned_contact.id}").status_code == 200


def test_another_contacts_email_is_a_proposal_not_an_answer(
    client, attacker, owned_contact, make_contact, db
):
    """Putting another contact's email on this one neither applies nor says
    "another contact already uses this email"."""
    other = make_contact(
        company=owned_contact.company, email="ada.lovelace@navy-systems.com"
    )
    response = update_form(client, owned_contact.id, email=other.email)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "already uses" not in page
    assert "Sent to a moderator" in page
    db.session.expire_all()
    assert db.session.get(Contact, owned_contact.id).email == EMAIL


def challenge(client, contact_id, kind="wrong_info"):
    page = client.get(f"/contacts/{contact_id}").get_data(as_text=True)
    return client.post(
        f"/contacts/{contact_id}/challenge",
        data={"kind": kind, "details": "", "csrf_token": csrf_token_from(page)},
    )


@pytest.fixture
def many_contacts(make_company, make_contact):
    company = make_company(name="Navy Systems", domain="navy-systems.com")
    return [make_contact(company=company) for _ in range(8)]


def test_challenges_are_limited_per_day_by_tier(client, attacker, many_contacts, db):
    """A Rookie's fourth challenge of the day is refused: 8 attempts dispute 3
    contacts, not 8."""
    statuses = [challenge(client, contact.id).status_code for contact in many_contacts]
    assert statuses == [200] * 3 + [409] * 5
    html = challenge(client, many_contacts[-1].id).get_data(as_text=True)
    assert "You have sent 3 challenges today" in html
    disputed = db.session.scalar(
        select(func.count())
        .select_from(Contact)
        .where(Contact.state == ContactState.DISPUTED)
    )
    assert disputed == 3


def test_dismissed_challenges_bar_the_challenger(
    client, auth, attacker, many_contacts, db
):
    """Three dismissed challenges within 30 days bar challenging for 14 days,
    with a message that says until when; after that it works again."""
    start = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        auth.login("attacker@northwind.example")
        for contact in many_contacts[:3]:
            assert challenge(client, contact.id).status_code == 200
        for flag in db.session.scalars(select(Flag)).all():
            points.settle_dismissed_challenge(
                db.session, flag, start, moderator_id=None, resolution="Fine."
            )
        db.session.commit()
    with time_machine.travel(start + timedelta(days=13), tick=False):
        response = challenge(client, many_contacts[3].id)
        assert response.status_code == 409
        assert "cannot challenge contacts until 16 Nov 2026" in response.get_data(
            as_text=True
        )
    with time_machine.travel(start + timedelta(days=14, minutes=1), tick=False):
        client.delete_cookie("session")  # a login lasts 14 days
        auth.login("attacker@northwind.example")
        assert challenge(client, many_contacts[3].id).status_code == 200
