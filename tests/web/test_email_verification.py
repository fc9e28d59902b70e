"""Email verification: a single-use emailed link on PUBLIC_URL proves the
address before a new member can contribute, reveal or get the sign-up grant;
the link's origin never comes from the request."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from portal import create_app, ledger
from portal.auth.services import start_email_verification
from portal.models import (
    AuditEntry,
    LedgerEntry,
    Member,
    OutboxMessage,
    Unlock,
)
from portal.models.base import utcnow
from tests.conftest import AuthActions, IsolatedClient, csrf_token_from
from tests.factories import PRIYA

PUBLIC = "https://tessera.test"
EMAIL = "rita@northwind.example"
HTMX = {"HX-Request": "true"}
LINK = re.compile(r"https?://\S+/auth/verify/\S+")


@pytest.fixture
def app_config(app_config):
    return {**app_config, "PUBLIC_URL": PUBLIC}


def _register(client, **headers):
    page = client.get("/auth/register", headers=headers)
    token = csrf_token_from(page.get_data(as_text=True))
    return client.post(
        "/auth/register",
        data={
            "display_name": "Rita Rep",
            "email": EMAIL,
            "password": "a long enough password",
            "confirm": "a long enough password",
            "csrf_token": token,
        },
        headers=headers,
    )


def _emails(db) -> list[OutboxMessage]:
    db.session.expire_all()
    return db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()


def _link(message: OutboxMessage) -> str:
    return LINK.search(message.body_text).group(0)


def _path(link: str) -> str:
    return link.removeprefix(PUBLIC)


def _confirm(client, link: str):
    page = client.get(_path(link))
    token = csrf_token_from(page.get_data(as_text=True))
    return client.post(_path(link), data={"csrf_token": token})


def _member(db) -> Member:
    db.session.expire_all()
    return db.session.scalar(select(Member).where(Member.email == EMAIL))


def _balance(db, member: Member) -> int:
    return ledger.vested_balance(db.session, member.id)


def _assert_links_on_public_url(message: OutboxMessage) -> None:
    assert "evil.example" not in message.body_text
    links = re.findall(r"https?://\S+", message.body_text)
    assert links and all(link.startswith(PUBLIC + "/") for link in links)


@pytest.mark.parametrize(
    "headers", [{"Host": "evil.example"}, {"Host": "evil.example:8080"}]
)
def test_host_header_never_reaches_the_email(client, db, headers):
    """Registering with a poisoned Host leaves every link in the email on
    PUBLIC_URL."""
    assert _register(client, **headers).status_code == 302
    (message,) = _emails(db)
    _assert_links_on_public_url(message)


def test_forwarded_host_behind_a_proxy_never_reaches_the_email(app_config, db):
    """Behind a trusted proxy (PROXY_FIX), a forged X-Forwarded-Host is the
    request's host, and still not the links'."""
    proxied = create_app({**app_config, "PROXY_FIX": True})
    proxied.test_client_class = IsolatedClient
    forwarded = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"}
    try:
        assert _register(proxied.test_client(), **forwarded).status_code == 302
    finally:
        with proxied.app_context():
            db.engine.dispose()
    (message,) = _emails(db)
    _assert_links_on_public_url(message)


def test_resent_link_ignores_the_host_header_too(client, db):
    """A new link asked for from a poisoned Host is still on PUBLIC_URL."""
    evil = {"Host": "evil.example"}
    _register(client, **evil)
    token = csrf_token_from(client.get("/", headers=evil).get_data(as_text=True))
    client.post("/auth/verification/resend", data={"csrf_token": token}, headers=evil)
    resent = _emails(db)[-1]
    assert resent.kind == "verify_email"
    assert "evil.example" not in resent.body_text
    assert _link(resent).startswith(PUBLIC + "/auth/verify/")


def test_registration_waits_for_the_link(client, db):
    """A new account is unverified, has no points, and sees the banner."""
    _register(client)
    member = _member(db)
    assert member.email_verified_at is None
    assert _balance(db, member) == 0
    home = client.get("/").get_data(as_text=True)
    assert 'id="verify-banner"' in home
    assert "follow the link we sent to <strong>rita@northwind.example</strong>" in (
        home
    )
    (message,) = _emails(db)
    assert message.to_address == EMAIL and message.kind == "welcome"
    assert "within 48 hours" in message.body_text


def test_following_the_link_verifies_and_grants_once(client, db):
    """Opening the link shows a confirm button and changes nothing; confirming
    verifies the address, vests the grant once and clears the banner."""
    _register(client)
    link = _link(_emails(db)[0])
    page = client.get(_path(link))
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "Confirm my email address" in page.get_data(as_text=True)
    assert _member(db).email_verified_at is None

    response = _confirm(client, link)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    member = _member(db)
    assert member.email_verified_at is not None
    assert _balance(db, member) == 20
    home = client.get("/").get_data(as_text=True)
    assert 'id="verify-banner"' not in home
    assert "Your 20 starting points are ready to spend." in home
    actions = db.session.scalars(select(AuditEntry.action)).all()
    assert "member.email_verified" in actions

    again = client.post(
        _path(link), data={"csrf_token": csrf_token_from(home)}
    ).get_data(as_text=True)
    assert "This link was already used" in again
    assert _balance(db, _member(db)) == 20


def test_link_works_from_another_browser_without_logging_in(app, client, db):
    """The link proves the address wherever it is opened; then the person logs in."""
    _register(client)
    link = _link(_emails(db)[0])
    phone = app.test_client()
    response = _confirm(phone, link)
    assert response.headers["Location"] == "/auth/login"
    assert _member(db).email_verified_at is not None


def test_expired_link_has_a_clear_page_and_a_new_link_works(client, db):
    """After 48 hours the link says it expired and offers a new one, which works."""
    _register(client)
    link = _link(_emails(db)[0])
    with time_machine.travel(utcnow() + timedelta(hours=48, seconds=1)):
        expired = client.get(_path(link))
        assert expired.status_code == 410
        html = expired.get_data(as_text=True)
        assert "This link has expired" in html
        assert "Send me a new link" in html
        refused = client.post(_path(link), data={"csrf_token": csrf_token_from(html)})
        assert refused.status_code == 410
        assert _member(db).email_verified_at is None
        client.post(
            "/auth/verification/resend", data={"csrf_token": csrf_token_from(html)}
        )
        assert _confirm(client, _link(_emails(db)[-1])).status_code == 302
    assert _member(db).email_verified_at is not None


def test_a_resend_retires_the_older_link(client, db):
    """Only the newest link works."""
    _register(client)
    first = _link(_emails(db)[0])
    client.post(
        "/auth/verification/resend",
        data={"csrf_token": csrf_token_from(client.get("/").get_data(as_text=True))},
    )
    second = _link(_emails(db)[-1])
    assert first != second
    assert client.get(_path(first)).status_code == 410
    assert _confirm(client, second).status_code == 302


@pytest.mark.parametrize(
    "tamper",
    [
        lambda path: path[:-1] + ("A" if path[-1] != "A" else "B"),
        lambda path: path.rsplit(".", 1)[0],
        lambda path: "/auth/verify/not-a-token",
        lambda path: path + "%00",
    ],
)
def test_tampered_link_has_a_clear_page(client, db, tamper):
    """A changed link is 'not valid', verifies nothing, and the real one still works."""
    _register(client)
    path = _path(_link(_emails(db)[0]))
    page = client.get(tamper(path))
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert "This link does not work" in html
    posted = client.post(tamper(path), data={"csrf_token": csrf_token_from(html)})
    assert posted.status_code == 400
    assert _member(db).email_verified_at is None
    assert _confirm(client, path).status_code == 302


def test_link_for_an_address_no_longer_on_the_account_is_refused(client, db):
    """The link proves the address it was sent to, not the account's current one."""
    _register(client)
    link = _link(_emails(db)[0])
    member = _member(db)
    member.email = "someone.else@northwind.example"
    db.session.commit()
    assert client.get(_path(link)).status_code == 400


def test_two_browsers_racing_with_one_link_verify_once(app, client, db):
    """Six browsers post the same link at once: one succeeds, one grant."""
    _register(client)
    path = _path(_link(_emails(db)[0]))
    browsers = []
    for _ in range(6):
        browser = app.test_client()
        token = csrf_token_from(browser.get(path).get_data(as_text=True))
        browsers.append((browser, token))
    db.session.remove()
    start = threading.Barrier(len(browsers))
    statuses: list[int] = []

    def confirm(browser, token) -> None:
        start.wait()
        statuses.append(browser.post(path, data={"csrf_token": token}).status_code)

    threads = [threading.Thread(target=confirm, args=pair) for pair in browsers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [302] + [410] * 5
    member = _member(db)
    grants = db.session.scalar(
        select(func.count()).where(LedgerEntry.member_id == member.id)
    )
    assert grants == 1 and _balance(db, member) == 20


def test_resend_is_rate_limited(app, client, db):
    """Asking for new links is limited per member."""
    app.config["VERIFY_RESEND_LIMIT"] = "2 per hour"
    _register(client)
    token = csrf_token_from(client.get("/").get_data(as_text=True))
    statuses = [
        client.post("/auth/verification/resend", data={"csrf_token": token}).status_code
        for _ in range(3)
    ]
    assert statuses == [302, 302, 429]
    assert len(_emails(db)) == 3  # the welcome and two new links


def test_resend_when_already_verified_sends_nothing(client, auth, make_member, db):
    """A verified member asking for a link is told so, and no email goes out."""
    make_member(email="done@northwind.example")
    auth.login("done@northwind.example")
    token = csrf_token_from(client.get("/").get_data(as_text=True))
    client.post("/auth/verification/resend", data={"csrf_token": token})
    assert "already confirmed" in client.get("/").get_data(as_text=True)
    assert _emails(db) == []


# Every route an unverified member may not use: (method, path builder).
GATED = [
    ("GET", lambda c: "/contacts/new"),
    ("POST", lambda c: "/contacts/new"),
    ("GET", lambda c: "/contacts/new/companies?company=Bright"),
    ("GET", lambda c: "/contacts/new/duplicates?first_name=Priya&last_name=Raman"),
    ("POST", lambda c: f"/contacts/{c.id}/unlock"),
    ("POST", lambda c: f"/contacts/{c.id}/confirm"),
    ("POST", lambda c: f"/contacts/{c.id}/challenge"),
    ("GET", lambda c: f"/contacts/{c.id}/update"),
    ("POST", lambda c: f"/contacts/{c.id}/update"),
    ("GET", lambda c: "/contacts/import"),
    ("POST", lambda c: "/contacts/import"),
]


@pytest.fixture
def unverified(app, make_member, db):
    """A logged-in member who has not followed the link, with 50 points."""
    member = make_member(email=EMAIL, email_verified_at=None)
    ledger.record(db.session, member.id, 50, ledger.EntryKind.PURCHASE, "fund")
    db.session.commit()
    client = app.test_client()
    AuthActions(client).login(EMAIL)
    return member, client


@pytest.fixture
def priya(make_company, make_contact):
    company = make_company(name=PRIYA["company"], domain=PRIYA["company_domain"])
    return make_contact(
        company=company,
        first_name="Priya",
        last_name="Raman",
        email=PRIYA["email"],
        phone="+442079460958",
    )


@pytest.mark.parametrize(("method", "path"), GATED)
def test_unverified_member_gets_a_clear_403(unverified, priya, db, method, path):
    """Contribute, reveal, confirm, challenge, update, import: 403 with a page
    that says to confirm the address; nothing is done."""
    member, client = unverified
    token = csrf_token_from(client.get("/").get_data(as_text=True))
    data = {**PRIYA, "attest": "y", "kind": "wrong_info", "csrf_token": token}
    response = client.open(path(priya), method=method, data=data)
    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert "Confirm your email address first" in html
    assert f"Follow the link we emailed to {EMAIL}" in html
    assert "Send a new link" in html  # the banner, on the full page
    assert db.session.scalar(select(func.count()).select_from(Unlock)) == 0
    assert _balance(db, member) == 50


@pytest.mark.parametrize(("method", "path"), GATED)
def test_unverified_member_gets_the_message_in_place_with_htmx(
    unverified, priya, method, path
):
    """htmx gets the 403 message retargeted into the page's message area."""
    _, client = unverified
    token = csrf_token_from(client.get("/").get_data(as_text=True))
    response = client.open(
        path(priya),
        method=method,
        data={"csrf_token": token},
        headers={**HTMX, "X-CSRFToken": token},
    )
    assert response.status_code == 403
    assert response.headers["HX-Retarget"] == "#messages"
    fragment = response.get_data(as_text=True)
    assert "Confirm your email address first" in fragment
    assert 'class="site-header"' not in fragment


def test_reveal_works_once_verified(unverified, priya, db):
    """The same reveal goes through after the member follows a link."""
    member, client = unverified
    token = csrf_token_from(client.get("/").get_data(as_text=True))
    assert (
        client.post(f"/contacts/{priya.id}/unlock", data={"csrf_token": token})
    ).status_code == 403
    link = start_email_verification(db.session, member, timedelta(hours=1), utcnow())
    db.session.commit()
    assert _confirm(client, f"/auth/verify/{link}").status_code == 302
    revealed = client.post(f"/contacts/{priya.id}/unlock", data={"csrf_token": token})
    assert revealed.status_code == 200
    assert PRIYA["email"] in revealed.get_data(as_text=True)


def test_unverified_member_may_still_look_around(unverified, priya):
    """Reading pages is not gated: search, companies, a contact (masked), points."""
    _, client = unverified
    for path in ("/", "/search?q=priya", "/companies", f"/contacts/{priya.id}"):
        assert client.get(path).status_code == 200, path


def test_migration_counts_existing_accounts_as_verified(app, db):
    """Accounts in the database before verification existed stay usable: the
    migration marks them verified from their creation."""
    import flask_migrate
    from sqlalchemy import text

    db.session.remove()
    flask_migrate.downgrade(revision="0005_search_index")
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO members (email, password_hash, display_name, pseudonym,"
                " role, status, created_at) VALUES ('old@northwind.example', 'x',"
                " 'Old', 'AB12', 'member', 'active', :created)"
            ),
            {"created": utcnow() - timedelta(days=90)},
        )
    flask_migrate.upgrade()
    db.session.remove()
    old = db.session.scalar(select(Member).where(Member.display_name == "Old"))
    assert old.email_verified_at == old.created_at
