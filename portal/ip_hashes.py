"""Keyed hashes of IP addresses: enough to tell that two actions came from
the same address, and nothing more. The IP itself is never stored with a
revision or confirmation; the key derives from ``SECRET_KEY``, so the hashes
cannot be reversed by trying all 2^32 IPv4 addresses without it."""

from __future__ import annotations

import hashlib
import hmac


def ip_hash(secret_key: str, ip: str | None) -> str | None:
    """HMAC-SHA256 of ``ip`` under a key derived from ``secret_key``; None for
    no address."""
    if not ip:
        return None
    key = hmac.new(secret_key.encode(), b"tessera ip hash", hashlib.sha256).digest()
    return hmac.new(key, ip.strip().lower().encode(), hashlib.sha256).hexdigest()
