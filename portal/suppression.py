"""The suppression list: a person who asked not to be listed is never added again.

Entries hold keyed HMACs, never clear text: one of the normalised business
email, one of the normalised (first name, last name, company domain). Without
the key (``SUPPRESSION_KEY``) a leaked table cannot be matched against a list
of addresses. A contribution is refused when either hash is on the list, so a
person stays suppressed when a contributor guesses a new address pattern.

Deletion platforms (California's DROP and the like) send SHA-256 hashes of
normalised emails (trimmed, lower-cased), not addresses. Such a hash cannot be
turned into our email HMAC, so an email has two keyed forms, both stored in
``email_hash`` and both looked up by every check (``email_hashes``):

* ``email_hash(key, email)``: HMAC("email:" + normalised email), written when
  we know the address (the person erased themselves);
* ``digest_hash(key, sha256_hex)``: HMAC("sha256:" + SHA-256 hex of the
  normalised email), written for each hash a platform sends; computed from
  the address too, so a platform's person is recognised on every path.

The platform's bare SHA-256 is never stored: only its HMAC, so the table
stays useless without the key, as for entries we make ourselves. Every path
that adds contacts (the form, member CSV uploads, the operator import) asks
through ``is_suppressed`` or ``email_hashes``.
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


def normalised_email(email: str) -> str:
    """The form deletion platforms hash: trimmed and lower-cased."""
    return email.strip().lower()


def email_sha256(email: str) -> str:
    """The SHA-256 hex of the normalised email, as deletion platforms send it."""
    return hashlib.sha256(normalised_email(email).encode()).hexdigest()


def email_hash(key: str, email: str) -> str:
    return _hmac(key, "email:" + normalised_email(email))


def digest_hash(key: str, sha256_hex: str) -> str:
    """The keyed form of a platform's SHA-256 of a normalised email."""
    return _hmac(key, "sha256:" + sha256_hex.strip().lower())


def email_hashes(key: str, email: str) -> tuple[str, str]:
    """Both keyed forms an email can be suppressed under (see the docstring)."""
    return email_hash(key, email), digest_hash(key, email_sha256(email))


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
    conditions = [SuppressionEntry.email_hash.in_(email_hashes(key, email))]
    name_hashes = [name_hash(key, first_name, last_name, d) for d in domains if d]
    if name_hashes:
        conditions.append(SuppressionEntry.name_hash.in_(name_hashes))
    return (
        session.scalar(select(SuppressionEntry.id).where(or_(*conditions)).limit(1))
        is not None
    )
