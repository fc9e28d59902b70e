"""/points shows the member's own balances and history."""

from __future__ import annotations

from datetime import timedelta

from portal import ledger
from portal.models import (
    EntryKind,
    EntryState,
    Revision,
    RevisionKind,
    RevisionSource,
)
from portal.models.base import utcnow
from portal.templating import format_date
from tests.conftest import csrf_token_from


def test_points_page_shows_balances_and_history(client, auth, make_member, db):
    """Vested, pending and each movement appear; another member's do not."""
    member = make_member(email="p@northwind.example")
    other = make_member(email="o@northwind.example")
    ledger.record(db.session, member.id, 20, EntryKind.SIGNUP_GRANT, "g")
    ledger.record(
        db.session, member.id, 5, EntryKind.CONTRIBUTION, "c", state=EntryState.PENDING
    )
    ledger.record(db.session, other.id, 999, EntryKind.PURCHASE, "x")
    db.session.commit()
    auth.login("p@northwind.example")
    html = client.get("/points").get_data(as_text=True)
    assert '<p class="stat" id="vested-balance">20</p>' in html
    assert '<p class="stat" id="pending-balance">5</p>' in html
    assert "Sign-up grant" in html and "+5" in html
    assert "999" not in html
    filtered = client.get(
        "/points?kind=contribution", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert "<html" not in filtered and "Sign-up grant" not in filtered
    assert "Contribution" in filtered


def test_history_names_the_contact_and_when_pending_points_vest(
    client, auth, make_member, make_contact, db, fixed_clock
):
    """A reveal reads "Reveal: <name>" (never "Unlock"), a royalty and a
    pending contribution name their contact, and the pending one says the
    day it vests."""
    buyer = make_member(email="buyer@northwind.example")
    owner = make_member(email="owner@northwind.example")
    contact = make_contact(first_name="Grace", last_name="Hopper", owner_id=owner.id)
    ledger.record(db.session, buyer.id, 30, EntryKind.PURCHASE, "fund")
    ledger.record(db.session, owner.id, 30, EntryKind.PURCHASE, "fund-owner")
    db.session.commit()
    auth.login("buyer@northwind.example")
    page = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    client.post(
        f"/contacts/{contact.id}/unlock", data={"csrf_token": csrf_token_from(page)}
    )
    html = client.get("/points").get_data(as_text=True)
    assert f'Reveal: <a href="/contacts/{contact.id}">Grace Hopper</a>' in html
    assert "Unlock" not in html

    revision = Revision(
        contact_id=contact.id,
        member_id=owner.id,
        kind=RevisionKind.CONTRIBUTION,
        source=RevisionSource.FORM,
        fields={"first_name": "Grace"},
    )
    db.session.add(revision)
    db.session.flush()
    ledger.record(
        db.session,
        owner.id,
        5,
        EntryKind.CONTRIBUTION,
        "contribution",
        state=EntryState.PENDING,
        reference=revision,
    )
    db.session.commit()
    auth.logout()
    auth.login("owner@northwind.example")
    html = client.get("/points").get_data(as_text=True)
    assert f'Royalty: <a href="/contacts/{contact.id}">Grace Hopper</a>' in html
    assert f'Contribution: <a href="/contacts/{contact.id}">Grace Hopper</a>' in html
    vests = format_date(utcnow() + timedelta(days=14))
    assert f"Vests {vests} unless challenged" in html
