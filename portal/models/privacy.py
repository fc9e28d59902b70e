"""The suppression list: people who asked not to be listed, kept without any
clear-text personal data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.base import UTCDateTime, utcnow


class SuppressionEntry(db.Model):
    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Keyed HMAC-SHA256 (hex) of the normalised business email.
    email_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    # Keyed HMAC-SHA256 of the normalised (first name, last name, company domain).
    name_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
