"""Masked forms of contact details, shown before a contact is revealed."""

from __future__ import annotations

MASK = "•••"


def mask_email(email: str | None) -> str:
    """``"john.smith@acme.com"`` -> ``"j•••@acme.com"``.

    Guarantees: the result never holds more of the local part than its first
    character, whatever the input; the domain (after the last "@") is kept,
    lower-cased and stripped. Input without a usable "@" (junk, ``None``, an
    empty local part or domain) gives just the mask, so nothing leaks.
    """
    local, at, domain = (email or "").strip().rpartition("@")
    domain = domain.strip().lower()
    local = local.strip()
    if not at or not local or not domain:
        return MASK
    return f"{local[0]}{MASK}@{domain}"
