"""/points shows the member's own balances and history."""

from __future__ import annotations

from portal import ledger
from portal.models import EntryKind, EntryState


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
    assert "Signup grant" in html and "+5" in html
    assert "999" not in html
    filtered = client.get(
        "/points?kind=contribution", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert "<html" not in filtered and "Signup grant" not in filtered
    assert "Contribution" in filtered
