"""Single-use tokens for emailed links: account verification, password reset,
the privacy center's access links. One module, so every link is as strong as
the best of them.

A token reads ``selector.verifier``:

* the selector (16 random bytes) finds the row, so no secret is ever compared
  inside the database, where an index lookup's timing could leak it;
* the verifier (32 random bytes) is stored only as its SHA-256, and compared
  with ``hmac.compare_digest``; a copy of the table opens nothing.

A token serves one ``purpose`` (a reset token cannot verify an email) and one
``subject`` (what it is about, e.g. ``member:42:ann@acme.example``), expires at
a time the caller chooses, and is consumed at most once: ``consume`` is a
conditional UPDATE on ``used_at IS NULL``, so of two requests racing with the
same link exactly one gets through, on either database. Issuing a new token for
the same purpose and subject retires the older ones.

Functions take the session to work in and flush; the caller commits.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.models import OneTimeToken

SELECTOR_BYTES = 16
VERIFIER_BYTES = 32
_TOKEN = re.compile(r"([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})")
# Compared against when the selector is unknown, so a miss costs the same.
_DUMMY_HASH = hashlib.sha256(b"no such token").hexdigest()


class TokenRefused(Exception):
    """The link cannot be used; ``reason`` says why, ``message`` says it to a person."""

    reason = "invalid"
    message = "This link is not valid. Check that you copied all of it."


class TokenInvalid(TokenRefused):
    """Unknown, malformed, tampered with, or for another purpose."""


class TokenExpired(TokenRefused):
    reason = "expired"
    message = "This link has expired, or a newer link has been sent since."


class TokenUsed(TokenRefused):
    reason = "used"
    message = "This link has already been used. Each link works once."


def _hash(verifier: str) -> str:
    return hashlib.sha256(verifier.encode()).hexdigest()


def issue(
    session: Session,
    purpose: str,
    subject: str,
    lifetime: timedelta,
    now: datetime,
) -> str:
    """Create a token for ``purpose`` and ``subject``, valid for ``lifetime``;
    earlier unused tokens for the same pair stop working. Returns the secret
    token (to put in a link); only its hash is kept."""
    session.execute(
        update(OneTimeToken)
        .where(
            OneTimeToken.purpose == purpose,
            OneTimeToken.subject == subject,
            OneTimeToken.used_at.is_(None),
            OneTimeToken.expires_at > now,
        )
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )
    selector = secrets.token_urlsafe(SELECTOR_BYTES)
    verifier = secrets.token_urlsafe(VERIFIER_BYTES)
    session.add(
        OneTimeToken(
            purpose=purpose,
            selector=selector,
            verifier_hash=_hash(verifier),
            subject=subject,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    session.flush()
    return f"{selector}.{verifier}"


def _find(session: Session, purpose: str, token: str) -> OneTimeToken:
    match = _TOKEN.fullmatch(token or "")
    if match is None:
        raise TokenInvalid()
    selector, verifier = match.groups()
    row = session.scalar(
        select(OneTimeToken).where(
            OneTimeToken.selector == selector, OneTimeToken.purpose == purpose
        )
    )
    stored = row.verifier_hash if row is not None else _DUMMY_HASH
    if not hmac.compare_digest(stored, _hash(verifier)) or row is None:
        raise TokenInvalid()
    return row


def _usable(session: Session, purpose: str, token: str, now: datetime) -> OneTimeToken:
    row = _find(session, purpose, token)
    if row.used_at is not None:
        raise TokenUsed()
    if row.expires_at <= now:
        raise TokenExpired()
    return row


def check(session: Session, purpose: str, token: str, now: datetime) -> str:
    """The subject of a usable token, without using it up.

    Raises ``TokenInvalid``, ``TokenUsed`` or ``TokenExpired``.
    """
    return _usable(session, purpose, token, now).subject


def consume(session: Session, purpose: str, token: str, now: datetime) -> str:
    """Use the token up and return its subject; at most one caller ever
    succeeds for a given token, however many race.

    Raises ``TokenInvalid``, ``TokenUsed`` or ``TokenExpired``.
    """
    row = _usable(session, purpose, token, now)
    taken = session.execute(
        update(OneTimeToken)
        .where(
            OneTimeToken.id == row.id,
            OneTimeToken.used_at.is_(None),
            OneTimeToken.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:
        raise TokenUsed()
    return row.subject
