"""The points ledger: append-only movements and each member's vested balance."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.base import UTCDateTime, text_enum, utcnow


class EntryKind(enum.StrEnum):
    SIGNUP_GRANT = "signup_grant"
    CONTRIBUTION = "contribution"
    UPDATE = "update"
    ROYALTY = "royalty"
    UNLOCK = "unlock"
    CHALLENGE_REWARD = "challenge_reward"
    PENALTY = "penalty"
    REFUND = "refund"
    PURCHASE = "purchase"
    ALLOWANCE = "allowance"
    ADJUSTMENT = "adjustment"
    EXPIRY = "expiry"

    @property
    def label(self) -> str:
        """How the history names it: spending points is a "Reveal"."""
        return _KIND_LABELS.get(self.value) or self.value.replace("_", " ").capitalize()


_KIND_LABELS = {
    "signup_grant": "Sign-up grant",
    "contribution": "Contribution",
    "unlock": "Reveal",
    "challenge_reward": "Challenge upheld",
}


class EntryState(enum.StrEnum):
    PENDING = "pending"
    VESTED = "vested"
    VOID = "void"


class LedgerEntry(db.Model):
    """One points movement. Rows are only ever added, except that a pending
    entry moves to vested or void exactly once."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    delta: Mapped[int] = mapped_column(Integer)
    kind: Mapped[EntryKind] = mapped_column(text_enum(EntryKind, "entry_kind"))
    state: Mapped[EntryState] = mapped_column(text_enum(EntryState, "entry_state"))
    reference_type: Mapped[str | None] = mapped_column(String(40))
    reference_id: Mapped[int | None] = mapped_column(Integer)
    # Unique: retrying the same movement can never write it twice.
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    note: Mapped[str | None] = mapped_column(String(500))
    # Both indexed for the admin dashboard's per-day figures (portal/admin/metrics).
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, index=True
    )
    vested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    __table_args__ = (
        Index("ix_ledger_entries_member_created", "member_id", "created_at"),
        Index("ix_ledger_entries_state_kind", "state", "kind"),
    )


class PointBalance(db.Model):
    """The spendable (vested) balance, kept beside the ledger so a spend is one
    conditional UPDATE. It always equals the sum of the member's vested entries;
    the CHECK makes a negative balance impossible even for buggy code."""

    __tablename__ = "point_balances"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    vested: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (CheckConstraint("vested >= 0", name="vested_not_negative"),)
