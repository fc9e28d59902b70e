"""Points farming: cosmetic updates, confirmations by one's own second
account, and "different person" entries that nobody settles. Each test runs
the farm that paid before the fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from portal import ledger
from portal.models import Flag, FlagKind, Organisation
from portal.models.base import utcnow
from portal.points import services as points
from portal.points.services import Rules
from tests.conftest import csrf_token_from
from tests.factories import PRIYA

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
FARM_IP = {"REMOTE_ADDR": "203.0.113.7"}
OTHER_IP = {"REMOTE_ADDR": "198.51.100.9"}


@pytest.fixture(autouse=True)
def frozen_clock():
    """Vesting and the independence window count from "now"."""
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def login(client, auth, email):
    client.delete_cookie("session")
    auth.login(email)


def post(client, path, data, environ=None, page=None):
    html = client.get(page or path).get_data(as_text=True)
    return client.post(
        path,
        data=dict(data, csrf_token=csrf_token_from(html)),
        environ_base=environ or FARM_IP,
    )


def contribute(client, environ=None, **overrides):
    return post(client, "/contacts/new", dict(PRIYA, attest="y", **overrides), environ)


def confirm(client, contact_id, environ=None):
    return post(
        client,
        f"/contacts/{contact_id}/confirm",
        {},
        environ,
        f"/contacts/{contact_id}",
    )


def update(client, contact_id, **changes):
    data = {k: v for k, v in PRIYA.items() if k not in ("email", "phone")}
    return post(
        client, f"/contacts/{contact_id}/update", dict(data, attest="y", **changes)
    )


@pytest.fixture
def contact_id(client, auth, make_member, db):
    """Priya, contributed by an honest member from another address."""
    make_member(email="honest@northwind.example")
    login(client, auth, "honest@northwind.example")
    contribute(client, OTHER_IP)
    return 1


@pytest.mark.parametrize(
    "changes",
    [
        {"title": "Senior VP Sales EMEA"},
        {"title": "VP Sales, EMEA"},
        {"last_name": "Ramen"},
        {"city": "Manchester"},
    ],
)
def test_cosmetic_updates_earn_nothing(
    client, auth, make_member, db, contact_id, changes
):
    """A title that keeps its seniority and department, a respelt name or a new
    city applies but earns no points (before: +5 each)."""
    farmer = make_member(email="farmer@northwind.example")
    login(client, auth, "farmer@northwind.example")
    assert update(client, contact_id, **changes).status_code == 302
    assert ledger.balance(db.session, farmer.id).pending == 0


@pytest.mark.parametrize(
    "changes",
    [{"title": "Chief Revenue Officer"}, {"phone": "+44 20 7946 0000"}],
)
def test_material_updates_still_earn(
    client, auth, make_member, db, contact_id, changes
):
    """A new seniority or a new phone is worth the update points."""
    updater = make_member(email="updater@northwind.example")
    login(client, auth, "updater@northwind.example")
    update(client, contact_id, **changes)
    assert ledger.balance(db.session, updater.id).pending == 5


def test_own_second_account_on_the_same_ip_vests_nothing(client, auth, make_member, db):
    """A confirmation from the contributor's IP leaves the points pending; an
    independent member's confirmation vests them."""
    farmer = make_member(email="farmer@northwind.example")
    make_member(email="sock@northwind.example")
    make_member(email="stranger@northwind.example")
    login(client, auth, "farmer@northwind.example")
    contribute(client)
    login(client, auth, "sock@northwind.example")
    assert confirm(client, 1).status_code == 200
    assert ledger.balance(db.session, farmer.id) == ledger.Balance(0, 5)
    login(client, auth, "stranger@northwind.example")
    confirm(client, 1, OTHER_IP)
    assert ledger.balance(db.session, farmer.id) == ledger.Balance(5, 0)


def test_a_colleague_in_the_same_organisation_vests_nothing(
    client, auth, make_member, db
):
    """A confirmer of the contributor's organisation is not independent, from
    whatever address."""
    org = Organisation(name="Northwind")
    db.session.add(org)
    db.session.commit()
    farmer = make_member(email="farmer@northwind.example", organisation_id=org.id)
    make_member(email="colleague@northwind.example", organisation_id=org.id)
    login(client, auth, "farmer@northwind.example")
    contribute(client)
    login(client, auth, "colleague@northwind.example")
    confirm(client, 1, OTHER_IP)
    assert ledger.balance(db.session, farmer.id) == ledger.Balance(0, 5)


def test_the_shared_ip_counts_only_within_the_window(
    client, auth, make_member, db, frozen_clock
):
    """An address the two shared longer ago than the window does not count."""
    farmer = make_member(email="farmer@northwind.example")
    make_member(email="neighbour@northwind.example")
    login(client, auth, "neighbour@northwind.example")
    post(
        client,
        "/contacts/new",
        dict(PRIYA, attest="y", email="x@brightwater-analytics.com", first_name="Xena"),
    )
    frozen_clock.move_to(START + timedelta(days=31))
    login(client, auth, "farmer@northwind.example")
    contribute(
        client,
        OTHER_IP,
        email="tomasz.nowak@brightwater-analytics.com",
        first_name="Tomasz",
        last_name="Nowak",
    )
    login(client, auth, "neighbour@northwind.example")
    confirm(client, 2, {"REMOTE_ADDR": "192.0.2.50"})
    assert ledger.balance(db.session, farmer.id).vested == 5


def test_different_person_waits_for_a_moderator(
    client, auth, make_member, db, contact_id
):
    """A "different person" entry earns nothing until its flag is settled:
    neither 14 days nor an independent confirmation vest it; dismissing the
    flag (it is a different person) lets it vest on schedule."""
    farmer = make_member(email="farmer@northwind.example")
    make_member(email="stranger@northwind.example")
    login(client, auth, "farmer@northwind.example")
    contribute(
        client,
        email="p.raman@brightwater-analytics.com",
        duplicate_decision="different",
    )
    assert ledger.balance(db.session, farmer.id).pending == 5
    login(client, auth, "stranger@northwind.example")
    confirm(client, 2, {"REMOTE_ADDR": "192.0.2.50"})
    later = utcnow() + timedelta(days=15)
    points.vest_due_points(db.session, Rules(), later)  # the honest one's
    assert ledger.balance(db.session, farmer.id) == ledger.Balance(0, 5)
    flag = db.session.scalars(
        select(Flag).where(Flag.kind == FlagKind.POSSIBLE_DUPLICATE)
    ).one()
    points.settle_dismissed_challenge(
        db.session, flag, later, moderator_id=None, resolution="Another person."
    )
    assert points.vest_due_points(db.session, Rules(), later) == 1
    db.session.commit()
    assert ledger.balance(db.session, farmer.id) == ledger.Balance(5, 0)


def test_only_a_keyed_hash_of_the_ip_is_kept(client, auth, make_member, db, app):
    """Revisions keep a keyed hash of the address, never the address, and the
    hash depends on the secret key."""
    from portal.ip_hashes import ip_hash
    from portal.models import Revision

    make_member(email="farmer@northwind.example")
    login(client, auth, "farmer@northwind.example")
    contribute(client)
    stored = db.session.scalars(select(Revision.ip_hash)).one()
    assert "203.0.113.7" not in stored and len(stored) == 64
    assert stored == ip_hash(app.config["SECRET_KEY"], "203.0.113.7")
    assert stored != ip_hash("another key", "203.0.113.7")
