"""The suppression list: a person who asked not to be listed is never added again.

Entries hold keyed HMACs, never clear text: one of the normalised business
email, one of the normalised (first name, last name, company domain). Without
the key (``SUPPRESSION_KEY``) a leaked table cannot be matched against a list
of addresses. A contribution is refused when either hash is on the list, so a
person stays suppressed when a contributor guesses a new address pattern.
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from portal.models import SuppressionEntry
from portal.textfold import ascii_fold

SUPPRESSED_MESSAGE = "This person has asked not to be listed."


def _hmac(key: str, text: str) -> str:
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def email_hash(key: str, email: str) -> str:
    return _hmac(key, "email:" + email.strip().lower())


def name_hash(key: str, first_name: str, last_name: str, domain: str) -> str:
    """Accents, case and spacing do not change the hash: "José  Núñez" at
    ACME.com hashes like "jose nunez" at acme.com."""
    parts = (ascii_fold(" ".join(p.split())) for p in (first_name, last_name))
    return _hmac(key, "name:" + "|".join((*parts, domain.strip().lower())))


def suppress(
    session: Session,
    key: str,
    *,
    reason: str,
    email: str | None = None,
    person: tuple[str, str, str] | None = None,
) -> SuppressionEntry:
    """Add a suppression entry for an email and/or (first, last, domain)."""
    entry = SuppressionEntry(
        email_hash=email_hash(key, email) if email else None,
        name_hash=name_hash(key, *person) if person else None,
        reason=reason,
    )
    session.add(entry)
    session.flush()
    return entry


def is_suppressed(
    session: Session,
    key: str,
    *,
    email: str,
    first_name: str,
    last_name: str,
    domains: tuple[str, ...] = (),
) -> bool:
    """True when the email, or the name at any of ``domains``, is suppressed."""
    conditions = [SuppressionEntry.email_hash == email_hash(key, email)]
    name_hashes = [name_hash(key, first_name, last_name, d) for d in domains if d]
    if name_hashes:
        conditions.append(SuppressionEntry.name_hash.in_(name_hashes))
    return (
        session.scalar(select(SuppressionEntry.id).where(or_(*conditions)).limit(1))
        is not None
    )
