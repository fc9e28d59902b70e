"""A member's consent page: attribution, notifications, export, deletion."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from portal.contacts.services import ATTESTATION_TEXT
from portal.models import (
    AuditEntry,
    Contact,
    Member,
    MemberSession,
    Revision,
)
from tests.conftest import csrf_token_from
from tests.privacy_helpers import contribute_as


def _token(client) -> str:
    return csrf_token_from(client.get("/account/consent").get_data(as_text=True))


def test_attribution_by_display_name_shows_on_contributions(
    app, db, client, auth, make_member
):
    """Pseudonym by default; the display name once the member chooses it."""
    member = make_member(email="ann@northwind.example", display_name="Ann Lee")
    contact = contribute_as(db, member).contact
    auth.login(member.email)
    page = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert f"by member {member.pseudonym}" in page
    response = client.post(
        "/account/consent",
        data={
            "csrf_token": _token(client),
            "attribution": "display_name",
            "weekly_digest": "y",
        },
    )
    assert response.status_code == 303
    page = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert "by Ann Lee" in page
    consent_page = client.get("/account/consent").get_data(as_text=True)
    assert "signed as <strong>Ann Lee</strong>" in consent_page
    export = json.loads(client.get("/account/export.json").get_data())
    assert export["consent"] == {
        "attribution": "display_name",
        "notify_royalties": False,
        "notify_challenges": False,
        "weekly_digest": True,
    }


def test_export_holds_profile_contributions_ledger_reveals(
    app, db, client, auth, make_member
):
    """The JSON export has every part of the member's account data."""
    member = make_member(email="ann@northwind.example")
    contact = contribute_as(db, member).contact
    auth.login(member.email)
    response = client.get("/account/export.json")
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.get_data())
    assert data["profile"]["email"] == "ann@northwind.example"
    assert data["contributions"][0]["contact_id"] == contact.id
    assert data["contributions"][0]["attestation"] == ATTESTATION_TEXT
    assert data["ledger"][0]["kind"] == "contribution"
    assert data["reveals"] == [] and data["disclosures"] == []


def test_deleting_the_account_erases_it_and_keeps_contributions(
    app, db, client, auth, make_member
):
    """Sessions end, personal data goes, contributions pass to the pool, and
    the audit log says so without the member's email."""
    member = make_member(email="ann@northwind.example", display_name="Ann Lee")
    contact = contribute_as(db, member).contact
    auth.login(member.email)
    wrong = client.post(
        "/account/delete", data={"csrf_token": _token(client), "password": "nope"}
    )
    assert wrong.status_code == 422
    assert "That is not your password." in wrong.get_data(as_text=True)
    response = client.post(
        "/account/delete",
        data={"csrf_token": _token(client), "password": "correct horse battery"},
    )
    assert response.status_code == 303
    db.session.expire_all()
    gone = db.session.get(Member, member.id)
    assert gone.email.endswith("@deleted.invalid")
    assert gone.display_name == "Deleted member"
    assert db.session.scalar(select(func.count(MemberSession.id))) == 0
    kept = db.session.get(Contact, contact.id)
    assert kept is not None and kept.owner_id is None
    assert db.session.scalar(select(Revision.member_id)) == member.id
    entry = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "member.account_deleted")
    )
    assert entry.actor_label == "system" and entry.target_id == str(member.id)
    assert client.get("/account/consent").status_code == 302
    assert auth.login("ann@northwind.example").status_code == 401
