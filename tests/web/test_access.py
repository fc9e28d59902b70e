"""Role gating: who may open which page (role x route)."""

from __future__ import annotations

import pytest

ROLES = ["anonymous", "member", "org_admin", "moderator", "admin"]

# route -> roles allowed in (anonymous visitors are sent to log in).
ROUTES = {
    "/": set(ROLES),
    "/auth/login": set(ROLES),
    "/account/profile": {"member", "org_admin", "moderator", "admin"},
    "/points": {"member", "org_admin", "moderator", "admin"},
    "/contacts/new": {"member", "org_admin", "moderator", "admin"},
    "/contacts/import": {"member", "org_admin", "moderator", "admin"},
    "/my/contacts": {"member", "org_admin", "moderator", "admin"},
    "/companies": {"member", "org_admin", "moderator", "admin"},
    "/search": {"member", "org_admin", "moderator", "admin"},
    "/admin": {"admin"},
    "/admin/jobs": {"admin"},
    "/admin/outbox": {"admin"},
    "/admin/audit": {"admin"},
    "/admin/audit/export": {"admin"},
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", list(ROUTES))
def test_access_matrix(client, auth, make_member, role, path):
    """Each role gets 200 where allowed, a login redirect or 403 elsewhere."""
    if role != "anonymous":
        make_member(email=f"{role}@northwind.example", role=role)
        auth.login(f"{role}@northwind.example")
    response = client.get(path)
    if role in ROUTES[path]:
        # Logged-in members visiting /auth/login are sent home: still allowed.
        assert response.status_code in (200, 302)
        if response.status_code == 302:
            assert path == "/auth/login" and response.headers["Location"] == "/"
    elif role == "anonymous":
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/auth/login")
    else:
        assert response.status_code == 403
        assert "Not allowed" in response.get_data(as_text=True)


@pytest.mark.parametrize("role", ["member", "org_admin", "moderator"])
def test_non_admins_cannot_start_admin_jobs(client, auth, make_member, db, role):
    """The demo-data job cannot be started by anyone but an admin."""
    from sqlalchemy import select

    from portal.models import JobRun
    from tests.conftest import csrf_token_from

    make_member(email=f"{role}@northwind.example", role=role)
    auth.login(f"{role}@northwind.example")
    token = csrf_token_from(client.get("/").get_data(as_text=True))
    response = client.post(
        "/admin/demo-data", data={"contacts": "10", "seed": "3", "csrf_token": token}
    )
    assert response.status_code == 403
    assert db.session.scalar(select(JobRun)) is None


def test_anonymous_htmx_request_gets_401_not_redirect(client):
    """htmx cannot follow a login redirect into a fragment: it gets 401."""
    response = client.get("/admin", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Retarget"] == "#messages"


def test_admin_navigation_only_for_admins(client, auth, make_member):
    """The Admin link shows for admins and not for moderators."""
    make_member(email="mod@northwind.example", role="moderator")
    make_member(email="adm@northwind.example", role="admin")
    auth.login("mod@northwind.example")
    assert 'href="/admin"' not in client.get("/").get_data(as_text=True)
    auth.logout()
    auth.login("adm@northwind.example")
    assert 'href="/admin"' in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("role", "owner", "expected"),
    [
        ("member", True, 200),
        ("member", False, 404),
        ("org_admin", False, 404),
        ("moderator", False, 200),
        ("admin", False, 200),
    ],
)
def test_held_contact_access(
    client, auth, make_member, make_contact, role, owner, expected
):
    """A held contact is visible to its contributor and to staff only."""
    from portal.models import ContactState

    member = make_member(email=f"{role}@northwind.example", role=role)
    contact = make_contact(
        state=ContactState.HELD, owner_id=member.id if owner else None
    )
    auth.login(f"{role}@northwind.example")
    assert client.get(f"/contacts/{contact.id}").status_code == expected


def test_contribution_file_belongs_to_uploader(client, auth, make_member, db):
    """Another member's file and report are 404; an admin may look."""
    from portal.models import ContributionFile

    owner = make_member(email="owner@northwind.example")
    make_member(email="other@northwind.example")
    make_member(email="boss@northwind.example", role="admin")
    contribution = ContributionFile(
        member_id=owner.id, filename="a.csv", content=b"x", attestation="yes"
    )
    db.session.add(contribution)
    db.session.commit()
    for email, expected in (
        ("other@northwind.example", 404),
        ("owner@northwind.example", 200),
        ("boss@northwind.example", 200),
    ):
        auth.login(email)
        assert client.get(f"/contacts/import/{contribution.id}").status_code == expected
        assert (
            client.get(f"/contacts/import/{contribution.id}/report.csv").status_code
            == expected
        )
        auth.logout()
