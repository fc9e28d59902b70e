"""Accounts: register, log in, log out, sessions, rate limits."""

from __future__ import annotations

from sqlalchemy import select

from portal.models import AuditEntry, Member, MemberSession
from portal.models.accounts import MemberStatus
from tests.conftest import csrf_token_from


def _register(client, **overrides):
    token = csrf_token_from(client.get("/auth/register").get_data(as_text=True))
    data = {
        "display_name": "Rita Rep",
        "email": "rita@northwind.example",
        "password": "a long enough password",
        "confirm": "a long enough password",
        "csrf_token": token,
    }
    data.update(overrides)
    return client.post("/auth/register", data=data)


def test_register_creates_member_and_logs_in(client, db):
    """Registering stores a hashed password, logs the member in and audits it."""
    response = _register(client)
    assert response.status_code == 302
    member = db.session.scalar(
        select(Member).where(Member.email == "rita@northwind.example")
    )
    assert member is not None
    assert "a long enough password" not in member.password_hash
    assert member.password_hash.startswith("$argon2")
    home = client.get("/").get_data(as_text=True)
    assert "Welcome back, Rita Rep" in home
    actions = db.session.scalars(select(AuditEntry.action)).all()
    assert "member.registered" in actions


def test_register_errors_are_shown_beside_fields(client, db):
    """Bad input re-renders the form with a message per field and writes nothing."""
    response = _register(
        client, email="not-an-email", password="short", confirm="other"
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Enter an email address like name@company.com." in html
    assert "Use 10 to 128 characters." in html
    assert 'aria-invalid="true"' in html
    assert db.session.scalar(select(Member)) is None


def test_register_duplicate_email_refused(client, make_member):
    """A second account for the same email (any case) is refused with a message."""
    make_member(email="taken@northwind.example")
    response = _register(client, email="Taken@Northwind.example")
    assert response.status_code == 422
    assert "already exists" in response.get_data(as_text=True)


def test_login_and_logout(client, auth, make_member):
    """A member logs in with the right password and out with a POST."""
    make_member(email="lou@northwind.example")
    response = auth.login("lou@northwind.example")
    assert response.status_code == 302
    assert "Welcome back" in client.get("/").get_data(as_text=True)
    assert auth.logout().status_code == 302
    assert "Welcome back" not in client.get("/").get_data(as_text=True)


def test_logout_requires_post(client, auth, make_member):
    """GET /auth/logout does not log anyone out."""
    make_member(email="lou@northwind.example")
    auth.login("lou@northwind.example")
    assert client.get("/auth/logout").status_code == 405
    assert "Welcome back" in client.get("/").get_data(as_text=True)


def test_login_does_not_reveal_whether_email_exists(client, auth, make_member):
    """Unknown email and wrong password give the same status and message."""
    make_member(email="known@northwind.example")
    unknown = auth.login("nobody@northwind.example", "whatever password")
    wrong = auth.login("known@northwind.example", "wrong password!!")
    assert unknown.status_code == wrong.status_code == 401
    message = "That email and password do not match an active account."
    assert message in unknown.get_data(as_text=True)
    assert message in wrong.get_data(as_text=True)


def test_suspended_member_cannot_log_in(client, auth, make_member):
    """A suspended member gets the same refusal as a wrong password."""
    make_member(email="sus@northwind.example", status=MemberStatus.SUSPENDED)
    response = auth.login("sus@northwind.example")
    assert response.status_code == 401
    assert "Welcome back" not in client.get("/").get_data(as_text=True)


def test_suspending_ends_a_live_session(client, auth, make_member, db):
    """A member suspended while logged in is logged out on the next request."""
    member = make_member(email="later@northwind.example")
    auth.login("later@northwind.example")
    member.status = MemberStatus.SUSPENDED
    db.session.commit()
    assert client.get("/account/profile").status_code == 302


def test_logout_invalidates_the_old_cookie(app, client, auth, make_member):
    """A copy of the session cookie taken before logout no longer logs in."""
    make_member(email="replay@northwind.example")
    auth.login("replay@northwind.example")
    cookie = client.get_cookie("session")
    assert cookie is not None
    stolen = cookie.value
    auth.logout()

    attacker = app.test_client()
    attacker.set_cookie("session", stolen)
    response = attacker.get("/account/profile")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


def test_old_cookie_works_before_logout(app, client, auth, make_member):
    """The replay test above is meaningful: the copied cookie works while live."""
    make_member(email="replay@northwind.example")
    auth.login("replay@northwind.example")
    copy = app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    assert copy.get("/account/profile").status_code == 200


def test_login_starts_a_new_session(client, auth, make_member, db):
    """Each login gets a fresh session token; the anonymous cookie is not reused."""
    make_member(email="fresh@northwind.example")
    client.get("/auth/login")
    before = client.get_cookie("session").value
    auth.login("fresh@northwind.example")
    first = client.get_cookie("session").value
    assert first != before
    auth.logout()
    auth.login("fresh@northwind.example")
    second = client.get_cookie("session").value
    assert second != first
    sessions = db.session.scalars(select(MemberSession)).all()
    assert len(sessions) == 2
    assert len({s.token_hash for s in sessions}) == 2
    assert sum(s.revoked_at is None for s in sessions) == 1


def test_failed_logins_are_rate_limited_per_account(app, client, auth, make_member):
    """After the per-account limit of failures, even the right password gets 429."""
    app.config["LOGIN_LIMIT_PER_ACCOUNT"] = "3 per 15 minutes"
    make_member(email="target@northwind.example")
    for _ in range(3):
        assert (
            auth.login("target@northwind.example", "wrong password!!").status_code
            == 401
        )
    blocked = auth.login("target@northwind.example")
    assert blocked.status_code == 429
    assert "Too many attempts" in blocked.get_data(as_text=True)


def test_account_limit_counts_failures_only(app, client, auth, make_member):
    """Successful logins do not use up the per-account allowance."""
    app.config["LOGIN_LIMIT_PER_ACCOUNT"] = "2 per 15 minutes"
    make_member(email="often@northwind.example")
    for _ in range(4):
        assert auth.login("often@northwind.example").status_code == 302
        auth.logout()


def test_failed_logins_are_rate_limited_per_ip(app, client, auth, make_member):
    """Spraying many accounts from one address hits the per-IP limit."""
    app.config["LOGIN_LIMIT_PER_IP"] = "4 per 15 minutes"
    for n in range(4):
        assert (
            auth.login(f"spray{n}@northwind.example", "guess password!").status_code
            == 401
        )
    assert auth.login("spray9@northwind.example", "guess password!").status_code == 429
    other_ip = app.test_client()
    page = other_ip.get("/auth/login", environ_base={"REMOTE_ADDR": "10.9.9.9"})
    response = other_ip.post(
        "/auth/login",
        data={
            "email": "x@northwind.example",
            "password": "guess password!",
            "csrf_token": csrf_token_from(page.get_data(as_text=True)),
        },
        environ_base={"REMOTE_ADDR": "10.9.9.9"},
    )
    assert response.status_code == 401


def test_login_next_only_follows_local_paths(client, auth, make_member):
    """An open redirect through ?next= is refused."""
    make_member(email="nx@northwind.example")
    token = auth.csrf_token()
    response = client.post(
        "/auth/login?next=https://evil.example/",
        data={
            "email": "nx@northwind.example",
            "password": "correct horse battery",
            "csrf_token": token,
        },
    )
    assert response.headers["Location"] == "/"


def test_htmx_login_redirects_whole_page(client, auth, make_member):
    """A successful htmx login answers HX-Redirect instead of a swapped page."""
    make_member(email="hx@northwind.example")
    response = auth.login("hx@northwind.example", **{"HX-Request": "true"})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/"


def test_change_password_logs_out_other_sessions(app, client, auth, make_member):
    """Changing the password keeps this login and ends every other one."""
    make_member(email="pw@northwind.example")
    auth.login("pw@northwind.example")
    other = app.test_client()
    other_auth = type(auth)(other)
    other_auth.login("pw@northwind.example")
    token = auth.csrf_token("/account/profile")
    response = client.post(
        "/account/password",
        data={
            "password-current_password": "correct horse battery",
            "password-new_password": "a brand new password",
            "password-confirm": "a brand new password",
            "password-csrf_token": token,
            "csrf_token": token,
        },
    )
    assert response.status_code == 302
    assert client.get("/account/profile").status_code == 200
    assert other.get("/account/profile").status_code == 302
    auth.logout()
    assert auth.login("pw@northwind.example", "a brand new password").status_code == 302
