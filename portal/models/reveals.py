"""Unlocks (which member revealed which contact, and what it cost) and
disclosures (every time contact details left Tessera, and to whom)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.base import UTCDateTime, text_enum, utcnow


class Unlock(db.Model):
    """One per (member, contact): re-viewing a revealed contact is free forever."""

    __tablename__ = "unlocks"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE")
    )
    cost: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, index=True
    )

    __table_args__ = (
        UniqueConstraint("member_id", "contact_id"),
        Index("ix_unlocks_contact_created", "contact_id", "created_at"),
    )


class DisclosureChannel(enum.StrEnum):
    UNLOCK = "unlock"
    EXPORT = "export"
    LIST_DELIVERY = "list_delivery"


class Disclosure(db.Model):
    """Contact details left Tessera: what the privacy center lists as recipients."""

    __tablename__ = "disclosures"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE")
    )
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )
    channel: Mapped[DisclosureChannel] = mapped_column(
        text_enum(DisclosureChannel, "disclosure_channel")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_disclosures_contact_created", "contact_id", "created_at"),
    )
