"""One-time tokens: links emailed to prove control of an address."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.base import UTCDateTime, utcnow


class OneTimeToken(db.Model):
    """A single-use secret sent in a link (see ``portal.tokens``).

    The link carries ``selector.verifier``: the selector finds the row, and
    only the SHA-256 of the verifier (32 random bytes) is stored, so a copy of
    the table opens nothing. ``used_at`` is set once, by the one request that
    consumes it.
    """

    __tablename__ = "one_time_tokens"
    __table_args__ = (
        Index("ix_one_time_tokens_purpose_subject", "purpose", "subject"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(40))
    selector: Mapped[str] = mapped_column(String(32), unique=True)
    verifier_hash: Mapped[str] = mapped_column(String(64))
    # What the token is about, e.g. "member:42" or a hashed email address.
    subject: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
