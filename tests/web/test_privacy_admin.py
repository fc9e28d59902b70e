"""Admins see privacy requests, overdue first, and complete or deny them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from portal.models import (
    AuditEntry,
    PrivacyRequest,
    PrivacyRequestKind,
    PrivacyRequestState,
)
from portal.privacy.requests import open_request
from tests.conftest import csrf_token_from

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def admin(make_member, auth):
    with time_machine.travel(NOW, tick=False):
        make_member(email="admin@northwind.example", role="admin")
        auth.login("admin@northwind.example")
        yield


def _request(app, db, email: str, received: datetime) -> PrivacyRequest:
    request = open_request(
        db.session,
        PrivacyRequestKind.CORRECT,
        email,
        key=app.config["SUPPRESSION_KEY"],
        now=received,
        details={"dispute": True},
    )
    db.session.commit()
    return request


def test_overdue_requests_come_first(app, db, client, admin):
    """A request past its 30 days is listed first and marked overdue."""
    recent = _request(app, db, "a@northwind-test.com", NOW - timedelta(days=2))
    late = _request(app, db, "b@northwind-test.com", NOW - timedelta(days=31))
    page = client.get("/admin/privacy-requests").get_data(as_text=True)
    assert page.index(f"<td>{late.id}</td>") < page.index(f"<td>{recent.id}</td>")
    assert "1 overdue." in page
    assert "Overdue" in page


def test_complete_and_deny_with_a_reason(app, db, client, admin):
    """Completing or denying records the reason, the date, the admin, drops
    the clear email and writes an audit entry."""
    first = _request(app, db, "a@northwind-test.com", NOW - timedelta(days=1))
    second = _request(app, db, "b@northwind-test.com", NOW - timedelta(days=1))
    token = csrf_token_from(
        client.get("/admin/privacy-requests").get_data(as_text=True)
    )
    done = client.post(
        f"/admin/privacy-requests/{first.id}/complete",
        data={"csrf_token": token, "reason": "Title corrected by a moderator."},
    )
    denied = client.post(
        f"/admin/privacy-requests/{second.id}/deny",
        data={"csrf_token": token, "reason": "Not this person's record."},
    )
    assert done.status_code == denied.status_code == 303
    db.session.expire_all()
    first, second = (
        db.session.get(PrivacyRequest, first.id),
        db.session.get(PrivacyRequest, second.id),
    )
    assert first.state == PrivacyRequestState.COMPLETE
    assert first.outcome == "Title corrected by a moderator."
    assert first.completed_at == NOW and first.email is None
    assert second.state == PrivacyRequestState.DENIED
    assert second.outcome == "Not this person's record."
    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {"privacy.request_completed", "privacy.request_denied"} <= actions


def test_deciding_needs_a_reason_and_happens_once(app, db, client, admin):
    """No reason: nothing changes; a closed request cannot be decided again."""
    item = _request(app, db, "a@northwind-test.com", NOW)
    token = csrf_token_from(
        client.get("/admin/privacy-requests").get_data(as_text=True)
    )
    client.post(
        f"/admin/privacy-requests/{item.id}/deny",
        data={"csrf_token": token, "reason": ""},
    )
    db.session.expire_all()
    assert db.session.get(PrivacyRequest, item.id).state == PrivacyRequestState.PENDING
    for _ in range(2):
        response = client.post(
            f"/admin/privacy-requests/{item.id}/complete",
            data={"csrf_token": token, "reason": "Done."},
            follow_redirects=True,
        )
    assert "already Complete" in response.get_data(as_text=True)
