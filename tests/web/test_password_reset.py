"""Forgot password: a single-use, hashed, 30-minute emailed link; the same
answer whether or not the address has an account; rate-limited."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.auth.services import verify_password
from portal.models import Member, MemberSession, OneTimeToken, OutboxMessage
from tests.conftest import AuthActions, csrf_token_from

PUBLIC = "https://tessera.test"
EMAIL = "rita@northwind.example"
LINK = re.compile(r"https?://\S+/auth/reset/(\S+)")
NEW_PASSWORD = "a brand new password"


@pytest.fixture
def app_config(app_config):
    return {**app_config, "PUBLIC_URL": PUBLIC}


@pytest.fixture
def rita(make_member):
    return make_member(email=EMAIL)


def _ask(client, email: str):
    token = csrf_token_from(client.get("/auth/forgot").get_data(as_text=True))
    return client.post(
        "/auth/forgot",
        data={"email": email, "csrf_token": token},
        follow_redirects=True,
    )


def _emails(db) -> list[OutboxMessage]:
    db.session.expire_all()
    return db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()


def _reset(client, path: str, password: str = NEW_PASSWORD, confirm: str | None = None):
    # The CSRF token belongs to the browser session, not the page: a used or
    # expired link's page has no form to take it from.
    token = csrf_token_from(client.get("/auth/forgot").get_data(as_text=True))
    return client.post(
        path,
        data={
            "password": password,
            "confirm": password if confirm is None else confirm,
            "csrf_token": token,
        },
    )


def _reset_path(db) -> str:
    message = _emails(db)[-1]
    assert message.kind == "reset_password"
    link = LINK.search(message.body_text).group(0)
    assert link.startswith(PUBLIC)
    return link.removeprefix(PUBLIC)


def _answer(html: str) -> str:
    return re.search(r'<p class="flash flash-info"[^>]*>(.*?)</p>', html).group(1)


def test_known_and_unknown_addresses_get_the_same_answer(client, db, rita):
    """Both get the same status and words; only the account gets an email."""
    known = _ask(client, EMAIL)
    unknown = _ask(client, "nobody@northwind.example")
    assert known.status_code == unknown.status_code == 200
    known_text = _answer(known.get_data(as_text=True)).replace(EMAIL, "X")
    unknown_text = _answer(unknown.get_data(as_text=True))
    assert known_text == unknown_text.replace("nobody@northwind.example", "X")
    assert "within 30 minutes" in known_text
    assert [m.to_address for m in _emails(db)] == [EMAIL]


def test_link_sets_the_password_once_and_ends_sessions(app, client, auth, db, rita):
    """The link changes the password and logs out every session; the second
    use is refused with 410; the old password stops working."""
    elsewhere = app.test_client()
    assert AuthActions(elsewhere).login(EMAIL).status_code == 302
    assert elsewhere.get("/points").status_code == 200
    _ask(client, EMAIL)
    path = _reset_path(db)
    assert client.get(path).status_code == 200
    response = _reset(client, path)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/auth/login")
    db.session.expire_all()
    member = db.session.get(Member, rita.id)
    assert verify_password(member.password_hash, NEW_PASSWORD)
    live = db.session.scalars(
        select(MemberSession).where(
            MemberSession.member_id == rita.id, MemberSession.revoked_at.is_(None)
        )
    ).all()
    assert live == []
    assert elsewhere.get("/points").status_code == 302
    assert auth.login(EMAIL).status_code == 401
    again = _reset(client, path, "yet another password 2")
    assert again.status_code == 410
    assert "already been used" in again.get_data(as_text=True)
    assert auth.login(EMAIL, NEW_PASSWORD).status_code == 302


def test_token_is_stored_hashed_and_expires_after_30_minutes(
    client, db, rita, fixed_clock
):
    """The database holds no secret part of the link, and 31 minutes later the
    link is refused as expired."""
    _ask(client, EMAIL)
    path = _reset_path(db)
    verifier = path.rsplit(".", 1)[1]
    stored = db.session.scalar(select(OneTimeToken))
    assert verifier not in (stored.verifier_hash, stored.selector, stored.subject)
    fixed_clock.shift(timedelta(minutes=31))
    response = _reset(client, path)
    assert response.status_code == 410
    db.session.expire_all()
    assert not verify_password(
        db.session.get(Member, rita.id).password_hash, NEW_PASSWORD
    )


def test_a_new_link_retires_the_older_one(client, db, rita):
    """Only the latest link works."""
    _ask(client, EMAIL)
    first = _reset_path(db)
    _ask(client, EMAIL)
    second = _reset_path(db)
    assert _reset(client, first).status_code == 410
    assert _reset(client, second).status_code == 302


def test_bad_password_shows_errors_and_keeps_the_link(client, db, rita):
    """A short or mismatched password re-shows the form and uses nothing up."""
    _ask(client, EMAIL)
    path = _reset_path(db)
    short = _reset(client, path, "short")
    assert short.status_code == 422
    assert "Use 10 to 128 characters" in short.get_data(as_text=True)
    mismatch = _reset(client, path, NEW_PASSWORD, confirm="something else entirely")
    assert mismatch.status_code == 422
    assert _reset(client, path).status_code == 302


def test_tampered_link_is_refused(client, db, rita):
    """A link with a changed verifier is invalid (400)."""
    _ask(client, EMAIL)
    path = _reset_path(db)
    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert client.get(tampered).status_code == 400


def test_requests_are_rate_limited_per_address(app, client, db, rita):
    """Past the per-address limit the answer is 429, whoever asks, and no more
    email is sent."""
    app.config["PASSWORD_RESET_LIMIT_PER_ADDRESS"] = "2 per hour"
    assert _ask(client, EMAIL).status_code == 200
    assert _ask(client, EMAIL).status_code == 200
    assert _ask(client, EMAIL).status_code == 429
    assert len(_emails(db)) == 2
