"""Admin members pages: find members, change roles, suspend and reinstate with
a reason (sessions end at once, the member is emailed), adjust points."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal import ledger
from portal.models import AuditEntry, EntryKind, LedgerEntry, Member, Organisation
from portal.models.accounts import MemberStatus
from tests.conftest import AuthActions, csrf_token_from


@pytest.fixture
def admin(client, auth, make_member):
    admin = make_member(email="root@northwind.example", role="admin")
    auth.login("root@northwind.example")
    return admin


@pytest.fixture
def people(db, make_member):
    northwind = Organisation(name="Northwind Traders")
    db.session.add(northwind)
    db.session.commit()
    return {
        "ada": make_member(
            email="ada@northwind.example",
            display_name="Ada Byron",
            organisation_id=northwind.id,
        ),
        "grace": make_member(
            email="grace@contoso.example", display_name="Grace Hopper", role="moderator"
        ),
        "linus": make_member(
            email="linus@contoso.example",
            display_name="Linus T",
            status=MemberStatus.SUSPENDED,
        ),
        "northwind": northwind,
    }


def listed(html: str) -> set[str]:
    return {
        email
        for email in (
            "ada@northwind.example",
            "grace@contoso.example",
            "linus@contoso.example",
            "root@northwind.example",
        )
        if email in html
    }


def post(client, path: str, page: str, **data):
    token = csrf_token_from(client.get(page).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})


def test_members_are_found_by_text_role_status_and_organisation(client, admin, people):
    assert listed(client.get("/admin/members").get_data(as_text=True)) == {
        "ada@northwind.example",
        "grace@contoso.example",
        "linus@contoso.example",
        "root@northwind.example",
    }
    assert listed(client.get("/admin/members?q=HOPP").get_data(as_text=True)) == {
        "grace@contoso.example"
    }
    assert listed(
        client.get("/admin/members?role=moderator").get_data(as_text=True)
    ) == {"grace@contoso.example"}
    assert listed(
        client.get("/admin/members?status=suspended").get_data(as_text=True)
    ) == {"linus@contoso.example"}
    org = people["northwind"].id
    assert listed(
        client.get(f"/admin/members?organisation={org}").get_data(as_text=True)
    ) == {"ada@northwind.example"}
    assert "ada@northwind.example" not in client.get(
        "/admin/members?organisation=0"
    ).get_data(as_text=True)


def test_search_as_you_type_returns_the_table_only(client, admin, people):
    response = client.get("/admin/members?q=ada", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="members-table">')
    assert listed(html) == {"ada@northwind.example"}


def test_like_wildcards_in_the_search_are_literal(client, admin, people):
    assert listed(client.get("/admin/members?q=%25").get_data(as_text=True)) == set()
    assert listed(client.get("/admin/members?q=_").get_data(as_text=True)) == set()


def test_member_page_shows_balance_tier_and_sessions(app, client, admin, people):
    ada = people["ada"]
    other = app.test_client()
    AuthActions(other).login(ada.email, **{"User-Agent": "AdaBrowser/1.0"})
    with ledger.write_transaction() as session:
        ledger.record(session, ada.id, 42, EntryKind.ADJUSTMENT, "test:ada:42")
    html = client.get(f"/admin/members/{ada.id}").get_data(as_text=True)
    assert "Ada Byron" in html and "Northwind Traders" in html
    assert "AdaBrowser/1.0" in html
    assert "Rookie" in html
    assert ">42<" in html


def test_suspending_ends_every_session_at_once_and_emails_the_reason(
    app, client, db, admin, people
):
    ada = people["ada"]
    theirs = app.test_client()
    AuthActions(theirs).login(ada.email)
    assert theirs.get("/my/contacts").status_code == 200

    page = f"/admin/members/{ada.id}"
    response = post(
        client, f"{page}/suspend", page, reason="Copied a competitor's roster"
    )
    assert response.status_code == 302

    # Their very next request is anonymous: sent to log in.
    assert theirs.get("/my/contacts").status_code == 302
    db.session.expire_all()
    assert db.session.get(Member, ada.id).status == MemberStatus.SUSPENDED
    outbox = client.get("/admin/outbox").get_data(as_text=True)
    assert "Your Tessera account is suspended" in outbox
    entry = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "member.suspended")
    )
    assert entry.details == {
        "reason": "Copied a competitor's roster",
        "sessions_revoked": 1,
    }
    assert entry.target_id == str(ada.id)


def test_a_suspension_needs_a_reason(client, db, admin, people):
    ada = people["ada"]
    page = f"/admin/members/{ada.id}"
    response = post(client, f"{page}/suspend", page, reason="   ")
    assert response.status_code == 422
    assert "Say why" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Member, ada.id).status == MemberStatus.ACTIVE


def test_reinstating_lets_the_member_in_again(app, client, db, admin, people):
    linus = people["linus"]
    page = f"/admin/members/{linus.id}"
    assert (
        post(client, f"{page}/reinstate", page, reason="Appeal upheld").status_code
        == 302
    )
    db.session.expire_all()
    assert db.session.get(Member, linus.id).status == MemberStatus.ACTIVE
    theirs = app.test_client()
    AuthActions(theirs).login(linus.email)
    assert theirs.get("/my/contacts").status_code == 200
    assert "Your Tessera account is active again" in client.get(
        "/admin/outbox"
    ).get_data(as_text=True)


def test_reinstating_an_active_member_is_refused(client, admin, people):
    ada = people["ada"]
    page = f"/admin/members/{ada.id}"
    response = post(client, f"{page}/reinstate", page, reason="why not")
    assert response.status_code == 409
    assert "is not suspended" in response.get_data(as_text=True)


def test_role_change_is_applied_and_audited(client, db, admin, people):
    ada = people["ada"]
    page = f"/admin/members/{ada.id}"
    assert post(client, f"{page}/role", page, role="moderator").status_code == 302
    db.session.expire_all()
    assert db.session.get(Member, ada.id).role.value == "moderator"
    entry = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "member.role_changed")
    )
    assert entry.details == {"from": "member", "to": "moderator"}


def test_an_admin_cannot_demote_or_suspend_themselves(client, db, admin):
    page = f"/admin/members/{admin.id}"
    response = post(client, f"{page}/role", page, role="member")
    assert response.status_code == 409
    assert "your own role" in response.get_data(as_text=True)
    response = post(client, f"{page}/suspend", page, reason="oops")
    assert response.status_code == 409
    db.session.expire_all()
    me = db.session.get(Member, admin.id)
    assert me.role.value == "admin" and me.status == MemberStatus.ACTIVE


def test_points_adjustment_writes_one_entry_with_the_reason(client, db, admin, people):
    ada = people["ada"]
    page = f"/admin/members/{ada.id}"
    response = post(client, f"{page}/points", page, delta="25", reason="Event prize")
    assert response.status_code == 302
    entries = db.session.scalars(
        select(LedgerEntry).where(LedgerEntry.member_id == ada.id)
    ).all()
    assert [(e.delta, e.kind, e.note) for e in entries] == [
        (25, EntryKind.ADJUSTMENT, "Event prize")
    ]
    assert ledger.vested_balance(db.session, ada.id) == 25


def test_points_cannot_go_below_zero(client, db, admin, people):
    ada = people["ada"]
    page = f"/admin/members/{ada.id}"
    response = post(client, f"{page}/points", page, delta="-5", reason="Clawback")
    assert response.status_code == 409
    assert "would make the balance negative" in response.get_data(as_text=True)
    assert ledger.vested_balance(db.session, ada.id) == 0
    assert (
        db.session.scalar(select(LedgerEntry).where(LedgerEntry.member_id == ada.id))
        is None
    )


@pytest.mark.parametrize("delta", ["0", "", "ten"])
def test_a_bad_points_change_is_explained(client, admin, people, delta):
    ada = people["ada"]
    page = f"/admin/members/{ada.id}"
    response = post(client, f"{page}/points", page, delta=delta, reason="x")
    assert response.status_code == 422
    assert 'aria-invalid="true"' in response.get_data(as_text=True)


def test_unknown_member_is_404(client, admin):
    assert client.get("/admin/members/999999").status_code == 404
