"""Attacks on the points economy, performed through the web as an attacker
would: each one got through before its fix."""

from __future__ import annotations

import pytest

from portal import ledger
from portal.models import Contact, EntryKind
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
    assert "+442079460000" in page
    assert EMAIL not in page
    assert "Reveal email and phone" in page
