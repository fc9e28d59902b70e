"""One-time tokens: hashed at rest, single use under concurrency, expiring,
bound to their purpose, refusing tampered copies."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal import ledger, tokens
from portal.models import OneTimeToken

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _issue(db, subject="member:1:ann@acme.example", purpose="verify_email"):
    token = tokens.issue(db.session, purpose, subject, HOUR, NOW)
    db.session.commit()
    return token


def test_only_a_hash_of_the_secret_is_stored(db):
    """The table holds the selector and a SHA-256, never the verifier."""
    token = _issue(db)
    selector, verifier = token.split(".")
    row = db.session.scalar(select(OneTimeToken))
    assert row.selector == selector
    assert verifier not in (row.selector, row.verifier_hash, row.subject)
    assert len(row.verifier_hash) == 64
    # 32 random bytes, base64url without padding.
    assert len(verifier) == 43


def test_tokens_are_unique(db):
    """Two tokens for the same subject share nothing."""
    first, second = _issue(db), _issue(db)
    assert first.split(".")[0] != second.split(".")[0]
    assert first.split(".")[1] != second.split(".")[1]


def test_consume_returns_subject_once(db):
    """The first use returns the subject; the second is refused as used."""
    token = _issue(db)
    assert tokens.consume(db.session, "verify_email", token, NOW) == (
        "member:1:ann@acme.example"
    )
    db.session.commit()
    with pytest.raises(tokens.TokenUsed):
        tokens.consume(db.session, "verify_email", token, NOW)


def test_check_does_not_use_the_token(db):
    """Looking at a link (GET) leaves it usable."""
    token = _issue(db)
    for _ in range(3):
        assert tokens.check(db.session, "verify_email", token, NOW)
    tokens.consume(db.session, "verify_email", token, NOW)


def test_expiry(db):
    """Usable until its lifetime ends, refused as expired from then on."""
    token = _issue(db)
    almost = NOW + HOUR - timedelta(seconds=1)
    assert tokens.check(db.session, "verify_email", token, almost)
    with pytest.raises(tokens.TokenExpired):
        tokens.consume(db.session, "verify_email", token, NOW + HOUR)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
        lambda t: ("A" if t[0] != "A" else "B") + t[1:],
        lambda t: t.split(".")[0],
        lambda t: t + "x",
        lambda t: t.replace(".", ""),
        lambda t: "",
        lambda t: "../../etc/passwd",
        lambda t: t.split(".")[0] + "." + "A" * 43,
    ],
)
def test_tampered_tokens_are_invalid(db, tamper):
    """Any change to the token makes it unknown, and nothing is used up."""
    token = _issue(db)
    with pytest.raises(tokens.TokenInvalid):
        tokens.consume(db.session, "verify_email", tamper(token), NOW)
    assert tokens.consume(db.session, "verify_email", token, NOW)


def test_a_token_serves_its_purpose_only(db):
    """A password-reset token cannot verify an email, and the reverse."""
    reset = _issue(db, purpose="reset_password")
    with pytest.raises(tokens.TokenInvalid):
        tokens.consume(db.session, "verify_email", reset, NOW)
    assert tokens.consume(db.session, "reset_password", reset, NOW)


def test_a_new_token_retires_the_older_ones(db):
    """Asking for a new link makes the previous one stop working."""
    old = _issue(db)
    later = NOW + timedelta(minutes=5)
    new = tokens.issue(
        db.session, "verify_email", "member:1:ann@acme.example", HOUR, later
    )
    other_subject = _issue(db, subject="member:2:bo@acme.example")
    with pytest.raises(tokens.TokenExpired):
        tokens.check(db.session, "verify_email", old, later)
    assert tokens.check(db.session, "verify_email", new, later)
    assert tokens.check(db.session, "verify_email", other_subject, later)


def test_racing_uses_let_exactly_one_through(app, db):
    """Eight threads consume one token at the same moment, each on its own
    connection and transaction: exactly one gets the subject."""
    token = _issue(db)
    db.session.remove()
    start = threading.Barrier(8)
    results: list[str] = []

    def use() -> None:
        with app.app_context():
            start.wait()
            try:
                with ledger.write_transaction() as session:
                    tokens.consume(session, "verify_email", token, NOW)
            except tokens.TokenUsed:
                results.append("used")
            else:
                results.append("ok")

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == ["ok"] + ["used"] * 7
    row = db.session.scalar(select(OneTimeToken))
    assert row.used_at == NOW
