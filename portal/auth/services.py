"""Account services: passwords, registration, server-side login sessions.

Services flush; the caller commits.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal import ledger, tokens
from portal.extensions import db
from portal.models import EntryKind, Member, MemberSession, Role
from portal.models.accounts import MemberStatus
from portal.models.base import utcnow

SESSION_TOKEN_KEY = "sid"  # noqa: S105 - a session key name, not a secret
VERIFY_EMAIL = "verify_email"

_hasher = PasswordHasher()
# Verified against when the email is unknown, so a failed login takes the same
# time whether or not the account exists.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class EmailTaken(ValueError):
    """Raised when registering an email that already has an account."""


def account_email_key(email: str) -> str:
    """The form an account's email is stored, looked up and rate-limited by:
    trimmed and lower-cased, so "Ann@Acme.com " finds ann@acme.com. Never
    raises: the login and registration forms validate the address first.

    Not :func:`portal.normalise.normalise_business_email`, which checks a
    contact's business address and refuses what is not one."""
    return email.strip().lower()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def find_member(email: str) -> Member | None:
    return db.session.scalar(
        select(Member).where(func.lower(Member.email) == account_email_key(email))
    )


def register_member(
    email: str,
    password: str,
    display_name: str,
    role: Role = Role.MEMBER,
    *,
    verified_at: datetime | None = None,
    signup_grant: int = 0,
) -> Member:
    """Create a member.

    A self-registered member (no ``verified_at``) must follow the emailed link
    (``verify_email``) before contributing, revealing or getting the sign-up
    grant. An account an operator vouches for is created verified at
    ``verified_at``, with ``signup_grant`` vested points at once.

    Raises ``EmailTaken`` if the email is already used.
    """
    email = account_email_key(email)
    if find_member(email) is not None:
        raise EmailTaken(email)
    member = Member(
        email=email,
        password_hash=hash_password(password),
        display_name=display_name.strip(),
        role=role,
        email_verified_at=verified_at,
    )
    db.session.add(member)
    db.session.flush()
    if verified_at is not None:
        grant_signup_points(db.session, member, signup_grant)
    return member


def grant_signup_points(session: Session, member: Member, points: int) -> None:
    """The sign-up grant, once per member whatever calls it how often."""
    if points:
        ledger.record(
            session,
            member.id,
            points,
            EntryKind.SIGNUP_GRANT,
            f"signup_grant:{member.id}",
            reference=member,
        )


def _verification_subject(member: Member) -> str:
    # The address is part of the subject: a link proves control of the address
    # it was sent to, not of whatever the account's address is later.
    return f"member:{member.id}:{member.email}"


def start_email_verification(
    session: Session, member: Member, lifetime: timedelta, now: datetime
) -> str:
    """A new verification token for ``member`` (older ones stop working)."""
    return tokens.issue(
        session, VERIFY_EMAIL, _verification_subject(member), lifetime, now
    )


def _token_member(session: Session, subject: str) -> Member:
    kind, _, rest = subject.partition(":")
    member_id, _, email = rest.partition(":")
    member = session.get(Member, int(member_id)) if member_id.isdigit() else None
    if kind != "member" or member is None or member.email != email:
        raise tokens.TokenInvalid()
    return member


def verification_member(session: Session, token: str, now: datetime) -> Member:
    """The member a still-usable verification link is for (it stays usable).

    Raises ``tokens.TokenRefused`` (invalid, used or expired).
    """
    return _token_member(session, tokens.check(session, VERIFY_EMAIL, token, now))


def verify_email(
    session: Session, token: str, signup_grant: int, now: datetime
) -> Member:
    """Use up a verification link: the member's email is verified and the
    sign-up grant vested, in the caller's transaction.

    Raises ``tokens.TokenRefused`` (invalid, used or expired).
    """
    member = _token_member(session, tokens.consume(session, VERIFY_EMAIL, token, now))
    if member.email_verified_at is None:
        member.email_verified_at = now
    grant_signup_points(session, member, signup_grant)
    session.flush()
    return member


def authenticate(email: str, password: str) -> Member | None:
    """Return the active member with these credentials, or None.

    Unknown emails, wrong passwords and suspended members all give None, after
    the same amount of hashing work.
    """
    member = find_member(email)
    if member is None:
        verify_password(_DUMMY_HASH, password)
        return None
    if not verify_password(member.password_hash, password):
        return None
    if member.status != MemberStatus.ACTIVE:
        return None
    if _hasher.check_needs_rehash(member.password_hash):
        member.password_hash = hash_password(password)
    return member


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(member: Member, ip: str | None, user_agent: str | None) -> str:
    """Record a new login for ``member`` and return its (secret) token."""
    token = secrets.token_urlsafe(32)
    db.session.add(
        MemberSession(
            member_id=member.id,
            token_hash=_token_hash(token),
            ip=ip,
            user_agent=(user_agent or "")[:300] or None,
        )
    )
    member.last_login_at = utcnow()
    db.session.flush()
    return token


def load_session_member(member_id: int, token: str) -> Member | None:
    """The member behind a live session token, or None if it was revoked."""
    login = db.session.scalar(
        select(MemberSession).where(
            MemberSession.token_hash == _token_hash(token),
            MemberSession.member_id == member_id,
            MemberSession.revoked_at.is_(None),
        )
    )
    if login is None or not login.member.is_active:
        return None
    return login.member


def end_session(token: str) -> None:
    """Revoke the session with this token (logging out)."""
    login = db.session.scalar(
        select(MemberSession).where(MemberSession.token_hash == _token_hash(token))
    )
    if login is not None and login.revoked_at is None:
        login.revoked_at = utcnow()
        db.session.flush()


def end_all_sessions(member: Member, session: Session | None = None) -> int:
    """Revoke every live session of ``member`` (suspension, password change).
    ``session`` defaults to the request's."""
    session = session or db.session
    live = session.scalars(
        select(MemberSession).where(
            MemberSession.member_id == member.id, MemberSession.revoked_at.is_(None)
        )
    ).all()
    now = utcnow()
    for login in live:
        login.revoked_at = now
    session.flush()
    return len(live)


def change_password(member: Member, new_password: str) -> None:
    member.password_hash = hash_password(new_password)
    db.session.flush()
